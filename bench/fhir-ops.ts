// FHIR Task create, read and search (default total, _total=accurate, _total=none) on 20,000+ stored Tasks against a
// gateway in its own process, with CPU per operation: part (c) of `npm run bench` on its own.
// Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_fhir node bench/fhir-ops.ts   (an empty database it may fill)
// Options: BENCH_SECONDS per operation (10), BENCH_CLIENTS (32), BENCH_TASKS (20000), BENCH_GATEWAY_ROOT (another checkout), BENCH_VACUUM=1 (VACUUM ANALYZE instead of ANALYZE, as autovacuum would),
// BENCH_WARMUP (seconds each operation runs unmeasured on each server right before it is measured, 5; 0: none),
// BENCH_OPS (which operations, comma-separated: create,read,search,searchTotal,searchNoTotal; all by default),
// BENCH_NODE_ARGS (extra node options for the gateway, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`: a profile of
// only the operations named, written when the gateway stops; read it with bench/cpu-profile-top.ts).
// Comparison (issue 19, (f) of `npm run bench`): COMPARE_FHIR_URL + COMPARE_FHIR_TOKEN name another FHIR server, which
// gets as many Tasks through its own API; each operation then alternates BENCH_SLICES (at least 3) slices between the
// two and the ratios are printed. COMPARE_FHIR_PID: its process(es), comma-separated, for its CPU and peak RSS;
// COMPARE_DATABASE_URL: its database on the same PostgreSQL, analyzed after the creates as the gateway's is.
// Before and after a change (BENCH_BASELINE_ROOT, another checkout, e.g. the code before it, with
// BENCH_BASELINE_DATABASE_URL, an empty database beside DATABASE_URL on the same server): a second gateway from that
// checkout, filled the same way, measured in BENCH_SLICES alternating slices with this one, so that both are measured
// in the same minutes of a shared machine; its figures and the ratios are printed below this checkout's.
// PostgreSQL's CPU counts only the backends of the measured databases (and the server's background processes) when
// each is known, in each server's slices its own database's: other work on the same server stays out.
import { loadavg } from 'node:os';
import { cpuLine, cpuTotal, measurePostgresOf } from './lib/cpu-time.ts';
import { analyzeDatabase, compareTargetFromEnv, databaseName, sampleRss, seedTasksOverFhir } from './lib/compare-target.ts';
import { FHIR_OPERATIONS, fhirOps, OPERATION_LABELS, WARMUP_SECONDS, warmupLine, type FhirOperation, type FhirTarget } from './lib/fhir-ops.ts';
import { auditLag, auditLagLine } from './lib/audit-lag.ts';
import { fetchAgain } from './lib/fetch-again.ts';
import { benchNodeArgs, demoToken, startGatewayProcess } from './lib/gateway-process.ts';
import { gcLine } from './lib/gc-time.ts';
import { seedTasks } from './lib/seed-tasks.ts';
import type { LoadResult } from './lib/stats.ts';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL must name an empty PostgreSQL database the benchmark may fill');
  process.exit(2);
}
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const clients = Number(process.env.BENCH_CLIENTS ?? 32);
const tasks = Number(process.env.BENCH_TASKS ?? 20_000);
const isOperation = (op: string): op is FhirOperation => (FHIR_OPERATIONS as readonly string[]).includes(op);
const wanted = process.env.BENCH_OPS?.split(',').map((op) => op.trim()) ?? [...FHIR_OPERATIONS];
const unknownOps = wanted.filter((op) => !isOperation(op));
if (unknownOps.length > 0) {
  console.error(`BENCH_OPS: unknown operation(s) ${unknownOps.join(', ')}; known: ${FHIR_OPERATIONS.join(', ')}`);
  process.exit(2);
}
const operations = FHIR_OPERATIONS.filter((op) => wanted.includes(op));
const baselineRoot = process.env.BENCH_BASELINE_ROOT;
const baselineUrl = process.env.BENCH_BASELINE_DATABASE_URL;
if (Boolean(baselineRoot) !== Boolean(baselineUrl)) {
  console.error('BENCH_BASELINE_ROOT and BENCH_BASELINE_DATABASE_URL go together');
  process.exit(2);
}
const compare = baselineUrl ? undefined : compareTargetFromEnv();
const slices = compare || baselineUrl ? Math.max(3, Number(process.env.BENCH_SLICES ?? 3)) : 1;
const loadBefore = loadavg()[0] ?? 0;
const row = (label: string, r: LoadResult): string =>
  `${label.padEnd(36)} ${r.perSecond.toFixed(1).padStart(8)} /s   p50 ${r.p50.toFixed(1).padStart(7)} ms   p99 ${r.p99.toFixed(1).padStart(7)} ms   errors ${JSON.stringify(r.errors)}`;
