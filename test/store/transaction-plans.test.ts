// A write transaction's statements run with generic plans (src/store/begin-with-first-statement.ts, GENERIC_PLANS):
// they are the gateway's lookups by key, written for a generic plan, and PostgreSQL otherwise planned a statement that
// reads its keys from an array again at every execution because the plan for the array's known length looked cheaper
// (a Task create's commit batch: about 1 ms of planning per create). Whichever way a transaction starts, the setting
// holds in it and ends with it; a client's search in a transaction asks for plans for its values again. Outside a
// transaction, a lookup by a list of keys (rowsByKey, src/store/key-lookup.ts: the shared reads) hides the list's
// length from the planner, so that PostgreSQL's own choice keeps the generic plan too.
import { COMMIT_WITH_LAST } from '../../src/store/database.ts';
import { rowsByKey } from '../../src/store/key-lookup.ts';
import { migrate } from '../../src/store/migrate.ts';
import { unitStore } from '../../src/units/store.ts';
import { PostgresDatabase } from '../../src/store/postgres.ts';
import { createTestDatabase, postgresOnly, type TestDatabase } from '../support/database.ts';

let testDb: TestDatabase;
/** One connection, so that the first transaction (BEGIN prepared) and the later ones (BEGIN sent along) both run. */
let db: PostgresDatabase;

const onPostgres = postgresOnly(describe);

/** How often the connection of `on` planned the prepared statement whose text `matches` (SQL LIKE), generically and for its values. */
async function plansOf(on: PostgresDatabase, matches: string): Promise<{ generic: string; custom: string }[]> {
  return (await on.query<{ generic: string; custom: string }>('SELECT generic_plans::text AS generic, custom_plans::text AS custom FROM pg_prepared_statements WHERE statement LIKE $1', [matches])).rows;
}

