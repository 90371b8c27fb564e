// A Task's party propagation (src/access/parties.ts) is left out where it could change no row: a handover created whole
// by a native record, whose rows are given the Task's parties as they are written. These tests check both halves: the
// statement is not sent then, and every row it would have reached holds the Task's parties all the same; where a row
// from before the transaction is reached (the patient of an earlier handover), or the rows lack a party (a transaction
// Bundle's, written with their writer's parties alone), it is sent and those rows are given them.
import type { Bundle, Provenance, Resource, Task } from '@medplum/fhirtypes';
import type { TestGateway } from '../support/gateway.ts';
import { buildPatient, buildServiceRequest, buildTask } from '../support/fhir-builders.ts';
import { withNativeGateway, type Native } from '../support/native.ts';
import { recordSent } from '../support/pg-sent.ts';
import { postgresOnly } from '../support/database.ts';

let tg: TestGateway;
let native: Native;
withNativeGateway((g) => ({ tg, native } = g));

const PROPAGATION = 'WITH t AS (SELECT parties FROM resources';
// The statements are read off pg's connections: the embedded store (PGlite) sends none through them.
const onPostgres = postgresOnly(it);
const U1 = 'nts-u1-pijn-op-de-borst-naar-ambulance.json';
const U3 = 'nts-u3-naar-wijkverpleging.json';

/** The texts of the statements bound while `work` runs. */
async function statementsOf<T>(work: () => Promise<T>): Promise<{ result: T; texts: string[] }> {
  const { result, sent } = await recordSent(work);
  return { result, texts: [...sent.values()].flat().flatMap((e) => (e.kind === 'bind' ? [e.text] : [])) };
}

