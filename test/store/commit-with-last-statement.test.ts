// A transaction's COMMIT travels with its last statement (src/store/commit-with-last-statement.ts): one round trip
// instead of two, and still nothing committed when that statement fails, the transaction then rolled back as before.
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { beginWith } from '../../src/store/begin-with-first-statement.ts';
import { commitWith } from '../../src/store/commit-with-last-statement.ts';
import { createTestDatabase, onPglite, postgresOnly, type TestDatabase } from '../support/database.ts';

let testDb: TestDatabase;

beforeAll(async () => {
  testDb = await createTestDatabase({ migrate: false, prefix: 'commitlast' });
  await testDb.db.exec('CREATE TABLE marks (n int PRIMARY KEY)');
});

afterAll(async () => {
  await testDb.drop();
});

const onPostgres = postgresOnly(it);
const marks = async (from: number, to: number): Promise<number[]> =>
  (await testDb.db.query<{ n: number }>('SELECT n FROM marks WHERE n >= $1 AND n < $2 ORDER BY n', [from, to])).rows.map((r) => r.n);

it('commits with the last statement, in every transaction of a connection, and gives that statement its rows', async () => {
  // Sequential transactions reuse the pool's idle connection: the first prepares COMMIT, the next send it along.
  for (let i = 0; i < 4; i++) {
    const r = await testDb.db.transaction(async (tx) => {
      await tx.query('INSERT INTO marks (n) VALUES ($1)', [1000 + 2 * i]);
      return tx.query<{ n: number }>('INSERT INTO marks (n) VALUES ($1) RETURNING n', [1001 + 2 * i], { commit: true });
    });
    expect(r).toEqual({ rows: [{ n: 1001 + 2 * i }], rowCount: 1 });
  }
  expect(await marks(1000, 1100)).toEqual([1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007]);
});

it('commits a transaction whose only statement is its last (BEGIN, the statement and COMMIT in one write)', async () => {
  for (let i = 0; i < 3; i++) {
    await testDb.db.transaction((tx) => tx.query('INSERT INTO marks (n) VALUES ($1)', [1200 + i], { commit: true }));
  }
  expect(await marks(1200, 1300)).toEqual([1200, 1201, 1202]);
});

it('rolls back, committing nothing, when the last statement fails; the error is the statement\'s and the connection stays usable', async () => {
  for (let i = 0; i < 3; i++) {
    await expect(testDb.db.transaction(async (tx) => {
      await tx.query('INSERT INTO marks (n) VALUES ($1)', [1300 + i]);
      await tx.query('INSERT INTO marks (n) VALUES ($1), (1 / $2::int)', [1400 + i, 0], { commit: true });
    })).rejects.toMatchObject({ code: '22012' });
    // A constraint refusing the last statement: the same.
    await expect(testDb.db.transaction(async (tx) => {
      await tx.query('INSERT INTO marks (n) VALUES ($1)', [1500 + i]);
      await tx.query('INSERT INTO marks (n) VALUES ($1)', [1000], { commit: true });
    })).rejects.toMatchObject({ code: '23505' });
  }
  expect(await marks(1300, 1600)).toEqual([]);
  expect((await testDb.db.transaction((tx) => tx.query<{ one: number }>('SELECT $1::int AS one', [1], { commit: true }))).rows).toEqual([{ one: 1 }]);
});

it('refuses a statement after the one that committed', async () => {
  await expect(testDb.db.transaction(async (tx) => {
    await tx.query('INSERT INTO marks (n) VALUES ($1)', [1600], { commit: true });
    await tx.query('INSERT INTO marks (n) VALUES ($1)', [1601]);
  })).rejects.toThrow(/after the transaction committed/);
  // What committed stays committed (the PGlite store commits when the work returns: there the throw rolls back).
  expect(await marks(1600, 1700)).toEqual(onPglite ? [] : [1600]);
});

/** A client whose connection counts the ReadyForQuery messages it receives: one per round trip. */
async function countingClient(): Promise<{ client: pg.Client; roundTrips: () => number; status: () => string | null }> {
  const client = new pg.Client({ connectionString: testDb.url });
  await client.connect();
  const connection = (client as unknown as { connection: EventEmitter }).connection;
  let count = 0;
  let last: string | null = null;
  connection.on('readyForQuery', (msg: { status?: string }) => {
    count++;
    last = msg.status ?? null;
  });
  return { client, roundTrips: () => count, status: () => last };
}

