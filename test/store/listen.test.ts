// A LISTEN connection outlives a dropped connection (a database restart ends it the same way): it is opened
// again by itself, says so (listenStatus), wakes its listener once for what it missed, and hears NOTIFY again.
import pg from 'pg';
import { PostgresDatabase } from '../../src/store/postgres.ts';
import { createTestDatabase, postgresOnly, type TestDatabase } from '../support/database.ts';

const onPostgres = postgresOnly(describe);

onPostgres('LISTEN on PostgreSQL', () => {
  let testDb: TestDatabase;
  let db: PostgresDatabase;
  let admin: pg.Client;

  beforeAll(async () => {
    testDb = await createTestDatabase({ prefix: 'listen', migrate: false });
    db = new PostgresDatabase({ connectionString: testDb.url, maxConnections: 2, connectTimeoutMs: 2000 });
    admin = new pg.Client({ connectionString: testDb.url });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await db?.close();
    await testDb?.drop();
  });

  const until = async (what: string, ok: () => boolean): Promise<void> => {
    for (let i = 0; i < 400; i++) {
      if (ok()) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`not within 10 s: ${what}`);
  };

  it('re-opens a LISTEN connection that was cut off, wakes the listener, and hears NOTIFY again', async () => {
    const heard: string[] = [];
    const stop = await db.listen('listen_test', (payload) => heard.push(payload));
    try {
      await admin.query(`SELECT pg_notify('listen_test', 'before')`);
      await until('the first notification', () => heard.includes('before'));

      // What a restart or a failover does to the connection: the server ends it.
      const ended = await admin.query<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'gateway listen'`,
      );
      expect(ended.rows[0]?.n).toBe(1);
      // NOTIFY is heard again (sent until it is: the connection comes back after a short back-off).
      for (let i = 0; i < 100 && !heard.includes('after'); i++) {
        await admin.query(`SELECT pg_notify('listen_test', 'after')`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(heard).toContain('after');
      // Once listening again, the listener was woken (empty payload) to look for what it missed, before anything else.
      expect(heard.slice(0, 3)).toEqual(['before', '', 'after']);
      expect(db.listenStatus()).toEqual([{ channel: 'listen_test', listening: true, notifications: heard.length - 1, reconnects: 1 }]);
    } finally {
      await stop();
    }
    expect(db.listenStatus()).toEqual([]);
  });

  it('listens on every channel through one connection: a NOTIFY wakes one backend, each channel hears its own', async () => {
    const heard: string[] = [];
    const stops = await Promise.all(['listen_a', 'listen_b', 'listen_c'].map((channel) => db.listen(channel, (payload) => heard.push(`${channel}:${payload}`))));
    const listeners = async (): Promise<number> =>
      (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'gateway listen'`)).rows[0]?.n ?? -1;
    try {
      expect(await listeners()).toBe(1);
      await admin.query(`SELECT pg_notify('listen_b', 'one'), pg_notify('listen_c', 'two')`);
      await until('both notifications', () => heard.length === 2);
      expect(heard).toEqual(['listen_b:one', 'listen_c:two']);
      expect(await db.caughtUp('listen_a')).toBe(true);
      expect(await db.caughtUp('not_listened')).toBe(false);
      // A channel stopped is no longer heard; the others still are, on the same connection.
      await stops[1]?.();
      await admin.query(`SELECT pg_notify('listen_b', 'gone'), pg_notify('listen_a', 'three')`);
      await until('the third notification', () => heard.length === 3);
      expect(heard[2]).toBe('listen_a:three');
      expect(db.listenStatus().map((l) => [l.channel, l.notifications])).toEqual([
        ['listen_a', 1],
        ['listen_c', 1],
      ]);
      expect(await listeners()).toBe(1);
      // Cut off: every channel left is woken once for what it missed.
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'gateway listen'`);
      await until('both woken after the connection came back', () => heard.includes('listen_a:') && heard.includes('listen_c:'));
      expect(heard).not.toContain('listen_b:');
    } finally {
      await stops[0]?.();
      await stops[2]?.();
    }
    // The connection ends with its last channel.
    expect(db.listenStatus()).toEqual([]);
    for (let i = 0; i < 40 && (await listeners()) > 0; i++) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(await listeners()).toBe(0);
  });

  it('a transaction whose connection is cut off fails with a fault the gateway answers 503, and the process lives on', async () => {
    // Without an 'error' listener on the checked-out client this ends the process (an unhandled 'error' event).
    const work = db.transaction(async (tx) => {
      await tx.query('SELECT 1');
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query = 'SELECT 1'`);
      await tx.query('SELECT 2');
    });
    await expect(work).rejects.toThrow();
    const { classifyDatabaseError } = await import('../../src/store/faults.ts');
    expect(classifyDatabaseError(await work.catch((e: unknown) => e))).toBe('unavailable');
    // The pool hands out a working connection afterwards.
    expect((await db.query<{ n: number }>('SELECT 3 AS n')).rows[0]?.n).toBe(3);
  });
});
