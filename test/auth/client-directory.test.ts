// Issue 19.2: a verified token costs no database lookup until its client changes. The client's row is kept per
// instance and dropped on every instance at the change's commit (a trigger's NOTIFY); while an instance's LISTEN
// connection is down, it reads the row on every request again. Driven through HTTP; the administrator's SQL plays
// the part of any other writer (another instance, the CLI, an operator).
import pg from 'pg';
import request from 'supertest';
import { startSecondInstance, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { postgresOnly } from '../support/database.ts';

const onPostgres = postgresOnly(describe);

onPostgres('client rows behind tokens', () => {
  let tg: TestGateway;
  let admin: pg.Client;

  beforeAll(async () => {
    tg = await startTestGateway();
    admin = new pg.Client({ connectionString: tg.databaseUrl });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await tg?.stop();
  });

  const read = async (t: TestGateway, client: 'vvt-ijsseldelta' | 'vvt-sallandse-heuvelrug'): Promise<number> =>
    (await request(t.app).get('/fhir/Task').query({ _count: '1' }).set('Authorization', await t.auth(client))).status;
  const moveUnannounced = async (client: string, ura: string): Promise<void> => {
    // The trigger off: a change nobody is told of, to see whether a request still reads the row.
    await admin.query('BEGIN');
    await admin.query('ALTER TABLE oauth_clients DISABLE TRIGGER oauth_clients_changed');
    await admin.query('UPDATE oauth_clients SET organization_ura = $2 WHERE client_id = $1', [client, ura]);
    await admin.query('ALTER TABLE oauth_clients ENABLE TRIGGER oauth_clients_changed');
    await admin.query('COMMIT');
  };
  const until = async (what: string, ok: () => boolean): Promise<void> => {
    for (let i = 0; i < 2000; i++) {
      if (ok()) return;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    throw new Error(`not within 10 s: ${what}`);
  };
  const listening = (t: TestGateway): boolean => t.gateway.db.listenStatus().some((l) => l.channel === 'oauth_client_changed' && l.listening);

  it('a known client is not looked up again: a change nobody announces goes unseen until it is announced', async () => {
    expect(await read(tg, 'vvt-ijsseldelta')).toBe(200);
    await moveUnannounced('vvt-ijsseldelta', '90001234');
    try {
      // Served from the instance's copy: proof that the request did not read oauth_clients.
      expect(await read(tg, 'vvt-ijsseldelta')).toBe(200);
      // Announced: heard before the next request is decided (no waiting here).
      await admin.query(`SELECT pg_notify('oauth_client_changed', 'vvt-ijsseldelta')`);
      expect(await read(tg, 'vvt-ijsseldelta')).toBe(401);
    } finally {
      await admin.query(`UPDATE oauth_clients SET organization_ura = '90007890' WHERE client_id = 'vvt-ijsseldelta'`);
    }
    expect(await read(tg, 'vvt-ijsseldelta')).toBe(200);
  });

  it('a client changed or removed is refused at once on every instance', async () => {
    const second = await startSecondInstance(tg);
    try {
      expect(await read(tg, 'vvt-sallandse-heuvelrug')).toBe(200);
      expect(await read(second, 'vvt-sallandse-heuvelrug')).toBe(200);
      await admin.query(`UPDATE oauth_clients SET organization_ura = '90001234' WHERE client_id = 'vvt-sallandse-heuvelrug'`);
      expect(await read(tg, 'vvt-sallandse-heuvelrug')).toBe(401);
      expect(await read(second, 'vvt-sallandse-heuvelrug')).toBe(401);
      await admin.query(`UPDATE oauth_clients SET organization_ura = '90007891' WHERE client_id = 'vvt-sallandse-heuvelrug'`);
      expect(await read(tg, 'vvt-sallandse-heuvelrug')).toBe(200);
      expect(await read(second, 'vvt-sallandse-heuvelrug')).toBe(200);
      const saved = await admin.query('SELECT * FROM oauth_clients WHERE client_id = $1', ['vvt-sallandse-heuvelrug']);
      await admin.query(`DELETE FROM oauth_clients WHERE client_id = 'vvt-sallandse-heuvelrug'`);
      try {
        expect(await read(tg, 'vvt-sallandse-heuvelrug')).toBe(401);
        expect(await read(second, 'vvt-sallandse-heuvelrug')).toBe(401);
      } finally {
        const row = saved.rows[0] as Record<string, unknown>;
        const columns = Object.keys(row);
        await admin.query(
          `INSERT INTO oauth_clients (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
          columns.map((c) => (c === 'jwks' && row[c] !== null ? JSON.stringify(row[c]) : row[c])),
        );
      }
      expect(await read(second, 'vvt-sallandse-heuvelrug')).toBe(200);
    } finally {
      await second.gateway.close();
    }
  });

  it('while the LISTEN connection is down, every request reads its client; once back, nothing kept from before counts', async () => {
    expect(await read(tg, 'vvt-ijsseldelta')).toBe(200);
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'gateway listen'`);
    await until('the LISTEN connection is noticed lost', () => !listening(tg));
    try {
      // Lost with the connection: a change announced now reaches nobody.
      await moveUnannounced('vvt-ijsseldelta', '90001234');
      await until('listening again', () => listening(tg));
      // The copy from before the loss is not used: the change is seen.
      expect(await read(tg, 'vvt-ijsseldelta')).toBe(401);
      await moveUnannounced('vvt-ijsseldelta', '90007890');
      expect(await read(tg, 'vvt-ijsseldelta')).toBe(200);
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'gateway listen'`);
      await until('the LISTEN connection is noticed lost again', () => !listening(tg));
      await moveUnannounced('vvt-ijsseldelta', '90001234');
      // Down: read from the database.
      expect(await read(tg, 'vvt-ijsseldelta')).toBe(401);
    } finally {
      await admin.query(`UPDATE oauth_clients SET organization_ura = '90007890' WHERE client_id = 'vvt-ijsseldelta'`);
    }
    await until('listening again', () => listening(tg));
    expect(await read(tg, 'vvt-ijsseldelta')).toBe(200);
  });
});
