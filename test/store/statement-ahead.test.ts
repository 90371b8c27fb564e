// A statement whose result nobody reads goes in the same round trip as the statement after it
// (src/store/statement-ahead.ts, QueryOptions.ahead): both inside the transaction, in order, the second seeing the
// first's rows, and a failure of either failing the query and rolling the whole transaction back.
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Tx } from '../../src/store/database.ts';
import { createTestDatabase, postgresOnly, type TestDatabase } from '../support/database.ts';

let testDb: TestDatabase;

beforeAll(async () => {
  testDb = await createTestDatabase({ migrate: false, prefix: 'ahead' });
  await testDb.db.exec('CREATE TABLE marks (n int PRIMARY KEY, tags text[])');
});

afterAll(async () => {
  await testDb.drop();
});

const onPostgres = postgresOnly(it);
const WRITE = 'WITH w AS (INSERT INTO marks (n, tags) VALUES ($1, $2::text[])) SELECT 1 WHERE false';
const READ = 'SELECT n, tags FROM marks WHERE n = $1';

/** Runs `work` on the transaction's connection and counts its round trips (ReadyForQuery messages). */
async function roundTripsOf(tx: Tx, work: () => Promise<unknown>): Promise<number> {
  const client = (tx as unknown as { client: pg.PoolClient }).client;
  const connection = (client as unknown as { connection: EventEmitter }).connection;
  let roundTrips = 0;
  const count = (): number => roundTrips++;
  connection.on('readyForQuery', count);
  try {
    await work();
  } finally {
    connection.off('readyForQuery', count);
  }
  return roundTrips;
}

it('runs the statement ahead first, in the transaction, and gives the query only its own rows', async () => {
  for (let i = 0; i < 4; i++) {
    const r = await testDb.db.transaction((tx) => tx.query<{ n: number; tags: string[] }>(READ, [i], { ahead: [{ sql: WRITE, params: [i, ['a', `b,${i}`]] }] }));
    expect(r.rows).toEqual([{ n: i, tags: ['a', `b,${i}`] }]);
  }
});

it('fails the query when the statement ahead fails, runs nothing after it and rolls the transaction back', async () => {
  for (let i = 0; i < 3; i++) {
    await expect(
      testDb.db.transaction(async (tx) => {
        await tx.query('INSERT INTO marks (n) VALUES ($1)', [1000 + i]);
        // n = 0 exists: the write ahead fails on the primary key, so the read after it does not run.
        return tx.query(READ, [0], { ahead: [{ sql: WRITE, params: [0, []] }] });
      }),
    ).rejects.toMatchObject({ code: '23505' });
    const left = await testDb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM marks WHERE n = $1', [1000 + i]);
    expect(left.rows[0]?.n).toBe(0);
  }
  // The connections stay usable.
  const r = await testDb.db.transaction((tx) => tx.query<{ n: number }>(READ, [10], { ahead: [{ sql: WRITE, params: [10, []] }] }));
  expect(r.rows).toEqual([{ n: 10, tags: [] }]);
});

onPostgres('sends both in one round trip once both are prepared on the connection', async () => {
  // One connection of the database's pool: sequential transactions reuse the idle one.
  // Texts of their own, new on the connection (the tests above prepared theirs).
  const write = WRITE.replace('SELECT 1', 'SELECT 2');
  const read = `${READ} AND n >= 0`;
  const counts: number[] = [];
  for (let i = 0; i < 4; i++) {
    await testDb.db.transaction(async (tx) => {
      counts.push(await roundTripsOf(tx, () => tx.query(read, [20 + i], { ahead: [{ sql: write, params: [20 + i, ['x']] }] })));
    });
  }
  // The first use of the texts on a connection sends them apart (BEGIN with the write, then the read); later ones together.
  expect(counts[0]).toBe(2);
  expect(counts.slice(1)).toEqual([1, 1, 1]);
  const stored = await testDb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM marks WHERE n BETWEEN 20 AND 23');
  expect(stored.rows[0]?.n).toBe(4);
});

