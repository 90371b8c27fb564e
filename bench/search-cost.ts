// What a search page costs per entry and what any request costs (issue 19.1): `Task?status=requested&owner=…` with a page
// of 20 and with a page of 1, and a Task read, on 20,000+ matching Tasks, measured in alternating rounds against a gateway
// in its own process. CPU per call (gateway + PostgreSQL); the difference between the two pages is what the 19 more
// entries cost (the rows, the bundle, the answer's bytes, the audit row's entities), the page of 1 against the read
// what a search costs beyond a read.
// Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_search node bench/search-cost.ts   (an empty database it may fill)
// Options: BENCH_SECONDS per round and kind (4), BENCH_ROUNDS (3), BENCH_CLIENTS (16), BENCH_TASKS (20000; 0 on a database
// filled before), BENCH_GATEWAY_ROOT (another checkout, e.g. the code before a change).
import { loadavg } from 'node:os';
import pg from 'pg';
import { cpuPerUnit, cpuSnapshot, measurePostgresOf } from './lib/cpu-time.ts';
import { demoToken, startGatewayProcess } from './lib/gateway-process.ts';
import { seedTasks } from './lib/seed-tasks.ts';
import { load } from './lib/stats.ts';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL must name an empty PostgreSQL database the benchmark may fill');
  process.exit(2);
}
const seconds = Number(process.env.BENCH_SECONDS ?? 4);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const clients = Number(process.env.BENCH_CLIENTS ?? 16);
const tasks = Number(process.env.BENCH_TASKS ?? 20_000);

await measurePostgresOf(databaseUrl);
const gateway = await startGatewayProcess({ DATABASE_URL: databaseUrl, DEMO: '1' });
try {
  const token = await demoToken(gateway.url, 'hap-vechtdal');
  const headers = { Authorization: `Bearer ${token}` };
  const json = async <T>(path: string): Promise<T> => (await (await fetch(`${gateway.url}${path}`, { headers })).json()) as T;
  const orgId = async (ura: string): Promise<string> =>
    `Organization/${(await json<{ entry: { resource: { id: string } }[] }>(`/fhir/Organization?identifier=http://fhir.nl/fhir/NamingSystem/ura|${ura}`)).entry[0]?.resource.id}`;
  const owner = await orgId('90004567');
  await seedTasks(databaseUrl, tasks, owner, await orgId('90001234'), ['90001234', '90004567']);
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query('ANALYZE').finally(() => admin.end());
  const search = `/fhir/Task?status=requested&owner=${encodeURIComponent(owner)}`;
  const first = await json<{ entry?: { resource: { id: string } }[] }>(`${search}&_count=1`);
  const taskId = first.entry?.[0]?.resource.id;
  if (!taskId) throw new Error('no Task matches the search: fill the database (BENCH_TASKS) first');
  const get = (path: string) => async (): Promise<boolean | string> => {
    const res = await fetch(`${gateway.url}${path}`, { headers });
    await res.arrayBuffer();
    return res.status === 200 || `HTTP ${res.status}`;
  };
  const kinds = {
    'page of 20': get(`${search}&_count=20`),
    'page of 1': get(`${search}&_count=1`),
    'Task read': get(`/fhir/Task/${taskId}`),
  };
  const totals = new Map<string, { gateway: number; postgres: number; calls: number; seconds: number }>();
  for (let round = 0; round < rounds; round++) {
    for (const [kind, call] of Object.entries(kinds)) {
      const before = cpuSnapshot(gateway.pid);
      const r = await load(clients, seconds, call);
      if (Object.keys(r.errors).length > 0) throw new Error(`${kind}: ${JSON.stringify(r.errors)}`);
      const cpu = cpuPerUnit(before, cpuSnapshot(gateway.pid), r.ok);
      const t = totals.get(kind) ?? { gateway: 0, postgres: 0, calls: 0, seconds: 0 };
      t.gateway += (cpu.gatewayMs ?? Number.NaN) * r.ok;
      t.postgres += (cpu.postgresMs ?? Number.NaN) * r.ok;
      t.calls += r.ok;
      t.seconds += seconds;
      totals.set(kind, t);
    }
  }
  const per = (kind: string): { gateway: number; postgres: number } => {
    const t = totals.get(kind);
    return t ? { gateway: t.gateway / t.calls, postgres: t.postgres / t.calls } : { gateway: Number.NaN, postgres: Number.NaN };
  };
  const ms = (v: number): string => `${v.toFixed(2)} ms`;
  console.log(`Search cost on ${tasks}+ matching Tasks, ${clients} clients, ${rounds} rounds of ${seconds} s per kind, load average ${loadavg()[0]?.toFixed(1)}`);
  for (const [kind, t] of totals) {
    const c = per(kind);
    console.log(`${kind.padEnd(12)} ${(t.calls / t.seconds).toFixed(0).padStart(6)} /s   CPU per call: gateway ${ms(c.gateway)} + PostgreSQL ${ms(c.postgres)} = ${ms(c.gateway + c.postgres)}`);
  }
  const [p20, p1, read] = [per('page of 20'), per('page of 1'), per('Task read')];
  console.log(`each entry beyond the first: gateway ${(1000 * (p20.gateway - p1.gateway) / 19).toFixed(0)} µs + PostgreSQL ${(1000 * (p20.postgres - p1.postgres) / 19).toFixed(0)} µs`);
  console.log(`a page of 1 beyond a read: gateway ${ms(p1.gateway - read.gateway)} + PostgreSQL ${ms(p1.postgres - read.postgres)}`);
} finally {
  await gateway.stop();
}
