// Where PostgreSQL's CPU goes during Task creates or reads, beyond what pg_stat_statements counts: the CPU of every
// process of the server (each backend named by its application_name: the pool's, the LISTEN connection's; the WAL
// writer, ...) per operation, beside every statement of the database (the gateway's background work too) with its
// executing and planning time. A statement's executing time leaves out its ExecutorStart (setting up the plan), the
// round trips and the commit's WAL flush, which the processes' CPU includes.
// Needs a server of its own on this machine with pg_stat_statements preloaded (a private cluster, as for
// bench/statement-counts.ts) and an empty database with the extension created in it:
//   DATABASE_URL=postgres://postgres@127.0.0.1:5433/by_process node bench/pg-by-process.ts
// Options: BENCH_OPS (create or read, create), BENCH_SECONDS measured (10), BENCH_CLIENTS (32), BENCH_TASKS stored
// first (5000), BENCH_NO_ANALYZE=1 (measure on a database never analyzed, as npm run bench's creates are), BENCH_GATEWAY_ROOT (another checkout, for a before/after), BENCH_PERF (a file: `perf record -g` of the
// server's processes while measured; read it with `perf report -i FILE --no-children --sort sym`).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import pg from 'pg';
import { benchServiceRequest, benchTask } from './lib/bench-resources.ts';
import { analyzeDatabase } from './lib/compare-target.ts';
import { demoToken, startGatewayProcess } from './lib/gateway-process.ts';
import { seedTasks } from './lib/seed-tasks.ts';
import { load } from './lib/stats.ts';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL must name an empty database (with pg_stat_statements) of a server on this machine');
  process.exit(2);
}
const op = process.env.BENCH_OPS ?? 'create';
if (op !== 'create' && op !== 'read') {
  console.error('BENCH_OPS: create or read');
  process.exit(2);
}
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const clients = Number(process.env.BENCH_CLIENTS ?? 32);

// USER_HZ: /proc counts CPU time in ticks of 1/100 s.
const MS_PER_TICK = 10;
interface ProcessCpu {
  userMs: number;
  systemMs: number;
}
/** `/proc/<pid>/stat` fields after the command: [1] the parent, [11] user and [12] system ticks. */
function statFields(pid: string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}
/** Every process of the server whose postmaster is `postmaster` (its children), with its CPU so far. */
function serverProcesses(postmaster: string): Map<string, ProcessCpu> {
  const found = new Map<string, ProcessCpu>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const f = statFields(pid);
    if (!f || f[1] !== postmaster) continue;
    found.set(pid, { userMs: Number(f[11]) * MS_PER_TICK, systemMs: Number(f[12]) * MS_PER_TICK });
  }
  return found;
}
const processMs = (pid: number): number => {
  const f = statFields(String(pid));
  return f ? (Number(f[11]) + Number(f[12])) * MS_PER_TICK : Number.NaN;
};

