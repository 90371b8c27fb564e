// The gateway's PostgreSQL connections run without JIT compilation (src/store/postgres.ts): the planner's estimates
// grow with tables never analyzed and passed jit_above_cost, and PostgreSQL then compiled a statement that reads a
// few index pages at every execution (about 100 ms each). The server's own default (on) must not hold for them.
import { loadConfig } from '../../src/config.ts';
import { PostgresDatabase } from '../../src/store/postgres.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

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

// A pooled connection carries the statements the gateway prepared on it, each planned at its first executions: the
// pool keeps it through a lull (DB_POOL_IDLE_SECONDS, 300 s by default) instead of pg's 10 s, which closed and
// opened connections again at every pause of a bursty load. 0 keeps idle connections for good.
const onPostgres = process.env.TEST_STORE === 'pglite' ? it.skip : it;
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
