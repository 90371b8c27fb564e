// The gateway's PostgreSQL connections run without JIT compilation and without parallel workers (src/store/postgres.ts):
// the planner's estimates grow with tables never analyzed and passed jit_above_cost, and PostgreSQL then compiled a
// statement that reads a few index pages at every execution (about 100 ms each); past a few hundred MB of resources
// the same estimates made a native handover's identity lookups start two worker processes each (21 instead of 2 ms of
// PostgreSQL's CPU per handover). The server's own defaults must not hold for them.
import { loadConfig } from '../../src/config.ts';
import { PostgresDatabase } from '../../src/store/postgres.ts';
import { createTestDatabase, postgresOnly, type TestDatabase } from '../support/database.ts';

let testDb: TestDatabase;

beforeAll(async () => {
  testDb = await createTestDatabase();
});

afterAll(async () => {
  await testDb.drop();
});

it('every connection of the pool has JIT compilation off', async () => {
  const seen = await Promise.all(Array.from({ length: 3 }, () => testDb.db.transaction(async (tx) => (await tx.query<{ jit: string }>('SHOW jit')).rows[0]?.jit)));
  expect(seen).toEqual(['off', 'off', 'off']);
});

const onPostgres = postgresOnly(it);

// PGlite is one process: it never starts workers, whatever the setting says.
onPostgres('every connection of the pool starts no parallel workers, where the server would (its default is 2)', async () => {
  const setting = 'max_parallel_workers_per_gather';
  const server = (await testDb.db.query<{ boot_val: string }>('SELECT boot_val FROM pg_settings WHERE name = $1', [setting])).rows[0]?.boot_val;
  expect(Number(server)).toBeGreaterThan(0);
  const seen = await Promise.all(
    Array.from({ length: 3 }, () => testDb.db.transaction(async (tx) => (await tx.query<{ workers: string }>(`SELECT current_setting('${setting}') AS workers`)).rows[0]?.workers)),
  );
  expect(seen).toEqual(['0', '0', '0']);
});

// A pooled connection carries the statements the gateway prepared on it, each planned at its first executions: the
// pool keeps it through a lull (DB_POOL_IDLE_SECONDS, 300 s by default) instead of pg's 10 s, which closed and
// opened connections again at every pause of a bursty load. 0 keeps idle connections for good.
onPostgres('an idle pooled connection is closed after idleTimeoutMs, and never with 0', async () => {
  const backendAfterIdle = async (idleTimeoutMs: number): Promise<[number | undefined, number | undefined]> => {
    const db = new PostgresDatabase({ connectionString: testDb.url, maxConnections: 1, idleTimeoutMs });
    try {
      const pid = async (): Promise<number | undefined> => (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      const first = await pid();
      await new Promise((resolve) => setTimeout(resolve, 600));
      return [first, await pid()];
    } finally {
      await db.close();
    }
  };
  const [closedBefore, closedAfter] = await backendAfterIdle(100);
  expect(closedAfter).not.toBe(closedBefore);
  const [keptBefore, keptAfter] = await backendAfterIdle(0);
  expect(keptAfter).toBe(keptBefore);
});

it('the pool keeps idle connections 300 s unless DB_POOL_IDLE_SECONDS says otherwise', () => {
  expect(loadConfig({}).dbPoolIdleMs).toBe(300_000);
  expect(loadConfig({ DB_POOL_IDLE_SECONDS: '0' }).dbPoolIdleMs).toBe(0);
  expect(loadConfig({ DB_POOL_IDLE_SECONDS: '30' }).dbPoolIdleMs).toBe(30_000);
});

// A connection keeps the plans of the statements it prepared until PostgreSQL analyses a table they read; without
// autovacuum that is never, and a plan made while a table was a few rows stayed as it grew (the audit chain's pass, the
// delivery worker's claim). A connection is therefore replaced after DB_CONNECTION_LIFETIME_SECONDS, 600 by default,
// never within a transaction.
onPostgres('a pooled connection is replaced once past its lifetime, but not within a transaction', async () => {
  const db = new PostgresDatabase({ connectionString: testDb.url, maxConnections: 1, maxLifetimeSeconds: 1 });
  try {
    const pid = async (q: Pick<typeof db, 'query'> = db): Promise<number | undefined> => (await q.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    const first = await pid();
    // A transaction that outlives the connection's lifetime runs to its end on the same connection.
    const inTransaction = await db.transaction(async (tx) => {
      const before = await pid(tx);
      await new Promise((resolve) => setTimeout(resolve, 1_300));
      return [before, await pid(tx)];
    });
    expect(inTransaction).toEqual([first, first]);
    expect(await pid()).not.toBe(first);
  } finally {
    await db.close();
  }
});

it('a pooled connection lives 600 s unless DB_CONNECTION_LIFETIME_SECONDS says otherwise', () => {
  expect(loadConfig({}).dbConnectionLifetimeSeconds).toBe(600);
  expect(loadConfig({ DB_CONNECTION_LIFETIME_SECONDS: '0' }).dbConnectionLifetimeSeconds).toBe(0);
  expect(loadConfig({ DB_CONNECTION_LIFETIME_SECONDS: '3600' }).dbConnectionLifetimeSeconds).toBe(3600);
});