// PostgreSQL's CPU: this machine's one server also runs other work (other test runs); only the backends of the
// databases measured here count, when every measured server's database is known.
const peerDatabaseUrl = baselineUrl ?? compare?.databaseUrl;
const measuredDatabases = compare && !compare.databaseUrl ? undefined : [databaseUrl, ...(peerDatabaseUrl ? [peerDatabaseUrl] : [])].map(databaseName);
await measurePostgresOf(databaseUrl, measuredDatabases);
const nodeArgs = benchNodeArgs();
const gateway = await startGatewayProcess({ DATABASE_URL: databaseUrl, DEMO: '1' }, nodeArgs);
const baseline = baselineRoot && baselineUrl ? await startGatewayProcess({ DATABASE_URL: baselineUrl, DEMO: '1' }, nodeArgs, baselineRoot) : undefined;
try {
  const token = await demoToken(gateway.url, 'hap-vechtdal');
  const orgId = async (ura: string): Promise<string> => {
    const res = await fetchAgain(`${gateway.url}/fhir/Organization?identifier=http://fhir.nl/fhir/NamingSystem/ura|${ura}`, { headers: { Authorization: `Bearer ${token}` } });
    return `Organization/${((await res.json()) as { entry: { resource: { id: string } }[] }).entry[0]?.resource.id}`;
  };
  const ownerRef = await orgId('90004567');
  const requesterRef = await orgId('90001234');
  await seedTasks(databaseUrl, tasks, ownerRef, requesterRef, ['90001234', '90004567']);
  const others: FhirTarget[] = [];
  if (baseline && baselineUrl) {
    const baseToken = await demoToken(baseline.url, 'hap-vechtdal');
    const baseOrg = async (ura: string): Promise<string> => {
      const res = await fetch(`${baseline.url}/fhir/Organization?identifier=http://fhir.nl/fhir/NamingSystem/ura|${ura}`, { headers: { Authorization: `Bearer ${baseToken}` } });
      return `Organization/${((await res.json()) as { entry: { resource: { id: string } }[] }).entry[0]?.resource.id}`;
    };
    const [owner, requester] = [await baseOrg('90004567'), await baseOrg('90001234')];
    await seedTasks(baselineUrl, tasks, owner, requester, ['90001234', '90004567']);
    others.push({ name: 'baseline', base: `${baseline.url}/fhir`, token: baseToken, pids: [baseline.pid], gatewayUrl: baseline.url, database: databaseName(baselineUrl), ownerRef: owner, requesterRef: requester });
  }
  if (compare) {
    const started = performance.now();
    others.push(await seedTasksOverFhir(compare.target, tasks));
    console.log(`${tasks} Tasks at COMPARE_FHIR_URL (topped up through its API in ${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }
  // A fresh token: the first may have expired while the peer was being filled.
  const targets: FhirTarget[] = [{ name: 'gateway', base: `${gateway.url}/fhir`, token: await demoToken(gateway.url, 'hap-vechtdal'), pids: [gateway.pid], gatewayUrl: gateway.url, database: databaseName(databaseUrl), ownerRef, requesterRef }, ...others];
  const analyze = async (): Promise<void> => {
    await analyzeDatabase(databaseUrl);
    if (peerDatabaseUrl) await analyzeDatabase(peerDatabaseUrl);
  };
  // Without creates the statistics are refreshed before the first operation (with them, after the creates).
  if (!operations.includes('create')) await analyze();
  const otherPid = compare?.target.pids?.[0];
  const otherRss = otherPid === undefined ? undefined : sampleRss(otherPid);
  const [ops, other] = await fhirOps(targets, clients, seconds, slices, analyze, operations);
  const otherPeakRss = otherRss?.stop();
  console.log(
    `FHIR operations on ${tasks}+ Tasks, ${clients} clients, ${seconds} s each${slices > 1 ? ` per server in ${slices} alternating slices` : ''}${baselineRoot ? `, baseline ${baselineRoot}` : ''}, gateway ${process.env.BENCH_GATEWAY_ROOT ?? 'this checkout'}, load average before ${loadBefore.toFixed(1)}, after ${(loadavg()[0] ?? 0).toFixed(1)}`,
  );
  for (const op of operations) {
    const r = ops?.[op];
    if (!r) continue;
    console.log(row(OPERATION_LABELS[op], r));
    console.log(`    ${cpuLine('gateway', r.cpu, 'operation', { loadGenerator: true })}`);
    if (r.warmup) console.log(`    ${warmupLine(r, WARMUP_SECONDS)}`);
    if (r.gc) console.log(`    ${gcLine({ minorMs: 0, majorMs: 0 }, r.gc, r.ok, 'operation')}`);
    const o = other?.[op];
    if (!o) continue;
    const peer = baseline ? 'baseline' : 'COMPARE_FHIR_URL';
    console.log(`${row(`${OPERATION_LABELS[op]} at ${peer}`, o)}   gateway/${baseline ? 'baseline' : 'other'} ${(r.perSecond / o.perSecond).toFixed(2)}`);
    console.log(`    ${cpuLine('server', o.cpu, 'operation', { loadGenerator: true })}`);
    if (o.warmup) console.log(`    ${warmupLine(o, WARMUP_SECONDS, 'server')}`);
    const [mine, theirs] = [cpuTotal('gateway', r.cpu), cpuTotal('gateway', o.cpu)];
    if (baseline && mine !== undefined && theirs !== undefined) console.log(`    CPU per operation this checkout/baseline ${(mine / theirs).toFixed(2)}`);
  }
  console.log(auditLagLine(await auditLag(databaseUrl)));
  console.log(`gateway peak RSS ${gateway.peakRssMb().toFixed(0)} MB${otherPeakRss === undefined ? '' : `; COMPARE_FHIR_PID ${otherPid} peak RSS during the operations ${otherPeakRss.toFixed(0)} MB`}`);
} finally {
  await gateway.stop();
  await baseline?.stop();
}
