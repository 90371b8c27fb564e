// A receiving system played by a small HTTP server on loopback: records every notification and answers as told.
// Each notification is checked against the `handover` webhook of the gateway's OpenAPI description (contract.ts).
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import request from 'supertest';
import type { Subscription } from '@medplum/fhirtypes';
import { SearchParameterRegistry } from '../../src/fhir/search/parameters.ts';
import { ROOT_DIR, VERSION } from '../../src/gateway.ts';
import { gatewayOpenApi } from '../../src/http/openapi-document.ts';
import { verifySignature } from '../../src/subscriptions/index.ts';
import { Contract, recordNotification } from './contract.ts';
import type { DemoClient, TestGateway } from './gateway.ts';

// The description a gateway serves, assembled here as src/gateway.ts does for /openapi.json (through
// JSON, as served): the receiver also hears gateways in child processes, which have no Contract in this
// process. Built once per test file (jest gives each file its own modules), on the first notification.
let served: Contract | undefined;
function webhookContract(): Contract {
  served ??= new Contract(
    JSON.parse(
      JSON.stringify(gatewayOpenApi({ rootDir: ROOT_DIR, publicUrl: 'http://gateway.test', version: VERSION, registry: SearchParameterRegistry.load(join(ROOT_DIR, 'profiles/search-parameters/bundle.json')) })),
    ),
  );
  return served;
}

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  type: string;
  subscription: string;
  eventNumber: number;
  idempotencyKey: string;
  at: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Event notifications only (no handshakes or heartbeats). */
  events(): Received[];
  /** The status the receiver answers with (200 unless set). */
  status: number;
  waitFor(predicate: (r: Received[]) => boolean, what: string, ms?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const waiters = new Set<() => void>();
  const r: Receiver = {
    url: '',
    received,
    events: () => received.filter((x) => x.type === 'event-notification'),
    status: 200,
    waitFor: (predicate, what, ms = 10_000) =>
      new Promise((resolve, reject) => {
        if (predicate(received)) return resolve();
        const check = (): void => {
          if (!predicate(received)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`receiver: no ${what} within ${ms} ms (got ${received.length} requests)`));
        }, ms);
        waiters.add(check);
      }),
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      recordNotification(webhookContract(), req.headers, Buffer.concat(chunks));
      const status = r.status;
      if (status >= 200 && status < 300) {
        received.push({
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          type: String(req.headers['x-notification-type']),
          subscription: String(req.headers['x-subscription-id']),
          eventNumber: Number(req.headers['x-event-number']),
          idempotencyKey: String(req.headers['idempotency-key']),
          at: Date.now(),
        });
      }
      res.statusCode = status;
      res.end();
      for (const w of [...waiters]) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return r;
}

/** Receivers for the tests of one file: each starts when asked for, all close after the file's tests. */
export function receiversForFile(): () => Promise<Receiver> {
  const started: Receiver[] = [];
  afterAll(async () => {
    await Promise.all(started.map((r) => r.close()));
  });
  return async () => {
    const r = await startReceiver();
    started.push(r);
    return r;
  };
}

const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
export const SECRET_EXTENSION = 'https://handover-gateway.nl/fhir/StructureDefinition/subscription-signing-secret';

export function subscriptionBody(endpoint: string, filter: string | undefined, payload = 'id-only', extra: { heartbeat?: number; secret?: string; timeout?: number } = {}): Subscription {
  const native = payload.startsWith('application/');
  const channelExt = [];
  if (extra.heartbeat) channelExt.push({ url: `${BACKPORT}/backport-heartbeat-period`, valueUnsignedInt: extra.heartbeat });
  if (extra.timeout) channelExt.push({ url: `${BACKPORT}/backport-timeout`, valueUnsignedInt: extra.timeout });
  return {
    resourceType: 'Subscription',
    status: 'requested',
    reason: 'Handovers for our system',
    criteria: 'http://gateway.test/fhir/SubscriptionTopic/handover',
    extension: extra.secret ? [{ url: SECRET_EXTENSION, valueString: extra.secret }] : undefined,
    _criteria: filter ? { extension: [{ url: `${BACKPORT}/backport-filter-criteria`, valueString: filter }] } : undefined,
    channel: {
      type: 'rest-hook',
      endpoint,
      payload: native ? payload : 'application/fhir+json',
      _payload: native ? undefined : { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: payload }] },
      extension: channelExt.length ? channelExt : undefined,
    },
  } as Subscription;
}

