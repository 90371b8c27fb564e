// What linking one audit row into the hash chain costs (src/audit/chain.ts, issue 19.2): the gateway's CPU
// (process.cpuUsage: reading the pass's rows, hashing, writing the links) and PostgreSQL's (the backend's CPU time from
// /proc/<pid>/schedstat) per row, for the row of a read (one entity) and of a search page of 20 (20 entities and the
// query), made by the gateway's own `toAuditRow` and written by its own statement. Every request's row is linked
// once, in the background, by the process that serves the requests: this is part of every read's cost.
//
// Needs a PRIVATE database built by the gateway's migrations (it fills audit_events and audit_chain, which cannot be
// emptied), on a server with no transaction left open (a pass links only below the oldest one), e.g.
//   DATABASE_URL=postgres://postgres@127.0.0.1:5499/links node bench/audit-link-cost.ts
// Options: BENCH_ROWS (rows per kind and round, 5000), BENCH_ROUNDS (3).
import { readFileSync } from 'node:fs';
import { linkAll } from '../src/audit/chain.ts';
import { toAuditRow } from '../src/audit/event.ts';
import { benchAuditFacts } from './lib/audit-facts.ts';
import { insertAuditRows } from '../src/audit/store.ts';
import { migrate } from '../src/store/migrate.ts';
import { PostgresDatabase } from '../src/store/postgres.ts';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL must name a private database the benchmark may fill');
  process.exit(2);
}
const perRound = Number(process.env.BENCH_ROWS ?? 5000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);

let serial = 0;
const db = new PostgresDatabase({ connectionString: databaseUrl, maxConnections: 1 });
await migrate(db);
await linkAll(db);
const pid = (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
const backendNs = (): number => Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);

const totals = new Map<string, { gatewayUs: number; postgresUs: number; rows: number }>();
for (let r = 0; r < rounds; r++) {
  for (const kind of ['read', 'search'] as const) {
    for (let done = 0; done < perRound; done += 500) await insertAuditRows(db, Array.from({ length: Math.min(500, perRound - done) }, () => toAuditRow(benchAuditFacts(kind, serial++))));
    const pg0 = backendNs();
    const cpu0 = process.cpuUsage();
    const linked = await linkAll(db);
    const cpu = process.cpuUsage(cpu0);
    const t = totals.get(kind) ?? { gatewayUs: 0, postgresUs: 0, rows: 0 };
    t.gatewayUs += cpu.user + cpu.system;
    t.postgresUs += (backendNs() - pg0) / 1000;
    t.rows += linked;
    totals.set(kind, t);
  }
}
console.log(`${rounds} rounds of ${perRound} rows per kind, linked by linkAll on one connection`);
for (const [kind, t] of totals) {
  console.log(`${kind.padEnd(7)} per row linked: gateway ${(t.gatewayUs / t.rows).toFixed(1)} µs, PostgreSQL ${(t.postgresUs / t.rows).toFixed(1)} µs (${t.rows} rows)`);
}
await db.close();
