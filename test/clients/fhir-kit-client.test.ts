// fhir-kit-client (a widely used JavaScript FHIR client) driving the gateway over HTTP on loopback, as an
// integration would: token, create, read, search by token and reference, If-Match update and a stale one (412),
// JSON Patch, history, a transaction, $validate, and a Subscription's $status by the client's default method
// (`operation()` POSTs). Each call is the library's own; the test only checks what comes back.
import type { Bundle, OperationOutcome, Parameters, Patient, Resource, ServiceRequest, Subscription, Task } from '@medplum/fhirtypes';
import FhirKit from 'fhir-kit-client';
import { buildPatient, buildServiceRequest, buildTask } from '../support/fhir-builders.ts';
import { receiversForFile, subscriptionBody } from '../support/receiver.ts';
import { clientCredentialsToken, handoverTransaction, idOf, listeningGateway, type Listening } from './support.ts';

// A CommonJS package whose types declare an ES default export: imported from ESM, the default is the class itself.
const Client = FhirKit as unknown as typeof FhirKit.default;
type Client = InstanceType<typeof Client>;

let gw: Listening;
let client: Client;
let requester: string;
let owner: string;
const receiver = receiversForFile();

beforeAll(async () => {
  gw = await listeningGateway({ ALLOW_HTTP_LOOPBACK_HOOKS: '1' });
  // fhir-kit-client has no client_credentials flow of its own: the token is fetched as a backend service does and handed to it.
  client = new Client({ baseUrl: gw.fhirBase, bearerToken: await clientCredentialsToken(gw.origin, 'hap-vechtdal') });
  requester = await gw.tg.organizationRef('hap-vechtdal');
  owner = await gw.tg.organizationRef('rav-noordoost');
});
afterAll(async () => {
  await gw.stop();
});

/** The HTTP status of a call the library refused (it throws `{ response: { status, data } }`). */
async function refusal(call: Promise<unknown>): Promise<{ status: number; data: OperationOutcome }> {
  try {
    await call;
  } catch (err) {
    const response = (err as { response?: { status: number; data: OperationOutcome } }).response;
    if (response) return response;
    throw err;
  }
  throw new Error('the call succeeded');
}

const etagOf = (resource: Resource): string | null => Client.httpFor(resource as never).response.headers.get('etag');

