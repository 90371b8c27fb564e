// `npm run bench`: every benchmark in one run against a real PostgreSQL (and (g) on the embedded PGlite), a table on stdout and
// bench/results/latest.json. DATABASE_URL names the PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres);
// each part makes its own database there (bench_ingest_<pid>, bench_raw_<pid>, bench_notify_<pid>: runs side by side do not
// drop each other's) and drops it at the end.
// Options: BENCH_SECONDS per measurement (10), BENCH_CLIENTS (32), BENCH_SLICES ((a) and (b) alternate in this many slices, 2),
// BENCH_NOTIFY_RATE (native records/s offered for (d), 100; (d) also offers Task creates at 100/s and 200/s),
// BENCH_NOTIFY_WARMUP_SECONDS (each kind of write of (d) offered unmeasured for this long first, 10),
// BENCH_WARMUP_SECONDS (native ingest before (a) is measured, 15: the gateway's code compiled and its heap grown, as in service),
// BENCH_SMOKE=1 (1 s each: CI checks that it runs), BENCH_UNITS (units reporting every 2 s for (h), 200),
// BENCH_SETTLE_SECONDS (how long the embedded demo of (g) is left alone after start before its idle RSS is read, 10).
// BENCH_TASKS (Tasks stored before the FHIR operations of (c), all matching its search, 20000),
// BENCH_WARMUP (seconds each FHIR operation of (c) and (f) runs unmeasured on each server right before it is measured, 5),
// COMPARE_FHIR_URL + COMPARE_FHIR_TOKEN (the same FHIR operations against another server, given as many Tasks through
// its API, in alternating slices with the gateway's (BENCH_SLICES, at least 3), and the ratios; COMPARE_FHIR_PID: that
// server's process(es), comma-separated, for its CPU; COMPARE_DATABASE_URL: its database, analyzed as the gateway's, and
// PostgreSQL's CPU in (c) and (f) then counted per database: each server's slices only its own database's backends).
// BENCH_NODE_ARGS: Node options for the gateway of (a) and (c) (after `npm start`'s own), e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`:
// a profile of that gateway through the whole run, as (c) meets it after the native ingest (read it with
// `node bench/cpu-profile-top.ts <file> --timeline`, then `--window=FROM-TO` for one operation's seconds).
// (i) at the end: the run's figures against issue 19's aims, kept as data in bench/aims.json.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { combineCpu, cpuLine, cpuPerUnit, cpuSnapshot, cpuTotal, measurePostgresOf, type CpuPerUnit } from './lib/cpu-time.ts';
import { analyzeDatabase, compareTargetFromEnv, databaseName, seedTasksOverFhir } from './lib/compare-target.ts';
import { FHIR_OPERATIONS, fhirOps, OPERATION_LABELS, WARMUP_SECONDS, warmupLine, type FhirOpsResult, type FhirTarget } from './lib/fhir-ops.ts';
import { benchNodeArgs, demoToken, startGatewayProcess } from './lib/gateway-process.ts';
import { nativeIngest } from './lib/ingest.ts';
import { latencyLine, notificationBench, type NotificationLatency, type NotifyWriteKind } from './lib/notification-latency.ts';
import { pgliteMemory, pgliteMemoryLines, type PgliteMemory } from './lib/pglite-memory.ts';
import { aimLines, figuresOf, loadAims } from './lib/aims.ts';
import { auditLag, auditLagLine, type AuditLag } from './lib/audit-lag.ts';
import { rawBaseline } from './lib/raw-baseline.ts';
import { seedTasks } from './lib/seed-tasks.ts';
import { unitFeed, type UnitFeedResult } from './lib/unit-feed.ts';
import { combineLoads, type LoadResult } from './lib/stats.ts';
import { migrate } from '../src/store/migrate.ts';
import { PostgresDatabase } from '../src/store/postgres.ts';

