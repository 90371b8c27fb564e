import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { bsn } from './ingest.ts';
import { demoToken } from './gateway-process.ts';
import { percentile } from './stats.ts';

const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';

export interface NotificationLatency {
  offeredPerSecond: number;
  reachedPerSecond: number;
  handovers: number;
  notifications: number;
  requestErrors: number;
  /** From the commit (the outbox's NOTIFY reaching a listener of the benchmark) to arrival at the receiver. */
  commitToReceiver: { p50: number; p99: number; max: number };
  /** From the Task version's timestamp (taken in the writing transaction, before the rest of it and the commit) to arrival. */
  writeToReceiver: { p50: number; p99: number };
  /** From sending the native record to the notification's arrival: ingest included. */
  requestToReceiver: { p50: number; p99: number };
}

export interface NotifyBench {
  /** Offers `rate` new U1 handovers per second for `seconds`, open loop, and waits for their notifications. */
  run(rate: number, seconds: number): Promise<NotificationLatency>;
  close(): Promise<void>;
}

interface EventPart { name: string; valueInstant?: string; valueReference?: { reference: string } }
interface StatusBundle { entry: { resource: { parameter: { name: string; part?: EventPart[] }[] } }[] }

/**
 * A receiver on loopback subscribed as RAV Noordoost (handovers it owns, id-only payload), against a
 * gateway already running at `url` with the demo organisations and ALLOW_HTTP_LOOPBACK_HOOKS=1, on the
 * PostgreSQL database `databaseUrl`, where the benchmark listens for the outbox's NOTIFY to learn the
 * moment each handover was committed.
 */
export async function notificationBench(url: string, databaseUrl: string, example: Record<string, unknown>): Promise<NotifyBench> {
  let commitToReceiver: number[] = [];
  let writeToReceiver: number[] = [];
  let requestToReceiver: number[] = [];
  const sentAt = new Map<string, number>();
  const committedAt = new Map<string, number>();
  const listener = new pg.Client({ connectionString: databaseUrl });
  // A connection ended under it (the database dropped) must not crash the run.
  listener.on('error', () => undefined);
  await listener.connect();
  listener.on('notification', (msg) => {
    if (msg.payload && !committedAt.has(msg.payload)) committedAt.set(msg.payload, performance.now());
  });
  await listener.query('LISTEN subscription_events');
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const arrived = Date.now();
      const arrivedPerf = performance.now();
      res.end();
      if (req.headers['x-notification-type'] !== 'event-notification') return;
      const bundle = JSON.parse(Buffer.concat(chunks).toString('utf8')) as StatusBundle;
      const event = bundle.entry[0]?.resource.parameter.find((p) => p.name === 'notification-event');
      const ts = event?.part?.find((p) => p.name === 'timestamp')?.valueInstant;
      const task = /Task\/([^/]+)\//.exec(event?.part?.find((p) => p.name === 'focus')?.valueReference?.reference ?? '')?.[1];
      if (ts) writeToReceiver.push(arrived - Date.parse(ts));
      const committed = task ? committedAt.get(task) : undefined;
      if (committed !== undefined) commitToReceiver.push(arrivedPerf - committed);
      const sent = task ? sentAt.get(task) : undefined;
      if (sent !== undefined) requestToReceiver.push(arrivedPerf - sent);
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const hap = `Bearer ${await demoToken(url, 'hap-vechtdal')}`;
  const sub = await fetch(`${url}/fhir/Subscription`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${await demoToken(url, 'rav-noordoost')}`, 'Content-Type': 'application/fhir+json' },
    body: JSON.stringify({
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'benchmark',
      criteria: `${url}/fhir/SubscriptionTopic/handover`,
      _criteria: { extension: [{ url: `${BACKPORT}/backport-filter-criteria`, valueString: 'Task?owner=http://fhir.nl/fhir/NamingSystem/ura|90004567' }] },
      channel: { type: 'rest-hook', endpoint: hook, payload: 'application/fhir+json', _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: 'id-only' }] } },
    }),
  });
  if (sub.status !== 201) throw new Error(`subscription: ${sub.status} ${await sub.text()}`);
  await new Promise((r) => setTimeout(r, 300));
  const tag = Date.now().toString(36);
  const patient = example.patient as Record<string, unknown>;
  const offset = Number.parseInt(tag.slice(-4), 36) * 1000;
  let n = 0;

  return {
    async run(rate, seconds) {
      commitToReceiver = [];
      writeToReceiver = [];
      requestToReceiver = [];
      sentAt.clear();
      committedAt.clear();
      const total = Math.max(1, Math.round(rate * seconds));
      const started = performance.now();
      let errors = 0;
      const sends: Promise<void>[] = [];
      for (let i = 0; i < total; i++) {
        const wait = started + (i * 1000) / rate - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const k = ++n;
        const t0 = performance.now();
        const body = JSON.stringify({ ...example, contactId: `BENCH-${tag}-${k}`, patient: { ...patient, bsn: bsn(offset + k) } });
        sends.push(
          fetch(`${url}/native/nts`, { method: 'POST', headers: { Authorization: hap, 'Content-Type': 'application/json' }, body })
            .then(async (res) => {
              await res.arrayBuffer();
              const id = /\/Task\/([^/]+)$/.exec(res.headers.get('location') ?? '')?.[1];
              if (res.status !== 201 || !id) errors++;
              else sentAt.set(id, t0);
            })
            .catch(() => {
              errors++;
            }),
        );
      }
      await Promise.all(sends);
      const elapsed = (performance.now() - started) / 1000;
      for (let i = 0; i < 100 && writeToReceiver.length < total - errors; i++) await new Promise((r) => setTimeout(r, 100));
      const c = [...commitToReceiver].sort((a, b) => a - b);
      const w = [...writeToReceiver].sort((a, b) => a - b);
      const e = [...requestToReceiver].sort((a, b) => a - b);
      return {
        offeredPerSecond: rate,
        reachedPerSecond: total / elapsed,
        handovers: total - errors,
        notifications: w.length,
        requestErrors: errors,
        commitToReceiver: { p50: percentile(c, 50), p99: percentile(c, 99), max: c.at(-1) ?? Number.NaN },
        writeToReceiver: { p50: percentile(w, 50), p99: percentile(w, 99) },
        requestToReceiver: { p50: percentile(e, 50), p99: percentile(e, 99) },
      };
    },
    close: async () => {
      await listener.end();
      await new Promise<void>((resolve) => {
        receiver.closeAllConnections();
        receiver.close(() => resolve());
      });
    },
  };
}

export function latencyLine(r: NotificationLatency): string {
  return `${r.offeredPerSecond}/s offered, ${r.reachedPerSecond.toFixed(1)}/s reached: commit → receiver p50 ${r.commitToReceiver.p50.toFixed(1)} ms, p99 ${r.commitToReceiver.p99.toFixed(1)} ms, max ${r.commitToReceiver.max.toFixed(1)} ms; Task write → receiver p50 ${r.writeToReceiver.p50.toFixed(1)} ms, p99 ${r.writeToReceiver.p99.toFixed(1)} ms; request → receiver p50 ${r.requestToReceiver.p50.toFixed(1)} ms, p99 ${r.requestToReceiver.p99.toFixed(1)} ms; ${r.notifications} of ${r.handovers} notified, ${r.requestErrors} request errors`;
}
