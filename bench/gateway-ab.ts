// Two or more gateway processes on one database, measured in alternating slices of the same run: CPU per operation of
// each slice (gateway and PostgreSQL), GC per operation and peak RSS of each process. What one variant saves is told
// apart from the machine's drift only when it is larger than the spread of one variant's slices, which is printed.
// Run: DATABASE_URL=postgres://postgres@127.0.0.1:5433/bench_ab node bench/gateway-ab.ts   (an empty database it may fill)
// Variants: BENCH_VARIANTS, JSON: [{"name": "before", "root": "/path/to/other/checkout"}, {"name": "after"}], each with
// `root` (a checkout, default this one), `nodeArgs` (after `npm start`'s own; a later `--max-semi-space-size` wins) and
// `env` (the gateway's settings, e.g. {"MAX_CONCURRENT_WRITES": "16"}).
// Default: the young generation at 16, 32 and 64 MB (`--max-semi-space-size`), this checkout.
// Options: BENCH_OPS (create,read,search by default), BENCH_SLICES per operation and variant (6), BENCH_SECONDS per
// slice (3), BENCH_CLIENTS (32), BENCH_TASKS (20000), BENCH_WARMUP (each operation unmeasured on each variant first, 5 s).
import { loadavg } from 'node:os';
import { measurePostgresOf, type CpuPerUnit } from './lib/cpu-time.ts';
import { analyzeDatabase, databaseName } from './lib/compare-target.ts';
import { FHIR_OPERATIONS, fhirOps, OPERATION_LABELS, type FhirOperation, type FhirTarget } from './lib/fhir-ops.ts';
import { fetchAgain } from './lib/fetch-again.ts';
import { demoToken, startGatewayProcess, type GatewayProcess } from './lib/gateway-process.ts';
import { seedTasks } from './lib/seed-tasks.ts';

interface Variant {
  name: string;
  root?: string;
  nodeArgs?: string[];
  env?: Record<string, string>;
}

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL must name an empty PostgreSQL database the benchmark may fill');
  process.exit(2);
}
const variants: Variant[] = process.env.BENCH_VARIANTS
  ? (JSON.parse(process.env.BENCH_VARIANTS) as Variant[])
  : [16, 32, 64].map((mb) => ({ name: `semi-space ${mb} MB`, nodeArgs: [`--max-semi-space-size=${mb}`] }));
const slices = Number(process.env.BENCH_SLICES ?? 6);
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const clients = Number(process.env.BENCH_CLIENTS ?? 32);
const tasks = Number(process.env.BENCH_TASKS ?? 20_000);
const isOperation = (op: string): op is FhirOperation => (FHIR_OPERATIONS as readonly string[]).includes(op);
const wanted = (process.env.BENCH_OPS ?? 'create,read,search').split(',').map((op) => op.trim());
if (!wanted.every(isOperation)) {
  console.error(`BENCH_OPS: known operations are ${FHIR_OPERATIONS.join(', ')}`);
  process.exit(2);
}
const operations = FHIR_OPERATIONS.filter((op) => wanted.includes(op));

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? Number.NaN) : ((s[m - 1] ?? Number.NaN) + (s[m] ?? Number.NaN)) / 2;
};
/** "0.91 ms (0.85–1.02)": the median slice and the range of the slices. */
const spread = (xs: number[]): string => `${median(xs).toFixed(3)} ms (${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)})`;
const total = (c: CpuPerUnit): number => (c.gatewayMs ?? Number.NaN) + (c.postgresMs ?? Number.NaN);

