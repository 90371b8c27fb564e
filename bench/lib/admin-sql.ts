import pg from 'pg';

/** One statement as the server's administrator (CREATE or DROP DATABASE of a benchmark's own), on a connection of its own. */
export async function adminSql(serverUrl: URL | string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: serverUrl.toString() });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}
