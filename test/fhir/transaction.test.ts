// Transaction and batch Bundles: urn:uuid references, all-or-nothing, If-Match inside a transaction, independent batch entries.
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { buildPatient, buildServiceRequest, buildTask, IDENTIFIER_SYSTEM, unique } from '../support/fhir-builders.ts';
import { expectOutcome, fhirClient, type Fhir } from './helpers.ts';

let tg: TestGateway;
let fhir: Fhir;
let requester: string;
let owner: string;

beforeAll(async () => {
  tg = await startTestGateway();
  fhir = await fhirClient(tg);
  requester = await tg.organizationRef('hap-vechtdal');
  owner = await tg.organizationRef('rav-noordoost');
});
afterAll(async () => {
  await tg?.stop();
});

const urn = (): string => `urn:uuid:${randomUUID()}`;

/** Patient, ServiceRequest and Task of one handover as transaction entries that reference each other by urn:uuid. */
function handoverEntries(marker: string): { entries: BundleEntry[]; urns: { patient: string; sr: string; task: string } } {
  const urns = { patient: urn(), sr: urn(), task: urn() };
  const entries: BundleEntry[] = [
    // The Task comes first: references resolve whatever the order of the entries.
    {
      fullUrl: urns.task,
      resource: buildTask({ focus: urns.sr, patient: urns.patient, requester, owner }, { identifier: [{ system: IDENTIFIER_SYSTEM, value: marker }] }),
      request: { method: 'POST', url: 'Task' },
    },
    { fullUrl: urns.sr, resource: buildServiceRequest({ patient: urns.patient, requester, performer: owner }), request: { method: 'POST', url: 'ServiceRequest' } },
    { fullUrl: urns.patient, resource: buildPatient(), request: { method: 'POST', url: 'Patient' } },
  ];
  return { entries, urns };
}

async function countTasks(marker: string): Promise<number> {
  const res = await fhir.get(`Task?identifier=${encodeURIComponent(`${IDENTIFIER_SYSTEM}|${marker}`)}&_summary=count`);
  expect(res.status).toBe(200);
  return (res.body as Bundle).total!;
}

