// A fresh, migrated database per test file, so that files can run in parallel and never see each other's rows.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Database } from '../../src/store/database.ts';
import { migrate } from '../../src/store/migrate.ts';
import { PGliteDatabase } from '../../src/store/pglite.ts';
import { PostgresDatabase } from '../../src/store/postgres.ts';

export interface TestDatabase {
  db: Database;
  /** Connection string of the fresh database; empty for PGlite (in memory, one connection only). */
  url: string;
  /** Closes `db` and removes the database. Safe to call more than once. */
  drop(): Promise<void>;
}

export interface TestDatabaseOptions {
  /** Run the production migrations (default true). */
  migrate?: boolean;
  /** Name prefix, to recognise leftovers of an aborted run (default `test`). */
  prefix?: string;
}

const adminUrl = (): string => process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The tests run on the embedded PGlite store (`TEST_STORE=pglite`) instead of PostgreSQL. */
export const onPglite = process.env.TEST_STORE === 'pglite';

/**
 * `it`, `test` or `describe` for what needs PostgreSQL itself (an administrator's own connection, several processes on
 * one database, row locks between transactions, statements read off pg's connections): skipped on PGlite. Each file
 * that uses it says why.
 */
export function postgresOnly<T extends { skip: T }>(run: T): T {
  return onPglite ? run.skip : run;
}

export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const runMigrations = options.migrate ?? true;
  if (onPglite) {
    const db = await PGliteDatabase.open();
    if (runMigrations) await migrate(db);
    let closed = false;
    return {
      db,
      url: '',
      drop: async () => {
        if (closed) return;
        closed = true;
        await db.close();
      },
    };
  }

  const prefix = (options.prefix ?? 'test').toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  const db = new PostgresDatabase({ connectionString: url.toString(), maxConnections: 10 });
  let dropped = false;
  const drop = async (): Promise<void> => {
    if (dropped) return;
    dropped = true;
    await db.close().catch(() => undefined);
    // WITH (FORCE) ends connections a test leaked (e.g. a LISTEN client nobody stopped).
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`));
  };
  try {
    if (runMigrations) await migrate(db);
  } catch (err) {
    await drop().catch(() => undefined);
    throw err;
  }
  return { db, url: url.toString(), drop };
}
