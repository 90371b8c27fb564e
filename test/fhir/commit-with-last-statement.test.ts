// A write transaction's COMMIT goes with its last statement (src/store/commit-with-last-statement.ts, sent by the
// write phases' pipeline, src/fhir/write-phases.ts): a native handover and a Task create send no COMMIT of their own.
// A Task's references are checked in that statement (migration 028 raises for one that does not resolve): a refused
// Task still stores nothing. Counted on pg's clients: a COMMIT alone goes as `client.query('COMMIT')`.
import type { OperationOutcome, Task } from '@medplum/fhirtypes';
import pg from 'pg';
import { example, setBsn, uniqueBsn, uniqueId, withNativeGateway, type Native } from '../support/native.ts';
import type { TestGateway } from '../support/gateway.ts';
import { buildPatient, buildTask, IDENTIFIER_SYSTEM, unique } from '../support/fhir-builders.ts';
import { createHandover, fhirClient, type Fhir, type Handover } from './helpers.ts';
import { postgresOnly } from '../support/database.ts';

let tg: TestGateway;
let native: Native;
withNativeGateway((g) => ({ tg, native } = g));

const onPostgres = postgresOnly(it);

/** Whether `config` is the named COMMIT sent alone to prepare it on `client`'s connection (pg records a Parse sent there). */
function preparesCommit(client: object, config: unknown): boolean {
  const name = typeof config === 'object' && config !== null ? (config as { name?: unknown }).name : undefined;
  if (typeof name !== 'string') return false;
  const parsed = (client as { connection?: { parsedStatements?: Record<string, string> } }).connection?.parsedStatements;
  return parsed?.[name] === undefined;
}

/**
 * Runs `work`, counting the COMMITs sent alone (pg: `client.query('COMMIT')`) right after a statement containing
 * `marker` (the operation's last statement; not the delivery worker's or the audit linker's transactions, which may
 * use the same connection next). The COMMIT that prepares the statement on a connection's first such transaction goes
 * alone by design and is not counted: under the full suite's load the pool may open a connection during `work`,
 * which the warm-up never used.
 */
async function commitsAlone(marker: string, work: () => Promise<void>): Promise<number> {
  const proto = pg.Client.prototype as unknown as { query(config: unknown, ...rest: unknown[]): unknown };
  const query = proto.query;
  // Per connection: whether the last statement it was sent contained the marker.
  const afterMarker = new WeakMap<object, boolean>();
  let count = 0;
  proto.query = function countCommit(this: object, config: unknown, ...rest: unknown[]): unknown {
    const text = typeof config === 'string' ? config : String((config as { text?: unknown } | undefined)?.text ?? '');
    if (/^\s*COMMIT\s*$/i.test(text) && afterMarker.get(this) === true && !preparesCommit(this, config)) count++;
    afterMarker.set(this, text.includes(marker));
    return query.call(this, config, ...rest);
  };
  try {
    await work();
  } finally {
    proto.query = query;
  }
  return count;
}

const handover = (): string => JSON.stringify({ ...setBsn('nts', example('nts-u1-pijn-op-de-borst-naar-ambulance.json'), uniqueBsn()), contactId: uniqueId('COMMIT') });

onPostgres('a new native handover commits with its last statement (no COMMIT round trip of its own)', async () => {
  // Every connection of the pool prepares COMMIT in its first such transaction (then COMMIT is sent alone).
  for (let i = 0; i < 25; i++) expect((await native.send('nts', handover())).status).toBe(201);
  const alone = await commitsAlone('INSERT INTO native_records', async () => {
    for (let i = 0; i < 5; i++) expect((await native.send('nts', handover())).status).toBe(201);
  });
  expect(alone).toBe(0);
});

describe('a Task create', () => {
  let hap: Fhir;
  let refs: Handover;
  const task = (marker: string, patient = refs.patient): Task =>
    buildTask({ focus: refs.serviceRequest, patient, requester: refs.requester, owner: refs.owner, encounter: refs.encounter }, { identifier: [{ system: IDENTIFIER_SYSTEM, value: marker }] });
  const stored = async (marker: string): Promise<number> =>
    (await tg.gateway.db.query('SELECT 1 FROM resources WHERE resource_type = $1 AND tokens @> $2::text[]', ['Task', [`identifier=${IDENTIFIER_SYSTEM}|${marker}`]])).rowCount;

  beforeAll(async () => {
    hap = await fhirClient(tg, 'hap-vechtdal');
    refs = await createHandover(tg, hap);
  });

  onPostgres('commits with its last statement, the check of its references (no COMMIT round trip of its own)', async () => {
    for (let i = 0; i < 25; i++) await hap.create(task(unique('warm')));
    const alone = await commitsAlone('refuse_unresolved_references', async () => {
      for (let i = 0; i < 5; i++) await hap.create(task(unique('counted')));
    });
    expect(alone).toBe(0);
  });

  it('refused in that statement for a reference that does not resolve, or to what its writer may not read: 422 naming each, nothing stored', async () => {
    const marker = unique('refused');
    // A Patient of another organisation's handover: exists, not shared with the HAP.
    const vvt = await fhirClient(tg, 'vvt-ijsseldelta');
    const theirs = `Patient/${(await vvt.create(buildPatient())).id}`;
    for (const patient of ['Patient/none-such', theirs]) {
      const res = await hap.post('Task', task(marker, patient));
      expect(res.status).toBe(422);
      const issues = (res.body as OperationOutcome).issue ?? [];
      expect(issues.map((i) => [i.expression?.[0], i.diagnostics])).toEqual([['Task.for', expect.stringContaining(`${patient}, which does not exist or is not shared`)]]);
    }
    expect(await stored(marker)).toBe(0);
    // The connection and the check go on: the same Task with a reference that resolves is stored.
    expect((await hap.post('Task', task(marker))).status).toBe(201);
    expect(await stored(marker)).toBe(1);
  });
});
