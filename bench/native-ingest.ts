// Handovers per second through POST /native/nts: the whole gateway in-process on a loopback port, real PostgreSQL,
// 32 concurrent keep-alive clients sending the NTS U1 example (chest pain, HAP to ambulance), each with its own contact and patient.
// Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_ingest node bench/native-ingest.ts   (Node 24 from node_modules/.bin)
// Options: BENCH_SECONDS (15), BENCH_CLIENTS (32), BENCH_WARMUP_SECONDS (2), DB_POOL_SIZE (the gateway's, default 20).
// Profile: node --cpu-prof --cpu-prof-dir=.scratch/prof bench/native-ingest.ts, then open the .cpuprofile (or bench/cpu-profile-top.ts).
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../src/config.ts';
import { createGateway } from '../src/gateway.ts';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL must name a PostgreSQL database the benchmark may fill, e.g. postgres://postgres@127.0.0.1:5432/bench_ingest');
  process.exit(2);
}
const seconds = Number(process.env.BENCH_SECONDS ?? 15);
const clients = Number(process.env.BENCH_CLIENTS ?? 32);
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);

const example = JSON.parse(
  readFileSync(join(import.meta.dirname, '../../shared/native-formats/examples/nts-u1-pijn-op-de-borst-naar-ambulance.json'), 'utf8'),
) as Record<string, any>;

const run = Date.now().toString(36);
let sequence = 0;

/** A BSN passing the 11-proof, different for every call in this run (up to 10^8). */
function bsn(n: number): string {
  for (let k = n; ; k += 7_777_777) {
    const digits = (k % 100_000_000).toString().padStart(8, '0');
    const sum = [...digits].reduce((s, d, i) => s + Number(d) * (9 - i), 0);
    if (sum % 11 < 10) return `${digits}${sum % 11}`;
  }
}

function nextRecord(): string {
  const n = ++sequence;
  const offset = Number.parseInt(run.slice(-4), 36) * 1000;
  return JSON.stringify({ ...example, contactId: `BENCH-${run}-${n}`, patient: { ...example.patient, bsn: bsn(offset + n) } });
}

const gateway = await createGateway(
  loadConfig({ ...process.env, DATABASE_URL: databaseUrl, DEMO: '1', LOG_LEVEL: 'silent', PUBLIC_URL: 'http://127.0.0.1' }),
  { logger: pino({ level: 'error' }) },
);
const server = gateway.app.listen(0, '127.0.0.1');
await new Promise<void>((resolve) => server.once('listening', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

let token = '';
let tokenAt = 0;
async function bearer(): Promise<string> {
  // Tokens live at most 300 s: fetch a new one well before that.
  if (Date.now() - tokenAt > 200_000) {
    const res = await fetch(`${base}/oauth2/token`, {
      method: 'POST',
      headers: { Authorization: `Basic ${Buffer.from('hap-vechtdal:demo-secret').toString('base64')}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    if (res.status !== 200) throw new Error(`No token: ${res.status} ${await res.text()}`);
    token = ((await res.json()) as { access_token: string }).access_token;
    tokenAt = Date.now();
  }
  return token;
}

interface Stats {
  ok: number;
  errors: Map<string, number>;
  latencies: number[];
}

async function worker(until: number, stats: Stats): Promise<void> {
  while (performance.now() < until) {
    const body = nextRecord();
    const started = performance.now();
    try {
      const res = await fetch(`${base}/native/nts`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${await bearer()}`, 'Content-Type': 'application/json' },
        body,
      });
      await res.arrayBuffer();
      stats.latencies.push(performance.now() - started);
      if (res.status === 201) stats.ok++;
      else stats.errors.set(String(res.status), (stats.errors.get(String(res.status)) ?? 0) + 1);
    } catch (err) {
      stats.latencies.push(performance.now() - started);
      const kind = (err as Error).message;
      stats.errors.set(kind, (stats.errors.get(kind) ?? 0) + 1);
    }
  }
}

async function phase(durationSeconds: number): Promise<Stats & { elapsed: number }> {
  const stats: Stats = { ok: 0, errors: new Map(), latencies: [] };
  const started = performance.now();
  const until = started + durationSeconds * 1000;
  await Promise.all(Array.from({ length: clients }, () => worker(until, stats)));
  return { ...stats, elapsed: (performance.now() - started) / 1000 };
}

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;
}

try {
  await bearer();
  const tasksBefore = await gateway.db.query<{ n: string }>(`SELECT count(*) AS n FROM resources WHERE resource_type = 'Task'`);
  if (warmupSeconds > 0) await phase(warmupSeconds);
  // CPU time of this process (gateway and clients) per handover: on a shared machine the rate depends on the neighbours, this less so.
  const cpuBefore = process.cpuUsage();
  const result = await phase(seconds);
  const cpu = process.cpuUsage(cpuBefore);
  const sorted = [...result.latencies].sort((a, b) => a - b);
  const errorCount = [...result.errors.values()].reduce((a, b) => a + b, 0);
  const tasksAfter = await gateway.db.query<{ n: string }>(`SELECT count(*) AS n FROM resources WHERE resource_type = 'Task'`);
  console.log(`native ingest, nts U1 → ambulance: ${clients} clients, ${seconds} s (after ${warmupSeconds} s warm-up), ${gateway.db.kind}`);
  console.log(`  handovers/s   ${(result.ok / result.elapsed).toFixed(1)}  (${result.ok} created in ${result.elapsed.toFixed(1)} s)`);
  console.log(`  latency       p50 ${percentile(sorted, 50).toFixed(1)} ms   p99 ${percentile(sorted, 99).toFixed(1)} ms   max ${(sorted.at(-1) ?? NaN).toFixed(1)} ms`);
  console.log(`  CPU/handover  ${((cpu.user + cpu.system) / 1000 / Math.max(result.ok, 1)).toFixed(2)} ms in this process (user ${(cpu.user / 1e6).toFixed(1)} s, system ${(cpu.system / 1e6).toFixed(1)} s); load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores`);
  console.log(`  errors        ${errorCount}${errorCount ? `  ${JSON.stringify(Object.fromEntries(result.errors))}` : ''}`);
  console.log(`  Tasks stored  ${Number(tasksAfter.rows[0]!.n) - Number(tasksBefore.rows[0]!.n)} (warm-up included)`);
} finally {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
  await gateway.close();
}
