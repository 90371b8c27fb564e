// Native records in through HTTP on PostgreSQL: every shared example, scenario S1 (steps 1, 3, 4, 5) and the sequence-number rules.
import type { Bundle, Encounter, Observation, OperationOutcome, Organization, Patient, Provenance, Resource, ServiceRequest, Task } from '@medplum/fhirtypes';
import type { DemoClient, TestGateway } from '../support/gateway.ts';
import {
  BSN_SYSTEM,
  example,
  exampleNames,
  fillHandover,
  formatOf,
  idFrom,
  refusal,
  RIDE_SYSTEM,
  setBsn,
  statusTrail,
  uniqueBsn,
  uniqueId,
  uniqueRide,
  URA_SYSTEM,
  whyInvalid,
  withNativeGateway,
  type Native,
  type NativeRecord,
} from '../support/native.ts';

let tg: TestGateway;
let native: Native;
withNativeGateway((g) => ({ tg, native } = g));

const U1 = 'nts-u1-pijn-op-de-borst-naar-ambulance.json';
const U3 = 'nts-u3-naar-wijkverpleging.json';

/** Which demo client sends each valid example, and for answers the request that makes their handover. */
const VALID: Record<string, { client: DemoClient; handover?: { request: string; client: DemoClient } }> = {
  'nts-u1-pijn-op-de-borst-naar-ambulance.json': { client: 'hap-vechtdal' },
  'nts-u3-naar-wijkverpleging.json': { client: 'hap-vechtdal' },
  'nts-u5-zelfzorg-zonder-overdracht.json': { client: 'hap-vechtdal' },
  'ambulance-niet-vervoerd-naar-hap.json': { client: 'rav-noordoost' },
  'ambulance-niet-vervoerd-naar-vvt.json': { client: 'rav-noordoost' },
  'vvt-aanvraag-van-zcc.json': { client: 'zcc-ijsselland' },
  'ambulance-antwoord-geaccepteerd.json': { client: 'rav-noordoost', handover: { request: U1, client: 'hap-vechtdal' } },
  'ambulance-antwoord-rit-afgesloten.json': { client: 'rav-noordoost', handover: { request: U1, client: 'hap-vechtdal' } },
  'vvt-antwoord-afgewezen.json': { client: 'vvt-ijsseldelta', handover: { request: U3, client: 'hap-vechtdal' } },
  'vvt-antwoord-ingepland.json': { client: 'vvt-ijsseldelta', handover: { request: U3, client: 'hap-vechtdal' } },
  'vvt-antwoord-uitgevoerd.json': { client: 'vvt-ijsseldelta', handover: { request: U3, client: 'hap-vechtdal' } },
};

/** What a Task looks like after each valid example (requests: the new handover; answers: the answered one). */
const EXPECTED_TASK: Record<string, { status?: Task['status']; requester?: string; owner?: string; priority?: ServiceRequest['priority'] } | 'none'> = {
  'nts-u1-pijn-op-de-borst-naar-ambulance.json': { status: 'requested', requester: '90001234', owner: '90004567', priority: 'stat' },
  'nts-u3-naar-wijkverpleging.json': { status: 'requested', requester: '90001234', owner: '90007890', priority: 'urgent' },
  'nts-u5-zelfzorg-zonder-overdracht.json': 'none',
  'ambulance-niet-vervoerd-naar-hap.json': { status: 'requested', requester: '90004567', owner: '90001234', priority: 'routine' },
  'ambulance-niet-vervoerd-naar-vvt.json': { status: 'requested', requester: '90004567', owner: '90007890', priority: 'urgent' },
  'vvt-aanvraag-van-zcc.json': { status: 'requested', requester: '90009999', owner: '90007890', priority: 'urgent' },
  'ambulance-antwoord-geaccepteerd.json': { status: 'accepted' },
  'ambulance-antwoord-rit-afgesloten.json': { status: 'completed' },
  'vvt-antwoord-afgewezen.json': { status: 'rejected' },
  'vvt-antwoord-ingepland.json': { status: 'accepted' },
  'vvt-antwoord-uitgevoerd.json': { status: 'completed' },
};

