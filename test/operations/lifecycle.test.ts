// The process as an orchestrator sees it: SIGTERM with a board stream open and a notification under way ends
// with exit code 0 and no delivery claim left held; a start-up failure (a port already taken) ends with a clear
// message and a non-zero exit code instead of an instance that runs its workers with no HTTP server.
import { spawn } from 'node:child_process';
import { createServer as createHttpServer, type ServerResponse, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { childAuth, startChildGateway, type ChildGateway } from '../support/child-gateway.ts';
import { createTestDatabase, postgresOnly, type TestDatabase } from '../support/database.ts';
import { example, setBsn, uniqueBsn, uniqueId } from '../support/native.ts';
import { subscriptionBody } from '../support/receiver.ts';

// The child gateway works on this test's database, which only PostgreSQL can share with another process (on PGlite it
// would open a store of its own in ./data).
const onPostgres = postgresOnly(test);

const ROOT = join(import.meta.dirname, '../..');
const RAV = 'Task?owner=http://fhir.nl/fhir/NamingSystem/ura|90004567';

let db: TestDatabase;
const children: ChildGateway[] = [];
beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'life' });
});
afterAll(async () => {
  await Promise.all(children.map((c) => c.kill('SIGKILL')));
  await db?.drop();
});

/** A receiver that answers handshakes and holds every event notification open, unanswered. */
async function holdingReceiver(): Promise<{ url: string; held: ServerResponse[]; server: Server }> {
  const held: ServerResponse[] = [];
  const server = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (body.includes('"handshake"')) res.writeHead(200).end();
      else held.push(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, held, server };
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

onPostgres('SIGTERM with a board stream open and a notification under way: exit 0, stream ended, no claim held', async () => {
  const g = await startChildGateway(db.url);
  children.push(g);
  const receiver = await holdingReceiver();
  try {
    const sub = await g.fetch('/fhir/Subscription', {
      method: 'POST',
      headers: { Authorization: await childAuth(g, 'rav-noordoost'), 'Content-Type': 'application/fhir+json' },
      body: JSON.stringify(subscriptionBody(receiver.url, RAV, 'id-only', { timeout: 60 })),
    });
    expect(sub.status).toBe(201);
    const subId = ((await sub.json()) as { id: string }).id;
    await until('the subscription active', async () => (await db.db.query<{ status: string }>('SELECT status FROM subscription_state WHERE id = $1', [subId])).rows[0]?.status === 'active');

    // A board open on the wall screen.
    const board = await g.fetch('/board/events', { headers: { Authorization: await childAuth(g, 'zcc-ijsselland') } });
    expect(board.status).toBe(200);
    const reader = board.body!.getReader();
    expect((await reader.read()).done).toBe(false);

    // A handover whose notification the receiver holds: its event is claimed while the process is asked to stop.
    const record = { ...setBsn('nts', example('nts-u1-pijn-op-de-borst-naar-ambulance'), uniqueBsn()), contactId: uniqueId('HAPV') };
    const sent = await g.fetch('/native/nts', { method: 'POST', headers: { Authorization: await childAuth(g, 'hap-vechtdal'), 'Content-Type': 'application/json' }, body: JSON.stringify(record) });
    expect(sent.status).toBe(201);
    await until('the notification under way', () => receiver.held.length > 0);
    const claimed = await db.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM subscription_events WHERE claimed_by IS NOT NULL`);
    expect(Number(claimed.rows[0]?.n)).toBe(1);

    const exited = new Promise<number | null>((resolve) => g.process.once('exit', (code) => resolve(code)));
    g.process.kill('SIGTERM');
    // The stream is ended by the gateway (the page reconnects elsewhere), not left hanging.
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
    }
    expect(await exited).toBe(0);

    const left = await db.db.query<{ state: string; claimed_by: string | null }>(`SELECT state, claimed_by FROM subscription_events`);
    expect(left.rows).toEqual([{ state: 'pending', claimed_by: null }]);
  } finally {
    receiver.server.closeAllConnections();
    receiver.server.close();
  }
}, 90_000);

onPostgres('a port already taken: a clear message, a non-zero exit, no "listening"', async () => {
  const taken = createTcpServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as AddressInfo).port;
  try {
    const child = spawn(process.execPath, ['src/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: db.url, PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: 'http://gateway.test', DEMO: '1', DEMO_CLIENT_SECRET: 'lifecycle-test-secret', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      // An instance that keeps running without its server is the defect: it is stopped here and the test fails.
      const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.once('exit', (c) => {
        clearTimeout(guard);
        resolve(c);
      });
    });
    expect(code).toBe(1);
    expect(stderr).toContain(`The gateway could not start: port ${port} on 127.0.0.1 is already in use (EADDRINUSE)`);
    expect(stdout).not.toContain('handover gateway listening');
  } finally {
    taken.close();
  }
}, 90_000);