describe('transaction', () => {
  it('is audited in its own commit once per patient and interaction, each row naming every version it wrote', async () => {
    const first = handoverEntries(unique('tx'));
    const second = handoverEntries(unique('tx'));
    const res = await fhir.post('', { resourceType: 'Bundle', type: 'transaction', entry: [...first.entries, ...second.entries] });
    expect(res.status).toBe(200);
    const written = (res.body as Bundle).entry!.map((e) => e.resource!);
    const rows = (
      await tg.gateway.db.query<{ patient: string; action: string; entities: string[]; resource_id: string | null; content: { entity: { what?: { reference?: string } }[] } }>(
        'SELECT patient, action, entities, resource_id, content FROM audit_events WHERE entities && $1::text[] ORDER BY patient',
        [written.map((r) => `${r.resourceType}/${r.id}`)],
      )
    ).rows;
    const perPatient = [written.slice(0, 3), written.slice(3)].map((handover) => ({
      patient: `Patient/${handover[2]!.id}`,
      action: 'C',
      entities: expect.arrayContaining(handover.map((r) => `${r.resourceType}/${r.id}`)),
      // Several versions: none of them is the row's one resource.
      resource_id: null,
    }));
    expect(rows).toEqual(perPatient.sort((a, b) => a.patient.localeCompare(b.patient)).map((r) => expect.objectContaining(r)));
    for (const row of rows) {
      expect(row.entities).toHaveLength(3);
      const named = row.content.entity.map((e) => e.what?.reference);
      for (const ref of row.entities) expect(named).toContain(`${ref}/_history/1`);
    }
  });

  it('resolves urn:uuid references across entries and answers in entry order', async () => {
    const marker = unique('tx');
    const { entries } = handoverEntries(marker);
    const res = await fhir.post('', { resourceType: 'Bundle', type: 'transaction', entry: entries });
    expect(res.status).toBe(200);
    const bundle = res.body as Bundle;
    expect(bundle.type).toBe('transaction-response');
    expect(bundle.entry!.map((e) => e.response?.status)).toEqual(['201', '201', '201']);
    const [task, sr, patient] = bundle.entry!.map((e) => e.resource!) as [Task, ServiceRequest, Patient];
    expect([task.resourceType, sr.resourceType, patient.resourceType]).toEqual(['Task', 'ServiceRequest', 'Patient']);
    expect(task.focus!.reference).toBe(`ServiceRequest/${sr.id}`);
    expect(task.for!.reference).toBe(`Patient/${patient.id}`);
    expect(sr.subject!.reference).toBe(`Patient/${patient.id}`);
    expect(bundle.entry![0]!.response!.location).toBe(`http://gateway.test/fhir/Task/${task.id}/_history/1`);
    expect(bundle.entry![0]!.response!.etag).toBe('W/"1"');
    // Stored as answered, and the references lead somewhere.
    expect((await fhir.get(`Task/${task.id}`)).body).toEqual(task);
    expect((await fhir.get(task.focus!.reference!)).status).toBe(200);
    expect((await fhir.get(task.for!.reference!)).status).toBe(200);
  });

  it('a conditional create that finds an existing resource redirects urn:uuid references to it', async () => {
    const value = unique('known-patient');
    const existing = await fhir.create(buildPatient({ identifier: [{ system: IDENTIFIER_SYSTEM, value }] }));
    const { entries, urns } = handoverEntries(unique('tx-cond'));
    entries[2] = { ...entries[2]!, request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${IDENTIFIER_SYSTEM}|${value}` } };
    const res = await fhir.post('', { resourceType: 'Bundle', type: 'transaction', entry: entries });
    expect(res.status).toBe(200);
    const bundle = res.body as Bundle;
    expect(bundle.entry!.map((e) => e.response?.status)).toEqual(['201', '201', '200']);
    const task = bundle.entry![0]!.resource as Task;
    expect(task.for!.reference).toBe(`Patient/${existing.id}`);
    expect((bundle.entry![1]!.resource as ServiceRequest).subject!.reference).toBe(`Patient/${existing.id}`);
    expect(urns.patient).toMatch(/^urn:uuid:/);
  });

  it('one failing entry stores nothing of the transaction', async () => {
    const marker = unique('tx-fail');
    const { entries } = handoverEntries(marker);
    const before = (await fhir.get('_history?_count=1')).body as Bundle;
    // PUT runs after POST: this entry fails after the Task, ServiceRequest and Patient were written.
    entries.push({ resource: { ...buildPatient(), id: 'never-created' }, request: { method: 'PUT', url: 'Patient/never-created' } });
    const res = await fhir.post('', { resourceType: 'Bundle', type: 'transaction', entry: entries });
    const outcome = expectOutcome(res, 405);
    expect(outcome.issue![0]!.diagnostics).toContain('Bundle.entry[3]');
    expect(await countTasks(marker)).toBe(0);
    const after = (await fhir.get('_history?_count=1')).body as Bundle;
    expect(after.total).toBe(before.total);
  });

  it('a urn:uuid reference to no entry of the transaction is refused and nothing is stored', async () => {
    const marker = unique('tx-dangling');
    const { entries } = handoverEntries(marker);
    entries.pop();
    const res = await fhir.post('', { resourceType: 'Bundle', type: 'transaction', entry: entries });
    expect(expectOutcome(res, 400).issue![0]!.diagnostics).toMatch(/urn:uuid:/);
    expect(await countTasks(marker)).toBe(0);
  });

  it('a urn:uuid fullUrl of a PUT entry resolves to its url', async () => {
    const patient = await fhir.create(buildPatient());
    const { entries, urns } = handoverEntries(unique('tx-put'));
    entries[2] = { fullUrl: urns.patient, resource: { ...patient, gender: 'female' }, request: { method: 'PUT', url: `Patient/${patient.id}` } };
    const res = await fhir.post('', { resourceType: 'Bundle', type: 'transaction', entry: entries });
    expect(res.status).toBe(200);
    expect(((res.body as Bundle).entry![0]!.resource as Task).for!.reference).toBe(`Patient/${patient.id}`);
  });

  it('a stale If-Match inside a transaction is a 412 and nothing is stored', async () => {
    const patient = await fhir.create(buildPatient());
    expect((await fhir.put(`Patient/${patient.id}`, { ...patient, gender: 'female' })).status).toBe(200);
    const marker = unique('tx-412');
    const { entries } = handoverEntries(marker);
    entries.push({ resource: { ...patient, gender: 'other' }, request: { method: 'PUT', url: `Patient/${patient.id}`, ifMatch: 'W/"1"' } });
    const res = await fhir.post('', { resourceType: 'Bundle', type: 'transaction', entry: entries });
    expectOutcome(res, 412);
    expect(await countTasks(marker)).toBe(0);
    const now = await fhir.get(`Patient/${patient.id}`);
    expect(now.headers.etag).toBe('W/"2"');
    expect((now.body as Patient).gender).toBe('female');

    // With the current version the same transaction goes through.
    entries[3] = { ...entries[3]!, request: { method: 'PUT', url: `Patient/${patient.id}`, ifMatch: 'W/"2"' } };
    const ok = await fhir.post('', { resourceType: 'Bundle', type: 'transaction', entry: entries });
    expect(ok.status).toBe(200);
    expect(await countTasks(marker)).toBe(1);
    expect(((await fhir.get(`Patient/${patient.id}`)).body as Patient).gender).toBe('other');
  });

  it('runs DELETE, PATCH and GET entries, and a PATCH that does not apply rolls everything back', async () => {
    const a = await fhir.create(buildPatient());
    const b = await fhir.create(buildPatient());
    const patch = (ops: unknown): BundleEntry => ({
      resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: Buffer.from(JSON.stringify(ops)).toString('base64') },
      request: { method: 'PATCH', url: `Patient/${b.id}` },
    });
    const failing = await fhir.post('', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ request: { method: 'DELETE', url: `Patient/${a.id}` } }, patch([{ op: 'test', path: '/gender', value: 'female' }])],
    });
    expect(failing.status).toBe(422);
    expect((await fhir.get(`Patient/${a.id}`)).status).toBe(200);

    const res = await fhir.post('', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'GET', url: `Patient/${b.id}` } },
        patch([{ op: 'replace', path: '/gender', value: 'female' }]),
        { request: { method: 'DELETE', url: `Patient/${a.id}` } },
      ],
    });
    expect(res.status).toBe(200);
    const bundle = res.body as Bundle;
    expect(bundle.entry!.map((e) => e.response?.status)).toEqual(['200', '200', '200']);
    // GET runs last: it sees the patch.
    expect((bundle.entry![0]!.resource as Patient).gender).toBe('female');
    expect((await fhir.get(`Patient/${a.id}`)).status).toBe(410);
  });

  it('refuses a Bundle that is not a transaction or batch, and entries without request', async () => {
    expectOutcome(await fhir.post('', { resourceType: 'Bundle', type: 'collection', entry: [] }), 400);
    expectOutcome(await fhir.post('', { resourceType: 'Patient' }), 400);
    expectOutcome(await fhir.post('', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: buildPatient() }] }), 400);
    const empty = await fhir.post('', { resourceType: 'Bundle', type: 'transaction' });
    expect(empty.status).toBe(200);
    expect((empty.body as Bundle).entry).toEqual([]);
  });
});

describe('batch', () => {
  it('processes entries independently: one failure does not undo the others', async () => {
    const marker = unique('batch');
    const missing = 'does-not-exist';
    const res = await fhir.post('', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { resource: buildPatient({ identifier: [{ system: IDENTIFIER_SYSTEM, value: marker }] }), request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: `Patient/${missing}` } },
        { resource: { ...buildPatient(), resourceType: 'Observation' }, request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: `Patient?identifier=${encodeURIComponent(`${IDENTIFIER_SYSTEM}|${marker}`)}` } },
      ],
    });
    expect(res.status).toBe(200);
    const bundle = res.body as Bundle;
    expect(bundle.type).toBe('batch-response');
    expect(bundle.entry!.map((e) => e.response?.status)).toEqual(['201', '404', '400', '200']);
    expect(bundle.entry![1]!.response!.outcome?.resourceType).toBe('OperationOutcome');
    expect(bundle.entry![0]!.response!.location).toMatch(/\/fhir\/Patient\/[^/]+\/_history\/1$/);
    expect((bundle.entry![3]!.resource as Bundle).total).toBe(1);
    const created = bundle.entry![0]!.resource as Patient;
    expect((await fhir.get(`Patient/${created.id}`)).status).toBe(200);
  });
});