/** The field each invalid example's `_waarom` names: the refusal must name one of these. */
const INVALID_FIELD: Record<string, string[]> = {
  'invalid-ambulance-ritnummer-formaat.json': ['ritnummer'],
  'invalid-ambulance-tijden-volgorde.json': ['terPlaatse'],
  'invalid-nts-abcd-onveilig-u3.json': ['abcdVeilig'],
  'invalid-nts-ambulance-zonder-overdracht.json': ['overdracht'],
  'invalid-nts-bsn-elfproef.json': ['patient.bsn'],
  'invalid-nts-onbekend-veld.json': ['prioriteit'],
  'invalid-nts-urgentie-onbekend.json': ['urgentie'],
  'invalid-vvt-datum-bestaat-niet.json': ['tijdvak_datum'],
  'invalid-vvt-zomertijd-bestaat-niet.json': ['tijdvak_van', 'tijdvak_datum'],
  'invalid-vvt-zonder-zorgvraag.json': ['zorgvraag'],
};

const uraOf = (org: Organization): string | undefined => org.identifier?.find((i) => i.system === URA_SYSTEM)?.value;

/** A valid example with a fresh identity and patient, so that tests never share a record or a patient. */
function freshExample(name: string, bsn = uniqueBsn()): NativeRecord {
  const format = formatOf(name);
  const record = setBsn(format, example(name), bsn);
  if (format === 'nts') record.contactId = uniqueId('HAPV');
  if (format === 'vvt' && !String(record.aanvraag_id).includes('${')) record.aanvraag_id = uniqueId('ZCC');
  if (format === 'ambulance' && record.ritnummer) Object.assign(record, uniqueRide());
  return record;
}

/** Every resource version a native send reports in its transaction-response, read back through /fhir by the sender and checked with $validate. */
async function expectStoredAndValid(bundle: Bundle, client: DemoClient): Promise<Resource[]> {
  expect(bundle.resourceType).toBe('Bundle');
  expect(bundle.type).toBe('transaction-response');
  const resources: Resource[] = [];
  for (const entry of bundle.entry ?? []) {
    if (!entry.response?.location) continue;
    const stored = await native.read(entry.response.location, client);
    expect(stored.meta?.versionId).toBeDefined();
    const validation = await native.post(`/fhir/${stored.resourceType}/$validate`, stored);
    expect(validation.status).toBe(200);
    const errors = ((JSON.parse(validation.text) as OperationOutcome).issue ?? []).filter((i) => i.severity === 'error' || i.severity === 'fatal');
    expect({ resource: `${stored.resourceType}/${stored.id}`, errors }).toEqual({ resource: `${stored.resourceType}/${stored.id}`, errors: [] });
    resources.push(stored);
  }
  return resources;
}

async function focusOf(task: Task, client?: DemoClient): Promise<ServiceRequest> {
  return native.read<ServiceRequest>(task.focus!.reference!, client);
}

