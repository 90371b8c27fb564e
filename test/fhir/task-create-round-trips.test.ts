// A Task create's transaction is one round trip once its statements are prepared on the connection: BEGIN, the Task's
// write, the party propagation (held: src/store/write-behind.ts, holdStatement), the commit batch and COMMIT, then one
// Sync. The propagation went in a round trip of its own (with the write ahead of it), the batch in a second.
// Counted on pg's connections: the Syncs sent from a transaction's BEGIN to the one after its COMMIT.
import { randomUUID } from 'node:crypto';
import type { Task } from '@medplum/fhirtypes';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { recordSent } from '../support/pg-sent.ts';
import { buildEncounter, buildPatient, buildServiceRequest, buildTask, IDENTIFIER_SYSTEM, unique } from '../support/fhir-builders.ts';
import { createHandover, fhirClient, type Fhir, type Handover } from './helpers.ts';

let tg: TestGateway;
beforeAll(async () => {
  tg = await startTestGateway();
});
afterAll(async () => {
  await tg?.stop();
});

const skipOnPglite = process.env.TEST_STORE === 'pglite' ? it.skip : it;

/**
 * Runs `work`, recording what each connection sends (the text of each statement bound, and each Sync), and returns the
 * round trips (Syncs) of every transaction that ran a statement containing `marker`, in the order they began.
 */
async function roundTripsOfTransactions(marker: string, work: () => Promise<void>): Promise<number[]> {
  const { sent } = await recordSent(work);
  const counts: number[] = [];
  for (const list of sent.values()) {
    let syncs = -1;
    let marked = false;
    let committing = false;
    for (const entry of list) {
      if (entry.kind === 'bind' && /^\s*BEGIN\s*$/i.test(entry.text)) {
        syncs = 0;
        marked = false;
        committing = false;
      } else if (entry.kind === 'bind' && syncs >= 0) {
        if (entry.text.includes(marker)) marked = true;
        if (/^\s*COMMIT\s*$/i.test(entry.text)) committing = true;
      } else if (entry.kind === 'sync' && syncs >= 0) {
        syncs++;
        if (committing) {
          if (marked) counts.push(syncs);
          syncs = -1;
        }
      }
    }
  }
  return counts;
}

describe('a Task create', () => {
  let hap: Fhir;
  let refs: Handover;
  const task = (): Task =>
    buildTask({ focus: refs.serviceRequest, patient: refs.patient, requester: refs.requester, owner: refs.owner, encounter: refs.encounter }, { identifier: [{ system: IDENTIFIER_SYSTEM, value: unique('round-trips') }] });

  beforeAll(async () => {
    hap = await fhirClient(tg, 'hap-vechtdal');
    refs = await createHandover(tg, hap);
  });

  skipOnPglite('is one round trip once its statements are prepared: the party propagation goes with the commit batch', async () => {
    // Every connection of the pool prepares the statements in its first such transaction (then they go apart).
    for (let i = 0; i < 25; i++) await hap.create(task());
    const counts = await roundTripsOfTransactions('WITH t AS (SELECT parties FROM resources', async () => {
      for (let i = 0; i < 5; i++) await hap.create(task());
    });
    expect(counts.length).toBe(5);
    // Under the full suite's load the pool may open a connection meanwhile, whose first transaction prepares.
    expect(counts.filter((n) => n === 1).length).toBeGreaterThanOrEqual(4);
  });

  skipOnPglite('in a group of candidates, the check that no other requester opened the group goes with the commit batch too', async () => {
    // A new group each time: the group's advisory lock is a statement of its own, then the write and the batch.
    const grouped = (): Task => ({ ...task(), groupIdentifier: { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${randomUUID()}` } });
    for (let i = 0; i < 25; i++) await hap.create(grouped());
    const counts = await roundTripsOfTransactions('WITH t AS (SELECT parties FROM resources', async () => {
      for (let i = 0; i < 5; i++) await hap.create(grouped());
    });
    expect(counts.length).toBe(5);
    expect(counts.filter((n) => n === 2).length).toBeGreaterThanOrEqual(4);
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
