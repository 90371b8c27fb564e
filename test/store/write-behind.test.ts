// Resource writes held back in a write transaction (src/store/write-behind.ts): those that follow each other go in
// one statement, every statement of the transaction that may read them sees the writes before it (one naming what it
// reads goes before those it cannot read; the commit batch takes them along), and a refused write still rolls the
// whole transaction back. Runs on PostgreSQL (npm test) and on PGlite (npm run test:pglite).
import { randomUUID } from 'node:crypto';
import type { Patient } from '@medplum/fhirtypes';
import { systemContext } from '../../src/context.ts';
import { COMMIT_BATCH, WritePipeline } from '../../src/fhir/write-phases.ts';
import type { Database, Tx } from '../../src/store/database.ts';
import { resourceStore, type StoredVersion } from '../../src/store/resource-store.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let testDb: TestDatabase;
const pipeline = new WritePipeline({});
const ctx = systemContext('write-behind-test');
const NO_INDEX = { tokens: [], strings: [], dates: [] };

beforeAll(async () => {
  testDb = await createTestDatabase({ prefix: 'writebehind' });
});
afterAll(async () => {
  await testDb?.drop();
});

/** The database, with every statement its transactions send recorded in `sent`. */
function recording(sent: string[]): Pick<Database, 'transaction'> {
  return {
    transaction: async (work) =>
      testDb.db.transaction(async (tx) => {
        const recorded: Tx = {
          query: async (sql, params, options) => {
            sent.push(sql);
            return tx.query(sql, params, options);
          },
          exec: async (sql) => {
            sent.push(sql);
            return tx.exec(sql);
          },
        };
        return work(recorded);
      }),
  };
}

function patient(id: string, versionId: string, family: string): StoredVersion {
  const lastUpdated = new Date().toISOString();
  const content: Patient = { resourceType: 'Patient', id, meta: { versionId, lastUpdated }, name: [{ family }] };
  return { resourceType: 'Patient', id, versionId, lastUpdated, deleted: false, content };
}

test('writes that follow each other go in one statement, sent before the next statement, which sees them', async () => {
  const sent: string[] = [];
  const a = randomUUID();
  const b = randomUUID();
  await pipeline.transaction(recording(sent), ctx, async ({ tx }) => {
    await resourceStore.write(tx, patient(a, '1', 'A'), NO_INDEX, [], true);
    await resourceStore.write(tx, patient(b, '1', 'B'), NO_INDEX, [], true);
    expect(sent).toHaveLength(0);
    const read = await resourceStore.current(tx, 'Patient', b, true);
    expect(read?.content).toMatchObject({ name: [{ family: 'B' }] });
    expect(sent).toHaveLength(2);
    expect(sent[0]).toContain('w1_cur');
    // Two changes of one row never share a statement: the second would not see the first.
    await resourceStore.write(tx, patient(a, '2', 'A2'), NO_INDEX, [], false);
    await resourceStore.write(tx, patient(a, '3', 'A3'), NO_INDEX, [], false);
    expect(sent).toHaveLength(3);
  });
  // The last write went at the end of the transaction, before COMMIT.
  expect(sent).toHaveLength(4);
  expect((await resourceStore.current(testDb.db, 'Patient', a))?.versionId).toBe('3');
  expect((await resourceStore.version(testDb.db, 'Patient', a, '2'))?.content).toMatchObject({ name: [{ family: 'A2' }] });
  // Every version once: the replaced ones in resource_history, the current one only in resources (migration 026).
  expect((await resourceStore.version(testDb.db, 'Patient', a, '1'))?.content).toMatchObject({ name: [{ family: 'A' }] });
  expect((await resourceStore.version(testDb.db, 'Patient', a, '3'))?.content).toMatchObject({ name: [{ family: 'A3' }] });
  const stored = await testDb.db.query<{ history: string; versions: string }>(
    `SELECT (SELECT string_agg(version_id::text, ',' ORDER BY version_id) FROM resource_history WHERE resource_type = 'Patient' AND id = $1) AS history,
            (SELECT string_agg(version_id::text, ',' ORDER BY version_id) FROM resource_versions WHERE resource_type = 'Patient' AND id = $1) AS versions`,
    [a],
  );
  expect(stored.rows[0]).toEqual({ history: '1,2', versions: '1,2,3' });
  expect((await resourceStore.current(testDb.db, 'Patient', b))?.versionId).toBe('1');
});

