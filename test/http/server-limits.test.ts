// Issue 14, rows 3 and 14, through raw sockets on loopback against the gateway's own HTTP server
// (gateway.serve(), as main.ts listens): a slow body holds no write slot; a body, or headers, that never
// finish are cut off with 408; a URL or headers over Node's 16 KB get 414/431. Every such answer carries an
// OperationOutcome and is audited under the X-Request-Id it gives.
import { connect, type Socket } from 'node:net';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { buildPatient } from '../support/fhir-builders.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Everything the server sent on one connection until it closed it, as one HTTP/1.1 response. */
function parse(raw: string): RawResponse {
  const at = raw.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = raw.slice(0, at < 0 ? raw.length : at).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: at < 0 ? '' : raw.slice(at + 4) };
}

/** A raw connection: `received` settles with the response once the server closes the connection. */
function rawClient(port: number): { socket: Socket; received: Promise<RawResponse>; answered: () => boolean } {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let any = false;
  socket.on('data', (c: Buffer) => {
    any = true;
    chunks.push(c);
  });
  const received = new Promise<RawResponse>((resolve) => {
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(parse(Buffer.concat(chunks).toString('utf8'))));
  });
  return { socket, received, answered: () => any };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function listen(tg: TestGateway): Promise<{ server: Server; port: number }> {
  // The contract-checking handler, in the server the gateway makes for itself.
  const server = tg.gateway.serve(tg.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

async function auditOf(tg: TestGateway, requestId: string | undefined): Promise<{ outcome: string; status: number; client_id: string; seen: string | null }[]> {
  const { rows } = await tg.gateway.db.query<{ outcome: string; status: number; client_id: string; seen: string | null }>(
    `SELECT outcome, status, client_id, (SELECT string_agg(e->>'description', ' ') FROM json_array_elements(content->'entity') e WHERE e->>'name' = 'request as seen') AS seen
       FROM audit_events WHERE request_id = $1`,
    [requestId ?? ''],
  );
  return rows;
}

function expectOutcome(res: RawResponse, status: number): OperationOutcome {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
  const outcome = JSON.parse(res.body) as OperationOutcome;
  expect(outcome.resourceType).toBe('OperationOutcome');
  expect(outcome.issue?.[0]?.severity).toBe('error');
  return outcome;
}

describe('slow bodies hold no write slot (row 3)', () => {
  let tg: TestGateway;
  let server: Server;
  let port: number;
  beforeAll(async () => {
    tg = await startTestGateway({ MAX_CONCURRENT_WRITES: '8' });
    ({ server, port } = await listen(tg));
  });
  afterAll(async () => {
    server?.closeAllConnections();
    if (server) await new Promise((resolve) => server.close(resolve));
    await tg?.stop();
  });

  it("eight clients trickling their bodies at 1 byte a second do not hold up another client's write", async () => {
    const authorization = await tg.auth('hap-vechtdal');
    const body = Buffer.from(JSON.stringify(buildPatient()));
    const TAIL = 8;
    const slow = Array.from({ length: 8 }, () => rawClient(port));
    for (const { socket } of slow) {
      socket.write(
        `POST /fhir/Patient HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${authorization}\r\nContent-Type: application/fhir+json\r\nAccept: application/fhir+json\r\n` +
          `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
      );
      socket.write(body.subarray(0, body.length - TAIL));
    }
    // The rest of each body, a byte a second: about eight seconds in all.
    let stopped = false;
    const trickle = (async () => {
      for (let i = body.length - TAIL; i < body.length && !stopped; i++) {
        await sleep(1000);
        for (const { socket } of slow) socket.write(body.subarray(i, i + 1));
      }
    })();
    // Time to be authenticated (and, before the fix, to take all eight write slots).
    await sleep(500);

    const fast = await fetch(`http://127.0.0.1:${port}/fhir/Patient`, {
      method: 'POST',
      headers: { Authorization: authorization, 'Content-Type': 'application/fhir+json', Accept: 'application/fhir+json' },
      body: JSON.stringify(buildPatient()),
    });
    // The other write was stored while every slow body was still arriving.
    const slowAnsweredFirst = slow.filter((c) => c.answered()).length;
    expect({ status: fast.status, slowAnsweredFirst }).toEqual({ status: 201, slowAnsweredFirst: 0 });
    await trickle;
    stopped = true;
    for (const c of slow) expect((await c.received).status).toBe(201);
  });
});

describe('what never arrives is cut off; what is too large is refused (rows 3, 14)', () => {
  let tg: TestGateway;
  let server: Server;
  let port: number;
  beforeAll(async () => {
    tg = await startTestGateway({ HTTP_BODY_TIMEOUT_MS: '1500', HTTP_HEADERS_TIMEOUT_MS: '1500', HTTP_REQUEST_TIMEOUT_MS: '3000' });
    ({ server, port } = await listen(tg));
  });
  afterAll(async () => {
    server?.closeAllConnections();
    if (server) await new Promise((resolve) => server.close(resolve));
    await tg?.stop();
  });

  it('a body that never finishes is answered 408 with an OperationOutcome, the connection closed, and audited', async () => {
    const authorization = await tg.auth('hap-vechtdal');
    const c = rawClient(port);
    c.socket.write(`POST /native/nts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${authorization}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"berichttype":`);
    // A byte every 200 ms for as long as the connection stays open.
    const drip = setInterval(() => {
      if (!c.socket.destroyed) c.socket.write(' ');
    }, 200);
    try {
      const res = await c.received;
      const outcome = expectOutcome(res, 408);
      expect(outcome.issue?.[0]?.code).toBe('timeout');
      expect(await auditOf(tg, res.headers['x-request-id'])).toContainEqual(expect.objectContaining({ outcome: '4', status: 408 }));
    } finally {
      clearInterval(drip);
    }
  });

  it('headers that never finish are answered 408 with an OperationOutcome, and audited', async () => {
    const c = rawClient(port);
    c.socket.write('GET /fhir/Patient HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const drip = setInterval(() => {
      if (!c.socket.destroyed) c.socket.write('X');
    }, 200);
    try {
      const res = await c.received;
      expect(expectOutcome(res, 408).issue?.[0]?.code).toBe('timeout');
      expect(tg.contract.check('GET', '/fhir/Patient', res.status, res.headers, Buffer.from(res.body))).toEqual([]);
      expect(await auditOf(tg, res.headers['x-request-id'])).toEqual([expect.objectContaining({ outcome: '4', status: 408, client_id: 'unknown' })]);
    } finally {
      clearInterval(drip);
    }
  });

  it('a URL over 16 KB is answered 414 with an OperationOutcome and audited without its query', async () => {
    const c = rawClient(port);
    const bsn = '999990111';
    c.socket.write(`GET /fhir/Patient?identifier=${bsn}&name=${'x'.repeat(20 * 1024)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    const res = await c.received;
    expect(expectOutcome(res, 414).issue?.[0]?.code).toBe('too-long');
    expect(tg.contract.check('GET', '/fhir/Patient', res.status, res.headers, Buffer.from(res.body))).toEqual([]);
    const audit = await auditOf(tg, res.headers['x-request-id']);
    expect(audit).toEqual([expect.objectContaining({ outcome: '4', status: 414, client_id: 'unknown' })]);
    expect(audit[0]?.seen).toContain('GET /fhir/Patient');
    expect(audit[0]?.seen).toContain('127.0.0.1');
    expect(audit[0]?.seen).not.toContain(bsn);
    // The gateway keeps serving.
    expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).toBe(200);
  });

  it('headers over 16 KB are answered 431 with an OperationOutcome and audited', async () => {
    const c = rawClient(port);
    c.socket.write(`GET /fhir/Patient HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: ${'y'.repeat(20 * 1024)}\r\n\r\n`);
    const res = await c.received;
    expect(expectOutcome(res, 431).issue?.[0]?.code).toBe('too-long');
    expect(tg.contract.check('GET', '/fhir/Patient', res.status, res.headers, Buffer.from(res.body))).toEqual([]);
    expect(await auditOf(tg, res.headers['x-request-id'])).toEqual([expect.objectContaining({ outcome: '4', status: 431 })]);
  });
});
