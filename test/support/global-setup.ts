// Runs once before all test files: fails fast with a clear message when the test database server is unreachable.
import pg from 'pg';

export default async function globalSetup(): Promise<void> {
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
