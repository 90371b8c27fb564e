// (h) of `npm run bench` alone (issue 20): native NTS ingest without and with 200 units reporting every 2 s (100 fixes/s,
// open loop) and a ZCC board receiving them, in alternating slices, against a gateway in its own process.
// Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_units node bench/unit-feed.ts   (Node 24 from node_modules/.bin)
// Options: BENCH_SECONDS per side (20), BENCH_SLICES (4), BENCH_CLIENTS (32), BENCH_UNITS (200), BENCH_UNIT_BATCH=1.
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { cpuLine, cpuPerUnit, cpuSnapshot } from './lib/cpu-time.ts';
import { startGatewayProcess } from './lib/gateway-process.ts';
import { nativeIngest } from './lib/ingest.ts';
import { combineLoads, type LoadResult } from './lib/stats.ts';
import { unitFeed, type UnitFeedResult } from './lib/unit-feed.ts';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL must name a PostgreSQL database the benchmark may fill, e.g. postgres://postgres@127.0.0.1:5432/bench_units');
  process.exit(2);
}
const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const slices = Number(process.env.BENCH_SLICES ?? 4);
const clients = Number(process.env.BENCH_CLIENTS ?? 32);
const units = Number(process.env.BENCH_UNITS ?? 200);
// BENCH_UNIT_BATCH=1: each organisation's system sends its units' fixes in one request every 2 s.
const batched = process.env.BENCH_UNIT_BATCH === '1';
const example = JSON.parse(readFileSync(join(import.meta.dirname, '../test/fixtures/native-examples/nts-u1-pijn-op-de-borst-naar-ambulance.json'), 'utf8')) as Record<string, unknown>;

const nodeArgs = process.env.BENCH_PROFILE === '1' ? ['--cpu-prof', '--cpu-prof-dir=.scratch/prof'] : [];
const gateway = await startGatewayProcess({ DATABASE_URL: databaseUrl, DEMO: '1' }, nodeArgs);
try {
  await nativeIngest(gateway.url, clients, 2, example);
  // What one fix costs, measured alone: the CPU time per fix that the ingest beside it has to share the cores with.
  const probe = await unitFeed(gateway.url, units, 2, batched);
  const before = cpuSnapshot(gateway.pid);
  const profileFrom = Date.now();
  probe.start();
  await new Promise((r) => setTimeout(r, Math.min(10, seconds / 2) * 1000));
  const alone0 = await probe.stop();
  await probe.close();
  const fixCpu = cpuPerUnit(before, cpuSnapshot(gateway.pid), alone0.ok);
  console.log(`  fixes alone: ${alone0.ok} in ${((Date.now() - profileFrom) / 1000).toFixed(1)} s; ${cpuLine('gateway', fixCpu).replace('handover', 'fix')}`);
  const feed = await unitFeed(gateway.url, units, 2, batched);
  const alone: LoadResult[] = [];
  const beside: LoadResult[] = [];
  let fixes: UnitFeedResult | undefined;
  try {
    for (let i = 0; i < slices; i++) {
      alone.push(await nativeIngest(gateway.url, clients, seconds / slices, example));
      feed.start();
      beside.push(await nativeIngest(gateway.url, clients, seconds / slices, example));
      fixes = await feed.stop();
    }
  } finally {
    await feed.close();
  }
  const a = combineLoads(alone);
  const b = combineLoads(beside);
  console.log(`unit feed beside native ingest: ${clients} clients, ${seconds} s per side in ${slices} slices, ${units} units every 2 s${batched ? ', each organisation\'s in one request' : ', a request per fix'}; load average ${loadavg()[0]?.toFixed(1)} on ${availableParallelism()} cores`);
  console.log(`  ingest alone        ${a.perSecond.toFixed(1)} handovers/s   p50 ${a.p50.toFixed(1)} ms   p99 ${a.p99.toFixed(1)} ms`);
  console.log(`  ingest + unit feed  ${b.perSecond.toFixed(1)} handovers/s   p50 ${b.p50.toFixed(1)} ms   p99 ${b.p99.toFixed(1)} ms   change ${(100 * (b.perSecond / a.perSecond - 1)).toFixed(1)} %`);
  if (fixes) {
    console.log(`  fixes               ${fixes.ok}/${fixes.sent} stored at ${fixes.offeredPerSecond}/s offered, p50 ${fixes.fixP50.toFixed(1)} ms p99 ${fixes.fixP99.toFixed(1)} ms, errors ${JSON.stringify(fixes.errors)}`);
    console.log(`  on the ZCC board    ${fixes.boardReceived} fixes, p50 ${fixes.boardP50.toFixed(0)} ms p99 ${fixes.boardP99.toFixed(0)} ms after sending, ${((100 * fixes.boardWithinSecond) / Math.max(1, fixes.boardReceived)).toFixed(1)} % within 1 s`);
  }
} finally {
  await gateway.stop();
}
