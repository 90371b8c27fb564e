import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from './database.ts';

const MIGRATIONS_DIR = join(import.meta.dirname, 'migrations');
// Any constant works; it only has to be the same for every instance of the gateway.
const MIGRATION_LOCK_KEY = 7_513_2026;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The SHA-256 of a migration's text: an applied migration must never change (add a new one instead). */
export function migrationChecksum(m: Migration): string {
  return createHash('sha256').update(m.sql).digest('hex');
}

export class EditedMigrationError extends Error {
  constructor(m: Migration) {
    super(`Migration ${String(m.version).padStart(3, '0')}_${m.name}.sql was changed after it was applied to this database: restore it and put the change in a new migration`);
    this.name = 'EditedMigrationError';
  }
}

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 3)), name: f.slice(4, -4), sql: readFileSync(join(dir, f), 'utf8') }));
}

/**
 * Applies pending migrations in one transaction under an advisory lock, so that several instances
 * starting at once apply each migration exactly once (the others wait, then find nothing to do).
 * An applied migration whose file changed since stops the start (`EditedMigrationError`): it would
 * otherwise be skipped silently, and databases made before and after the edit would differ. Rows applied
 * before checksums were kept get theirs on the first run. Returns the versions this call applied.
 */
export async function migrate(db: Database, migrations = loadMigrations()): Promise<number[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    await tx.exec('ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text');
    const rows = (await tx.query<{ version: number; checksum: string | null }>('SELECT version, checksum FROM schema_migrations')).rows;
    const done = new Map(rows.map((r) => [r.version, r.checksum]));
    const applied: number[] = [];
    for (const m of migrations) {
      const checksum = migrationChecksum(m);
      if (done.has(m.version)) {
        const stored = done.get(m.version);
        if (stored === null || stored === undefined) await tx.query('UPDATE schema_migrations SET checksum = $2 WHERE version = $1', [m.version, checksum]);
        else if (stored !== checksum) throw new EditedMigrationError(m);
        continue;
      }
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [m.version, m.name, checksum]);
      applied.push(m.version);
    }
    return applied;
  });
}

export async function pendingMigrations(db: Database, migrations = loadMigrations()): Promise<number[]> {
  const exists = await db.query<{ t: string | null }>(`SELECT to_regclass('schema_migrations')::text AS t`);
  if (!exists.rows[0]?.t) return migrations.map((m) => m.version);
  const done = new Set((await db.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
  return migrations.filter((m) => !done.has(m.version)).map((m) => m.version);
}
