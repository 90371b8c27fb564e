// WAL per native NTS handover by relation (table, index, TOAST), read back with pg_walinspect: which rows and index
// entries a handover writes and what each costs in bytes, full-page images apart. A count the machine's load does
// not move, unlike CPU times. After BENCH_WARMUP handovers (300) and a CHECKPOINT, BENCH_COUNT handovers (200) from
// 4 clients are measured: the full-page images are those of pages first touched after that checkpoint.
// Needs PostgreSQL 15+ with pg_walinspect (contrib), a superuser connection and a database of its own:
//   DATABASE_URL=postgres://postgres@127.0.0.1:5433/wal node bench/wal-by-relation.ts
// BENCH_GATEWAY_ROOT: another checkout's gateway, measured the same way (a before/after). BENCH_WARMUP may be run
// again on the same database to measure a larger one (the handovers of each run are new ones).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { demoToken, startGatewayProcess } from './lib/gateway-process.ts';
import { bsn } from './lib/ingest.ts';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL must name an empty database on PostgreSQL 15+ (superuser, pg_walinspect available)');
  process.exit(2);
}
const warmup = Number(process.env.BENCH_WARMUP ?? 300);
const count = Number(process.env.BENCH_COUNT ?? 200);
const example = JSON.parse(readFileSync(join(import.meta.dirname, '../test/fixtures/native-examples/nts-u1-pijn-op-de-borst-naar-ambulance.json'), 'utf8')) as Record<string, unknown>;

const admin = new pg.Client({ connectionString: databaseUrl });
await admin.connect();
await admin.query('CREATE EXTENSION IF NOT EXISTS pg_walinspect');
const gateway = await startGatewayProcess({ DATABASE_URL: databaseUrl, DEMO: '1' });
const lsn = async (): Promise<string> => (await admin.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0]?.l ?? '0/0';

try {
  const run = Date.now().toString(36);
  const headers = { Authorization: `Bearer ${await demoToken(gateway.url, 'hap-vechtdal')}`, 'Content-Type': 'application/json' };
  const handover = async (i: number): Promise<void> => {
    const body = JSON.stringify({ ...example, contactId: `WAL-${run}-${i}`, patient: { ...(example.patient as object), bsn: bsn(Number.parseInt(run.slice(-4), 36) * 1000 + i) } });
    const res = await fetch(`${gateway.url}/native/nts`, { method: 'POST', headers, body });
    await res.arrayBuffer();
    if (res.status !== 201) throw new Error(`ingest: ${res.status}`);
  };
  for (let i = 0; i < warmup; i++) {
    // A long warm-up (thousands of handovers, to measure a larger database) outlives an access token.
    if (i > 0 && i % 1000 === 0) headers.Authorization = `Bearer ${await demoToken(gateway.url, 'hap-vechtdal')}`;
    await handover(i);
  }
  // The chain linker's work of the warm-up done, then every page is clean: each first change writes a full image.
  await new Promise((r) => setTimeout(r, 2000));
  await admin.query('CHECKPOINT');
  const start = await lsn();
  let next = warmup;
  await Promise.all(Array.from({ length: 4 }, async () => {
    for (let i = next++; i < warmup + count; i = next++) await handover(i);
  }));
  await new Promise((r) => setTimeout(r, 2000));
  // The flushed position: pg_walinspect reads no further, and an insert position can be ahead of it.
  const end = (await admin.query<{ l: string }>('SELECT pg_current_wal_flush_lsn()::text AS l')).rows[0]?.l ?? '0/0';
  const r = await admin.query<{ relname: string; records: string; bytes: string; fpi: string }>(
    `SELECT coalesce(o.relname || ' (TOAST)', c.relname, '(no relation of this database)') AS relname, count(*)::text AS records, sum(w.record_length)::text AS bytes, sum(coalesce(w.fpi_length, 0))::text AS fpi
       FROM pg_get_wal_records_info($1::pg_lsn, $2::pg_lsn) w
       LEFT JOIN pg_class c ON c.relfilenode = (regexp_match(w.block_ref, 'rel \\d+/' || (SELECT oid FROM pg_database WHERE datname = current_database()) || '/(\\d+)'))[1]::oid
       LEFT JOIN pg_class o ON o.reltoastrelid = c.oid
      GROUP BY 1 ORDER BY sum(w.record_length) DESC`,
    [start, end],
  );
  const kb = (v: string | number): string => (Number(v) / count / 1024).toFixed(2);
  const total = r.rows.reduce((n, x) => n + Number(x.bytes), 0);
  console.log(`WAL per native handover: ${kb(total)} KB (${count} handovers after ${warmup} and a CHECKPOINT; records by the first relation they change)`);
  console.log('records      KB  of which full-page images  relation');
  for (const x of r.rows) {
    if (Number(x.bytes) / count < 100) continue;
    console.log(`${(Number(x.records) / count).toFixed(1).padStart(7)} ${kb(x.bytes).padStart(7)}  ${kb(x.fpi).padStart(25)}  ${x.relname}`);
  }
} finally {
  await gateway.stop();
  await admin.end();
}
