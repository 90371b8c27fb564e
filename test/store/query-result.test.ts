// What a statement's result says, the same on both stores (this file runs on PostgreSQL in `npm test` and on PGlite in
// `npm run test:pglite`): `rowCount` is PostgreSQL's command tag, the rows a SELECT returned or the rows an INSERT,
// UPDATE or DELETE changed. PGlite reports 0 changed rows for a SELECT, which the embedded store gave as its rowCount.
import type { Tx } from '../../src/store/database.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase({ migrate: false, prefix: 'query_result' });
  await t.db.exec('CREATE TABLE counted (n int)');
});
afterAll(() => t?.drop());

const cases: [string, number, number][] = [
  ['INSERT INTO counted VALUES (1), (2), (3)', 3, 0],
  ['SELECT n FROM counted ORDER BY n', 3, 3],
  ['SELECT n FROM counted WHERE false', 0, 0],
  ['INSERT INTO counted VALUES (4) RETURNING n', 1, 1],
  ['UPDATE counted SET n = n + 10 WHERE n > 2', 2, 0],
  ['WITH changed AS (UPDATE counted SET n = n RETURNING n) SELECT count(*) AS n FROM changed', 1, 1],
  ['DELETE FROM counted WHERE n > 12 RETURNING n', 2, 2],
];

/** Each case's statement through `query`, from an empty table: what its result said. */
async function counted(query: (sql: string) => Promise<{ rowCount: number; rows: unknown[] }>): Promise<[string, number, number][]> {
  const seen: [string, number, number][] = [];
  for (const [sql] of cases) {
    const r = await query(sql);
    seen.push([sql, r.rowCount, r.rows.length]);
  }
  return seen;
}

test('rowCount outside a transaction: the rows a SELECT returned, the rows a change touched', async () => {
  await t.db.exec('DELETE FROM counted');
  expect(await counted((sql) => t.db.query(sql))).toEqual(cases);
});

test('rowCount inside a transaction, the same', async () => {
  await t.db.exec('DELETE FROM counted');
  expect(await t.db.transaction((tx: Tx) => counted((sql) => tx.query(sql)))).toEqual(cases);
});
