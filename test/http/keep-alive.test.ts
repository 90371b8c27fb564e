// An idle keep-alive connection outlives the idle time of the clients and proxies in front of the gateway, so that
// none of them sends a request on a connection the gateway is closing at that moment (a POST caught so fails with
// "other side closed" or a proxy's 502). Node's default, 5 s (closed at 6 s), was shorter than all of them.
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let tg: TestGateway;
let server: Server;
let port: number;

beforeAll(async () => {
  // The headers' timeout shorter than the idle time below: an idle connection is not a request being received.
  tg = await startTestGateway({ HTTP_HEADERS_TIMEOUT_MS: '2000' });
  server = tg.gateway.serve(tg.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server?.closeAllConnections();
  if (server) await new Promise((resolve) => server.close(resolve));
  await tg?.stop();
});

/** Status lines and Keep-Alive headers of the answers received on one connection so far. */
function answersOf(raw: string): { status: number; keepAlive: string | undefined }[] {
  return [...raw.matchAll(/HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n/g)].map((m) => ({
    status: Number(m[1]),
    keepAlive: /^keep-alive: *(.*)$/im.exec(m[2] ?? '')?.[1],
  }));
}

test('a connection left idle for 8 s (beyond the headers timeout too) still carries the next request, and the gateway advertises how long it keeps one (65 s)', async () => {
  const socket = connect(port, '127.0.0.1');
  let raw = '';
  let closedAt = 0;
  socket.on('data', (d: Buffer) => (raw += d.toString('latin1')));
  socket.on('close', () => (closedAt = Date.now()));
  socket.on('error', () => undefined);
  const ask = (): void => void socket.write('GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  const until = async (check: () => boolean): Promise<void> => {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  };

  ask();
  await until(() => answersOf(raw).length === 1);
  // Longer than Node's default keep-alive (5 s, closed at 6 s).
  await new Promise((resolve) => setTimeout(resolve, 8000));
  expect(closedAt).toBe(0);
  ask();
  await until(() => answersOf(raw).length === 2 || closedAt > 0);
  socket.destroy();

  expect(answersOf(raw)).toEqual([
    { status: 200, keepAlive: 'timeout=65' },
    { status: 200, keepAlive: 'timeout=65' },
  ]);
}, 30_000);
