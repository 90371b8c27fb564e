// The chain linker on a new database (08488fb): a connection that planned a pass while the chain was a few rows kept a
// sequential scan of the chain for every row it linked, and a pass took seconds once the chain had grown (PostgreSQL
// replans only after an ANALYZE, which a new database without autovacuum never gets). Whatever a connection planned
// then, a pass must read the grown chain through its indexes.
import { linkPending } from '../../src/audit/chain.ts';
import { PostgresDatabase } from '../../src/store/postgres.ts';
import { createTestDatabase, postgresOnly, type TestDatabase } from '../support/database.ts';

const onPostgres = postgresOnly(test);

let testDb: TestDatabase;
beforeAll(async () => {
  testDb = await createTestDatabase({ prefix: 'chain_plans' });
});
afterAll(async () => {
  await testDb?.drop();
});

const GROWN = 10_000;

onPostgres('a pass reads a grown chain by its indexes, whatever its connection planned while the chain was a few rows', async () => {
  // One connection, so that the passes after the growth run on the connection that planned the first one.
  const linker = new PostgresDatabase({ connectionString: testDb.url, maxConnections: 1 });
  const addRows = (n: number) =>
    linker.query(
      `INSERT INTO audit_events (event_id, recorded, organization_ura, client_id, action, type_code, subtype, outcome, request_id, content)
       SELECT gen_random_uuid(), now(), '90001234', 'hap-vechtdal', 'R', 'rest', 'read', '0', 'chain-plans', json_build_object('n', n)
         FROM generate_series(1, $1::int) AS n`,
      [n],
    );
  // Links `n` rows. The horizon is the whole server's: another test file's open transaction holds it back for a while.
  const link = async (n: number): Promise<void> => {
    let linked = 0;
    for (let i = 0; i < 600 && linked < n; i++) {
      const pass = await linkPending(linker);
      linked += pass;
      if (pass === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(linked).toBe(n);
  };
  // Rows of audit_chain read by sequential scans so far, this connection's flushed first.
  const chainRowsScanned = async (): Promise<number> => {
    await linker.query('SELECT pg_stat_force_next_flush()');
    const r = await testDb.db.query<{ n: string }>(`SELECT seq_tup_read::text AS n FROM pg_stat_user_tables WHERE relname = 'audit_chain'`);
    return Number(r.rows[0]?.n ?? Number.NaN);
  };
  try {
    // A chain of a few rows, linked by another connection and analysed as such (as a benchmark's ANALYZE after seeding
    // found it while the linker was still behind).
    await addRows(10);
    for (let i = 0; i < 600 && (await linkPending(testDb.db)) === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    await testDb.db.query('ANALYZE audit_chain');
    // The linker's connection plans its first pass on that chain.
    await addRows(3);
    await link(3);
    await addRows(GROWN);
    await link(GROWN);
    await addRows(200);
    const before = await chainRowsScanned();
    await link(200);
    // Less than one scan of the chain for the whole pass; a scan per row linked would be 200 × 10,000 rows.
    expect((await chainRowsScanned()) - before).toBeLessThan(GROWN / 2);
  } finally {
    await linker.close();
  }
}, 120_000);
