// One group of the placer mixing its candidates' forms (issue 18): a VVT answering natively (subscribed with the vvt
// payload, answering through POST /native/vvt) and a Twiin candidate (owner by HealthcareService identifier,
// subscribed id-only on owner:identifier). Each hears its invitation and, when not selected, its cancellation in
// its own form; the placer selects one of the two that accepted.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Encounter, HealthcareService, Patient, Provenance, ServiceRequest, Task } from '@medplum/fhirtypes';
import request from 'supertest';
import { DEMO_CLIENTS, type DemoClient, type TestGateway } from '../support/gateway.ts';
import { example, fillHandover, setBsn, uniqueBsn, withNativeGateway, type Native, type NativeRecord } from '../support/native.ts';
import { receiversForFile, subscribe, type Receiver } from '../support/receiver.ts';

const FIXTURES = join(process.cwd(), 'test', 'fixtures', 'twiin');
const URA = 'http://fhir.nl/fhir/NamingSystem/ura';
const TA = 'https://fhir.twiin.nl/ig/workflow/CodeSystem/ta-workflow';
const PLACER: DemoClient = 'hap-vechtdal';
const VVT: DemoClient = 'vvt-ijsseldelta';
const TWIIN: DemoClient = 'vvt-sallandse-heuvelrug';

let tg: TestGateway;
let native: Native;
withNativeGateway((g) => ({ tg, native } = g), { ALLOW_HTTP_LOOPBACK_HOOKS: '1' });
const receiver = receiversForFile();

/** An IG example (test/fixtures/twiin, see SOURCE.md) with its placer's URA replaced by the demo placer's. */
function fixture<T>(name: string): T {
  const resource = JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8').split('"12345678"').join(`"${DEMO_CLIENTS[PLACER]}"`)) as { id?: string };
  delete resource.id;
  return resource as T;
}

async function created<T>(res: { status: number; text: string }, what: string): Promise<T> {
  if (res.status !== 201) throw new Error(`${what}: ${res.status} ${res.text}`);
  return JSON.parse(res.text) as T;
}

const records = (r: Receiver): NativeRecord[] => r.events().map((e) => JSON.parse(e.body) as NativeRecord);
/** The Task ids an id-only notification names. */
const taskIdsHeard = (r: Receiver): string[] =>
  r.events().flatMap((e) => ((JSON.parse(e.body) as { entry?: { fullUrl?: string }[] }).entry ?? []).map((x) => x.fullUrl ?? '')).filter((u) => u.includes('/Task/')).map((u) => u.slice(u.lastIndexOf('/') + 1));
const selection = (task: Task, patient: string): Task => {
  const selected = fixture<Task>('coordination-task-selected');
  return { ...task, status: 'accepted', code: selected.code, businessStatus: selected.businessStatus, for: { reference: patient }, output: selected.output };
};

interface Group {
  bsn: string;
  patient: string;
  vvtTask: Task;
  twiinTask: Task;
  hearVvt: Receiver;
  hearTwiin: Receiver;
}

/** The placer's request, invitations to both candidates in one group, each heard in its candidate's form. */
async function inviteBoth(): Promise<Group> {
  const suffix = randomUUID().slice(0, 8);
  const bsn = uniqueBsn();
  const patientBody = fixture<Patient>('patient');
  patientBody.identifier = [{ system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: bsn }];
  const patient = `Patient/${(await created<Patient>(await native.post('/fhir/Patient', patientBody, PLACER), 'Patient')).id}`;
  const sr = fixture<ServiceRequest>('servicerequest');
  sr.subject = { reference: patient };
  const serviceRequest = `ServiceRequest/${(await created<ServiceRequest>(await native.post('/fhir/ServiceRequest', sr, PLACER), 'ServiceRequest')).id}`;
  const service = { system: 'https://fulfiller-b.example.org/healthcareservice', value: `wijkverpleging-${suffix}` };
  await created<HealthcareService>(await native.post('/fhir/HealthcareService', { resourceType: 'HealthcareService', identifier: [service], name: 'Wijkverpleging', providedBy: { reference: await tg.organizationRef(TWIIN) } }, TWIIN), 'HealthcareService');

  const [hearVvt, hearTwiin] = [await receiver(), await receiver()];
  await subscribe(tg, VVT, hearVvt, `Task?owner=${URA}|${DEMO_CLIENTS[VVT]}`, 'application/x-vvt+json', { heartbeat: 3600 });
  await subscribe(tg, TWIIN, hearTwiin, `owner:identifier=${service.system}|${service.value}`, 'id-only', { heartbeat: 3600 });

  const group = { system: 'https://placer.example.org/task-group', value: `mixed-${suffix}` };
  const invitation = (owner: Task['owner']): Task => {
    const task = fixture<Task>('coordination-task-invited');
    task.focus = { reference: serviceRequest };
    task.groupIdentifier = group;
    task.identifier = [{ system: 'https://placer.example.org/task', value: randomUUID() }];
    task.owner = owner;
    delete task.location;
    return task;
  };
  const vvtTask = await created<Task>(await native.post('/fhir/Task', invitation({ reference: await tg.organizationRef(VVT) }), PLACER), 'the VVT invitation');
  const twiinTask = await created<Task>(await native.post('/fhir/Task', invitation({ type: 'HealthcareService', identifier: service }), PLACER), 'the Twiin invitation');
  return { bsn, patient, vvtTask, twiinTask, hearVvt, hearTwiin };
}