it('with commit: the statement ahead, the statement and COMMIT all commit, or nothing when either fails', async () => {
  const write = WRITE.replace('SELECT 1', 'SELECT 3');
  for (let i = 0; i < 3; i++) {
    const r = await testDb.db.transaction((tx) => tx.query<{ n: number }>('INSERT INTO marks (n) VALUES ($1) RETURNING n', [41 + 2 * i], { ahead: [{ sql: write, params: [40 + 2 * i, []] }], commit: true }));
    expect(r.rows).toEqual([{ n: 41 + 2 * i }]);
  }
  // The statement fails (n = 0 exists) after the one ahead wrote: neither is kept.
  for (let i = 0; i < 2; i++) {
    await expect(testDb.db.transaction((tx) => tx.query('INSERT INTO marks (n) VALUES ($1)', [0], { ahead: [{ sql: write, params: [50 + i, []] }], commit: true }))).rejects.toMatchObject({ code: '23505' });
  }
  const stored = await testDb.db.query<{ n: number }>('SELECT n FROM marks WHERE n BETWEEN 40 AND 59 ORDER BY n');
  expect(stored.rows.map((r) => r.n)).toEqual([40, 41, 42, 43, 44, 45]);
});

onPostgres('with commit: BEGIN, the statement ahead, the statement and COMMIT in one round trip once prepared', async () => {
  const write = WRITE.replace('SELECT 1', 'SELECT 4');
  const insert = 'INSERT INTO marks (n) VALUES ($1) RETURNING n, 4 AS k';
  const counts: number[] = [];
  for (let i = 0; i < 4; i++) {
    await testDb.db.transaction(async (tx) => {
      counts.push(await roundTripsOf(tx, () => tx.query(insert, [61 + 2 * i], { ahead: [{ sql: write, params: [60 + 2 * i, []] }], commit: true })));
      // Committed with its statement: nothing more may be sent in it.
      await expect(tx.query(READ, [0])).rejects.toThrow('after the transaction committed');
    });
  }
  // The first use of the texts on a connection sends them apart (BEGIN with the write, then the insert with COMMIT,
  // prepared on this connection by the tests above).
  expect(counts[0]).toBe(2);
  expect(counts.slice(1)).toEqual([1, 1, 1]);
  const stored = await testDb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM marks WHERE n BETWEEN 60 AND 67');
  expect(stored.rows[0]?.n).toBe(8);
});

it('hands a statement ahead with `answer` its own rows, parsed as any query’s, and the query only its own', async () => {
  // Texts of their own: a write that answers (INSERT … RETURNING), then a read of another row, in one transaction.
  const answering = 'INSERT INTO marks (n, tags) VALUES ($1, $2::text[]) RETURNING n, tags, n * 2 AS twice';
  const read = `${READ} AND n < 1000`;
  for (let i = 0; i < 4; i++) {
    let answered: unknown[] | undefined;
    const r = await testDb.db.transaction(async (tx) => {
      await tx.query('INSERT INTO marks (n) VALUES ($1)', [80 + 2 * i]);
      return tx.query<{ n: number }>(read, [80 + 2 * i], { ahead: [{ sql: answering, params: [81 + 2 * i, ['p', 'q,r']], answer: (rows) => (answered = rows) }] });
    });
    expect(answered).toEqual([{ n: 81 + 2 * i, tags: ['p', 'q,r'], twice: 2 * (81 + 2 * i) }]);
    expect(r.rows).toEqual([{ n: 80 + 2 * i, tags: null }]);
  }
});

onPostgres('with `answer`, BEGIN, the statement ahead and the statement still go in one round trip once prepared', async () => {
  const answering = 'INSERT INTO marks (n) VALUES ($1) RETURNING n, 5 AS k';
  const read = `${READ} AND n < 2000`;
  const counts: number[] = [];
  const answers: unknown[] = [];
  for (let i = 0; i < 4; i++) {
    await testDb.db.transaction(async (tx) => {
      counts.push(await roundTripsOf(tx, () => tx.query(read, [0], { ahead: [{ sql: answering, params: [90 + i], answer: (rows) => answers.push(...rows) }] })));
    });
  }
  // The first use of the texts on a connection sends them apart (BEGIN with the insert, then the read).
  expect(counts[0]).toBe(2);
  expect(counts.slice(1)).toEqual([1, 1, 1]);
  expect(answers).toEqual([90, 91, 92, 93].map((n) => ({ n, k: 5 })));
});
