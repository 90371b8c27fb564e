// @medplum/core's MedplumClient driving the gateway over HTTP on loopback: its own client_credentials login
// (client_secret_basic), create, read, search by token and reference, If-Match update and a stale one (412),
// JSON Patch, history, a transaction, $validate, and a Subscription's $status (GET, as MedplumClient reads an
// operation's URL; POST at type level). Each call is the library's own; the test only checks what comes back.
import { MedplumClient, OperationOutcomeError } from '@medplum/core';
import type { Bundle, OperationOutcome, Parameters, Patient, ServiceRequest, Subscription, Task } from '@medplum/fhirtypes';
import { buildPatient, buildServiceRequest, buildTask } from '../support/fhir-builders.ts';
import { DEMO_SECRET } from '../support/gateway.ts';
import { receiversForFile, subscriptionBody } from '../support/receiver.ts';
import { handoverTransaction, idOf, listeningGateway, type Listening } from './support.ts';

let gw: Listening;
let medplum: MedplumClient;
let requester: string;
let owner: string;
const receiver = receiversForFile();

beforeAll(async () => {
  gw = await listeningGateway({ ALLOW_HTTP_LOOPBACK_HOOKS: '1' });
  medplum = new MedplumClient({
    baseUrl: `${gw.origin}/`,
    fhirUrlPath: 'fhir',
    tokenUrl: 'oauth2/token',
    // client_secret_basic: the gateway does not take the secret in the form (client_secret_post).
    authCredentialsMethod: 'header',
    // Every read goes to the server: the test checks the gateway, not the client's cache.
    cacheTime: 0,
    fetch: (url, init) => fetch(url, init),
  });
  await medplum.startClientLogin('hap-vechtdal', DEMO_SECRET);
  requester = await gw.tg.organizationRef('hap-vechtdal');
  owner = await gw.tg.organizationRef('rav-noordoost');
});
afterAll(async () => {
  await gw.stop();
});

async function refusal(call: Promise<unknown>): Promise<OperationOutcome> {
  try {
    await call;
  } catch (err) {
    if (err instanceof OperationOutcomeError) return err.outcome;
    throw err;
  }
  throw new Error('the call succeeded');
}

describe('MedplumClient', () => {
  it('logs in by client_credentials and holds a token', () => {
    expect(medplum.getAccessToken()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  });

  it('creates, reads and searches a handover by token and reference parameters', async () => {
    const patient = await medplum.createResource<Patient>(buildPatient());
    const patientRef = `Patient/${patient.id ?? ''}`;
    const request = await medplum.createResource<ServiceRequest>(buildServiceRequest({ patient: patientRef, requester, performer: owner }));
    const task = await medplum.createResource<Task>(buildTask({ focus: `ServiceRequest/${request.id ?? ''}`, patient: patientRef, requester, owner }));

    const read = await medplum.readResource('Task', task.id ?? '');
    expect([read.id, read.status, read.for?.reference]).toEqual([task.id, 'requested', patientRef]);

    const found = await medplum.searchResources('Task', { patient: patientRef, status: 'requested', owner });
    expect(found.map((t) => t.id)).toEqual([task.id]);
    expect(await medplum.searchResources('Task', { patient: patientRef, status: 'completed' })).toHaveLength(0);
  });

  it('updates with If-Match, is refused a stale one (412), patches and reads the history', async () => {
    const patient = await medplum.createResource<Patient>(buildPatient());
    const id = patient.id ?? '';
    const updated = await medplum.updateResource<Patient>({ ...patient, gender: 'female' }, { headers: { 'If-Match': 'W/"1"' } });
    expect([updated.gender, updated.meta?.versionId]).toEqual(['female', '2']);
    const stale = await refusal(medplum.updateResource<Patient>({ ...patient, gender: 'male' }, { headers: { 'If-Match': 'W/"1"' } }));
    // 412 Precondition Failed carries an OperationOutcome with code `conflict`.
    expect(stale.issue?.[0]?.code).toBe('conflict');
    expect((await medplum.readResource('Patient', id)).gender).toBe('female');

    const patched = await medplum.patchResource('Patient', id, [{ op: 'replace', path: '/gender', value: 'other' }]);
    expect([patched.gender, patched.meta?.versionId]).toEqual(['other', '3']);

    const history = await medplum.readHistory('Patient', id);
    expect(history.type).toBe('history');
    expect(history.entry?.map((e) => e.resource?.meta?.versionId)).toEqual(['3', '2', '1']);
  });

  it('executes a transaction whose entries reference each other by urn:uuid fullUrls', async () => {
    const response = await medplum.executeBatch(handoverTransaction({ requester, owner }));
    expect(response.type).toBe('transaction-response');
    expect(response.entry?.map((e) => e.response?.status)).toEqual(['201', '201', '201']);
    const [patientId, requestId, taskId] = (response.entry ?? []).map((e) => idOf(e.response?.location));
    const task = await medplum.readResource('Task', taskId);
    expect([task.for?.reference, task.focus?.reference]).toEqual([`Patient/${patientId}`, `ServiceRequest/${requestId}`]);
  });

  it('executes a transaction with absolute fullUrls (the Nictiz way), every reference resolved', async () => {
    const response = await medplum.executeBatch(handoverTransaction({ requester, owner }, true));
    const [patientId, requestId, taskId] = (response.entry ?? []).map((e) => idOf(e.response?.location));
    const task = await medplum.readResource('Task', taskId);
    expect([task.for?.reference, task.focus?.reference]).toEqual([`Patient/${patientId}`, `ServiceRequest/${requestId}`]);
  });

  it('validates with validateResource ($validate)', async () => {
    const ok = await medplum.validateResource(buildPatient());
    expect(ok.issue?.every((i) => i.severity === 'information')).toBe(true);
    const bad = await medplum.validateResource({ resourceType: 'Task', status: 'nonsense', intent: 'order' } as unknown as Task);
    expect(bad.issue?.some((i) => i.severity === 'error')).toBe(true);
  });

  it('subscribes and reads $status at instance level (GET) and type level (POST)', async () => {
    const r = await receiver();
    const created = await medplum.createResource<Subscription>(subscriptionBody(r.url, 'Task?status=requested'));
    const id = created.id ?? '';
    await r.waitFor((got) => got.some((x) => x.subscription === id && x.type === 'handshake'), 'handshake');
    const instance = (await medplum.get(medplum.fhirUrl('Subscription', id, '$status'))) as Bundle;
    const status = instance.entry?.[0]?.resource as Parameters;
    expect(status.parameter?.find((p) => p.name === 'subscription')?.valueReference?.reference).toMatch(new RegExp(`Subscription/${id}$`));
    const typeLevel = (await medplum.post(medplum.fhirUrl('Subscription', '$status'), { resourceType: 'Parameters', parameter: [{ name: 'ids', valueId: id }] })) as Bundle;
    expect(typeLevel.entry).toHaveLength(1);
  });
});