describe('valid shared examples', () => {
  const names = exampleNames().filter((n) => !n.startsWith('invalid-'));

  it('covers every valid example in the shared folder', () => {
    expect(names.sort()).toEqual(Object.keys(VALID).sort());
  });

  it.each(names)('%s is accepted by its sender and stored as the spec says, every resource valid', async (name) => {
    const { client, handover } = VALID[name]!;
    const format = formatOf(name);
    const bsn = uniqueBsn();
    let record = freshExample(name, bsn);
    let taskId: string | undefined;
    if (handover) {
      taskId = (await native.createHandover(handover.request, handover.client, { bsn })).taskId;
      record = fillHandover(record, taskId);
      if (format === 'ambulance') Object.assign(record, uniqueRide());
    }
    const tasksBefore = await native.count('Task', {}, client);

    const res = await native.sendOk(format, record, client);
    if (!handover) expect(res.status).toBe(201);
    expect(res.headers.location).toMatch(/^http:\/\/gateway\.test\/fhir\/(Task|Encounter)\/[A-Za-z0-9\-.]+$/);
    const stored = await expectStoredAndValid(JSON.parse(res.text) as Bundle, client);
    expect(stored.length).toBeGreaterThan(0);

    // The patient is found by the record's BSN (or, without one, by the stored resources).
    const bsnInRecord = format === 'vvt' ? record.client_bsn : record.patient?.bsn;
    if (bsnInRecord) expect(await native.count('Patient', { identifier: `${BSN_SYSTEM}|${bsn}` }, client)).toBe(1);

    const expected = EXPECTED_TASK[name]!;
    if (expected === 'none') {
      expect(idFrom(res.headers.location, 'Encounter')).toBeTruthy();
      expect(await native.count('Task', {}, client)).toBe(tasksBefore);
      expect(stored.some((r) => r.resourceType === 'Patient')).toBe(true);
      return;
    }
    const task = await native.read<Task>(`Task/${idFrom(res.headers.location, 'Task')}`, client);
    if (taskId) expect(task.id).toBe(taskId);
    else expect(await native.count('Task', {}, client)).toBe(tasksBefore + 1);
    expect(task.status).toBe(expected.status);
    if (expected.requester) expect(uraOf(await native.read<Organization>(task.requester!.reference!, client))).toBe(expected.requester);
    if (expected.owner) expect(uraOf(await native.read<Organization>(task.owner!.reference!, client))).toBe(expected.owner);
    if (expected.priority) expect((await focusOf(task, client)).priority).toBe(expected.priority);
    const patient = await native.read<Patient>(task.for!.reference!, client);
    if (bsnInRecord) expect(patient.identifier).toContainEqual(expect.objectContaining({ system: BSN_SYSTEM, value: bsn }));

    if (name === 'vvt-antwoord-afgewezen.json') expect(task.statusReason?.text).toContain('Geen capaciteit');
    if (name === 'vvt-antwoord-ingepland.json') expect(Date.parse(task.executionPeriod!.start!)).toBe(Date.parse('2026-11-22T23:30:00+01:00'));
    if (name === 'vvt-antwoord-uitgevoerd.json') expect(JSON.stringify(task.output)).toContain('Katheter vervangen');
  });
});

describe('invalid shared examples', () => {
  const names = exampleNames().filter((n) => n.startsWith('invalid-'));

  it('covers every invalid example in the shared folder', () => {
    expect(names.sort()).toEqual(Object.keys(INVALID_FIELD).sort());
  });

  it.each(names)('%s is refused with an OperationOutcome naming the field of its _waarom, and nothing is stored', async (name) => {
    const format = formatOf(name);
    const record = example(name);
    const client: DemoClient = format === 'nts' ? 'hap-vechtdal' : format === 'ambulance' ? 'rav-noordoost' : 'zcc-ijsselland';
    const counts = async (): Promise<number[]> => Promise.all(['Task', 'Patient', 'Encounter', 'ServiceRequest', 'Observation', 'Provenance'].map((t) => native.count(t)));
    const before = await counts();

    const res = await native.send(format, record, client);
    const { text } = refusal(res, [400, 422]);
    const fields = INVALID_FIELD[name]!;
    expect({ why: whyInvalid(name), named: fields.some((f) => text.includes(f)), text }).toEqual({ why: whyInvalid(name), named: true, text });
    expect(await counts()).toEqual(before);
  });
});

