// The embedded store as `npm start` opens it: on files in a data directory, with its own PostgreSQL settings, the
// cluster of a new directory created in a child process (src/store/pglite-create.ts).
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGliteDatabase } from '../../src/store/pglite.ts';

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'pglite-store-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

test('a new data directory gets a cluster, with a small buffer pool, and keeps what was written across a reopen', async () => {
  const dataDir = join(scratch, 'data');
  const first = await PGliteDatabase.open(dataDir);
  try {
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
    // 128 MB (PostgreSQL's default) would all be resident: Emscripten zeroes the memory it maps.
    expect((await first.query<{ shared_buffers: string }>('SHOW shared_buffers')).rows[0]?.shared_buffers).toBe('16MB');
    await first.exec('CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)');
    // One PostgreSQL on these files at a time (src/store/data-dir-lock.ts); closed, the directory is free again.
    await expect(PGliteDatabase.open(dataDir)).rejects.toThrow(/is in use by another gateway/);
  } finally {
    await first.close();
  }
  const again = await PGliteDatabase.open(dataDir);
  try {
    expect((await again.query<{ n: number }>('SELECT n FROM kept')).rows).toEqual([{ n: 42 }]);
    expect((await again.query<{ shared_buffers: string }>('SHOW shared_buffers')).rows[0]?.shared_buffers).toBe('16MB');
  } finally {
    await again.close();
  }
});

test('a data directory that cannot be made says so', async () => {
  const file = join(scratch, 'not-a-directory');
  writeFileSync(file, 'x');
  await expect(PGliteDatabase.open(join(file, 'data'))).rejects.toThrow(/The embedded database could not be created in .*not-a-directory\/data/);
});

// PGlite answers in this thread through promises alone: without a turn of the event loop between statements, a chain
// of them (a board's snapshot: thousands) held every other request of the embedded gateway until it ended.
/** Runs 20 statements through `query`; how many had run when a callback queued after the second got its turn. */
async function ranBeforeATurn(query: (sql: string) => Promise<unknown>): Promise<number | undefined> {
  let ran = 0;
  let seen: number | undefined;
  for (let i = 0; i < 20; i++) {
    await query('SELECT 1');
    ran++;
    if (i === 1) setImmediate(() => (seen = ran));
  }
  return seen;
}

test('a chain of statements lets the event loop run between them, inside a transaction and outside', async () => {
  const db = await PGliteDatabase.open();
  try {
    expect(await ranBeforeATurn((sql) => db.query(sql))).toBeLessThan(20);
    expect(await db.transaction((tx) => ranBeforeATurn((sql) => tx.query(sql)))).toBeLessThan(20);
  } finally {
    await db.close();
  }
});