test('a statement naming what it reads goes before held writes it cannot read; one reading one of them sends them all first', async () => {
  const sent: string[] = [];
  const a = randomUUID();
  const b = randomUUID();
  await pipeline.transaction(recording(sent), ctx, async ({ tx }) => {
    await resourceStore.write(tx, patient(a, '1', 'A'), NO_INDEX, [], true);
    // Another row by its key, and another type: the held Patient is neither, and stays held.
    expect(await resourceStore.current(tx, 'Patient', b)).toBeUndefined();
    await tx.query(`SELECT count(*) FROM resources WHERE resource_type = 'Task'`, [], { reads: ['Task'] });
    expect(sent).toHaveLength(2);
    expect(sent.some((sql) => sql.includes('w0_cur'))).toBe(false);
    await resourceStore.write(tx, patient(b, '1', 'B'), NO_INDEX, [], true);
    // A read of the type: every held write goes first, in the order held, in one statement, and it sees both.
    const found = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM resources WHERE resource_type = 'Patient' AND id = ANY($1::text[])`, [[a, b]], { reads: ['Patient'] });
    expect(found.rows[0]?.n).toBe(2);
    expect(sent).toHaveLength(4);
    expect(sent[2]).toContain('w1_cur');
  });
});

test('the commit batch takes along the held writes none of its parts reads; a part reading one gets them sent first', async () => {
  const sent: string[] = [];
  const a = randomUUID();
  await pipeline.transaction(recording(sent), ctx, async ({ tx, state }) => {
    await resourceStore.write(tx, patient(a, '1', 'A'), NO_INDEX, [], true);
    state.get(COMMIT_BATCH).add({ shape: 'test:reads-nothing', sql: () => `SELECT 1 AS one`, params: [], rows: () => undefined, reads: [] });
  });
  expect(sent).toHaveLength(1);
  expect(sent[0]).toContain('w0_cur');
  expect(sent[0]).toContain('c0 AS');
  expect((await resourceStore.current(testDb.db, 'Patient', a))?.versionId).toBe('1');

  const sentAgain: string[] = [];
  const b = randomUUID();
  let seen: unknown[] = [];
  await pipeline.transaction(recording(sentAgain), ctx, async ({ tx, state }) => {
    await resourceStore.write(tx, patient(b, '1', 'B'), NO_INDEX, [], true);
    state.get(COMMIT_BATCH).add({
      shape: 'test:reads-the-patient',
      sql: (p) => `SELECT id FROM resources WHERE resource_type = 'Patient' AND id = ${p(1)}`,
      params: [b],
      rows: (rows) => {
        seen = rows;
      },
      reads: [`Patient/${b}`],
    });
  });
  expect(sentAgain).toHaveLength(2);
  expect(seen).toEqual([{ id: b }]);
});

test('a write refused when its statement is sent rolls back the whole transaction, the writes held with it too', async () => {
  const taken = randomUUID();
  await pipeline.transaction(testDb.db, ctx, async ({ tx }) => resourceStore.write(tx, patient(taken, '1', 'First'), NO_INDEX, [], true));
  const other = randomUUID();
  const attempt = pipeline.transaction(testDb.db, ctx, async ({ tx }) => {
    await resourceStore.write(tx, patient(other, '1', 'Other'), NO_INDEX, [], true);
    // The same id again: the primary key refuses it when the held writes are sent, at the end of the transaction.
    await resourceStore.write(tx, patient(taken, '1', 'Second'), NO_INDEX, [], true);
  });
  await expect(attempt).rejects.toThrow();
  expect(await resourceStore.current(testDb.db, 'Patient', other)).toBeUndefined();
  expect((await resourceStore.current(testDb.db, 'Patient', taken))?.content).toMatchObject({ name: [{ family: 'First' }] });
});