/** The VVT's native answer: planned (INGEPLAND), i.e. it accepts its invitation. */
async function vvtAccepts(g: Group): Promise<void> {
  const answer = fillHandover(setBsn('vvt', example('vvt-antwoord-ingepland'), g.bsn), g.vvtTask.id ?? '');
  await native.sendOk('vvt', answer, VVT);
}

async function twiinAccepts(g: Group): Promise<Task> {
  const res = await native.get(`/fhir/Task/${g.twiinTask.id}`, TWIIN);
  const current = JSON.parse(res.text) as Task;
  const put = await request(tg.app).put(`/fhir/Task/${g.twiinTask.id}`).set('Authorization', await tg.auth(TWIIN)).set('Content-Type', 'application/fhir+json').send(JSON.stringify({ ...current, status: 'accepted' }));
  if (put.status !== 200) throw new Error(`Twiin acceptance: ${put.status} ${put.text}`);
  return JSON.parse(put.text) as Task;
}

async function placerSelects(task: Task, patient: string): Promise<Task> {
  const current = await native.read<Task>(`Task/${task.id}`, PLACER);
  const put = await request(tg.app).put(`/fhir/Task/${task.id}`).set('Authorization', await tg.auth(PLACER)).set('Content-Type', 'application/fhir+json').send(JSON.stringify(selection(current, patient)));
  if (put.status !== 200) throw new Error(`selection: ${put.status} ${put.text}`);
  return JSON.parse(put.text) as Task;
}

/** The invitation state the placer's board shows for a Task. */
async function boardInvitation(task: Task): Promise<string | undefined> {
  const res = await request(tg.app).get(`/board/handovers/${task.id}`).set('Authorization', await tg.auth(PLACER));
  if (res.status !== 200) throw new Error(`board: ${res.status} ${res.text}`);
  return (res.body as { row: { invitation?: string } }).row.invitation;
}

