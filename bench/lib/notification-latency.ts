import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { bsn } from './ingest.ts';
import { benchServiceRequest, benchTask } from './bench-resources.ts';
import { demoToken } from './gateway-process.ts';
import { percentile } from './stats.ts';
import { LeanClient } from './lean-client.ts';

const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';

/**
 * What each write is: a native NTS record (a whole handover: Patient, Encounter, ServiceRequest, Task, ...), or a
 * FHIR Task create (`POST /fhir/Task`, one resource, as a FHIR client or another FHIR server's bench writes).
 */
export type NotifyWriteKind = 'native' | 'fhir';

export interface NotificationLatency {
  kind: NotifyWriteKind;
  offeredPerSecond: number;
  reachedPerSecond: number;
  handovers: number;
  /** Handovers of this run whose notification arrived. */
  notifications: number;
  /** Notifications that arrived a second time for one handover (a retry after a lost answer). */
  duplicates: number;
  requestErrors: number;
  /** From the commit (the outbox's NOTIFY reaching a listener of the benchmark) to arrival at the receiver. */
  commitToReceiver: { p50: number; p99: number; max: number };
  /** From the Task version's timestamp (taken in the writing transaction, before the rest of it and the commit) to arrival. */
  writeToReceiver: { p50: number; p99: number };
  /** From sending the native record to the notification's arrival: ingest included. */
  requestToReceiver: { p50: number; p99: number };
}