async function partiesOf(refs: string[]): Promise<Map<string, string[]>> {
  const keys = refs.map((r) => r.split('/'));
  const rows = await tg.gateway.db.query<{ key: string; parties: string[] }>(
    `SELECT resource_type || '/' || id AS key, parties FROM resources WHERE (resource_type, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
    [keys.map((k) => k[0]), keys.map((k) => k[1])],
  );
  return new Map(rows.rows.map((r) => [r.key, r.parties]));
}

/** Every resource of a native handover: what its Provenance names. */
async function handoverOf(taskId: string): Promise<string[]> {
  const r = await tg.gateway.db.query<{ id: string; content: Provenance }>(`SELECT id, content FROM resources WHERE resource_type = 'Provenance' AND tokens && $1::text[]`, [[`target=Task/${taskId}`]]);
  const targets = r.rows.flatMap((row) => row.content.target.map((t) => (t.reference ?? '').replace(/\/_history\/.*$/, '')));
  return [...new Set([...targets, ...r.rows.map((p) => `Provenance/${p.id}`)])];
}

function expectEveryRowHolds(parties: Map<string, string[]>, taskParties: string[]): void {
  for (const [key, held] of parties) {
    for (const p of taskParties) expect({ key, holds: held.includes(p) }).toEqual({ key, holds: true });
  }
}

describe('party propagation left out where it could change nothing', () => {
  onPostgres('a native record creating a whole handover sends no propagation, and each of its rows holds every party of its Task', async () => {
    const { result, texts } = await statementsOf(() => native.createHandover(U1, 'hap-vechtdal'));
    expect(texts.length).toBeGreaterThan(3);
    expect(texts.filter((t) => t.includes(PROPAGATION))).toEqual([]);
    const rows = await handoverOf(result.taskId);
    expect(rows.map((r) => r.split('/')[0]).sort()).toEqual(expect.arrayContaining(['Encounter', 'Observation', 'Patient', 'Provenance', 'ServiceRequest', 'Task']));
    const parties = await partiesOf(rows);
    expect(parties.size).toBe(rows.length);
    const taskParties = parties.get(`Task/${result.taskId}`)!;
    // The HAP and the ambulance service.
    expect(taskParties).toEqual(expect.arrayContaining(['90001234', '90004567']));
    expectEveryRowHolds(parties, taskParties);
    // The receiver reads each of them.
    for (const ref of rows) expect((await native.get(`/fhir/${ref}`, 'rav-noordoost')).status).toBe(200);
  });

  onPostgres('a second handover of the same patient to another organisation sends it, and the patient from before gets the new receiver', async () => {
    const first = await native.createHandover(U1, 'hap-vechtdal');
    const { result, texts } = await statementsOf(() => native.createHandover(U3, 'hap-vechtdal', { bsn: first.bsn }));
    const rows = await handoverOf(result.taskId);
    const patient = rows.find((r) => r.startsWith('Patient/'))!;
    expect((await handoverOf(first.taskId)).find((r) => r.startsWith('Patient/'))).toBe(patient);
    const parties = await partiesOf(rows);
    const taskParties = parties.get(`Task/${result.taskId}`)!;
    expectEveryRowHolds(parties, taskParties);
    // The patient is now the ambulance service's (the first handover) and the home care's (this one).
    expect(parties.get(patient)).toEqual(expect.arrayContaining(['90001234', '90004567', ...taskParties]));
    // Unless this record wrote the patient again, only the propagation can have given it the new receiver.
    const patientWritten = texts.some((t) => t.includes('INSERT INTO resource_history'));
    if (!patientWritten) expect(texts.some((t) => t.includes(PROPAGATION))).toBe(true);
  });

  onPostgres('a transaction Bundle creating a whole handover sends it: its rows were written with their writer alone, and are given the owner', async () => {
    const requester = await tg.organizationRef('hap-vechtdal');
    const owner = await tg.organizationRef('vvt-ijsseldelta');
    const urns = { patient: 'urn:uuid:6c8e2a4e-0c1b-4f57-9d38-5f0e9a7b1c01', sr: 'urn:uuid:6c8e2a4e-0c1b-4f57-9d38-5f0e9a7b1c02', task: 'urn:uuid:6c8e2a4e-0c1b-4f57-9d38-5f0e9a7b1c03' };
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: urns.patient, resource: buildPatient() as Resource, request: { method: 'POST', url: 'Patient' } },
        { fullUrl: urns.sr, resource: buildServiceRequest({ patient: urns.patient, requester, performer: owner }) as Resource, request: { method: 'POST', url: 'ServiceRequest' } },
        { fullUrl: urns.task, resource: buildTask({ focus: urns.sr, patient: urns.patient, requester, owner }) as Resource, request: { method: 'POST', url: 'Task' } },
      ],
    };
    const { result, texts } = await statementsOf(() => native.post('/fhir', bundle));
    expect(result.status).toBe(200);
    expect(texts.some((t) => t.includes(PROPAGATION))).toBe(true);
    const written = (JSON.parse(result.text) as Bundle).entry!.map((e) => `${e.resource!.resourceType}/${e.resource!.id}`);
    const parties = await partiesOf(written);
    const task = written.find((r) => r.startsWith('Task/'))!;
    const taskParties = parties.get(task)!;
    expect(taskParties).toEqual(expect.arrayContaining(['90001234', '90007890']));
    expectEveryRowHolds(parties, taskParties);
    for (const ref of written) expect((await native.get(`/fhir/${ref}`, 'vvt-ijsseldelta')).status).toBe(200);
  });

  onPostgres('a Task created for a request and patient stored before sends it, and they are given the Task\'s owner', async () => {
    const requester = await tg.organizationRef('hap-vechtdal');
    const owner = await tg.organizationRef('vvt-ijsseldelta');
    const patient = JSON.parse((await native.post('/fhir/Patient', buildPatient())).text) as Resource;
    const sr = JSON.parse((await native.post('/fhir/ServiceRequest', buildServiceRequest({ patient: `Patient/${patient.id}`, requester, performer: owner }))).text) as Resource;
    const { result, texts } = await statementsOf(() => native.post('/fhir/Task', buildTask({ focus: `ServiceRequest/${sr.id}`, patient: `Patient/${patient.id}`, requester, owner })));
    expect(result.status).toBe(201);
    expect(texts.some((t) => t.includes(PROPAGATION))).toBe(true);
    const task = JSON.parse(result.text) as Task;
    const parties = await partiesOf([`Task/${task.id}`, `Patient/${patient.id}`, `ServiceRequest/${sr.id}`]);
    expectEveryRowHolds(parties, parties.get(`Task/${task.id}`)!);
  });
});
