// A Task create's transaction is one round trip once its statements are prepared on the connection: BEGIN, the Task's
// write, the party propagation (held: src/store/write-behind.ts, holdStatement), the commit batch and COMMIT, then one
// Sync. The propagation went in a round trip of its own (with the write ahead of it), the batch in a second.
// Counted on pg's connections: the Syncs sent from a transaction's BEGIN to the one after its COMMIT.
import { randomUUID } from 'node:crypto';
import type { Task } from '@medplum/fhirtypes';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { recordSent, steadyRoundTrips } from '../support/pg-sent.ts';
import { buildEncounter, buildPatient, buildServiceRequest, buildTask, IDENTIFIER_SYSTEM, unique } from '../support/fhir-builders.ts';
import { createHandover, fhirClient, type Fhir, type Handover } from './helpers.ts';
import { postgresOnly } from '../support/database.ts';

let tg: TestGateway;
beforeAll(async () => {
  tg = await startTestGateway();
});
afterAll(async () => {
  await tg?.stop();
});

const onPostgres = postgresOnly(it);

describe('a Task create', () => {
  let hap: Fhir;
  let refs: Handover;
  const task = (): Task =>
    buildTask({ focus: refs.serviceRequest, patient: refs.patient, requester: refs.requester, owner: refs.owner, encounter: refs.encounter }, { identifier: [{ system: IDENTIFIER_SYSTEM, value: unique('round-trips') }] });

  beforeAll(async () => {
    hap = await fhirClient(tg, 'hap-vechtdal');
    refs = await createHandover(tg, hap);
  });

  /**
   * Creates made five at a time, so that five of the pool's connections have prepared the statements: made one after
   * the other, they all went on the one connection the pool gave back last, and a measured create that found it taken
   * by the gateway's own background work (the chain linker, the delivery worker) went on one that still had to
   * prepare them, one round trip more (seen in CI: three of five).
   */
  async function warmUp(make: () => Task): Promise<void> {
    for (let round = 0; round < 5; round++) await Promise.all(Array.from({ length: 5 }, () => hap.create(make())));
  }

  onPostgres('is one round trip once its statements are prepared: the party propagation goes with the commit batch', async () => {
    // Every connection of the pool prepares the statements in its first such transaction (then they go apart).
    await warmUp(task);
    // A create on a connection that still prepares the statements (the pool may open one under the suite's load) is left out.
    expect(await steadyRoundTrips('WITH t AS (SELECT parties FROM resources', () => hap.create(task()))).toEqual([1, 1, 1, 1, 1]);
  });

  onPostgres('in a group of candidates, the check that no other requester opened the group goes with the commit batch too', async () => {
    // A new group each time: the group's advisory lock goes with the lookup of its other candidates' owners (the
    // Task's parties), then the write with the batch.
    const grouped = (): Task => ({ ...task(), groupIdentifier: { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${randomUUID()}` } });
    await warmUp(grouped);
    expect(await steadyRoundTrips('WITH t AS (SELECT parties FROM resources', () => hap.create(grouped()))).toEqual([2, 2, 2, 2, 2]);
  });

  onPostgres('takes its group’s lock in the round trip of its next statement, and so does an update', async () => {
    const grouped = (): Task => ({ ...task(), groupIdentifier: { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${randomUUID()}` } });
    const LOCK = 'pg_advisory_xact_lock';
    const created: Task[] = [];
    // Every connection of the pool prepares the statements in its first such transaction (then they go apart).
    for (let i = 0; i < 30; i++) created.push(await hap.create(grouped()));
    for (const t of created.slice(5)) expect((await hap.put(`Task/${t.id}`, { ...t, description: 'warm' })).status).toBe(200);
    // The lock is bound in the same round trip as the statement after it: no Sync right after the lock's Bind.
    const lockAlone = (list: { kind: string; text?: string }[]): number => list.filter((e, k) => e.kind === 'bind' && e.text?.includes(LOCK) && list[k + 1]?.kind === 'sync').length;
    const creates = await recordSent(async () => {
      for (let i = 0; i < 5; i++) await hap.create(grouped());
    });
    const createSent = [...creates.sent.values()].flat();
    expect(createSent.filter((e) => e.kind === 'bind' && e.text.includes(LOCK)).length).toBe(5);
    // Under the full suite's load the pool may open a connection meanwhile, whose first transaction prepares.
    expect(lockAlone(createSent)).toBeLessThanOrEqual(1);
    const updates = await recordSent(async () => {
      for (const t of created.slice(0, 5)) expect((await hap.put(`Task/${t.id}`, { ...t, description: 'changed' })).status).toBe(200);
    });
    const updateSent = [...updates.sent.values()].flat();
    expect(updateSent.filter((e) => e.kind === 'bind' && e.text.includes(LOCK)).length).toBe(5);
    expect(lockAlone(updateSent)).toBeLessThanOrEqual(1);
  });

  it('still spreads its parties to the rest of the handover, in its transaction', async () => {
    // A request for a patient and its encounter, then the Task handing it to another organisation: that owner
    // becomes party to the request, the patient and the encounter, as when the propagation had a round trip of its own.
    const owner = await tg.organizationRef('vvt-ijsseldelta');
    const patient = `Patient/${(await hap.create(buildPatient())).id}`;
    const serviceRequest = `ServiceRequest/${(await hap.create(buildServiceRequest({ patient, requester: refs.requester, performer: owner }))).id}`;
    const encounter = `Encounter/${(await hap.create(buildEncounter({ patient, serviceProvider: refs.requester }))).id}`;
    const keys = [patient, serviceRequest, encounter].map((ref) => ref.split('/'));
    const partiesOf = async (): Promise<string[][]> =>
      (await tg.gateway.db.query<{ parties: string[] }>('SELECT parties FROM resources WHERE (resource_type, id) IN (SELECT * FROM unnest($1::text[], $2::text[])) ORDER BY resource_type', [keys.map((k) => k[0]), keys.map((k) => k[1])])).rows.map((r) => r.parties);
    expect((await partiesOf()).filter((parties) => parties.includes('90007890')).length).toBeLessThan(3);
    await hap.create(buildTask({ focus: serviceRequest, patient, requester: refs.requester, owner, encounter }));
    const after = await partiesOf();
    expect(after.length).toBe(3);
    for (const parties of after) expect(parties).toContain('90007890');
  });
});
