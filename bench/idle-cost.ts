// What an idle gateway costs: CPU of the gateway process and of its PostgreSQL backends, and its transactions, with
// no requests at all (only the background work: board feed, subscription worker, audit chain linker, retention,
// unit pruning, connection sweeps, LISTEN).
// Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_idle node bench/idle-cost.ts   (a database it may fill)
// Options: BENCH_SECONDS measured (60), BENCH_SETTLE_SECONDS after start before measuring (15), BENCH_NODE_ARGS.
// PostgreSQL's CPU counts only the backends connected to this database (from /proc, so the server must run on this
// machine): the server's own processes (WAL writer, checkpointer) do other clusters' and databases' work too.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import pg from 'pg';
import { benchNodeArgs, startGatewayProcess } from './lib/gateway-process.ts';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL must name a PostgreSQL database the benchmark may fill');
  process.exit(2);
}
const seconds = Number(process.env.BENCH_SECONDS ?? 60);
const settleSeconds = Number(process.env.BENCH_SETTLE_SECONDS ?? 15);
const nodeArgs = benchNodeArgs();

// USER_HZ: /proc counts CPU time in ticks of 1/100 s.
const MS_PER_TICK = 10;
function processMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * MS_PER_TICK;
  } catch {
    return 0;
  }
}

const observer = new pg.Client({ connectionString: databaseUrl });
await observer.connect();
const database = (await observer.query<{ db: string }>('SELECT current_database() AS db')).rows[0]?.db ?? '';
/** CPU of this database's backends other than the observer's own, per backend pid, and the transactions committed so far. */
async function snapshot(): Promise<{ backends: Map<number, number>; xacts: number }> {
  const r = await observer.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
  const x = await observer.query<{ n: string }>('SELECT (xact_commit + xact_rollback)::text AS n FROM pg_stat_database WHERE datname = $1', [database]);
  return { backends: new Map(r.rows.map((b) => [b.pid, processMs(b.pid)])), xacts: Number(x.rows[0]?.n ?? 0) };
}

const gateway = await startGatewayProcess({ DATABASE_URL: databaseUrl, DEMO: '1', LOG_LEVEL: 'warn' }, nodeArgs);
try {
  await new Promise((r) => setTimeout(r, settleSeconds * 1000));
  const gatewayBefore = processMs(gateway.pid);
  const before = await snapshot();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const gatewayMs = processMs(gateway.pid) - gatewayBefore;
  // A backend that ended meanwhile is not counted; one that started counts from zero (an idle pool keeps its connections).
  const after = await snapshot();
  let postgresMs = 0;
  for (const [pid, ms] of after.backends) postgresMs += ms - (before.backends.get(pid) ?? 0);
  // The observer's own two statements per snapshot run in their own transactions.
  const xacts = after.xacts - before.xacts - 2;
  const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
  const heapMb = Number(/^gateway_nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1]) / 2 ** 20;
  console.log(`idle gateway, ${seconds} s after ${settleSeconds} s settling, load average ${loadavg()[0]?.toFixed(1)}`);
  console.log(
    `  CPU: gateway ${(gatewayMs / seconds).toFixed(1)} ms/s + PostgreSQL backends ${(postgresMs / seconds).toFixed(1)} ms/s (${after.backends.size} backends); ${(xacts / seconds).toFixed(1)} transactions/s; RSS ${gateway.rssMb().toFixed(0)} MB (peak ${gateway.peakRssMb().toFixed(0)}), heap used ${heapMb.toFixed(0)} MB`,
  );
} finally {
  await gateway.stop();
  await observer.end();
}
