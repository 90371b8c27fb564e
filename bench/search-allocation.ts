// What a search page allocates in the gateway (issue 19): `Task?status=requested&owner=…&_count=20` on 20,000+ matching
// Tasks, V8's sampling heap profiler taken over the inspector protocol from a gateway process under load, objects the
// collector already cleared included (every byte allocated is a byte a scavenge walks past or copies). Bytes per search
// are a count the machine's load does not move, unlike CPU times: run it on two checkouts one after the other (or
// several times, alternating) to compare them on a shared machine.
// Run: DATABASE_URL=postgres://postgres@127.0.0.1:5433/alloc node bench/search-allocation.ts   (an empty database it may
// fill, or one filled before with BENCH_TASKS=0)
// Options: BENCH_SEARCHES (measured, 2000, after 1000 unmeasured), BENCH_CLIENTS (8), BENCH_TASKS (20000), BENCH_TOP
// (functions listed, 25), BENCH_GATEWAY_ROOT (another checkout's gateway, measured the same way).
import { demoToken, startGatewayProcess } from './lib/gateway-process.ts';
import { seedTasks } from './lib/seed-tasks.ts';
import { inspectorOf, type SamplingNode } from './lib/inspector.ts';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL must name an empty database');
  process.exit(2);
}
const searches = Number(process.env.BENCH_SEARCHES ?? 2000);
const clients = Number(process.env.BENCH_CLIENTS ?? 8);
const tasks = Number(process.env.BENCH_TASKS ?? 20_000);
const top = Number(process.env.BENCH_TOP ?? 25);

const inspectPort = 9300 + Math.floor(Math.random() * 600);
const gateway = await startGatewayProcess({ DATABASE_URL: databaseUrl, DEMO: '1' }, [`--inspect=127.0.0.1:${inspectPort}`], process.env.BENCH_GATEWAY_ROOT);
try {
  const headers = { Authorization: `Bearer ${await demoToken(gateway.url, 'hap-vechtdal')}` };
  const json = async <T>(path: string): Promise<T> => (await (await fetch(`${gateway.url}${path}`, { headers })).json()) as T;
  const orgId = async (ura: string): Promise<string> =>
    `Organization/${(await json<{ entry: { resource: { id: string } }[] }>(`/fhir/Organization?identifier=http://fhir.nl/fhir/NamingSystem/ura|${ura}`)).entry[0]?.resource.id}`;
  const owner = await orgId('90004567');
  if (tasks > 0) await seedTasks(databaseUrl, tasks, owner, await orgId('90001234'), ['90001234', '90004567']);
  const url = `${gateway.url}/fhir/Task?status=requested&owner=${encodeURIComponent(owner)}&_count=20`;
  const run = async (count: number): Promise<void> => {
    let next = 0;
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next++ < count) {
          const res = await fetch(url, { headers });
          await res.arrayBuffer();
          if (res.status !== 200) throw new Error(`search: HTTP ${res.status}`);
        }
      }),
    );
  };
  await run(1000);
  const inspector = await inspectorOf(inspectPort);
  await inspector.send('HeapProfiler.enable');
  await inspector.send('HeapProfiler.startSampling', { samplingInterval: 8192, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  await run(searches);
  const { profile } = (await inspector.send('HeapProfiler.stopSampling')) as { profile: { head: SamplingNode } };
  inspector.close();
  const byFunction = new Map<string, number>();
  let total = 0;
  const walk = (node: SamplingNode): void => {
    const { functionName, url: file, lineNumber } = node.callFrame;
    const name = `${functionName || '(anonymous)'}  ${file.replace(/^(file:\/\/)?.*?\/(src|node_modules|bench)\//, '$2/') || '(native)'}:${lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + node.selfSize);
    total += node.selfSize;
    for (const child of node.children) walk(child);
  };
  walk(profile.head);
  const per = (bytes: number): string => `${(bytes / searches / 1024).toFixed(2).padStart(8)} KB`;
  console.log(`allocated per search page of 20 (${searches} searches, ${clients} clients, sampled every 8 KB, collected objects included): ${per(total)}`);
  for (const [name, bytes] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${per(bytes)}  ${name}`);
} finally {
  await gateway.stop();
}