const smoke = process.env.BENCH_SMOKE === '1';
const seconds = smoke ? 1 : Number(process.env.BENCH_SECONDS ?? 10);
const clients = smoke ? 4 : Number(process.env.BENCH_CLIENTS ?? 32);
const warmupSeconds = smoke ? 0.5 : Number(process.env.BENCH_WARMUP_SECONDS ?? 15);
/** (c) and (f): each FHIR operation runs unmeasured on each server for this long right before it is measured. */
const opWarmupSeconds = smoke ? 0.5 : WARMUP_SECONDS;
const WARMUP_SLICE_SECONDS = 5;
const adminUrl = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
const example = JSON.parse(readFileSync(join(import.meta.dirname, '../test/fixtures/native-examples/nts-u1-pijn-op-de-borst-naar-ambulance.json'), 'utf8')) as Record<string, unknown>;

/** A fresh database per part, so one part's rows do not slow the next. */
async function freshDatabase(part: string): Promise<string> {
  const name = `${part}_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl.toString());
  url.pathname = `/${name}`;
  return url.toString();
}

async function dropDatabase(part: string): Promise<void> {
  const name = `${part}_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

const row = (label: string, r: LoadResult, unit = '/s'): string =>
  `${label.padEnd(34)} ${r.perSecond.toFixed(1).padStart(8)} ${unit}   p50 ${r.p50.toFixed(1).padStart(7)} ms   p99 ${r.p99.toFixed(1).padStart(7)} ms   errors ${Object.values(r.errors).reduce((a, b) => a + b, 0)}`;

// What the figures depend on besides the gateway: how busy the machine was before the run, and whether the server
// keeps planner statistics and clears dead rows as a production server does (autovacuum; some test machines turn it off).
const loadBefore = loadavg()[0] ?? 0;
// PostgreSQL's CPU: only the server the bench uses (other clusters on this machine, other helpers' tests, stay out).
await measurePostgresOf(adminUrl.toString());
const autovacuum = await (async (): Promise<string> => {
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  try {
    return (await admin.query<{ autovacuum: string }>('SHOW autovacuum')).rows[0]?.autovacuum ?? 'unknown';
  } finally {
    await admin.end();
  }
})();
const results: Record<string, unknown> = { date: new Date().toISOString(), seconds, clients, cores: availableParallelism(), loadAverageBefore: loadBefore, autovacuum, smoke };
const lines: string[] = [];

// (a) native ingest through HTTP, gateway in its own process, and (b) the same rows straight through pg, in
// alternating slices: the speed of a shared VM drifts by a fifth within a minute, and the ratio (a)/(b) should
// compare the two on the same machine, not one measured in a fast minute and the other in a slow one.
// (e) the gateway's peak RSS.
const slices = smoke ? 1 : Math.max(1, Number(process.env.BENCH_SLICES ?? 2));
const rawDb = await freshDatabase('bench_raw');
const rawDatabase = new PostgresDatabase({ connectionString: rawDb });
await migrate(rawDatabase);
await rawDatabase.close();
const ingestDb = await freshDatabase('bench_ingest');
const gateway = await startGatewayProcess({ DATABASE_URL: ingestDb, DEMO: '1' }, benchNodeArgs());
let ingest: LoadResult;
let ingestCpu: CpuPerUnit;
let raw: LoadResult;
let rawCpu: CpuPerUnit;
let ops: FhirOpsResult;
let other: FhirOpsResult | undefined;
let storedTasks = 0;
let lag: AuditLag | undefined;
const seedCount = smoke ? 200 : Number(process.env.BENCH_TASKS ?? 20_000);
const compare = compareTargetFromEnv();
let unitsAlone: LoadResult;
let unitsBeside: LoadResult[];
const unitFixes: UnitFeedResult[] = [];
try {
  // Warm-up in slices of 5 s, each slice's CPU per handover kept to show it: the gateway's code is compiled by V8 as it
  // runs and its heap grows to its working size: in three of four runs of 4–20 slices of 5 s, the first two slices
  // after a 2-s warm-up (what (a) measured before) cost the gateway 34–58 % more CPU per handover than the slices after
  // them; in the fourth, no more. A gateway in service runs warm.
  const warmup: number[] = [];
  for (let left = warmupSeconds; left > 0; left -= WARMUP_SLICE_SECONDS) {
    const token = await demoToken(gateway.url, 'hap-vechtdal');
    const before = cpuSnapshot(gateway.pid);
    const part = await nativeIngest(gateway.url, clients, Math.min(left, WARMUP_SLICE_SECONDS), example, token);
    warmup.push(cpuPerUnit(before, cpuSnapshot(gateway.pid), part.ok).gatewayMs ?? Number.NaN);
  }
  results.nativeIngestWarmupGatewayMs = warmup;
  const ingestParts: { load: LoadResult; cpu: CpuPerUnit }[] = [];
  const rawParts: { load: LoadResult; cpu: CpuPerUnit }[] = [];
  // PostgreSQL's CPU of each slice: its own database's backends (and the server's own processes), so that what one
  // side leaves running after its slice (the gateway's chain linker linking the rows of its slice) is not charged to
  // the other's.
  const ingestName = databaseName(ingestDb);
  await measurePostgresOf(adminUrl.toString(), [ingestName, databaseName(rawDb)]);
  for (let i = 0; i < slices; i++) {
    const token = await demoToken(gateway.url, 'hap-vechtdal');
    const before = cpuSnapshot(gateway.pid, ingestName);
    const part = await nativeIngest(gateway.url, clients, seconds / slices, example, token);
    ingestParts.push({ load: part, cpu: cpuPerUnit(before, cpuSnapshot(gateway.pid, ingestName), part.ok) });
    const rawPart = await rawBaseline(rawDb, clients, seconds / slices, example);
    rawParts.push({ load: rawPart, cpu: rawPart.cpuPerHandoverMs });
  }
  // The parts after this count the whole server again.
  await measurePostgresOf(adminUrl.toString());
  ingest = combineLoads(ingestParts.map((p) => p.load));
  ingestCpu = combineCpu(ingestParts.map((p) => ({ cpu: p.cpu, units: p.load.ok })));
  raw = combineLoads(rawParts.map((p) => p.load));
  rawCpu = combineCpu(rawParts.map((p) => ({ cpu: p.cpu, units: p.load.ok })));
  // (h) issue 20: native ingest alone and with 200 units reporting every 2 s (100 fixes/s, open loop) and a ZCC
  // board receiving them, in alternating slices, on the same gateway: how much the unit feed costs the handovers,
  // and how long a fix takes to reach the board. Twice: a request per fix (a unit's own device), and each
  // organisation's system sending all its units in one request every 2 s.
  const unitCount = Number(process.env.BENCH_UNITS ?? (smoke ? 20 : 200));
  const feeds = [await unitFeed(gateway.url, unitCount, 2, false), await unitFeed(gateway.url, unitCount, 2, true)];
  const alone: LoadResult[] = [];
  const beside: LoadResult[][] = [[], []];
  try {
    for (let i = 0; i < slices; i++) {
      alone.push(await nativeIngest(gateway.url, clients, seconds / slices, example));
      for (const [k, feed] of feeds.entries()) {
        feed.start();
        beside[k]!.push(await nativeIngest(gateway.url, clients, seconds / slices, example));
        unitFixes[k] = await feed.stop();
      }
    }
  } finally {
    for (const feed of feeds) await feed.close();
  }
  unitsAlone = combineLoads(alone);
  unitsBeside = beside.map(combineLoads);
  const token = await demoToken(gateway.url, 'hap-vechtdal');
  const orgs = (await (await fetch(`${gateway.url}/fhir/Organization?identifier=http://fhir.nl/fhir/NamingSystem/ura|90004567`, { headers: { Authorization: `Bearer ${token}` } })).json()) as { entry?: { resource: { id: string } }[] };
  const own = (await (await fetch(`${gateway.url}/fhir/Organization?identifier=http://fhir.nl/fhir/NamingSystem/ura|90001234`, { headers: { Authorization: `Bearer ${token}` } })).json()) as { entry?: { resource: { id: string } }[] };
  // (c) FHIR Task create, read, search, on a table of 20,000+ Tasks that all match the search (issue 19's
  // measurement): stored through the gateway's own store first (creating them through the API takes minutes).
  const ownerRef = `Organization/${orgs.entry?.[0]?.resource.id}`;
  const requesterRef = `Organization/${own.entry?.[0]?.resource.id}`;
  await seedTasks(ingestDb, seedCount, ownerRef, requesterRef, ['90001234', '90004567']);
  // A fresh database has no planner statistics until autovacuum gets to it (a minute or more): with none,
  // PostgreSQL sorts every matching Task to find the newest 20 (5 ms instead of 0.1 ms at 3,000 Tasks).
  // A gateway's database in use has them; ANALYZE after the creates measures the searches as it runs.
  const analyze = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: ingestDb });
    await c.connect();
    try {
      await c.query('ANALYZE');
      storedTasks = Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM resources WHERE resource_type = 'Task' AND NOT deleted`)).rows[0]?.n ?? 0);
    } finally {
      await c.end();
    }
    if (compare?.databaseUrl) await analyzeDatabase(compare.databaseUrl);
  };
  // (f) with COMPARE_FHIR_URL: the same operations against another server, alternating slices with the gateway's,
  // on as many Tasks stored there through its own API.
  const others = compare ? [await seedTasksOverFhir(compare.target, seedCount)] : [];
  // With the peer's database known, PostgreSQL's CPU in each server's slices counts only its own database's backends
  // (and the server's own processes), as bench/fhir-ops.ts counts it: what one server leaves running after its slice
  // (Medplum's background jobs, the gateway's chain linker) is not charged to the other's.
  const perDatabase = compare?.databaseUrl ? [databaseName(ingestDb), databaseName(compare.databaseUrl)] : undefined;
  if (perDatabase) await measurePostgresOf(adminUrl.toString(), perDatabase);
  // A fresh token: the first may have expired while the peer was being filled.
  const targets: FhirTarget[] = [{ name: 'gateway', base: `${gateway.url}/fhir`, token: await demoToken(gateway.url, 'hap-vechtdal'), pids: [gateway.pid], database: perDatabase?.[0], ownerRef, requesterRef }, ...others];
  [ops, other] = await fhirOps(targets, clients, seconds, targets.length > 1 ? Math.max(3, slices) : 1, analyze, undefined, opWarmupSeconds);
  // The read's audit rows are group-committed; the chain linker must still keep up with them.
  lag = await auditLag(ingestDb);
  results.peakRssMb = gateway.peakRssMb();
} finally {
  await gateway.stop();
}
results.nativeIngest = { ...ingest, cpuPerHandoverMs: ingestCpu };
results.rawBaseline = { ...raw, cpuPerHandoverMs: rawCpu };
results.slices = slices;
results.fhir = ops;
results.storedTasks = storedTasks;
lines.push(row('(a) native NTS ingest', ingest, 'handovers/s'));

// (d) notification latency, commit to a subscribed receiver's endpoint, at a steady rate offered (open loop).
const notifyRate = smoke ? 10 : Number(process.env.BENCH_NOTIFY_RATE ?? 100);
const notifyDb = await freshDatabase('bench_notify');
const notifyGateway = await startGatewayProcess({ DATABASE_URL: notifyDb, DEMO: '1', ALLOW_HTTP_LOOPBACK_HOOKS: '1' });
let notify: NotificationLatency;
// The issue's aim is for writes at 100/s and 200/s: Task creates (what a FHIR server's bench writes); this machine
// ingests native records at about half that rate, so those queue and their tail is the queue's, not the delivery's.
const notifyFhir: NotificationLatency[] = [];
/** (d)'s unmeasured runs, one per kind, before the measured ones (BENCH_NOTIFY_WARMUP_SECONDS, 10; 0: none). */
const notifyWarmupSeconds = smoke ? 0 : Number(process.env.BENCH_NOTIFY_WARMUP_SECONDS ?? 10);
const notifyWarmup: NotificationLatency[] = [];
try {
  const bench = await notificationBench(notifyGateway.url, notifyDb, example);
  try {
    // Each kind first runs unmeasured at its first rate, right before it is measured, as bench/notification-latency.ts
    // does: a fresh gateway's first second of a kind of write runs code not yet compiled, and what it delays is the
    // process's start, not the delivery (Task creates at 100/s on a fresh gateway, commit → receiver p99 over 20 s:
    // 31.8 ms after 3 s of them, its slow ones in the first 7 s; 14.4 ms after 10 s); and the Task creates are not
    // measured in the wake of the native records' heavier load.
    const warm = async (rate: number, kind: NotifyWriteKind): Promise<void> => {
      if (notifyWarmupSeconds > 0) notifyWarmup.push(await bench.run(rate, notifyWarmupSeconds, kind));
    };
    await warm(notifyRate, 'native');
    notify = await bench.run(notifyRate, seconds);
    const fhirRates = smoke ? [notifyRate] : [100, 200];
    await warm(fhirRates[0] as number, 'fhir');
    for (const rate of fhirRates) notifyFhir.push(await bench.run(rate, seconds, 'fhir'));
  } finally {
    await bench.close();
  }
} finally {
  await notifyGateway.stop();
}
results.notificationLatency = notify;
results.notificationLatencyFhir = notifyFhir;
results.notificationLatencyWarmup = notifyWarmup;

// (g) the embedded demo (PGlite, as `npm start` runs it without DATABASE_URL): RSS idle after start, peak under load.
const pglite: PgliteMemory = await pgliteMemory(clients, seconds, example, smoke ? 1 : Number(process.env.BENCH_SETTLE_SECONDS ?? 10));
results.pglite = pglite;
results.ingestToRawRatio = ingest.perSecond / raw.perSecond;
lines.push(`    ${cpuLine('gateway', ingestCpu)}`);
const warmupMs = results.nativeIngestWarmupGatewayMs as number[];
lines.push(`    measured after ${warmupSeconds} s of warm-up, in which a handover cost the gateway ${warmupMs.map((ms) => `${ms.toFixed(1)} ms`).join(', ')} (slices of ${WARMUP_SLICE_SECONDS} s)`);
lines.push(row('(b) raw baseline (same rows, pg)', raw, 'handovers/s'));
lines.push(`    ${cpuLine('client', rawCpu)}`);
// The same ratio in CPU time: what one handover costs through the gateway against straight through pg.
const ingestTotal = cpuTotal('gateway', ingestCpu);
const rawTotal = cpuTotal('client', rawCpu);
results.ingestToRawCpuRatio = ingestTotal && rawTotal ? rawTotal / ingestTotal : undefined;
const cpuRatio = results.ingestToRawCpuRatio ? `; by CPU time per handover ${(100 * (results.ingestToRawCpuRatio as number)).toFixed(0)} %` : '';
lines.push(`    (a)/(b) = ${(100 * ingest.perSecond / raw.perSecond).toFixed(0)} % by throughput${cpuRatio}`);
lines.push(`(c) FHIR operations on ${storedTasks} stored Tasks (${seedCount} of them all matching the search), ${clients} clients:`);
for (const op of FHIR_OPERATIONS) {
  lines.push(row(`(c) ${OPERATION_LABELS[op]}`, ops[op]));
  lines.push(`    ${cpuLine('gateway', ops[op].cpu, 'operation', { loadGenerator: true })}`);
  if (ops[op].warmup) lines.push(`    ${warmupLine(ops[op], opWarmupSeconds)}`);
}
if (lag) lines.push(`    ${auditLagLine(lag)}`);
results.auditLag = lag;
lines.push(`(d) notification latency            ${latencyLine(notify)}`);
for (const r of notifyFhir) lines.push(`(d) ...                             ${latencyLine(r)}`);
for (const r of notifyWarmup) lines.push(`    measured after ${notifyWarmupSeconds} s of each kind unmeasured: ${latencyLine(r)}`);
results.unitFeed = { ingestAlone: unitsAlone, perFix: { ingest: unitsBeside[0], change: unitsBeside[0]!.perSecond / unitsAlone.perSecond - 1, fixes: unitFixes[0] }, batched: { ingest: unitsBeside[1], change: unitsBeside[1]!.perSecond / unitsAlone.perSecond - 1, fixes: unitFixes[1] } };
lines.push(row('(h) native ingest, alone', unitsAlone, 'handovers/s'));
for (const [k, label] of ['a request per fix', 'a request per organisation'].entries()) {
  const withFeed = unitsBeside[k]!;
  const fixes = unitFixes[k];
  lines.push(row(`(h) ... + unit feed, ${label}`, withFeed, 'handovers/s'));
  if (!fixes) continue;
  const within = fixes.boardReceived ? (100 * fixes.boardWithinSecond) / fixes.boardReceived : Number.NaN;
  lines.push(`    change ${(100 * (withFeed.perSecond / unitsAlone.perSecond - 1)).toFixed(1)} % (issue 20: at most -10 %); ${fixes.offeredPerSecond} fixes/s offered, ${fixes.ok}/${fixes.sent} stored, request p50 ${fixes.fixP50.toFixed(1)} ms p99 ${fixes.fixP99.toFixed(1)} ms`);
  lines.push(`    on the ZCC board: ${fixes.boardReceived} fixes, p50 ${fixes.boardP50.toFixed(0)} ms p99 ${fixes.boardP99.toFixed(0)} ms after sending, ${within.toFixed(1)} % within 1 s; errors ${JSON.stringify(fixes.errors)}`);
}
lines.push(`(e) gateway peak RSS                ${(results.peakRssMb as number).toFixed(0)} MB`);

// (f) the same FHIR operations against another server, measured in alternating slices with the gateway's.
if (other) {
  results.compare = { url: compare?.target.base, ...other };
  for (const op of FHIR_OPERATIONS) {
    lines.push(`${row(`(f) ${OPERATION_LABELS[op]} at COMPARE_FHIR_URL`, other[op])}   gateway/other ${(ops[op].perSecond / other[op].perSecond).toFixed(2)}`);
    lines.push(`    ${cpuLine('server', other[op].cpu, 'operation', { loadGenerator: true })}`);
    if (other[op].warmup) lines.push(`    ${warmupLine(other[op], opWarmupSeconds, 'server')}`);
  }
} else {
  lines.push('(f) comparison                      set COMPARE_FHIR_URL and COMPARE_FHIR_TOKEN (and COMPARE_FHIR_PID for its CPU) to compare with another FHIR server');
}

lines.push(...pgliteMemoryLines(pglite));

// (i) the figures above against issue 19's aims (bench/aims.json), with this machine's floor beside the aims' machine's.
const figures = figuresOf({ ingest, ingestCpu, rawCpu, ops, other, notifyFhir, peakRssMb: results.peakRssMb as number | undefined });
results.aims = figures;
lines.push(...aimLines(loadAims(), figures));

await dropDatabase('bench_ingest');
await dropDatabase('bench_raw');
await dropDatabase('bench_notify');
results.loadAverage = loadavg()[0];
console.log(`Benchmarks: ${clients} clients, ${seconds} s per measurement, ${availableParallelism()} cores, load average before ${loadBefore.toFixed(1)}, PostgreSQL autovacuum ${autovacuum}${smoke ? ' (smoke run: figures mean nothing)' : ''}`);
for (const l of lines) console.log(l);
mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
writeFileSync(join(import.meta.dirname, 'results', 'latest.json'), `${JSON.stringify(results, (key, value: unknown) => (key === 'latencies' ? undefined : value), 2)}\n`);
console.log('Written: bench/results/latest.json');
