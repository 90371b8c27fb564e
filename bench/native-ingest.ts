// Handovers per second through POST /native/nts against a gateway in its own process on real PostgreSQL.
// Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_ingest node bench/native-ingest.ts   (Node 24 from node_modules/.bin)
// Options: BENCH_SECONDS (15), BENCH_CLIENTS (32), BENCH_NODE_ARGS, BENCH_PROFILE=1 (the gateway writes a .cpuprofile to .scratch/prof;
// summarise it with `node bench/cpu-profile-top.ts <file>`). `npm run bench` runs this and the other benchmarks together.
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { cpuLine, cpuPerUnit, cpuSnapshot, measurePostgresOf } from './lib/cpu-time.ts';
import { benchNodeArgs, startGatewayProcess } from './lib/gateway-process.ts';
import { gcLine, gcTime } from './lib/gc-time.ts';
import { nativeIngest } from './lib/ingest.ts';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL must name a PostgreSQL database the benchmark may fill, e.g. postgres://postgres@127.0.0.1:5432/bench_ingest');
  process.exit(2);
}
const seconds = Number(process.env.BENCH_SECONDS ?? 15);
const clients = Number(process.env.BENCH_CLIENTS ?? 32);
const example = JSON.parse(readFileSync(join(import.meta.dirname, '../test/fixtures/native-examples/nts-u1-pijn-op-de-borst-naar-ambulance.json'), 'utf8')) as Record<string, unknown>;

await measurePostgresOf(databaseUrl);
// BENCH_NODE_ARGS: Node options added after those of `npm start` (they win), e.g. to try another heap setting.
const nodeArgs = [...(process.env.BENCH_PROFILE === '1' ? ['--cpu-prof', '--cpu-prof-dir=.scratch/prof'] : []), ...benchNodeArgs()];
const gateway = await startGatewayProcess({ DATABASE_URL: databaseUrl, DEMO: '1' }, nodeArgs);
try {
  await nativeIngest(gateway.url, clients, Math.min(2, seconds), example);
  const gcBefore = await gcTime(gateway.url);
  const before = cpuSnapshot(gateway.pid);
  const r = await nativeIngest(gateway.url, clients, seconds, example);
  const cpu = cpuPerUnit(before, cpuSnapshot(gateway.pid), r.ok);
  const gcAfter = await gcTime(gateway.url);
  console.log(`native ingest, nts U1 → ambulance: ${clients} clients, ${seconds} s, gateway pid ${gateway.pid}`);
  console.log(`  handovers/s   ${r.perSecond.toFixed(1)}  (${r.ok} in ${r.seconds.toFixed(1)} s)`);
  console.log(`  latency       p50 ${r.p50.toFixed(1)} ms   p99 ${r.p99.toFixed(1)} ms`);
  console.log(`  ${cpuLine('gateway', cpu)}`);
  console.log(`  ${gcLine(gcBefore, gcAfter, r.ok)}`);
  console.log(`  errors        ${JSON.stringify(r.errors)}`);
  console.log(`  gateway RSS   peak ${gateway.peakRssMb().toFixed(0)} MB; load average ${loadavg()[0]?.toFixed(1)} on ${availableParallelism()} cores`);
} finally {
  await gateway.stop();
}
