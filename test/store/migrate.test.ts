// Migrations by checksum, on PostgreSQL (npm test) and PGlite (npm run test:pglite): an applied migration that
// was edited afterwards stops the start with a clear error instead of being skipped silently; databases made
// before checksums were kept get theirs; a new migration is applied once.
import { EditedMigrationError, loadMigrations, migrate, migrationChecksum, type Migration } from '../../src/store/migrate.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let testDb: TestDatabase;
const migrations = loadMigrations();

beforeAll(async () => {
  testDb = await createTestDatabase({ prefix: 'migrate', migrate: false });
  await migrate(testDb.db, migrations);
});
afterAll(async () => {
  await testDb?.drop();
});

const checksums = async (): Promise<Map<number, string | null>> =>
  new Map((await testDb.db.query<{ version: number; checksum: string | null }>('SELECT version, checksum FROM schema_migrations')).rows.map((r) => [r.version, r.checksum]));

test('every applied migration is recorded with the checksum of its text', async () => {
  const stored = await checksums();
  for (const m of migrations) expect(stored.get(m.version)).toBe(migrationChecksum(m));
});

test('an applied migration whose text changed stops the migration, naming the file', async () => {
  const edited: Migration[] = migrations.map((m) => (m.version === 3 ? { ...m, sql: `${m.sql}\n-- a later edit\n` } : m));
  const failure = await migrate(testDb.db, edited).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(failure).toBeInstanceOf(EditedMigrationError);
  expect(String((failure as Error).message)).toContain('003_');
  // Nothing was written by the refused run.
  expect((await checksums()).get(3)).toBe(migrationChecksum(migrations[2]));
});

test('a database from before checksums gets them, and a new migration is applied exactly once', async () => {
  await testDb.db.query('UPDATE schema_migrations SET checksum = NULL');
  const extra: Migration = { version: 999, name: 'test_only_table', sql: 'CREATE TABLE migrate_test_only (id integer)' };
  expect(await migrate(testDb.db, [...migrations, extra])).toEqual([999]);
  expect(await migrate(testDb.db, [...migrations, extra])).toEqual([]);
  const stored = await checksums();
  for (const m of [...migrations, extra]) expect(stored.get(m.version)).toBe(migrationChecksum(m));
});

test('026 keeps every version of a database written before it once: the history rows repeating the current version go', async () => {
  const old = await createTestDatabase({ prefix: 'migrate026', migrate: false });
  try {
    await migrate(old.db, migrations.filter((m) => m.version < 26));
    // As the gateway wrote before 026: every version in resource_history, the current one in resources too.
    const row = (v: number, family: string): unknown[] => ['Patient', 'p1', v, `2026-01-0${v}T00:00:00Z`, false, JSON.stringify({ resourceType: 'Patient', id: 'p1', meta: { versionId: String(v) }, name: [{ family }] })];
    for (const [v, family] of [[1, 'A'], [2, 'B'], [3, 'C']] as const) {
      await old.db.query('INSERT INTO resource_history (resource_type, id, version_id, last_updated, deleted, content) VALUES ($1, $2, $3, $4, $5, $6)', row(v, family));
    }
    await old.db.query("INSERT INTO resources (resource_type, id, version_id, last_updated, deleted, content, parties) VALUES ($1, $2, $3, $4, $5, $6, '{90001234}')", row(3, 'C'));
    expect(await migrate(old.db, migrations.filter((m) => m.version <= 26))).toEqual([26]);
    const versions = async (table: string): Promise<string[]> =>
      (await old.db.query<{ v: string; family: string }>(`SELECT version_id::text AS v, content->'name'->0->>'family' AS family FROM ${table} WHERE id = 'p1' ORDER BY version_id`)).rows.map((r) => `${r.v}:${r.family}`);
    expect(await versions('resource_history')).toEqual(['1:A', '2:B']);
    expect(await versions('resource_versions')).toEqual(['1:A', '2:B', '3:C']);
    // Applied once; and its statement deletes nothing the second time.
    expect(await migrate(old.db, migrations.filter((m) => m.version <= 26))).toEqual([]);
    const again = migrations.find((m) => m.version === 26);
    await old.db.exec((again?.sql ?? '').replace(/CREATE VIEW[\s\S]*$/, ''));
    expect(await versions('resource_versions')).toEqual(['1:A', '2:B', '3:C']);
  } finally {
    await old.drop();
  }
});
