// Notification latency before and after a PostgreSQL restart: from a handover's commit (the outbox's NOTIFY, heard
// by this script itself) to the subscriber's endpoint, one handover at a time, against a gateway process on a
// PostgreSQL cluster of the script's own (initdb + pg_ctl, restarted with `pg_ctl restart -m fast`). When the
// gateway's LISTEN connection does not come back, the worker finds new events only at its one-second poll.
// Run: node bench/db-restart-latency.ts   Options: BENCH_HANDOVERS (per phase, default 20), BENCH_GAP_MS (between
// handovers, default 300), BENCH_SETTLE_MS (after the restart, before measuring, default 3000).
import pg from 'pg';
import { childAuth, startChildGateway } from '../test/support/child-gateway.ts';
import { example, setBsn, uniqueBsn, uniqueId } from '../test/support/native.ts';
import { startPgCluster } from '../test/support/pg-cluster.ts';
import { startReceiver, subscriptionBody } from '../test/support/receiver.ts';
import { OUTBOX_CHANNEL } from '../src/subscriptions/outbox.ts';

const perPhase = Number(process.env.BENCH_HANDOVERS ?? 20);
const gapMs = Number(process.env.BENCH_GAP_MS ?? 300);
const settleMs = Number(process.env.BENCH_SETTLE_MS ?? 3000);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const cluster = await startPgCluster();
const gateway = await startChildGateway(cluster.url, { DB_POOL_SIZE: '6' });
const receiver = await startReceiver();
const committed = new Map<string, number>();

async function listenForCommits(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: cluster.url });
  c.on('error', () => undefined);
  await c.connect();
  c.on('notification', (m) => {
    if (m.payload && !committed.has(m.payload)) committed.set(m.payload, performance.timeOrigin + performance.now());
  });
  await c.query(`LISTEN ${OUTBOX_CHANNEL}`);
  return c;
}

async function phase(name: string): Promise<void> {
  const latencies: number[] = [];
  for (let i = 0; i < perPhase; i++) {
    const record = { ...setBsn('nts', example('nts-u1-pijn-op-de-borst-naar-ambulance'), uniqueBsn()), contactId: uniqueId('LAT') };
    const res = await fetch(`${gateway.url}/native/nts`, { method: 'POST', headers: { Authorization: await childAuth(gateway, 'hap-vechtdal'), 'Content-Type': 'application/json' }, body: JSON.stringify(record) });
    const task = /\/Task\/([^/]+)$/.exec(res.headers.get('location') ?? '')?.[1];
    if (res.status !== 201 || !task) throw new Error(`POST /native/nts: ${res.status}`);
    await receiver.waitFor((r) => r.some((x) => x.type === 'event-notification' && x.body.includes(`Task/${task}/`)), `the notification of ${task}`, 15_000);
    // The script may hear the subscriber before its own NOTIFY: both are on this one event loop.
    for (let j = 0; j < 200 && !committed.has(task); j++) await sleep(5);
    const at = receiver.received.find((x) => x.type === 'event-notification' && x.body.includes(`Task/${task}/`))!.at;
    latencies.push(at - committed.get(task)!);
    await sleep(gapMs);
  }
  latencies.sort((a, b) => a - b);
  const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
  console.log(`${name}: commit → subscriber over ${latencies.length} handovers: p50 ${q(0.5).toFixed(0)} ms, p90 ${q(0.9).toFixed(0)} ms, max ${latencies.at(-1)!.toFixed(0)} ms`);
}

try {
  let listener = await listenForCommits();
  const sub = await fetch(`${gateway.url}/fhir/Subscription`, {
    method: 'POST',
    headers: { Authorization: await childAuth(gateway, 'rav-noordoost'), 'Content-Type': 'application/fhir+json' },
    body: JSON.stringify(subscriptionBody(receiver.url, 'Task?owner=http://fhir.nl/fhir/NamingSystem/ura|90004567', 'id-only', { timeout: 15 })),
  });
  if (sub.status !== 201) throw new Error(`subscribe: ${sub.status}`);
  await receiver.waitFor((r) => r.some((x) => x.type === 'handshake'), 'handshake', 30_000);
  await sleep(1000);
  await phase('before the restart');
  await cluster.restart('fast');
  await listener.end().catch(() => undefined);
  for (let i = 0; i < 600 && (await fetch(`${gateway.url}/health/live`).then((r) => r.status).catch(() => 0)) !== 200; i++) await sleep(100);
  await sleep(settleMs);
  listener = await listenForCommits();
  await phase(`after the restart (+${settleMs} ms)`);
  await listener.end();
} finally {
  await gateway.kill('SIGKILL');
  await receiver.close();
  await cluster.destroy();
}
