// Where the gateway allocates per native NTS handover (or per Task read, BENCH_OP=read): V8's sampling heap profiler, counting what the collector already
// cleared too (which is what it costs: every byte allocated is a byte a scavenge walks past or copies), taken over the
// inspector protocol from a gateway process under load, grouped by function and by file. Bytes per handover are a
// count the machine's load does not move, unlike CPU times; so this can compare two checkouts on a shared machine.
// Run: DATABASE_URL=postgres://postgres@127.0.0.1:5433/alloc node bench/allocation-profile.ts   (an empty database)
// Options: BENCH_SECONDS (10, measured after 3 s of warm-up), BENCH_CLIENTS (8), BENCH_TOP (30), BENCH_GATEWAY_ROOT
// (another checkout's gateway, measured the same way), BENCH_FILTER (only functions whose file contains it),
// BENCH_OP (ingest, the default, or read: Task reads by id of BENCH_TASKS (2000) stored Tasks, the fixed cost every request pays).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fetchAgain } from './lib/fetch-again.ts';
import { fhirOps } from './lib/fhir-ops.ts';
import { demoToken, startGatewayProcess } from './lib/gateway-process.ts';
import { nativeIngest } from './lib/ingest.ts';
import { inspectorOf, type SamplingNode } from './lib/inspector.ts';
import { seedTasks } from './lib/seed-tasks.ts';
import type { LoadResult } from './lib/stats.ts';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL must name an empty database');
  process.exit(2);
}
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const clients = Number(process.env.BENCH_CLIENTS ?? 8);
const top = Number(process.env.BENCH_TOP ?? 30);
const filter = process.env.BENCH_FILTER;
const root = process.env.BENCH_GATEWAY_ROOT;
const op = process.env.BENCH_OP ?? 'ingest';
if (op !== 'ingest' && op !== 'read') {
  console.error(`BENCH_OP: ingest or read, not ${op}`);
  process.exit(2);
}
const unit = op === 'read' ? 'Task read' : 'native handover';
const example = JSON.parse(readFileSync(join(import.meta.dirname, '../test/fixtures/native-examples/nts-u1-pijn-op-de-borst-naar-ambulance.json'), 'utf8')) as Record<string, unknown>;

const inspectPort = 9300 + Math.floor(Math.random() * 600);
const gateway = await startGatewayProcess({ DATABASE_URL: databaseUrl, DEMO: '1' }, [`--inspect=127.0.0.1:${inspectPort}`], root);
/** The load measured: native handovers, or reads of stored Tasks (seeded first, as bench/fhir-ops.ts does). */
async function loadOf(url: string): Promise<(seconds: number) => Promise<LoadResult>> {
  if (op === 'ingest') return (s) => nativeIngest(url, clients, s, example);
  const token = await demoToken(url, 'hap-vechtdal');
  const orgId = async (ura: string): Promise<string> => {
    const res = await fetchAgain(`${url}/fhir/Organization?identifier=http://fhir.nl/fhir/NamingSystem/ura|${ura}`, { headers: { Authorization: `Bearer ${token}` } });
    return `Organization/${((await res.json()) as { entry: { resource: { id: string } }[] }).entry[0]?.resource.id}`;
  };
  const [ownerRef, requesterRef] = [await orgId('90004567'), await orgId('90001234')];
  await seedTasks(databaseUrl as string, Number(process.env.BENCH_TASKS ?? 2000), ownerRef, requesterRef, ['90001234', '90004567']);
  const target = { name: 'gateway', base: `${url}/fhir`, token, ownerRef, requesterRef };
  // No warm-up inside: this script warms up with the same call before sampling, and one inside would be sampled.
  return async (s) => (await fhirOps([target], clients, s, 1, undefined, ['read'], 0))[0]?.read as LoadResult;
}

try {
  const run = await loadOf(gateway.url);
  await run(3);
  const inspector = await inspectorOf(inspectPort);
  await inspector.send('HeapProfiler.enable');
  await inspector.send('HeapProfiler.startSampling', { samplingInterval: 8192, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  const r = await run(seconds);
  const { profile } = (await inspector.send('HeapProfiler.stopSampling')) as { profile: { head: SamplingNode } };
  inspector.close();
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  const walk = (node: SamplingNode, parent = ''): void => {
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/^file:\/\/.*?\/(src|node_modules|bench)\//, '$1/') || '(native)';
    const here = `${functionName || '(anonymous)'}  ${file}:${lineNumber + 1}`;
    if (node.selfSize > 0 && (!filter || file.includes(filter))) {
      // A built-in (a RegExp's exec, an iterator's next) is named with the function that called it.
      const name = url ? here : `${functionName || '(anonymous)'} (built-in) in ${parent}`;
      byFunction.set(name, (byFunction.get(name) ?? 0) + node.selfSize);
      const area = file.startsWith('node_modules/') ? file.split('/').slice(0, file.startsWith('node_modules/@') ? 3 : 2).join('/') : file.split('/').slice(0, 3).join('/');
      byFile.set(area, (byFile.get(area) ?? 0) + node.selfSize);
    }
    total += node.selfSize;
    for (const child of node.children) walk(child, url ? here : parent);
  };
  walk(profile.head);
  const per = (bytes: number): string => `${(bytes / r.ok / 1024).toFixed(1).padStart(7)} KB`;
  console.log(`allocated per ${unit} (${r.ok} in ${seconds} s, ${clients} clients, sampled every 8 KB, collected objects included): ${per(total)}`);
  console.log('by area:');
  for (const [name, bytes] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${per(bytes)}  ${name}`);
  console.log('by function:');
  for (const [name, bytes] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${per(bytes)}  ${name}`);
} finally {
  await gateway.stop();
}
