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