describe('a group mixing a native VVT candidate and a Twiin candidate', () => {
  it('each hears its invitation in its form; both accept; the placer selects the Twiin one; the VVT hears natively it was not selected', async () => {
    const g = await inviteBoth();
    await g.hearVvt.waitFor(() => records(g.hearVvt).some((x) => x.overdracht_id === g.vvtTask.id), 'the VVT hears its invitation');
    expect(records(g.hearVvt).find((x) => x.overdracht_id === g.vvtTask.id)).toMatchObject({ status: 'AANGEVRAAGD' });
    expect(g.hearVvt.events()[0]?.headers['content-type']).toBe('application/x-vvt+json');
    await g.hearTwiin.waitFor(() => taskIdsHeard(g.hearTwiin).includes(g.twiinTask.id ?? ''), 'the Twiin candidate hears its invitation');
    expect(taskIdsHeard(g.hearTwiin)).not.toContain(g.vvtTask.id);

    expect(await boardInvitation(g.vvtTask)).toBe('invited');
    await vvtAccepts(g);
    expect((await native.read<Task>(`Task/${g.vvtTask.id}`, PLACER)).status).toBe('accepted');
    await twiinAccepts(g);
    // Accepting answers the invitation; it does not choose: both stay accepted until the placer selects.
    expect((await native.read<Task>(`Task/${g.vvtTask.id}`, PLACER)).status).toBe('accepted');

    const before = g.hearVvt.events().length;
    const selected = await placerSelects(g.twiinTask, g.patient);
    expect(selected.businessStatus?.coding?.[0]?.code).toBe('selected');
    const other = await native.read<Task>(`Task/${g.vvtTask.id}`, VVT);
    expect(other.status).toBe('cancelled');
    expect(other.statusReason?.coding?.[0]).toMatchObject({ system: TA, code: 'not-selected' });
    // The placer's board tells the two apart.
    expect([await boardInvitation(g.twiinTask), await boardInvitation(g.vvtTask)]).toEqual(['selected', 'not-selected']);
    await g.hearVvt.waitFor(() => records(g.hearVvt).slice(before).some((x) => x.overdracht_id === g.vvtTask.id && x.status === 'GEANNULEERD'), 'the VVT hears natively it was not selected');
    expect(records(g.hearVvt).find((x) => x.status === 'GEANNULEERD')?.annulering_reden).toBe('niet geselecteerd');
    // Not selected: its withheld answer is dropped, its visit record never written.
    expect(await native.search<Encounter>('Encounter', { identifier: g.vvtTask.id ?? '' }, VVT)).toEqual([]);
    expect((await tg.gateway.db.query('SELECT 1 FROM withheld_answers WHERE task_id = $1', [g.vvtTask.id])).rows).toEqual([]);
  });

  it('the placer selects the VVT: the Twiin candidate hears id-only it was not selected and pulls the reason', async () => {
    const g = await inviteBoth();
    await g.hearTwiin.waitFor(() => taskIdsHeard(g.hearTwiin).includes(g.twiinTask.id ?? ''), 'the Twiin candidate hears its invitation');
    await vvtAccepts(g);
    // Not selected yet: the VVT's visit record waits (the candidate may not see the patient before the selection).
    expect(await native.search<Encounter>('Encounter', { identifier: g.vvtTask.id ?? '' }, VVT)).toEqual([]);
    await twiinAccepts(g);
    const before = g.hearTwiin.events().length;
    const selected = await placerSelects(g.vvtTask, g.patient);
    expect(selected.businessStatus?.coding?.[0]?.code).toBe('selected');
    await g.hearTwiin.waitFor(() => taskIdsHeard({ events: () => g.hearTwiin.events().slice(before) } as Receiver).includes(g.twiinTask.id ?? ''), 'the Twiin candidate hears it was not selected');
    // id-only: the notification names the Task, carries no resource.
    expect(g.hearTwiin.events().every((e) => !(JSON.parse(e.body) as { entry?: { resource?: { resourceType?: string } }[] }).entry?.some((x) => x.resource?.resourceType === 'Task'))).toBe(true);
    const pulled = await native.read<Task>(`Task/${g.twiinTask.id}`, TWIIN);
    expect([pulled.status, pulled.statusReason?.coding?.[0]?.code]).toEqual(['cancelled', 'not-selected']);
    // The VVT's native answer (INGEPLAND, a planned visit) came before the selection: only its status applied then.
    // With the selection its visit record is written, about the patient the selection names, as the VVT's.
    const visits = await native.search<Encounter>('Encounter', { identifier: g.vvtTask.id ?? '' }, PLACER);
    expect(visits.map((e) => [e.subject?.reference, e.basedOn?.[0]?.reference, e.serviceProvider?.reference])).toEqual([[g.patient, g.vvtTask.focus?.reference, await tg.organizationRef(VVT)]]);
    expect((await native.search<Encounter>('Encounter', { identifier: g.vvtTask.id ?? '' }, VVT)).map((e) => e.id)).toEqual([visits[0]?.id]);
    const provenance = await native.search<Provenance>('Provenance', { target: `Encounter/${visits[0]?.id}` }, PLACER);
    expect(provenance.map((p) => p.agent?.[0]?.who?.reference)).toEqual([await tg.organizationRef(VVT)]);
    // The VVT, selected, hears its own Task selected and nothing cancelled.
    await g.hearVvt.waitFor(() => records(g.hearVvt).some((x) => x.overdracht_id === g.vvtTask.id && x.status === 'INGEPLAND'), 'the VVT hears its planning');
    expect(records(g.hearVvt).some((x) => x.status === 'GEANNULEERD')).toBe(false);
  });
});
