// Blocks PostgreSQL reads per native handover as the tables grow, on a database never analyzed (autovacuum off, as
// on the benchmark machine; PGlite has none): a statement whose plan was cached while a table was tiny and scans it
// reads more at every stage; a bounded one reads the same. Blocks read (shared hit + read, pg_stat_statements) are a
// count the machine's load does not move, unlike times.
// Needs pg_stat_statements preloaded and an empty database of its own:
//   DATABASE_URL=postgres://postgres@127.0.0.1:55428/growth node bench/plan-growth.ts
// Options: BENCH_STAGES (handovers stored before each measured stage, "100,1000,5000"), BENCH_MEASURED (handovers
// per measured stage, 100), BENCH_CLIENTS (8: fewer than the pool, so the same long-lived connections serve every
// stage), BENCH_GATEWAY_ROOT (another checkout's gateway, for a before/after).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { demoToken, startGatewayProcess } from './lib/gateway-process.ts';
import { bsn } from './lib/ingest.ts';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL must name an empty database on a server with pg_stat_statements preloaded');
  process.exit(2);
}
const stages = (process.env.BENCH_STAGES ?? '100,1000,5000').split(',').map(Number);
const measured = Number(process.env.BENCH_MEASURED ?? 100);
const clients = Number(process.env.BENCH_CLIENTS ?? 8);
const example = JSON.parse(readFileSync(join(import.meta.dirname, '../test/fixtures/native-examples/nts-u1-pijn-op-de-borst-naar-ambulance.json'), 'utf8')) as Record<string, unknown>;

const admin = new pg.Client({ connectionString: databaseUrl });
await admin.connect();
await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
const gateway = await startGatewayProcess({ DATABASE_URL: databaseUrl, DEMO: '1' }, [], process.env.BENCH_GATEWAY_ROOT);

try {
  const token = await demoToken(gateway.url, 'hap-vechtdal');
  const run = Date.now().toString(36);
  const offset = Number.parseInt(run.slice(-4), 36) * 1000;
  let sent = 0;
  const handovers = async (count: number): Promise<void> => {
    const end = sent + count;
    await Promise.all(Array.from({ length: clients }, async () => {
      for (let i = ++sent; i <= end; i = ++sent) {
        const body = JSON.stringify({ ...example, contactId: `GROWTH-${run}-${i}`, patient: { ...(example.patient as object), bsn: bsn(offset + i) } });
        const res = await fetch(`${gateway.url}/native/nts`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body });
        await res.arrayBuffer();
        if (res.status !== 201) throw new Error(`ingest: ${res.status}`);
      }
    }));
    sent = end;
  };
  const rows: { stage: number; total: number; byStatement: Map<string, number> }[] = [];
  for (const stage of stages) {
    await handovers(Math.max(0, stage - sent));
    // Let the audit chain's linker finish what was written, then count only the measured handovers.
    await new Promise((r) => setTimeout(r, 1500));
    await admin.query('SELECT pg_stat_statements_reset()');
    await handovers(measured);
    const r = await admin.query<{ blocks: string; query: string }>(
      `SELECT (s.shared_blks_hit + s.shared_blks_read)::text AS blocks, regexp_replace(s.query, '\\s+', ' ', 'g') AS query
         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
        WHERE d.datname = current_database() AND s.query NOT LIKE '%pg_stat_statements%'`,
    );
    const byStatement = new Map<string, number>();
    for (const x of r.rows) byStatement.set(x.query.slice(0, 100), (byStatement.get(x.query.slice(0, 100)) ?? 0) + Number(x.blocks) / measured);
    rows.push({ stage, total: [...byStatement.values()].reduce((a, b) => a + b, 0), byStatement });
  }
  console.log(`blocks read per native handover (${measured} measured after each stage, ${clients} clients, never analyzed)`);
  console.log(`  ${stages.map((s) => `${s} stored`.padStart(12)).join('')}  statement`);
  console.log(`  ${rows.map((x) => x.total.toFixed(1).padStart(12)).join('')}  all`);
  const last = rows.at(-1)?.byStatement ?? new Map<string, number>();
  for (const q of [...last.keys()].sort((a, b) => (last.get(b) ?? 0) - (last.get(a) ?? 0)).slice(0, 12)) {
    console.log(`  ${rows.map((x) => (x.byStatement.get(q) ?? 0).toFixed(1).padStart(12)).join('')}  ${q}`);
  }
} finally {
  await gateway.stop();
  await admin.end();
}
