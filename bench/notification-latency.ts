// Notification latency: from the change being written (the event's timestamp, taken in the writing transaction just
// before commit) to the receiver's endpoint, at a steady rate of new handovers, against a gateway process on PostgreSQL.
// Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_notify node bench/notification-latency.ts
// Options: BENCH_RATE (handovers/s, 100), BENCH_SECONDS (10).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createServer as createNetServer } from 'node:net';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL must name a PostgreSQL database the benchmark may fill, e.g. postgres://postgres@127.0.0.1:5432/bench_notify');
  process.exit(2);
}
const rate = Number(process.env.BENCH_RATE ?? 100);
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const example = JSON.parse(readFileSync(join(import.meta.dirname, '../../shared/native-formats/examples/nts-u1-pijn-op-de-borst-naar-ambulance.json'), 'utf8')) as Record<string, unknown>;
const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

/** The gateway in its own process, as production runs it, so the load and the receiver do not share its CPU. */
async function startGatewayProcess(env: Record<string, string>): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const port = await new Promise<number>((resolve) => {
    const s = createNetServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['src/main.ts'], {
    cwd: join(import.meta.dirname, '..'),
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: url, LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the gateway exited with ${child.exitCode}`);
    if (await fetch(`${url}/health/live`).then((r) => r.ok, () => false)) break;
    if (i > 300) throw new Error('the gateway did not start within 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return { url, pid: child.pid ?? 0, stop: async () => { child.kill('SIGTERM'); await exited; } };
}

// The receiver: notes when each event arrived, against the timestamp the event carries.
const commitToReceiver: number[] = [];
const sendToReceiver = new Map<string, number>();
const sentAt = new Map<string, number>();
const receiver = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const arrived = Date.now();
    const arrivedPerf = performance.now();
    res.end();
    if (req.headers['x-notification-type'] !== 'event-notification') return;
    const bundle = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { entry: { resource: { parameter: { name: string; part?: { name: string; valueInstant?: string; valueReference?: { reference: string } }[] }[] } }[] };
    const event = bundle.entry[0]?.resource.parameter.find((p) => p.name === 'notification-event');
    const ts = event?.part?.find((p) => p.name === 'timestamp')?.valueInstant;
    const focus = event?.part?.find((p) => p.name === 'focus')?.valueReference?.reference ?? '';
    if (ts) commitToReceiver.push(arrived - Date.parse(ts));
    const task = /Task\/([^/]+)\//.exec(focus)?.[1];
    const sent = task ? sentAt.get(task) : undefined;
    if (task && sent !== undefined) sendToReceiver.set(task, arrivedPerf - sent);
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

const gateway = await startGatewayProcess({ DATABASE_URL: databaseUrl, DEMO: '1', ALLOW_HTTP_LOOPBACK_HOOKS: '1' });
const token = async (client: string): Promise<string> => {
  const res = await fetch(`${gateway.url}/oauth2/token`, { method: 'POST', headers: { Authorization: `Basic ${Buffer.from(`${client}:demo-secret`).toString('base64')}`, 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
  return `Bearer ${((await res.json()) as { access_token: string }).access_token}`;
};
try {
  const hap = await token('hap-vechtdal');
  const sub = await fetch(`${gateway.url}/fhir/Subscription`, {
    method: 'POST',
    headers: { Authorization: await token('rav-noordoost'), 'Content-Type': 'application/fhir+json' },
    body: JSON.stringify({
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'benchmark',
      criteria: `${gateway.url}/fhir/SubscriptionTopic/handover`,
      _criteria: { extension: [{ url: `${BACKPORT}/backport-filter-criteria`, valueString: 'Task?owner=http://fhir.nl/fhir/NamingSystem/ura|90004567' }] },
      channel: { type: 'rest-hook', endpoint: hook, payload: 'application/fhir+json', _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: 'id-only' }] } },
    }),
  });
  if (sub.status !== 201) throw new Error(`subscription: ${sub.status} ${await sub.text()}`);
  await new Promise((r) => setTimeout(r, 500));

  const run = Date.now().toString(36);
  const total = Math.round(rate * seconds);
  const started = performance.now();
  let errors = 0;
  const sends: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    sends.push(
      fetch(`${gateway.url}/native/nts`, { method: 'POST', headers: { Authorization: hap, 'Content-Type': 'application/json' }, body: JSON.stringify({ ...example, contactId: `BENCH-${run}-${i}` }) })
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
  for (let i = 0; i < 100 && commitToReceiver.length < total - errors; i++) await new Promise((r) => setTimeout(r, 100));
  const sorted = [...commitToReceiver].sort((a, b) => a - b);
  const endToEnd = [...sendToReceiver.values()].sort((a, b) => a - b);
  console.log(`notification latency: ${total} U1 handovers at ${rate}/s (${(total / elapsed).toFixed(1)}/s reached), one rest-hook subscriber (id-only), gateway pid ${gateway.pid}`);
  console.log(`  commit → receiver     p50 ${percentile(sorted, 50).toFixed(1)} ms   p99 ${percentile(sorted, 99).toFixed(1)} ms   max ${sorted.at(-1)?.toFixed(1)} ms  (event timestamp to arrival, ms clock)`);
  console.log(`  request → receiver    p50 ${percentile(endToEnd, 50).toFixed(1)} ms   p99 ${percentile(endToEnd, 99).toFixed(1)} ms  (includes ingest)`);
  console.log(`  notifications ${commitToReceiver.length} of ${total - errors}; request errors ${errors}`);
} finally {
  await gateway.stop();
  receiver.close();
}
