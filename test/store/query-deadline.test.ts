// The client-side read timeout of the gateway's connections (DB_QUERY_TIMEOUT_MS, src/store/query-deadline.ts): a
// connection that waits for an answer and reads nothing for that long is given up with pg's own error, a `timeout`
// fault (503), and the pool goes on with a new connection. Only for the gateway's role: the migrations, run as the
// administrator before it, may take as long as they need. Each statement here sleeps far longer than the timeout, so a
// connection not given up shows as a statement that succeeds.
import { GATEWAY_ROLE } from '../../src/audit/index.ts';
import { classifyDatabaseError } from '../../src/store/faults.ts';
import { PostgresDatabase } from '../../src/store/postgres.ts';
import { createTestDatabase, postgresOnly, type TestDatabase } from '../support/database.ts';

let testDb: TestDatabase;

beforeAll(async () => {
  testDb = await createTestDatabase();
});

afterAll(async () => {
  await testDb.drop();
});

const onPostgres = postgresOnly(it);

const failureOf = async (work: Promise<unknown>): Promise<unknown> => work.then(() => 'answered', (err: unknown) => err);

onPostgres('a statement that gets no answer within the timeout fails as a timeout, and the next one runs on a new connection', async () => {
  const faults: string[] = [];
  const db = new PostgresDatabase({ connectionString: testDb.url, maxConnections: 1, role: GATEWAY_ROLE, queryTimeoutMs: 200, onFault: (_err, what) => faults.push(what) });
  try {
    const pid = async (): Promise<number | undefined> => (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid', [])).rows[0]?.pid;
    const before = await pid();
    const outside = await failureOf(db.query('SELECT pg_sleep(30)'));
    expect(outside).toBeInstanceOf(Error);
    expect((outside as Error).message).toBe('Query read timeout');
    expect(classifyDatabaseError(outside)).toBe('timeout');
    const after = await pid();
    expect(after).toBeDefined();
    expect(after).not.toBe(before);

    const inside = await failureOf(db.transaction(async (tx) => tx.query('SELECT pg_sleep(30), $1::int AS n', [1])));
    expect(classifyDatabaseError(inside)).toBe('timeout');
    expect(await db.transaction(async (tx) => (await tx.query<{ one: number }>('SELECT 1 AS one', [])).rows[0]?.one)).toBe(1);
    expect(faults).toHaveLength(2);
  } finally {
    await db.close();
  }
});

onPostgres('a connection that goes on answering, statement after statement, is not given up', async () => {
  const db = new PostgresDatabase({ connectionString: testDb.url, maxConnections: 1, role: GATEWAY_ROLE, queryTimeoutMs: 200 });
  try {
    // Twelve statements of 50 ms each, one after another in one transaction: 600 ms on the connection, none silent for 200.
    const pids = await db.transaction(async (tx) => {
      const seen: (number | undefined)[] = [];
      for (let i = 0; i < 12; i++) seen.push((await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid, pg_sleep(0.05)', [])).rows[0]?.pid);
      return seen;
    });
    expect(new Set(pids).size).toBe(1);
  } finally {
    await db.close();
  }
});

onPostgres('the administrator (no role: the migrations) is never given up', async () => {
  const db = new PostgresDatabase({ connectionString: testDb.url, maxConnections: 1, queryTimeoutMs: 100 });
  try {
    expect(await failureOf(db.query('SELECT pg_sleep(0.6)'))).toBe('answered');
  } finally {
    await db.close();
  }
});