/** Subscribes `client` and waits for the handshake to make the subscription active. Returns its id and secret. */
export async function subscribe(tg: TestGateway, client: DemoClient, receiver: Receiver, filter: string | undefined, payload = 'id-only', extra: { heartbeat?: number; secret?: string; timeout?: number } = {}): Promise<{ id: string; secret: string }> {
  const res = await request(tg.app).post('/fhir/Subscription').set('Authorization', await tg.auth(client)).set('Content-Type', 'application/fhir+json').send(subscriptionBody(receiver.url, filter, payload, extra));
  if (res.status !== 201) throw new Error(`subscribe: ${res.status} ${res.text}`);
  const sub = res.body as Subscription;
  const secret = extra.secret ?? sub.extension?.find((e) => e.url === SECRET_EXTENSION)?.valueString;
  if (!sub.id || !secret) throw new Error('subscribe: no id or secret');
  const id = sub.id;
  await receiver.waitFor((r) => r.some((x) => x.subscription === id && x.type === 'handshake'), 'handshake');
  for (let i = 0; i < 100; i++) {
    const s = await request(tg.app).get(`/fhir/Subscription/${id}`).set('Authorization', await tg.auth(client));
    if ((s.body as Subscription).status === 'active') return { id, secret };
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('subscribe: not active after the handshake');
}

export function signatureOk(r: Received, secret: string): boolean {
  return verifySignature(secret, Number(r.headers['x-signature-timestamp']), r.body, String(r.headers['x-signature']));
}

/** One request a stalling receiver got: when it was opened, and when its connection closed (by the gateway). */
interface StalledRequest {
  type: string;
  subscription: string;
  eventNumber: number;
  openedAt: number;
  closedAt?: number;
  /** Answered in full (the receiver was not stalling it). */
  answered: boolean;
}

/**
 * A receiver that misbehaves: for the requests `stalls` picks, `silent` accepts the connection and the request
 * and never answers; `trickle` answers 200 at once and then sends a byte of body every 100 ms without ever
 * ending it. Other requests are answered 200 at once. Every request is recorded with when its connection closed.
 */
export interface StallingReceiver {
  url: string;
  requests: StalledRequest[];
  stalls: (type: string, eventNumber: number) => boolean;
  /** Requests whose connection is still open. */
  open(): StalledRequest[];
  waitFor(predicate: (r: StalledRequest[]) => boolean, what: string, ms?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startStallingReceiver(mode: 'silent' | 'trickle'): Promise<StallingReceiver> {
  const requests: StalledRequest[] = [];
  const waiters = new Set<() => void>();
  const changed = (): void => {
    for (const w of [...waiters]) w();
  };
  const timers = new Set<NodeJS.Timeout>();
  const r: StallingReceiver = {
    url: '',
    requests,
    stalls: () => true,
    open: () => requests.filter((x) => x.closedAt === undefined),
    waitFor: (predicate, what, ms = 10_000) =>
      new Promise((resolve, reject) => {
        if (predicate(requests)) return resolve();
        const check = (): void => {
          if (!predicate(requests)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`stalling receiver: no ${what} within ${ms} ms (got ${requests.length} requests)`));
        }, ms);
        waiters.add(check);
      }),
    close: () =>
      new Promise((resolve) => {
        for (const t of timers) clearInterval(t);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req, res) => {
    const seen: StalledRequest = {
      type: String(req.headers['x-notification-type']),
      subscription: String(req.headers['x-subscription-id']),
      eventNumber: Number(req.headers['x-event-number']),
      openedAt: Date.now(),
      answered: false,
    };
    requests.push(seen);
    res.on('close', () => {
      seen.closedAt = Date.now();
      changed();
    });
    req.resume();
    req.on('end', () => {
      if (!r.stalls(seen.type, seen.eventNumber)) {
        seen.answered = true;
        res.end();
        return;
      }
      if (mode === 'silent') return;
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      const t = setInterval(() => res.write('.'), 100);
      timers.add(t);
      res.on('close', () => {
        clearInterval(t);
        timers.delete(t);
      });
    });
    changed();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return r;
}