onPostgres('plans in a transaction', () => {
  beforeAll(async () => {
    testDb = await createTestDatabase({ migrate: false, prefix: 'plans' });
    await testDb.db.exec(`CREATE TABLE keyed (id text PRIMARY KEY, v int NOT NULL);
      INSERT INTO keyed SELECT 'k' || g, g FROM generate_series(1, 5000) g; ANALYZE keyed`);
    db = new PostgresDatabase({ connectionString: testDb.url, maxConnections: 1 });
  });

  afterAll(async () => {
    await db.close();
    await testDb.drop();
  });

  const MODE = `SELECT current_setting('plan_cache_mode') AS mode`;
  const mode = (r: { rows: { mode: string }[] }): string | undefined => r.rows[0]?.mode;

  it('holds whichever way the transaction starts, in its first and later transactions of a connection', async () => {
    for (let i = 0; i < 3; i++) {
      // The first statement with parameters (BEGIN with it), then one without, then exec.
      const seen = await db.transaction(async (tx) => {
        const first = mode(await tx.query<{ mode: string }>(`${MODE}, $1::int AS n`, [i]));
        const next = mode(await tx.query<{ mode: string }>(MODE));
        await tx.exec('SELECT 1');
        return [first, next];
      });
      expect(seen).toEqual(['force_generic_plan', 'force_generic_plan']);
      // The first statement without parameters (BEGIN on its own), and exec first.
      expect(await db.transaction(async (tx) => mode(await tx.query<{ mode: string }>(MODE)))).toBe('force_generic_plan');
      expect(await db.transaction(async (tx) => {
        await tx.exec('SELECT 1');
        return mode(await tx.query<{ mode: string }>(`${MODE}, $1::int AS n`, [i]));
      })).toBe('force_generic_plan');
      // The only statement, with BEGIN and COMMIT in its round trip.
      expect(await db.transaction(async (tx) => mode(await tx.query<{ mode: string }>(`${MODE}, $1::int AS n`, [i], COMMIT_WITH_LAST)))).toBe('force_generic_plan');
      // The first statement with another sent ahead of it (a held write), BEGIN first.
      expect(await db.transaction(async (tx) => mode(await tx.query<{ mode: string }>(`${MODE}, $1::int AS n`, [i], { ahead: [{ sql: 'SELECT $1::int AS ahead WHERE false', params: [i] }] })))).toBe('force_generic_plan');
    }
  });

  it('ends with the transaction: a statement outside one is planned as PostgreSQL chooses', async () => {
    await db.transaction((tx) => tx.query(`${MODE}, $1::int AS n`, [1]));
    expect(mode(await db.query<{ mode: string }>(`${MODE}, $1::int AS n`, [2]))).toBe('auto');
    expect(mode(await db.query<{ mode: string }>(`${MODE}, $1::int AS n`, [3], { prepare: false }))).toBe('auto');
  });

  it('gives a statement planned per call (a client search) in a transaction plans for its values, and the rest of that transaction too', async () => {
    const seen = await db.transaction(async (tx) => {
      const before = mode(await tx.query<{ mode: string }>(`${MODE}, $1::int AS n`, [1]));
      const search = mode(await tx.query<{ mode: string }>(`${MODE}, $1::int AS n`, [2], { prepare: false }));
      const after = mode(await tx.query<{ mode: string }>(`${MODE}, $1::int AS n`, [3]));
      return [before, search, after];
    });
    expect(seen).toEqual(['force_generic_plan', 'auto', 'auto']);
    // The next transaction on the connection plans generically again.
    expect(await db.transaction(async (tx) => mode(await tx.query<{ mode: string }>(`${MODE}, $1::int AS n`, [4])))).toBe('force_generic_plan');
  });

  it('plans a statement reading keys from an array once per connection, not at every execution', async () => {
    // Planned for its values, the array's length is known (2 rows) and the plan looks cheaper than the generic one
    // (10 rows assumed): PostgreSQL's own choice would plan it again every time.
    const sql = 'SELECT sum(k.v)::int AS total FROM unnest($1::text[]) AS u(id) CROSS JOIN LATERAL (SELECT v FROM keyed WHERE id = u.id) k';
    for (let i = 1; i <= 8; i++) {
      const r = await db.transaction((tx) => tx.query<{ total: number }>(sql, [[`k${i}`, `k${i + 1}`]]));
      expect(r.rows[0]?.total).toBe(2 * i + 1);
    }
    expect(await plansOf(db, sql)).toEqual([{ generic: '8', custom: '0' }]);
    // Outside a transaction, PostgreSQL's choice: custom plans (the first five at least).
    for (let i = 1; i <= 6; i++) await db.query(sql, [[`k${i}`, `k${i + 1}`]]);
    expect(Number((await plansOf(db, sql))[0]?.custom)).toBeGreaterThanOrEqual(5);
  });

  it('keeps the generic plan of a lookup by keys outside a transaction after PostgreSQL\'s five custom plans', async () => {
    await db.exec(`CREATE TABLE IF NOT EXISTS resources (resource_type text, id text, v int, PRIMARY KEY (resource_type, id));
      INSERT INTO resources SELECT 'Task', 't' || g, g FROM generate_series(1, 5000) g ON CONFLICT DO NOTHING; ANALYZE resources`);
    const sql = `SELECT k.n, r.v FROM ${rowsByKey('$1', '$2', 'r.v', { numbered: true })}`;
    for (let i = 1; i <= 8; i++) {
      const r = await db.query<{ n: string; v: number }>(sql, [['Task', 'Task'], [`t${i}`, `t${i + 1}`]]);
      expect(r.rows.map((x) => [Number(x.n), x.v])).toEqual([[1, i], [2, i + 1]]);
    }
    expect(await plansOf(db, sql)).toEqual([{ generic: '3', custom: '5' }]);
  });

  it('keeps the generic plan of a unit\'s position fix sent alone, outside a transaction', async () => {
    const migrated = await createTestDatabase({ migrate: false, prefix: 'plans_units' });
    const units = new PostgresDatabase({ connectionString: migrated.url, maxConnections: 1 });
    try {
      await migrate(units);
      for (let i = 1; i <= 8; i++) {
        const outcome = await unitStore.recordFix(units, { unitId: `u${i % 3}`, ura: '90004567', callSign: `AMB-${i % 3}`, kind: 'AMBULANCE_A', status: 'beschikbaar', ownStatus: 'beschikbaar', lat: 52.5, lon: 6.1, fixTime: new Date(Date.UTC(2026, 0, 1, 0, 0, i)) });
        expect(outcome).toBe('stored');
      }
      expect(await plansOf(units, '%INSERT INTO units%')).toEqual([{ generic: '3', custom: '5' }]);
    } finally {
      await units.close();
      await migrated.drop();
    }
  });
});
