// Issue 14, row 13: a subscription made while its private origin was allow-listed, re-activated after the operator
// took the origin off the list, must not reach that address again. The endpoint is a loopback IP literal (never
// resolved, so the checked DNS lookup at send time never ran); the "private network" is a TCP listener on 127.0.0.1
// that counts connections, so no traffic leaves the machine.
import { createServer, type Server, type Socket } from 'node:net';
import request from 'supertest';
import { subscriptionBody } from '../support/receiver.ts';
import { startSecondInstance, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { postgresOnly } from '../support/database.ts';

// A second instance needs a database it can share with the first: PostgreSQL.
const onPostgres = postgresOnly(test);

const HAP = '90001234';
let listener: Server;
let port = 0;
const sockets: Socket[] = [];
let first: TestGateway;
let second: TestGateway | undefined;

beforeAll(async () => {
  listener = createServer((socket) => {
    sockets.push(socket);
    socket.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  port = (listener.address() as { port: number }).port;
  first = await startTestGateway({ HOOK_ALLOWED_ORIGINS: JSON.stringify({ [HAP]: [`https://127.0.0.1:${port}`] }) });
}, 120_000);

afterAll(async () => {
  await second?.stop();
  await first?.stop();
  await new Promise((resolve) => listener?.close(resolve));
});

async function state(id: string): Promise<{ status: string; handshake_at: Date | null; last_error: string | null }> {
  const r = await (second ?? first).gateway.db.query<{ status: string; handshake_at: Date | null; last_error: string | null }>('SELECT status, handshake_at, last_error FROM subscription_state WHERE id = $1', [id]);
  return r.rows[0]!;
}

async function until(what: string, done: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await done()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

onPostgres('a re-activated subscription does not reach a private IP literal whose origin is no longer allow-listed', async () => {
  const made = await request(first.app)
    .post('/fhir/Subscription')
    .set('Authorization', await first.auth('hap-vechtdal'))
    .set('Content-Type', 'application/fhir+json')
    .send(JSON.stringify(subscriptionBody(`https://127.0.0.1:${port}/hook`, `Task?requester=http://fhir.nl/fhir/NamingSystem/ura|${HAP}`)));
  expect(made.status).toBe(201);
  const id = (made.body as { id: string }).id;
  // While listed, the handshake is tried (and fails: the listener speaks no TLS).
  await until('the first handshake', async () => sockets.length > 0 && (await state(id)).status === 'error');

  // The operator takes the origin off the list: an instance with the new configuration, the old one gone.
  second = await startSecondInstance(first, { ADMIN_TOKEN: 'operator-secret' });
  await first.gateway.close();
  const before = sockets.length;
  const reactivated = await request(second.app).post(`/admin/subscriptions/${id}/reactivate`).set('Authorization', 'Bearer operator-secret');
  expect(reactivated.status).toBe(200);
  await until('the handshake after re-activation', async () => {
    const s = await state(id);
    return s.handshake_at !== null && s.status === 'error';
  });
  expect(sockets.length).toBe(before);
  expect((await state(id)).last_error).toMatch(/no longer allowed/);
});