describe('fhir-kit-client', () => {
  it('creates, reads and searches a handover by token and reference parameters', async () => {
    const patient = (await client.create({ resourceType: 'Patient', body: buildPatient() })) as Patient;
    const patientRef = `Patient/${patient.id ?? ''}`;
    const request = (await client.create({ resourceType: 'ServiceRequest', body: buildServiceRequest({ patient: patientRef, requester, performer: owner }) })) as ServiceRequest;
    const task = (await client.create({ resourceType: 'Task', body: buildTask({ focus: `ServiceRequest/${request.id ?? ''}`, patient: patientRef, requester, owner }) })) as Task;

    const read = (await client.read({ resourceType: 'Task', id: task.id ?? '' })) as Task;
    expect([read.id, read.status, read.for?.reference]).toEqual([task.id, 'requested', patientRef]);
    expect(etagOf(read)).toBe(`W/"${read.meta?.versionId ?? ''}"`);

    const found = (await client.search({ resourceType: 'Task', searchParams: { patient: patientRef, status: 'requested', owner } })) as Bundle;
    expect(found.entry?.filter((e) => e.search?.mode === 'match').map((e) => e.resource?.id)).toEqual([task.id]);
    const none = (await client.search({ resourceType: 'Task', searchParams: { patient: patientRef, status: 'completed' } })) as Bundle;
    expect(none.entry?.filter((e) => e.search?.mode === 'match') ?? []).toEqual([]);
  });

  it('updates with If-Match, is refused a stale one (412), patches and reads the history', async () => {
    const patient = (await client.create({ resourceType: 'Patient', body: buildPatient() })) as Patient;
    const id = patient.id ?? '';
    const v1 = etagOf(patient) ?? '';
    const updated = (await client.update({ resourceType: 'Patient', id, body: { ...patient, gender: 'female' }, options: { headers: { 'If-Match': v1 } } })) as Patient;
    expect([updated.gender, updated.meta?.versionId]).toEqual(['female', '2']);
    const stale = await refusal(client.update({ resourceType: 'Patient', id, body: { ...patient, gender: 'male' }, options: { headers: { 'If-Match': v1 } } }));
    expect(stale.status).toBe(412);
    expect(stale.data.resourceType).toBe('OperationOutcome');

    const patched = (await client.patch({ resourceType: 'Patient', id, JSONPatch: [{ op: 'replace', path: '/gender', value: 'other' }], options: { headers: { 'If-Match': 'W/"2"' } } })) as Patient;
    expect([patched.gender, patched.meta?.versionId]).toEqual(['other', '3']);

    const history = (await client.resourceHistory({ resourceType: 'Patient', id })) as Bundle;
    expect(history.type).toBe('history');
    expect(history.entry?.map((e) => e.resource?.meta?.versionId)).toEqual(['3', '2', '1']);
  });

  it('posts a transaction whose entries reference each other by urn:uuid fullUrls', async () => {
    const response = (await client.transaction({ body: handoverTransaction({ requester, owner }) })) as Bundle;
    expect(response.type).toBe('transaction-response');
    expect(response.entry?.map((e) => e.response?.status)).toEqual(['201', '201', '201']);
    const [patientId, requestId, taskId] = (response.entry ?? []).map((e) => idOf(e.response?.location));
    const task = (await client.read({ resourceType: 'Task', id: taskId })) as Task;
    expect([task.for?.reference, task.focus?.reference]).toEqual([`Patient/${patientId}`, `ServiceRequest/${requestId}`]);
    expect(((await client.read({ resourceType: 'ServiceRequest', id: requestId })) as ServiceRequest).subject.reference).toBe(`Patient/${patientId}`);
  });

  it('posts a transaction with absolute fullUrls (the Nictiz way), every reference resolved', async () => {
    const response = (await client.transaction({ body: handoverTransaction({ requester, owner }, true) })) as Bundle;
    const [patientId, requestId, taskId] = (response.entry ?? []).map((e) => idOf(e.response?.location));
    const task = (await client.read({ resourceType: 'Task', id: taskId })) as Task;
    expect([task.for?.reference, task.focus?.reference]).toEqual([`Patient/${patientId}`, `ServiceRequest/${requestId}`]);
  });

  it('validates with $validate (operation() POSTs the resource)', async () => {
    const ok = (await client.operation({ resourceType: 'Patient', name: '$validate', input: buildPatient() })) as OperationOutcome;
    expect(ok.issue?.every((i) => i.severity === 'information')).toBe(true);
    const bad = (await client.operation({ resourceType: 'Task', name: '$validate', input: { resourceType: 'Task', status: 'nonsense', intent: 'order' } })) as OperationOutcome;
    expect(bad.issue?.some((i) => i.severity === 'error')).toBe(true);
  });

  it('subscribes and asks $status by its default method, at instance and type level', async () => {
    const r = await receiver();
    const created = (await client.create({ resourceType: 'Subscription', body: subscriptionBody(r.url, 'Task?status=requested') })) as Subscription;
    const id = created.id ?? '';
    await r.waitFor((got) => got.some((x) => x.subscription === id && x.type === 'handshake'), 'handshake');
    const instance = (await client.operation({ resourceType: 'Subscription', id, name: '$status' })) as Bundle;
    const status = instance.entry?.[0]?.resource as Parameters;
    expect(status.parameter?.find((p) => p.name === 'subscription')?.valueReference?.reference).toMatch(new RegExp(`Subscription/${id}$`));
    const typeLevel = (await client.operation({ resourceType: 'Subscription', name: '$status', input: { resourceType: 'Parameters', parameter: [{ name: 'ids', valueId: id }] } })) as Bundle;
    expect(typeLevel.entry).toHaveLength(1);
    const byGet = (await client.operation({ resourceType: 'Subscription', id, name: '$status', method: 'GET' })) as Bundle;
    expect(byGet.total).toBe(1);
  });
});
