// FHIR Task create, read and search (default total, _total=accurate, _total=none) on 20,000+ stored Tasks against a
// gateway in its own process, with CPU per operation: part (c) of `npm run bench` on its own.
// Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_fhir node bench/fhir-ops.ts   (an empty database it may fill)
// Options: BENCH_SECONDS per operation (10), BENCH_CLIENTS (32), BENCH_TASKS (20000), BENCH_GATEWAY_ROOT (another checkout),
// BENCH_OPS (which operations, comma-separated: create,read,search,searchTotal,searchNoTotal; all by default),
// BENCH_NODE_ARGS (extra node options for the gateway, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`: a profile of
// only the operations named, written when the gateway stops; read it with bench/cpu-profile-top.ts).
import pg from 'pg';
import { cpuLine, measurePostgresOf } from './lib/cpu-time.ts';
import { FHIR_OPERATIONS, fhirOps, OPERATION_LABELS, type FhirOperation } from './lib/fhir-ops.ts';
import { auditLag, auditLagLine } from './lib/audit-lag.ts';
import { demoToken, startGatewayProcess } from './lib/gateway-process.ts';
import { seedTasks } from './lib/seed-tasks.ts';

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
await measurePostgresOf(databaseUrl);
const nodeArgs = process.env.BENCH_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [];
const gateway = await startGatewayProcess({ DATABASE_URL: databaseUrl, DEMO: '1' }, nodeArgs);
try {
  const token = await demoToken(gateway.url, 'hap-vechtdal');
  const orgId = async (ura: string): Promise<string> => {
    const res = await fetch(`${gateway.url}/fhir/Organization?identifier=http://fhir.nl/fhir/NamingSystem/ura|${ura}`, { headers: { Authorization: `Bearer ${token}` } });
    return `Organization/${((await res.json()) as { entry: { resource: { id: string } }[] }).entry[0]?.resource.id}`;
  };
  const ownerRef = await orgId('90004567');
  const requesterRef = await orgId('90001234');
  await seedTasks(databaseUrl, tasks, ownerRef, requesterRef, ['90001234', '90004567']);
  const analyze = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: databaseUrl });
    await c.connect();
    await c.query('ANALYZE').finally(() => c.end());
  };
  // Without creates the statistics are refreshed before the first operation (with them, after the creates).
  if (!operations.includes('create')) await analyze();
  const [ops] = await fhirOps([{ name: 'gateway', base: `${gateway.url}/fhir`, token, pid: gateway.pid, ownerRef, requesterRef }], clients, seconds, 1, analyze, operations);
  console.log(`FHIR operations on ${tasks}+ Tasks, ${clients} clients, ${seconds} s each, gateway ${process.env.BENCH_GATEWAY_ROOT ?? 'this checkout'}`);
  for (const op of operations) {
    const r = ops?.[op];
    if (!r) continue;
    console.log(`${OPERATION_LABELS[op].padEnd(28)} ${r.perSecond.toFixed(1).padStart(8)} /s   p50 ${r.p50.toFixed(1).padStart(7)} ms   p99 ${r.p99.toFixed(1).padStart(7)} ms   errors ${JSON.stringify(r.errors)}`);
    console.log(`    ${cpuLine('gateway', r.cpu, 'operation')}`);
  }
  console.log(auditLagLine(await auditLag(databaseUrl)));
  console.log(`gateway peak RSS ${gateway.peakRssMb().toFixed(0)} MB`);
} finally {
  await gateway.stop();
}
