// A notification sent on a kept-alive connection that the receiver closes at that moment (its keep-alive timeout
// crossing the request on the wire) is sent again at once on a new connection, not failed and retried a second
// later. The receiver here closes a reused connection as soon as a request arrives on it, which is what the client
// sees of that race: its request written, the connection gone without an answer. A receiver that announces how long
// it keeps an idle connection has it closed by the gateway before then, so that the race does not arise.
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { postHook } from '../../src/subscriptions/rest-hook.ts';

let server: Server;
let url: string;
const requestsPerConnection = new Map<Socket, number>();
let received = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    const n = (requestsPerConnection.get(req.socket) ?? 0) + 1;
    requestsPerConnection.set(req.socket, n);
    if (n > 1) {
      req.socket.destroy();
      return;
    }
    req.resume();
    req.on('end', () => {
      received++;
      // No Keep-Alive hint: the client cannot know when the receiver gives the connection up.
      res.writeHead(200, { 'Content-Length': '0' }).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const send = (): ReturnType<typeof postHook> => postHook({ endpoint: url, headers: { 'Content-Type': 'application/fhir+json' }, body: '{"resourceType":"Bundle"}', deadlineMs: 5000, allowPrivate: true });

test('a notification whose kept-alive connection the receiver closes as it arrives is delivered on a new connection', async () => {
  expect(await send()).toEqual({ ok: true, status: 200 });
  // The agent keeps that connection; the next send reuses it, and the receiver drops it.
  expect(await send()).toEqual({ ok: true, status: 200 });
  expect(received).toBe(2);
  // Two connections at least: the reused one that was closed, and a new one for the second notification.
  expect(requestsPerConnection.size).toBeGreaterThanOrEqual(2);
});

test("a connection that fails without being reused is not tried again: that is the delivery worker's retry", async () => {
  const closed = createServer((req) => req.socket.destroy());
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  let connections = 0;
  closed.on('connection', () => connections++);
  const result = await postHook({ endpoint: `http://127.0.0.1:${(closed.address() as AddressInfo).port}/hook`, headers: {}, body: '{}', deadlineMs: 5000, allowPrivate: true });
  await new Promise((resolve) => closed.close(resolve));
  expect(result.ok).toBe(false);
  expect(connections).toBe(1);
});

test('a receiver that says how long it keeps an idle connection (Keep-Alive: timeout=2) has it closed by the gateway a second before', async () => {
  const announcing = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'Content-Length': '0' }).end());
  });
  // It says 2 s and would keep the connection much longer: whoever closes it first is the gateway.
  announcing.keepAliveTimeout = 2000;
  (announcing as Server & { keepAliveTimeoutBuffer: number }).keepAliveTimeoutBuffer = 60_000;
  const closedAfter: number[] = [];
  let answeredAt = 0;
  announcing.on('connection', (socket: Socket) => socket.on('close', () => closedAfter.push(Date.now() - answeredAt)));
  await new Promise<void>((resolve) => announcing.listen(0, '127.0.0.1', resolve));
  try {
    const result = await postHook({ endpoint: `http://127.0.0.1:${(announcing.address() as AddressInfo).port}/hook`, headers: {}, body: '{}', deadlineMs: 5000, allowPrivate: true });
    answeredAt = Date.now();
    expect(result).toEqual({ ok: true, status: 200 });
    for (let i = 0; i < 60 && closedAfter.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closedAfter).toHaveLength(1);
    expect(closedAfter[0]).toBeLessThan(2000);
  } finally {
    announcing.closeAllConnections();
    await new Promise((resolve) => announcing.close(resolve));
  }
});