describe('S1: chest pain, HAP to ambulance', () => {
  it('creates the handover, takes the RAV acceptance and the closed ride, and ignores every re-send', async () => {
    const bsn = uniqueBsn();
    const request = freshExample(U1, bsn);
    const hap = await tg.organizationRef('hap-vechtdal');
    const rav = await tg.organizationRef('rav-noordoost');

    // Step 1: the HAP's triage record.
    const sent = await native.send('nts', request, 'hap-vechtdal');
    expect(sent.status).toBe(201);
    const location = sent.headers.location!;
    const taskId = idFrom(location, 'Task');
    const task = await native.read<Task>(`Task/${taskId}`);
    expect(task.status).toBe('requested');
    expect(task.requester?.reference).toBe(hap);
    expect(task.owner?.reference).toBe(rav);
    const sr = await focusOf(task);
    expect(sr.priority).toBe('stat');
    expect(sr.subject.reference).toBe(task.for?.reference);
    const patient = await native.read<Patient>(task.for!.reference!);
    expect(patient.identifier).toContainEqual(expect.objectContaining({ system: BSN_SYSTEM, value: bsn }));
    expect(patient.birthDate).toBe('1951-06-02');
    const triage = await native.read<Encounter>(task.encounter!.reference!);
    expect(triage.subject?.reference).toBe(task.for?.reference);
    const provenance = await native.search<Provenance>('Provenance', { target: `Task/${taskId}/_history/1` });
    expect(provenance).toHaveLength(1);
    expect(provenance[0]!.agent.map((a) => a.who.display)).toEqual(expect.arrayContaining(['S. Mulder']));
    expect(provenance[0]!.agent.some((a) => a.who.reference === hap)).toBe(true);

    // Step 3: the RAV accepts with its ride number.
    const ride = uniqueRide();
    const accepted = fillHandover({ ...setBsn('ambulance', example('ambulance-antwoord-geaccepteerd'), bsn), ...ride }, taskId);
    const acceptRes = await native.send('ambulance', accepted, 'rav-noordoost');
    expect([200, 201]).toContain(acceptRes.status);
    expect(acceptRes.headers.location).toBe(location);
    expect((await native.read<Task>(`Task/${taskId}`)).status).toBe('accepted');
    expect((await focusOf(task)).identifier).toContainEqual(expect.objectContaining({ system: RIDE_SYSTEM, value: ride.ritnummer }));
    const rides = await native.search<Encounter>('Encounter', { identifier: `${RIDE_SYSTEM}|${ride.ritnummer}` });
    expect(rides).toHaveLength(1);
    expect(rides[0]!.serviceProvider?.reference).toBe(rav);
    expect(rides[0]!.id).not.toBe(triage.id);

    // Step 4: the ride is closed: through in-progress to completed, with the vital signs.
    const closed = fillHandover({ ...setBsn('ambulance', example('ambulance-antwoord-rit-afgesloten'), bsn), ...ride }, taskId);
    const closeRes = await native.send('ambulance', closed, 'rav-noordoost');
    expect([200, 201]).toContain(closeRes.status);
    expect(closeRes.headers.location).toBe(location);
    const history = await native.history(`Task/${taskId}`);
    expect(statusTrail(history)).toEqual(['requested', 'accepted', 'in-progress', 'completed']);
    const observations = await native.search<Observation>('Observation', { encounter: `Encounter/${rides[0]!.id}` });
    const loinc = observations.flatMap((o) => o.code.coding ?? []).filter((c) => c.system === 'http://loinc.org').map((c) => c.code);
    expect(loinc).toEqual(expect.arrayContaining(['9279-1', '59408-5', '8867-4', '85354-9', '9269-2', '72514-3']));
    const heartRate = observations.find((o) => o.code.coding?.some((c) => c.code === '8867-4'));
    expect(heartRate?.valueQuantity?.value).toBe(104);
    expect(heartRate?.subject?.reference).toBe(task.for?.reference);

    // Step 5: re-sending any of the three changes nothing and creates nothing.
    const tasks = await native.count('Task');
    const observationCount = await native.count('Observation');
    const provenanceCount = await native.count('Provenance');
    for (const [format, record, client] of [
      ['nts', request, 'hap-vechtdal'],
      ['ambulance', accepted, 'rav-noordoost'],
      ['ambulance', closed, 'rav-noordoost'],
    ] as const) {
      // Keys in another order are still the same record.
      const reordered = Object.fromEntries(Object.entries(record).reverse());
      const again = await native.send(format, reordered, client);
      expect({ format, status: again.status, location: again.headers.location }).toEqual({ format, status: 200, location });
    }
    expect(await native.history(`Task/${taskId}`)).toHaveLength(history.length);
    expect(await native.count('Task')).toBe(tasks);
    expect(await native.count('Observation')).toBe(observationCount);
    expect(await native.count('Provenance')).toBe(provenanceCount);
  });
});

