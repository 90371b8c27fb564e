// FHIR Task create, read and search (default total, _total=accurate, _total=none) on 20,000+ stored Tasks against a
// gateway in its own process, with CPU per operation: part (c) of `npm run bench` on its own.
// Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_fhir node bench/fhir-ops.ts   (an empty database it may fill)
// Options: BENCH_SECONDS per operation (10), BENCH_CLIENTS (32), BENCH_TASKS (20000), BENCH_GATEWAY_ROOT (another checkout).
import pg from 'pg';
import { cpuLine, measurePostgresOf } from './lib/cpu-time.ts';
import { FHIR_OPERATIONS, fhirOps, OPERATION_LABELS } from './lib/fhir-ops.ts';
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
await measurePostgresOf(databaseUrl);
const gateway = await startGatewayProcess({ DATABASE_URL: databaseUrl, DEMO: '1' });
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
  const [ops] = await fhirOps([{ name: 'gateway', base: `${gateway.url}/fhir`, token, pid: gateway.pid, ownerRef, requesterRef }], clients, seconds, 1, analyze);
  console.log(`FHIR operations on ${tasks}+ Tasks, ${clients} clients, ${seconds} s each, gateway ${process.env.BENCH_GATEWAY_ROOT ?? 'this checkout'}`);
  for (const op of FHIR_OPERATIONS) {
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