const loadBefore = loadavg()[0] ?? 0;
await measurePostgresOf(databaseUrl, [databaseName(databaseUrl)]);
const gateways: GatewayProcess[] = [];
try {
  for (const v of variants) gateways.push(await startGatewayProcess({ ...v.env, DATABASE_URL: databaseUrl, DEMO: '1' }, v.nodeArgs ?? [], v.root));
  const first = gateways[0] as GatewayProcess;
  const token = await demoToken(first.url, 'hap-vechtdal');
  const orgId = async (ura: string): Promise<string> => {
    const res = await fetchAgain(`${first.url}/fhir/Organization?identifier=http://fhir.nl/fhir/NamingSystem/ura|${ura}`, { headers: { Authorization: `Bearer ${token}` } });
    return `Organization/${((await res.json()) as { entry: { resource: { id: string } }[] }).entry[0]?.resource.id}`;
  };
  const ownerRef = await orgId('90004567');
  const requesterRef = await orgId('90001234');
  await seedTasks(databaseUrl, tasks, ownerRef, requesterRef, ['90001234', '90004567']);
  const database = databaseName(databaseUrl);
  const targets: FhirTarget[] = await Promise.all(
    gateways.map(async (g, i) => ({ name: variants[i]?.name ?? `variant ${i}`, base: `${g.url}/fhir`, token: await demoToken(g.url, 'hap-vechtdal'), pids: [g.pid], gatewayUrl: g.url, database, ownerRef, requesterRef })),
  );
  if (!operations.includes('create')) await analyzeDatabase(databaseUrl);
  // fhirOps divides an operation's seconds among its slices.
  const results = await fhirOps(targets, clients, seconds * slices, slices, async () => analyzeDatabase(databaseUrl), operations);
  console.log(
    `${variants.length} gateways on one database, ${slices} alternating slices of ${seconds} s per operation and gateway, ${clients} clients, ${tasks}+ Tasks; load average before ${loadBefore.toFixed(1)}, after ${(loadavg()[0] ?? 0).toFixed(1)}`,
  );
  console.log('CPU per operation, median slice (range of slices)');
  for (const op of operations) {
    console.log(OPERATION_LABELS[op]);
    for (const [i, r] of results.entries()) {
      const s = r[op].perSlice;
      const gcMs = r[op].gc ? (r[op].gc.minorMs + r[op].gc.majorMs) / r[op].ok : Number.NaN;
      console.log(
        `  ${(variants[i]?.name ?? '').padEnd(22)} ${r[op].perSecond.toFixed(0).padStart(5)}/s  gateway ${spread(s.map((x) => x.cpu.gatewayMs ?? Number.NaN))}  PostgreSQL ${spread(s.map((x) => x.cpu.postgresMs ?? Number.NaN))}  together ${spread(s.map((x) => total(x.cpu)))}  GC ${gcMs.toFixed(3)} ms`,
      );
    }
  }
  // Slice s of every variant ran one right after the other (fhirOps rotates who starts), so their ratio compares
  // the same minutes of the machine: steadier than the variants' medians when the machine's load swings.
  console.log(`each variant against ${variants[0]?.name}, slice by slice: median ratio of CPU per operation (range)`);
  for (const op of operations) {
    const base = results[0]?.[op].perSlice ?? [];
    for (const [i, r] of results.entries()) {
      if (i === 0) continue;
      // With the slices' spread this wide, how many of them the variant won says more than the range (a sign test:
      // 12 of 16 or more happen by chance in 4 % of runs of two equal variants).
      const ratios = (pick: (c: CpuPerUnit) => number): string => {
        const xs = r[op].perSlice.map((x, s) => pick(x.cpu) / pick(base[s]?.cpu ?? { selfMs: Number.NaN }));
        return `${median(xs).toFixed(3)} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}, less in ${xs.filter((x) => x < 1).length} of ${xs.length})`;
      };
      console.log(
        `  ${OPERATION_LABELS[op].padEnd(26)} ${(variants[i]?.name ?? '').padEnd(22)} gateway ${ratios((c) => c.gatewayMs ?? Number.NaN)}  PostgreSQL ${ratios((c) => c.postgresMs ?? Number.NaN)}  together ${ratios(total)}`,
      );
    }
  }
  for (const [i, g] of gateways.entries()) console.log(`peak RSS ${(variants[i]?.name ?? '').padEnd(22)} ${g.peakRssMb().toFixed(0)} MB`);
} finally {
  await Promise.all(gateways.map(async (g) => g.stop()));
}