describe('sequence numbers', () => {
  it('refuses the same volgnummer with different content (409) and changes nothing', async () => {
    const record = freshExample(U1);
    const first = await native.sendOk('nts', record);
    const taskId = idFrom(first.headers.location, 'Task');
    const changed = { ...record, triage: { ...record.triage, advies: 'Iets anders' } };
    const { text } = refusal(await native.send('nts', changed), [409]);
    expect(text).toContain('volgnummer');
    expect(await native.history(`Task/${taskId}`)).toHaveLength(1);
  });

  it('answers an older volgnummer with 200 and a note, and changes nothing', async () => {
    const record: NativeRecord = { ...freshExample(U1), volgnummer: 5 };
    const first = await native.sendOk('nts', record);
    const taskId = idFrom(first.headers.location, 'Task');
    const srBefore = await focusOf(await native.read<Task>(`Task/${taskId}`));
    const older = { ...record, volgnummer: 3, overdracht: { ...record.overdracht, toelichting: 'Oudere versie' } };
    const tasks = await native.count('Task');

    const res = await native.send('nts', older);
    expect(res.status).toBe(200);
    expect(res.headers.location).toBe(first.headers.location);
    expect(res.headers['x-handover-note']).toMatch(/superseded/i);
    const notes = ((JSON.parse(res.text) as Bundle).entry ?? []).map((e) => e.resource).filter((r) => r?.resourceType === 'OperationOutcome') as OperationOutcome[];
    expect(notes.flatMap((n) => n.issue).map((i) => i.diagnostics).join(' ')).toMatch(/superseded/i);
    expect(await native.history(`Task/${taskId}`)).toHaveLength(1);
    expect((await focusOf(await native.read<Task>(`Task/${taskId}`))).meta?.versionId).toBe(srBefore.meta?.versionId);
    expect(await native.count('Task')).toBe(tasks);
  });

  it('sends its last volgnummer on as new when the ledger lost its row, finding the patient and handover it made', async () => {
    // The identity lookups read nothing when the ledger will answer (src/handover/ledger.ts, aboveLedgerHead); a sequence
    // the ledger lets on without being above its head (its own row missing) must still find what the record made.
    const bsn = uniqueBsn();
    const record = freshExample(U1, bsn);
    const first = await native.sendOk('nts', record);
    await tg.gateway.db.query(`DELETE FROM native_records WHERE record_id = $1 AND sequence = $2`, [record.contactId, record.volgnummer]);
    const tasks = await native.count('Task');
    const again = await native.send('nts', record);
    expect(again.status).toBe(200);
    expect(again.headers.location).toBe(first.headers.location);
    expect(await native.count('Patient', { identifier: `${BSN_SYSTEM}|${bsn}` })).toBe(1);
    expect(await native.count('Task')).toBe(tasks);
  });

  it('takes a higher volgnummer as an update of the same handover', async () => {
    const record = freshExample(U1);
    const first = await native.sendOk('nts', record);
    const next = { ...record, volgnummer: 2, overdracht: { ...record.overdracht, toelichting: 'Patiënt nu ook kortademig.' } };
    const res = await native.send('nts', next);
    expect(res.status).toBe(200);
    expect(res.headers.location).toBe(first.headers.location);
    const task = await native.read<Task>(`Task/${idFrom(res.headers.location, 'Task')}`);
    expect(task.status).toBe('requested');
  });
});