// These fail when pg's Query internals this relies on (prepare, _getRows, handleCommandComplete,
// handleReadyForQuery) change: COMMIT would then not go with the statement, or not be noticed.
onPostgres('answers the last statement and COMMIT with one ReadyForQuery once COMMIT is prepared, the connection then out of any transaction', async () => {
  const { client, roundTrips, status } = await countingClient();
  const other = new pg.Client({ connectionString: testDb.url });
  await other.connect();
  try {
    await beginWith(client, { text: 'INSERT INTO marks (n) VALUES ($1)', values: [1700] });
    await commitWith(client, { text: 'SELECT $1::int AS n', values: [1] }, true);
    expect(roundTrips()).toBe(5); // BEGIN and its generic plans' SET LOCAL prepared and run, the insert, the statement, COMMIT prepared and run
    for (let i = 1; i <= 3; i++) {
      const before = roundTrips();
      await beginWith(client, { text: 'INSERT INTO marks (n) VALUES ($1)', values: [1700 + i] });
      const r = await commitWith(client, { text: 'SELECT $1::int AS n, count(*)::int AS seen FROM marks WHERE n >= 1700', values: [i] }, true);
      expect(r.rows).toEqual([{ n: i, seen: i + 1 }]);
      expect(r.rowCount).toBe(1);
      expect(roundTrips() - before).toBe(2); // BEGIN with the insert, the statement with COMMIT
      expect(status()).toBe('I'); // idle: the transaction ended
      // Committed, as another connection sees at once.
      expect((await other.query<{ n: number }>('SELECT max(n)::int AS n FROM marks WHERE n < 1800')).rows[0]?.n).toBe(1700 + i);
    }
    // BEGIN, the only statement and COMMIT in one round trip.
    const before = roundTrips();
    await commitWith(client, { text: 'INSERT INTO marks (n) VALUES ($1) RETURNING n', values: [1750] }, false);
    expect(roundTrips() - before).toBe(1);
    expect(status()).toBe('I');
    expect((await other.query('SELECT 1 FROM marks WHERE n = 1750')).rowCount).toBe(1);
    // A failing last statement: COMMIT skipped, the transaction left aborted for the caller to roll back.
    await beginWith(client, { text: 'INSERT INTO marks (n) VALUES ($1)', values: [1760] });
    const failing = roundTrips();
    await expect(commitWith(client, { text: 'SELECT 1 / $1::int', values: [0] }, true)).rejects.toMatchObject({ code: '22012' });
    // The ReadyForQuery after the error arrives once the socket is read again.
    await client.query('ROLLBACK');
    expect(roundTrips() - failing).toBe(2);
    expect(status()).toBe('I');
    expect((await other.query('SELECT 1 FROM marks WHERE n = 1760')).rowCount).toBe(0);
  } finally {
    await client.end();
    await other.end();
  }
});

onPostgres('reports a COMMIT that fails as the statement\'s error (a deferred constraint), with nothing committed', async () => {
  await testDb.db.exec('CREATE TABLE deferred_marks (n int UNIQUE DEFERRABLE INITIALLY DEFERRED)');
  const { client, status } = await countingClient();
  try {
    // The first prepares COMMIT on the connection.
    await beginWith(client, { text: 'INSERT INTO deferred_marks (n) VALUES ($1)', values: [1] });
    await commitWith(client, { text: 'SELECT 1', values: [] }, true);
    await beginWith(client, { text: 'INSERT INTO deferred_marks (n) VALUES ($1)', values: [2] });
    // The statement runs; the unique check at COMMIT refuses.
    await expect(commitWith(client, { text: 'INSERT INTO deferred_marks (n) VALUES ($1)', values: [2] }, true)).rejects.toMatchObject({ code: '23505' });
    await client.query('ROLLBACK'); // as PostgresDatabase.transaction does: a warning only, the transaction is over
    expect(status()).toBe('I');
    expect((await client.query('SELECT n FROM deferred_marks ORDER BY n')).rows).toEqual([{ n: 1 }]);
  } finally {
    await client.end();
  }
});