export interface NotifyBench {
  /** Offers `rate` new handovers per second for `seconds` (U1 native records, or Task creates), open loop, and waits for their notifications. */
  run(rate: number, seconds: number, kind?: NotifyWriteKind): Promise<NotificationLatency>;
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
  /** Every event notification that arrived, by handover: a run counts only its own handovers' (see `run`). */
  let arrivals: { task: string; arrivedPerf: number; writeToReceiver?: number }[] = [];
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
      if (task) arrivals.push({ task, arrivedPerf, writeToReceiver: ts ? arrived - Date.parse(ts) : undefined });
    });
  });
  /** Waits until the gateway has no notification left to deliver: what an earlier run left behind is not this run's latency. */
  const drained = async (): Promise<void> => {
    for (let i = 0; i < 600; i++) {
      const r = await listener.query<{ n: string }>(`SELECT count(*)::text AS n FROM subscription_events WHERE state IN ('pending', 'sending')`);
      if (r.rows[0]?.n === '0') return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('the notifications of an earlier run were still not delivered after 60 s');
  };
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const hap = `Bearer ${await demoToken(url, 'hap-vechtdal')}`;
  // The FHIR writes: Tasks handing over one ServiceRequest for one Patient, made once, naming the demo organisations
  // by URA as a HAP's system would.
  let taskBody: string | undefined;
  const fhirTaskBody = async (): Promise<string> => {
    if (taskBody) return taskBody;
    const post = async (type: string, body: string): Promise<string> => {
      const res = await fetch(`${url}/fhir/${type}`, { method: 'POST', headers: { Authorization: hap, 'Content-Type': 'application/fhir+json' }, body });
      if (res.status !== 201) throw new Error(`create ${type}: ${res.status} ${(await res.text()).slice(0, 300)}`);
      return `${type}/${((await res.json()) as { id: string }).id}`;
    };
    const byUra = (text: string): string =>
      text.replace('{"reference":"REQUESTER"}', ura('90001234')).replace('{"reference":"OWNER"}', ura('90004567'));
    const patientRef = await post('Patient', JSON.stringify({ resourceType: 'Patient', identifier: [{ system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: bsn(offset) }], name: [{ family: 'Bench', given: ['Notify'] }], gender: 'unknown', birthDate: '1950-01-01' }));
    const order = await post('ServiceRequest', byUra(JSON.stringify(benchServiceRequest(patientRef, 'REQUESTER', 'OWNER'))));
    taskBody = byUra(JSON.stringify(benchTask('REQUESTER', 'OWNER', new Date().toISOString(), { patient: patientRef, serviceRequest: order })));
    return taskBody;
  };
  const ura = (value: string): string => JSON.stringify({ identifier: { system: 'http://fhir.nl/fhir/NamingSystem/ura', value } });
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
    async run(rate, seconds, kind = 'native') {
      await drained();
      arrivals = [];
      sentAt.clear();
      committedAt.clear();
      const fhirBody = kind === 'fhir' ? await fhirTaskBody() : '';
      const total = Math.max(1, Math.round(rate * seconds));
      // The writes go through node:http (LeanClient), as the load generator's of (a) and (c): the receiver's arrival
      // times are read on this process's event loop, which fetch's cost per request would hold up more often. A
      // client of its own per run: a connection left idle between runs may be closed by the gateway as it is reused.
      const client = new LeanClient(url, Number.POSITIVE_INFINITY);
      const started = performance.now();
      let errors = 0;
      const sends: Promise<void>[] = [];
      for (let i = 0; i < total; i++) {
        const wait = started + (i * 1000) / rate - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const k = ++n;
        const t0 = performance.now();
        const request =
          kind === 'native'
            ? { path: '/native/nts', type: 'application/json', body: JSON.stringify({ ...example, contactId: `BENCH-${tag}-${k}`, patient: { ...patient, bsn: bsn(offset + k) } }) }
            : { path: '/fhir/Task', type: 'application/fhir+json', body: fhirBody };
        sends.push(
          client
            .send('POST', request.path, { Authorization: hap, 'Content-Type': request.type }, request.body)
            .then((res) => {
              // A native record's Location is its Task; a FHIR create's names the version (Task/<id>/_history/1).
              const id = /\/Task\/([^/]+)(?:\/_history\/[^/]+)?$/.exec(res.location ?? '')?.[1];
              if (res.status !== 201 || !id) errors++;
              else sentAt.set(id, t0);
            })
            .catch(() => {
              errors++;
            }),
        );
      }
      await Promise.all(sends);
      client.close();
      const elapsed = (performance.now() - started) / 1000;
      // A notification may arrive before its handover's answer: this run's are known once every answer is in.
      const ours = (): typeof arrivals => arrivals.filter((a) => sentAt.has(a.task));
      for (let i = 0; i < 100 && ours().length < sentAt.size; i++) await new Promise((r) => setTimeout(r, 100));
      const mine = ours();
      const sorted = (xs: (number | undefined)[]): number[] => xs.filter((x): x is number => x !== undefined).sort((a, b) => a - b);
      const c = sorted(mine.map((a) => (committedAt.has(a.task) ? a.arrivedPerf - committedAt.get(a.task)! : undefined)));
      const w = sorted(mine.map((a) => a.writeToReceiver));
      const e = sorted(mine.map((a) => a.arrivedPerf - sentAt.get(a.task)!));
      return {
        kind,
        offeredPerSecond: rate,
        reachedPerSecond: total / elapsed,
        handovers: total - errors,
        notifications: new Set(mine.map((a) => a.task)).size,
        duplicates: mine.length - new Set(mine.map((a) => a.task)).size,
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
  return `${r.kind === 'native' ? 'native records' : 'Task creates'}, ${r.offeredPerSecond}/s offered, ${r.reachedPerSecond.toFixed(1)}/s reached: commit → receiver p50 ${r.commitToReceiver.p50.toFixed(1)} ms, p99 ${r.commitToReceiver.p99.toFixed(1)} ms, max ${r.commitToReceiver.max.toFixed(1)} ms; Task write → receiver p50 ${r.writeToReceiver.p50.toFixed(1)} ms, p99 ${r.writeToReceiver.p99.toFixed(1)} ms; request → receiver p50 ${r.requestToReceiver.p50.toFixed(1)} ms, p99 ${r.requestToReceiver.p99.toFixed(1)} ms; ${r.notifications} of ${r.handovers} notified${r.duplicates ? ` (${r.duplicates} twice)` : ''}, ${r.requestErrors} request errors`;
}
