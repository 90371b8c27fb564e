// A transaction's BEGIN travels with its first statement (src/store/begin-with-first-statement.ts): one round trip
// instead of two, and still every statement of the transaction inside it, a failure anywhere rolling all of it back.
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { beginWith } from '../../src/store/begin-with-first-statement.ts';
import { createTestDatabase, postgresOnly, type TestDatabase } from '../support/database.ts';

let testDb: TestDatabase;

beforeAll(async () => {
  testDb = await createTestDatabase({ migrate: false, prefix: 'begin' });
  await testDb.db.exec('CREATE TABLE marks (n int PRIMARY KEY)');
});

afterAll(async () => {
  await testDb.drop();
});

const onPostgres = postgresOnly(it);

it('runs the first statement inside the transaction, in every transaction of a connection', async () => {
  // Sequential transactions reuse the pool's idle connection: the first prepares BEGIN, the next send it along.
  for (let i = 0; i < 4; i++) {
    const [first, second] = await testDb.db.transaction(async (tx) => {
      const a = await tx.query<{ at: string }>('SELECT now()::text AS at, $1::int AS n', [i]);
      await tx.query('SELECT pg_sleep($1)', [0.02]);
      const b = await tx.query<{ at: string }>('SELECT now()::text AS at', []);
      return [a.rows[0]?.at, b.rows[0]?.at];
    });
    // now() is the transaction's start: outside a transaction each statement would have its own.
    expect(first).toBeDefined();
    expect(second).toBe(first);
  }
});

it('gives the first statement its own rows and count', async () => {
  for (let i = 0; i < 3; i++) {
    const r = await testDb.db.transaction((tx) => tx.query<{ n: number }>('INSERT INTO marks (n) VALUES ($1), ($2) RETURNING n', [100 + 2 * i, 101 + 2 * i]));
    expect(r).toEqual({ rows: [{ n: 100 + 2 * i }, { n: 101 + 2 * i }], rowCount: 2 });
  }
});

it('rolls back a transaction whose later statement fails, and one whose first statement fails; the connection stays usable', async () => {
  for (let i = 0; i < 3; i++) {
    await expect(testDb.db.transaction(async (tx) => {
      await tx.query('INSERT INTO marks (n) VALUES ($1)', [i]);
      await tx.query('SELECT 1 / $1::int', [0]);
    })).rejects.toMatchObject({ code: '22012' });
    await expect(testDb.db.transaction((tx) => tx.query('INSERT INTO marks (n) VALUES ($1), (1 / $2::int)', [10 + i, 0]))).rejects.toMatchObject({ code: '22012' });
  }
  const left = await testDb.db.query<{ n: number }>('SELECT n FROM marks WHERE n < $1 ORDER BY n', [100]);
  expect(left.rows).toEqual([]);
  expect((await testDb.db.transaction((tx) => tx.query<{ one: number }>('SELECT $1::int AS one', [1]))).rows).toEqual([{ one: 1 }]);
});

it('sends nothing for a transaction that runs no statement', async () => {
  await expect(testDb.db.transaction(async () => 'nothing')).resolves.toBe('nothing');
});

onPostgres('answers BEGIN and the first statement with one ReadyForQuery once BEGIN is prepared on the connection', async () => {
  const client = new pg.Client({ connectionString: testDb.url });
  await client.connect();
  try {
    // pg's connection emits one readyForQuery per Sync the server answered: one per round trip.
    const connection = (client as unknown as { connection: EventEmitter }).connection;
    let roundTrips = 0;
    connection.on('readyForQuery', () => roundTrips++);
    await beginWith(client, { text: 'SELECT $1::int AS n', values: [1] });
    await client.query('COMMIT');
    const first = roundTrips;
    roundTrips = 0;
    const r = await beginWith(client, { text: 'SELECT $1::int AS n', values: [2] });
    await client.query('COMMIT');
    expect(r.rows).toEqual([{ n: 2 }]);
    expect(first).toBe(4); // BEGIN prepared and run, its generic plans' SET LOCAL prepared and run, the statement, COMMIT
    expect(roundTrips).toBe(2); // BEGIN with the statement, COMMIT
  } finally {
    await client.end();
  }
});