const admin = new pg.Client({ connectionString: databaseUrl });
await admin.connect();
const adminPid = String((await admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid);
const postmaster = statFields(adminPid)?.[1];
if (!postmaster) throw new Error('the server does not run on this machine (its backend is not in /proc)');
const gateway = await startGatewayProcess({ DATABASE_URL: databaseUrl, DEMO: '1' });
try {
  const token = await demoToken(gateway.url, 'hap-vechtdal');
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/fhir+json', Accept: 'application/fhir+json' };
  const fhir = async (method: string, path: string, body?: object): Promise<{ status: number; json: unknown; location: string }> => {
    const res = await fetch(`${gateway.url}/fhir/${path}`, { method, headers: method === 'POST' ? { ...headers, Prefer: 'return=minimal' } : headers, body: body && JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as unknown) : undefined, location: res.headers.get('location') ?? '' };
  };
  const orgRef = async (ura: string): Promise<string> => {
    const found = (await fhir('GET', `Organization?identifier=http://fhir.nl/fhir/NamingSystem/ura|${ura}`)).json as { entry: { resource: { id: string } }[] };
    return `Organization/${found.entry[0]?.resource.id}`;
  };
  const [owner, requester] = [await orgRef('90004567'), await orgRef('90001234')];
  await seedTasks(databaseUrl, Number(process.env.BENCH_TASKS ?? 5000), owner, requester, ['90001234', '90004567']);
  const idOf = (location: string): string => /\/([^/]+)\/_history\//.exec(location)?.[1] ?? /\/([^/]+)$/.exec(location)?.[1] ?? '';
  const patient = `Patient/${idOf((await fhir('POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Bench' }], gender: 'unknown', birthDate: '1950-01-01' })).location)}`;
  const request = `ServiceRequest/${idOf((await fhir('POST', 'ServiceRequest', benchServiceRequest(patient, requester, owner))).location)}`;
  const task = benchTask(requester, owner, new Date().toISOString(), { patient, serviceRequest: request });
  const created: string[] = [];
  const create = async (): Promise<boolean | string> => {
    const res = await fhir('POST', 'Task', task);
    if (res.status === 201) created.push(idOf(res.location));
    return res.status === 201 || `HTTP ${res.status}`;
  };
  let next = 0;
  const read = async (): Promise<boolean | string> => {
    const res = await fhir('GET', `Task/${created[next++ % created.length]}`);
    return res.status === 200 || `HTTP ${res.status}`;
  };
  const call = op === 'read' ? read : create;
  // Unmeasured: Tasks to read, the statistics as a running server has them, every pooled connection's plans made.
  await load(clients, 4, create);
  // BENCH_NO_ANALYZE=1: the statistics of a database never analyzed (a server without autovacuum, npm run bench's creates).
  if (process.env.BENCH_NO_ANALYZE !== '1') await analyzeDatabase(databaseUrl);
  await load(clients, 2, call);
  await new Promise((resolve) => setTimeout(resolve, 1500));

  await admin.query('SELECT pg_stat_statements_reset()');
  const before = serverProcesses(postmaster);
  const gatewayBefore = processMs(gateway.pid);
  const loadBefore = loadavg()[0] ?? 0;
  const perfFile = process.env.BENCH_PERF;
  const perf = perfFile ? spawn('perf', ['record', '-F', '999', '-g', '-o', perfFile, '-p', [...before.keys()].join(',')], { stdio: 'ignore' }) : undefined;
  const r = await load(clients, seconds, call);
  if (perf) {
    const stopped = new Promise((resolve) => perf.once('exit', resolve));
    perf.kill('SIGINT');
    await stopped;
  }
  const after = serverProcesses(postmaster);
  const gatewayMs = processMs(gateway.pid) - gatewayBefore;
  const names = new Map(
    (await admin.query<{ pid: number; name: string }>(`SELECT pid, coalesce(nullif(application_name, ''), backend_type) || coalesce(' / ' || datname, '') AS name FROM pg_stat_activity`)).rows.map((a) => [String(a.pid), a.name]),
  );
  const statements = await admin.query<{ query: string; calls: string; exec: number; plan: number; plans: string; blocks: string; wal: string }>(
    `SELECT query, calls, total_exec_time AS exec, total_plan_time AS plan, plans, shared_blks_hit + shared_blks_read AS blocks, wal_bytes AS wal
       FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY total_exec_time + total_plan_time DESC`,
  );
  const n = r.ok;
  const per = (ms: number): string => (ms / n).toFixed(3);
  console.log(`Task ${op}: ${n} in ${seconds} s (${r.perSecond.toFixed(0)}/s, errors ${JSON.stringify(r.errors)}), ${clients} clients, load average ${loadBefore.toFixed(1)} → ${(loadavg()[0] ?? 0).toFixed(1)}`);
  console.log(`gateway ${per(gatewayMs)} ms per operation`);
  const rows = [...after].map(([pid, a]) => {
    const b = before.get(pid) ?? { userMs: 0, systemMs: 0 };
    return { pid, user: a.userMs - b.userMs, system: a.systemMs - b.systemMs, name: pid === adminPid ? 'this benchmark' : (names.get(pid) ?? '(ended)') };
  });
  const total = rows.reduce((t, p) => t + p.user + p.system, 0);
  console.log(`PostgreSQL ${per(total)} ms per operation (user ${per(rows.reduce((t, p) => t + p.user, 0))}, system ${per(rows.reduce((t, p) => t + p.system, 0))}), by process:`);
  for (const p of rows.filter((x) => x.user + x.system > 0).sort((x, y) => y.user + y.system - (x.user + x.system))) {
    console.log(`  ${per(p.user + p.system)} (user ${per(p.user)}, system ${per(p.system)})  ${p.pid} ${p.name}`);
  }
  const exec = statements.rows.reduce((t, s) => t + s.exec, 0);
  const plan = statements.rows.reduce((t, s) => t + s.plan, 0);
  console.log(`statements of the database: executing ${per(exec)} ms, planning ${per(plan)} ms per operation; each per operation:`);
  for (const s of statements.rows.slice(0, 25)) {
    console.log(
      `  ${(Number(s.calls) / n).toFixed(3)} calls  exec ${per(s.exec)} ms  plan ${per(s.plan)} ms (${(Number(s.plans) / n).toFixed(3)} plans)  blocks ${(Number(s.blocks) / n).toFixed(1)}  WAL ${(Number(s.wal) / n).toFixed(0)} B  ${s.query.replace(/\s+/g, ' ').slice(0, 100)}`,
    );
  }
} finally {
  await gateway.stop();
  await admin.end();
}
