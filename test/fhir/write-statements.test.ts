// What a Task create sends inside its transaction (src/access/parties.ts, src/store/write-behind.ts): the party
// propagation, given the Task's parties and references, does not read the Task's row, so the Task's write waits and
// goes with the commit batch: two statements between BEGIN and COMMIT, not three. The parties still reach the
// handover's rows: its owner reads them.
import type { Task } from '@medplum/fhirtypes';
import type { Database, QueryOptions, Tx } from '../../src/store/database.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { buildEncounter, buildPatient, buildServiceRequest, buildTask } from '../support/fhir-builders.ts';
import { fhirClient } from './helpers.ts';

/** The statements of every transaction the gateway ran, each transaction's in the order sent. */
const transactions: string[][] = [];

/**
 * The gateway's database, recording the texts each transaction sends (the rows are the database's own). It inherits
 * everything else, and runs on its own state: `useRole` gives it a pool of its own.
 */
function recording(db: Database): Database {
  const recorder: Database = Object.create(db) as Database;
  const transaction = db.transaction;
  recorder.transaction = <T>(work: (tx: Tx) => Promise<T>): Promise<T> =>
    transaction.call(recorder, (tx: Tx) => {
      const sent: string[] = [];
      transactions.push(sent);
      return work({
        query: (sql: string, params?: unknown[], options?: QueryOptions) => {
          sent.push(sql);
          return tx.query(sql, params, options);
        },
        exec: (sql: string) => {
          sent.push(sql);
          return tx.exec(sql);
        },
      } as Tx);
    }) as Promise<T>;
  return recorder;
}

let tg: TestGateway;

beforeAll(async () => {
  tg = await startTestGateway({}, recording);
});
afterAll(async () => {
  await tg?.stop();
});

/** The transaction that spread the Task's parties (the one statement reading `$2::text[] AS parties`), after `from`. */
const propagating = (from: number): string[][] => transactions.slice(from).filter((sent) => sent.some((sql) => sql.includes('$2::text[] AS parties')));

it('a Task create sends the propagation, then its write with the commit batch; its owner reads the handover', async () => {
  const fhir = await fhirClient(tg);
  const requester = await tg.organizationRef('hap-vechtdal');
  const owner = await tg.organizationRef('rav-noordoost');
  const patient = `Patient/${(await fhir.create(buildPatient())).id}`;
  const serviceRequest = `ServiceRequest/${(await fhir.create(buildServiceRequest({ patient, requester, performer: owner }))).id}`;
  const encounter = `Encounter/${(await fhir.create(buildEncounter({ patient, serviceProvider: requester }))).id}`;
  const ownerFhir = await fhirClient(tg, 'rav-noordoost');
  for (const ref of [patient, serviceRequest, encounter]) expect((await ownerFhir.get(ref)).status).toBe(404);

  const from = transactions.length;
  const res = await fhir.post('Task', buildTask({ focus: serviceRequest, patient, requester, owner, encounter }), { Prefer: 'return=minimal' });
  expect(res.status).toBe(201);
  const [sent, ...others] = propagating(from);
  expect(others).toEqual([]);
  expect(sent).toHaveLength(2);
  expect(sent?.[1]).toContain('INSERT INTO resources');
  expect(sent?.[1]).toContain('INSERT INTO audit_events');

  // The Task's parties reached the rows it refers to, and the Task has them itself.
  for (const ref of [patient, serviceRequest, encounter]) expect((await ownerFhir.get(ref)).status).toBe(200);
  const task = (await ownerFhir.get(res.headers.location!.replace(/^.*\/fhir\//, '').replace(/\/_history\/.*$/, ''))).body as Task;
  expect(task.owner?.reference).toBe(owner);
});

it('a Task update spreads a new party to its handover the same way', async () => {
  const fhir = await fhirClient(tg);
  const requester = await tg.organizationRef('hap-vechtdal');
  const first = await tg.organizationRef('rav-noordoost');
  const second = await tg.organizationRef('vvt-ijsseldelta');
  const patient = `Patient/${(await fhir.create(buildPatient())).id}`;
  const serviceRequest = `ServiceRequest/${(await fhir.create(buildServiceRequest({ patient, requester, performer: first }))).id}`;
  const task = await fhir.create(buildTask({ focus: serviceRequest, patient, requester, owner: first }));
  const secondFhir = await fhirClient(tg, 'vvt-ijsseldelta');
  expect((await secondFhir.get(serviceRequest)).status).toBe(404);

  const from = transactions.length;
  const res = await fhir.put(`Task/${task.id}`, { ...task, owner: { reference: second } });
  expect(res.status).toBe(200);
  const [sent] = propagating(from);
  expect(sent?.at(-1)).toContain('INSERT INTO audit_events');

  for (const ref of [patient, serviceRequest, `Task/${task.id}`]) expect((await secondFhir.get(ref)).status).toBe(200);
  // The first owner keeps what it was given: parties only grow.
  expect((await (await fhirClient(tg, 'rav-noordoost')).get(serviceRequest)).status).toBe(200);
});
