// References as the field writes them (issue 16.1, 16.2 write side): transactions with absolute fullUrls resolved by the
// R4 rules, dangling literal references refused 422 naming the path, Organizations named by URA identifier or by an
// absolute URL to this gateway.
import type { Bundle, OperationOutcome, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { buildPatient, buildServiceRequest, buildTask, IDENTIFIER_SYSTEM, unique } from '../support/fhir-builders.ts';
import { receiversForFile, subscribe } from '../support/receiver.ts';
import { fhirClient, type Fhir } from './helpers.ts';

const URA = 'http://fhir.nl/fhir/NamingSystem/ura';
const HAP = '90001234';
const RAV = '90004567';
const NICTIZ = 'http://nictiz.nl/fhir';

let tg: TestGateway;
let hap: Fhir;
let rav: Fhir;
let vvt: Fhir;
let requester: string;
let owner: string;
const receiver = receiversForFile();

beforeAll(async () => {
  tg = await startTestGateway({ ALLOW_HTTP_LOOPBACK_HOOKS: '1' });
  hap = await fhirClient(tg, 'hap-vechtdal');
  rav = await fhirClient(tg, 'rav-noordoost');
  vvt = await fhirClient(tg, 'vvt-ijsseldelta');
  requester = await tg.organizationRef('hap-vechtdal');
  owner = await tg.organizationRef('rav-noordoost');
});
afterAll(async () => {
  await tg?.stop();
});

const issues = (body: unknown): { diagnostics: string; expression: string[] }[] =>
  ((body as OperationOutcome).issue ?? []).map((i) => ({ diagnostics: i.diagnostics ?? '', expression: i.expression ?? [] }));

async function countTasks(marker: string): Promise<number> {
  const res = await hap.get(`Task?identifier=${encodeURIComponent(`${IDENTIFIER_SYSTEM}|${marker}`)}&_summary=count`);
  return (res.body as Bundle).total ?? -1;
}

describe('transactions by the R4 rules (16.1)', () => {
  it('resolves absolute fullUrls referred to relatively (Nictiz style), and the receiver reads all of it', async () => {
    const marker = unique('nictiz');
    const hg = unique('hg');
    const entries = [
      { fullUrl: `${NICTIZ}/Patient/${hg}-p`, resource: buildPatient(), request: { method: 'POST', url: 'Patient' } },
      {
        fullUrl: `${NICTIZ}/ServiceRequest/${hg}-sr`,
        resource: buildServiceRequest({ patient: `Patient/${hg}-p`, requester, performer: owner }),
        request: { method: 'POST', url: 'ServiceRequest' },
      },
      {
        fullUrl: `${NICTIZ}/Task/${hg}-t`,
        resource: buildTask({ focus: `ServiceRequest/${hg}-sr`, patient: `Patient/${hg}-p`, requester, owner }, { identifier: [{ system: IDENTIFIER_SYSTEM, value: marker }] }),
        request: { method: 'POST', url: 'Task' },
      },
    ];
    const res = await hap.post('', { resourceType: 'Bundle', type: 'transaction', entry: entries });
    expect(res.status).toBe(200);
    const [patient, sr, task] = (res.body as Bundle).entry!.map((e) => e.resource!) as [Patient, ServiceRequest, Task];
    expect(task.for?.reference).toBe(`Patient/${patient.id}`);
    expect(task.focus?.reference).toBe(`ServiceRequest/${sr.id}`);
    expect(sr.subject?.reference).toBe(`Patient/${patient.id}`);
    // The owner reads the Task and everything it points at.
    const read = await rav.get(`Task/${task.id}`);
    expect(read.status).toBe(200);
    expect((await rav.get(task.for!.reference!)).status).toBe(200);
    expect((await rav.get(task.focus!.reference!)).status).toBe(200);
  });

  it('resolves absolute and urn:oid references, in extensions and contained resources too', async () => {
    const hg = unique('hg');
    const oid = `urn:oid:2.16.840.1.113883.2.4.3.11.999.${Date.now()}`;
    const entries = [
      { fullUrl: `${NICTIZ}/Patient/${hg}`, resource: buildPatient(), request: { method: 'POST', url: 'Patient' } },
      { fullUrl: oid, resource: buildServiceRequest({ patient: `${NICTIZ}/Patient/${hg}`, requester, performer: owner }), request: { method: 'POST', url: 'ServiceRequest' } },
      {
        fullUrl: `urn:uuid:${crypto.randomUUID()}`,
        resource: buildTask(
          { focus: oid, patient: `${NICTIZ}/Patient/${hg}`, requester, owner },
          {
            contained: [{ resourceType: 'Provenance', id: 'src', recorded: '2025-03-14T21:05:00+01:00', target: [{ reference: oid }], agent: [{ who: { reference: requester } }] }],
            extension: [{ url: 'https://example.org/fhir/StructureDefinition/about', valueReference: { reference: `Patient/${hg}` } }],
          },
        ),
        request: { method: 'POST', url: 'Task' },
      },
    ];
    const res = await hap.post('', { resourceType: 'Bundle', type: 'transaction', entry: entries });
    expect(res.status).toBe(200);
    const [patient, sr, task] = (res.body as Bundle).entry!.map((e) => e.resource!) as [Patient, ServiceRequest, Task];
    expect(sr.subject?.reference).toBe(`Patient/${patient.id}`);
    expect(task.focus?.reference).toBe(`ServiceRequest/${sr.id}`);
    expect(task.for?.reference).toBe(`Patient/${patient.id}`);
    expect(task.extension?.[0].valueReference?.reference).toBe(`Patient/${patient.id}`);
    expect((task.contained?.[0] as { target: { reference: string }[] }).target[0].reference).toBe(`ServiceRequest/${sr.id}`);
  });

  it('refuses a transaction whose Task points at nothing (422 naming Task.for) and stores nothing of it', async () => {
    const marker = unique('dangling');
    const patient = `Patient/${(await hap.create(buildPatient())).id}`;
    const entries = [
      { fullUrl: `${NICTIZ}/ServiceRequest/${marker}`, resource: buildServiceRequest({ patient, requester, performer: owner }), request: { method: 'POST', url: 'ServiceRequest' } },
      {
        fullUrl: `${NICTIZ}/Task/${marker}`,
        resource: buildTask({ focus: `ServiceRequest/${marker}`, patient: 'Patient/hg-nobody', requester, owner }, { identifier: [{ system: IDENTIFIER_SYSTEM, value: marker }] }),
        request: { method: 'POST', url: 'Task' },
      },
    ];
    const res = await hap.post('', { resourceType: 'Bundle', type: 'transaction', entry: entries });
    expect(res.status).toBe(422);
    expect(issues(res.body)).toEqual([expect.objectContaining({ expression: ['Task.for'], diagnostics: expect.stringContaining('Patient/hg-nobody') })]);
    expect(await countTasks(marker)).toBe(0);
  });
});

describe('dangling literal references on single writes (16.1)', () => {
  it('refuses a Task whose for and focus point at nothing, naming each path', async () => {
    const res = await hap.post('Task', buildTask({ focus: 'ServiceRequest/none-such', patient: 'Patient/none-such', requester, owner }));
    expect(res.status).toBe(422);
    expect(issues(res.body).map((i) => i.expression[0]).sort()).toEqual(['Task.focus', 'Task.for']);
  });

  it('a Task refused at the end of its transaction leaves none of the rows written in the same last statement (outbox, board, audit of the write)', async () => {
    // The reference check, the outbox, the board's feed and the audit rows of a write are one statement before COMMIT
    // (the commit batch, src/fhir/write-phases.ts): a refusal after it must roll all of them back.
    const hook = await receiver();
    await subscribe(tg, 'rav-noordoost', hook, `Task?owner=${owner}`);
    const count = async (): Promise<Record<string, string>> =>
      (
        await tg.gateway.db.query<Record<string, string>>(
          `SELECT (SELECT count(*) FROM subscription_events)::text AS outbox, (SELECT count(*) FROM board_events)::text AS board,
                  (SELECT count(*) FROM audit_events WHERE action = 'C' AND resource_type = 'Task' AND outcome = '0')::text AS created`,
        )
      ).rows[0] ?? {};
    const before = await count();
    const res = await hap.post('Task', buildTask({ focus: 'ServiceRequest/none-such', patient: 'Patient/none-such', requester, owner }));
    expect(res.status).toBe(422);
    expect(await count()).toEqual(before);
    // The same Task with references that resolve: every one of those rows is written.
    const patient = `Patient/${(await hap.create(buildPatient())).id}`;
    const sr = `ServiceRequest/${(await hap.create(buildServiceRequest({ patient, requester, performer: owner }))).id}`;
    expect((await hap.post('Task', buildTask({ focus: sr, patient, requester, owner }))).status).toBe(201);
    const after = await count();
    expect(Number(after.outbox)).toBeGreaterThan(Number(before.outbox));
    expect(Number(after.board)).toBeGreaterThan(Number(before.board));
    expect(Number(after.created)).toBe(Number(before.created) + 1);
  });

  it('refuses a reference to a patient the writer is not party to, with the same answer as to nothing', async () => {
    const patient = `Patient/${(await hap.create(buildPatient())).id}`;
    const vvtOrg = await tg.organizationRef('vvt-ijsseldelta');
    const res = await vvt.post('ServiceRequest', buildServiceRequest({ patient, requester: vvtOrg, performer: owner }));
    expect(res.status).toBe(422);
    expect(issues(res.body)).toEqual([expect.objectContaining({ expression: ['ServiceRequest.subject'], diagnostics: expect.stringContaining('does not exist or is not shared') })]);
  });

  it('refuses an unknown #contained, a urn: and a conditional reference outside a transaction', async () => {
    const patient = `Patient/${(await hap.create(buildPatient())).id}`;
    for (const [focus, message] of [
      ['#nothing', /contained/],
      [`urn:uuid:${crypto.randomUUID()}`, /transaction Bundle/],
      ['ServiceRequest?identifier=x|y', /conditional/],
    ] as const) {
      const res = await hap.post('Task', buildTask({ focus, patient, requester, owner }));
      expect([res.status, issues(res.body)[0]?.expression]).toEqual([422, ['Task.focus']]);
      expect(issues(res.body)[0].diagnostics).toMatch(message);
    }
  });

  it('judges an update on the references it brings: a target deleted since does not block the owner accepting', async () => {
    const patient = `Patient/${(await hap.create(buildPatient())).id}`;
    const sr = `ServiceRequest/${(await hap.create(buildServiceRequest({ patient, requester, performer: owner }))).id}`;
    const task = await hap.create(buildTask({ focus: sr, patient, requester, owner }));
    expect((await hap.delete(sr)).status).toBe(200);
    const accepted = await rav.put(`Task/${task.id}`, { ...task, status: 'accepted' });
    expect(accepted.status).toBe(200);
    // A new reference to the deleted request is refused all the same.
    const moved = await hap.put(`Task/${task.id}`, { ...(accepted.body as Task), basedOn: [{ reference: sr }] });
    expect([moved.status, issues(moved.body)[0]?.expression]).toEqual([422, ['Task.basedOn[0]']]);
  });

  it('refuses a PractitionerRole pointing at no Practitioner', async () => {
    const res = await hap.post('PractitionerRole', { resourceType: 'PractitionerRole', active: true, practitioner: { reference: 'Practitioner/none-such' }, organization: { reference: requester } });
    expect(res.status).toBe(422);
    expect(issues(res.body).map((i) => i.expression[0])).toEqual(['PractitionerRole.practitioner']);
  });

  it("keeps a reference to another server as it is (not followed), and stores this gateway's own absolute URLs relative", async () => {
    const patient = `Patient/${(await hap.create(buildPatient())).id}`;
    const external = 'https://other-server.example/fhir/ServiceRequest/abc';
    const res = await hap.post('Task', buildTask({ focus: external, patient: `http://gateway.test/fhir/${patient}`, requester: `http://gateway.test/fhir/${requester}`, owner }));
    expect(res.status).toBe(201);
    const task = res.body as Task;
    expect([task.focus?.reference, task.for?.reference, task.requester?.reference]).toEqual([external, patient, requester]);
  });
});

describe('Organizations by URA identifier (16.2, write side)', () => {
  const byUra = (ura: string, display?: string) => ({ identifier: { system: URA, value: ura }, ...(display ? { display } : {}) });

  it('accepts a Task naming requester and owner by URA from the requester, keeps the identifiers, adds the literal reference, and notifies the owner', async () => {
    const hook = await receiver();
    await subscribe(tg, 'rav-noordoost', hook, `Task?owner=${URA}|${RAV}`);
    const patient = `Patient/${(await hap.create(buildPatient())).id}`;
    const sr = `ServiceRequest/${(await hap.create(buildServiceRequest({ patient, requester, performer: owner }))).id}`;
    const body = { ...buildTask({ focus: sr, patient, requester, owner }), requester: byUra(HAP, 'HAP Vechtdal'), owner: byUra(RAV) };
    const res = await hap.post('Task', body);
    expect(res.status).toBe(201);
    const task = res.body as Task;
    expect(task.requester).toEqual({ reference: requester, identifier: { system: URA, value: HAP }, display: 'HAP Vechtdal' });
    expect(task.owner).toEqual({ reference: owner, identifier: { system: URA, value: RAV } });
    expect((await rav.get(`Task/${task.id}`)).status).toBe(200);
    await hook.waitFor((r) => r.some((x) => x.type === 'event-notification' && x.body.includes(task.id!)), 'the owner notified of the Task');
  });

  it('refuses the same Task from anyone but the requester, saying which organisation it names', async () => {
    const patient = `Patient/${(await rav.create(buildPatient())).id}`;
    const body = { ...buildTask({ focus: 'https://other-server.example/fhir/ServiceRequest/1', patient, requester, owner }), requester: byUra(HAP), owner: byUra(RAV) };
    const res = await rav.post('Task', body);
    expect(res.status).toBe(422);
    const [issue] = issues(res.body);
    expect(issue.expression).toEqual(['Task.requester']);
    expect(issue.diagnostics).toContain(`URA ${HAP}`);
    expect(issue.diagnostics).toContain(`URA ${RAV}`);
  });

  it('refuses a Reference whose literal reference and URA identifier name different organisations', async () => {
    const patient = `Patient/${(await hap.create(buildPatient())).id}`;
    const res = await hap.post('Task', { ...buildTask({ focus: 'https://other-server.example/fhir/ServiceRequest/1', patient, requester, owner }), owner: { reference: owner, identifier: { system: URA, value: HAP } } });
    expect(res.status).toBe(422);
    expect(issues(res.body)).toEqual([expect.objectContaining({ expression: ['Task.owner'], diagnostics: expect.stringContaining(`URA ${RAV}`) })]);
  });

  it('refuses an unknown URA, naming it', async () => {
    const patient = `Patient/${(await hap.create(buildPatient())).id}`;
    const res = await hap.post('Task', { ...buildTask({ focus: 'https://other-server.example/fhir/ServiceRequest/1', patient, requester, owner }), owner: byUra('90000000') });
    expect(res.status).toBe(422);
    expect(issues(res.body)).toEqual([expect.objectContaining({ expression: ['Task.owner.identifier'], diagnostics: expect.stringContaining('URA 90000000') })]);
  });
});
