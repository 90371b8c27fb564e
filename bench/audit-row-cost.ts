// What one audit row costs PostgreSQL, and which part of the table makes it cost that (issue 19): the row of a
// read (one entity) and of a search page of 20 (20 entities and the query, ~8 KB of JSON), made by the gateway's
// own `toAuditRow` and written by its own statement (`insertAuditRows`), one row per transaction as the group
// commit writes a lone read's row. Each variant is a copy of `audit_events` (CREATE TABLE ... LIKE ... INCLUDING
// ALL: the same columns, indexes with their options, compression) with one piece changed, filled beforehand
// with BENCH_PREFILL rows so that its indexes are not empty; autovacuum is off on the copies so that the GIN
// pending list is merged by the inserts themselves, inside the measured cost. Variants run in alternating
// slices on one connection each, so a busy moment of the shared machine falls on all of them alike; a
// CHECKPOINT before every round makes the first change of each page after it write a full page image, as
// a server's periodic checkpoints do.
//
// Measured per row: the backend's CPU time (/proc/<pid>/schedstat, ns) for the INSERT and its COMMIT, and from
// pg_stat_statements the INSERT's execution time, buffers dirtied, WAL records, full-page images and WAL bytes
// (the last four deterministic, not moved by the machine's load).
//
// Needs a PRIVATE server (it creates and drops tables) with pg_stat_statements preloaded and a database built by
// the gateway's migrations, e.g.
//   DATABASE_URL=postgres://postgres@127.0.0.1:5499/bench node bench/audit-row-cost.ts
// Options: BENCH_PREFILL (rows per table, 20000), BENCH_ROUNDS (10), BENCH_SLICE (rows per slice, 100),
// BENCH_VARIANTS (comma-separated names, default all).
// Measured here on 2026-12-05 (issue 19.2, a busy shared machine, two runs): per row, read and search together, the
// backend's CPU was 247-302 µs as the table is; no single index, BRIN instead of a btree (recorded, event_id), a CHECK or
// a per-statement trigger instead of the per-row one moved it beyond the noise (236-259 µs); all indexes and the trigger
// together 200-242 µs; the row without its AuditEvent (`empty-content`, the bound of a smaller JSON) 237 µs.
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { toAuditRow, type AuditRow } from '../src/audit/event.ts';
import { benchAuditFacts } from './lib/audit-facts.ts';
import { auditInsertSql } from '../src/audit/store.ts';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL must name a private database with pg_stat_statements preloaded and the migrations applied');
  process.exit(2);
}
const prefill = Number(process.env.BENCH_PREFILL ?? 20000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 10);
const slice = Number(process.env.BENCH_SLICE ?? 100);

interface Variant {
  name: string;
  /** Statements after the copy is made, `$T` standing for its name. */
  setup: string[];
  eventId?: () => string;
  /** The row as this variant writes it instead (the content it carries). */
  row?: (row: AuditRow) => AuditRow;
  /** After the prefill: the plpgsql trigger of migration 005 is added unless a variant says otherwise. */
  trigger?: string;
  sql?: (table: string) => string;
  params?: (row: AuditRow) => unknown[];
}
const PLPGSQL_TRIGGER = 'CREATE TRIGGER $T_now BEFORE INSERT ON $T FOR EACH ROW EXECUTE FUNCTION audit_recorded_now()';
const STATEMENT_TRIGGER = 'CREATE TRIGGER $T_now AFTER INSERT ON $T REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION bench_audit_recorded_now_all()';
const JSONB_CONTENT = 'ALTER TABLE $T ALTER COLUMN content TYPE jsonb USING content::text::jsonb';
const jsonbInsertSql = (table: string): string =>
  auditInsertSql('$1').replace('INTO audit_events', `INTO ${table}`).replace('json_to_recordset($1::json)', 'jsonb_to_recordset($1::jsonb)').replace('content json', 'content jsonb');
const all: Variant[] = [
  { name: 'current', setup: [] },
  // event_id as it was before the gateway made time-ordered ids (random, version 4).
  { name: 'uuid-v4', setup: [], eventId: randomUUID },
  { name: 'no-trigger', setup: [], trigger: '' },
  { name: 'check-not-valid', setup: [], trigger: `ALTER TABLE $T ADD CONSTRAINT $T_recorded_now CHECK (recorded BETWEEN clock_timestamp() - interval '2 minutes' AND clock_timestamp() + interval '2 minutes') NOT VALID` },
  { name: 'no-event-id-index', setup: ['ALTER TABLE $T DROP CONSTRAINT $T_event_id_key'] },
  { name: 'no-patient-index', setup: ['DROP INDEX IF EXISTS $T_patient_idx'] },
  // Migration 029 dropped it (a row's patient is found through its entities): the table as it was before.
  { name: 'patient-index', setup: ['CREATE INDEX IF NOT EXISTS $T_patient_idx ON $T (patient)'] },
  // The check that a row's patient is among its entities (migration 029), left out: what it costs a row.
  { name: 'no-patient-check', setup: ['ALTER TABLE $T DROP CONSTRAINT IF EXISTS audit_events_patient_in_entities'] },
  { name: 'no-recorded-index', setup: ['DROP INDEX $T_recorded_idx'] },
  { name: 'no-txid-index', setup: ['DROP INDEX $T_txid_idx'] },
  { name: 'no-entities-index', setup: ['DROP INDEX $T_entities_idx'] },
  { name: 'gin-pending-1mb', setup: ['ALTER INDEX $T_entities_idx SET (gin_pending_list_limit = 1024)'] },
  { name: 'gin-pending-4mb', setup: ['ALTER INDEX $T_entities_idx SET (gin_pending_list_limit = 4096)'] },
  // Time-ordered columns as BRIN (block ranges) instead of btree: one summary per 128 pages, updated only when a
  // range's min/max moves, instead of an index entry per row.
  { name: 'brin-recorded', setup: ['DROP INDEX $T_recorded_idx', 'CREATE INDEX $T_recorded_brin ON $T USING brin (recorded)'] },
  { name: 'brin-event-id', setup: ['ALTER TABLE $T DROP CONSTRAINT $T_event_id_key', 'CREATE INDEX $T_event_id_brin ON $T USING brin (event_id)'] },
  // The time check once per statement over its transition table, instead of a plpgsql call per row.
  { name: 'statement-trigger', setup: [], trigger: STATEMENT_TRIGGER },
  // The bound of what a smaller `content` could gain: the row without its AuditEvent JSON.
  { name: 'empty-content', setup: [], row: (r) => ({ ...r, content: {} as AuditRow['content'] }) },
  { name: 'pglz', setup: ['ALTER TABLE $T ALTER COLUMN content SET COMPRESSION pglz'] },
  // The AuditEvent as before migration 027: jsonb, its rows' array parsed as jsonb too.
  { name: 'jsonb', setup: [JSONB_CONTENT, 'ALTER TABLE $T ALTER COLUMN content SET COMPRESSION lz4'], sql: jsonbInsertSql },
  { name: 'jsonb-pglz', setup: [JSONB_CONTENT, 'ALTER TABLE $T ALTER COLUMN content SET COMPRESSION pglz'], sql: jsonbInsertSql },
  { name: 'no-indexes', setup: ['ALTER TABLE $T DROP CONSTRAINT $T_event_id_key', 'DROP INDEX IF EXISTS $T_patient_idx', 'DROP INDEX $T_recorded_idx', 'DROP INDEX $T_txid_idx', 'DROP INDEX $T_entities_idx'], trigger: '' },
];
const wanted = process.env.BENCH_VARIANTS?.split(',');
const variants = wanted ? all.filter((v) => wanted.includes(v.name)) : all;

function rowOf(v: Variant, kind: 'read' | 'search', i: number): AuditRow {
  const made = toAuditRow(benchAuditFacts(kind, i));
  const row = v.row ? v.row(made) : made;
  if (!v.eventId) return row;
  const id = v.eventId();
  return { ...row, event_id: id, content: { ...row.content, id } };
}

const admin = new pg.Client({ connectionString: databaseUrl });
await admin.connect();
await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
await admin.query(`CREATE OR REPLACE FUNCTION bench_audit_recorded_now_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM added WHERE recorded NOT BETWEEN clock_timestamp() - interval '2 minutes' AND clock_timestamp() + interval '2 minutes') THEN
    RAISE EXCEPTION 'an audit record is written when it happens' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NULL;
END
$$`);

interface Tally { cpuNs: number; rows: number }
const tallies = new Map<string, Tally>();
const conns = new Map<string, { client: pg.Client; pid: number; table: string }>();

for (const v of variants) {
  const table = `bench_audit_${v.name.replace(/-/g, '_')}`;
  const sub = (s: string): string => s.replaceAll('$T', table);
  await admin.query(`DROP TABLE IF EXISTS ${table}`);
  await admin.query(`CREATE TABLE ${table} (LIKE audit_events INCLUDING ALL) WITH (autovacuum_enabled = off, toast.autovacuum_enabled = off)`);
  for (const s of v.setup) await admin.query(sub(s));
  // The prefill: reads and searches as they come (one search in five), in batches.
  for (let done = 0; done < prefill; done += 500) {
    const rows = Array.from({ length: 500 }, (_, k) => rowOf(v, (done + k) % 5 === 0 ? 'search' : 'read', done + k));
    await admin.query(auditInsertSql('$1').replace('INTO audit_events', `INTO ${table}`), [JSON.stringify(rows)]);
  }
  const trigger = v.trigger ?? PLPGSQL_TRIGGER;
  if (trigger) await admin.query(sub(trigger));
  await admin.query(`VACUUM ANALYZE ${table}`);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  conns.set(v.name, { client, pid, table });
  for (const kind of ['read', 'search']) tallies.set(`${v.name}/${kind}`, { cpuNs: 0, rows: 0 });
}

function cpuNs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
}

interface Pss { calls: number; execMs: number; dirtied: number; walRecords: number; fpi: number; walBytes: number }
const pss = new Map<string, Pss>();
/** Adds what pg_stat_statements counted since its last reset to `kind`'s tallies, and resets it. */
async function collect(kind: string): Promise<void> {
  const stats = await admin.query<{ query: string; calls: string; exec_ms: number; dirtied: string; wal_records: string; wal_fpi: string; wal_bytes: string }>(
    `SELECT query, calls::text, total_exec_time AS exec_ms, shared_blks_dirtied::text AS dirtied, wal_records::text, wal_fpi::text, wal_bytes::text
     FROM pg_stat_statements WHERE query LIKE 'INSERT INTO bench_audit_%'`,
  );
  for (const [name, c] of conns) {
    const s = stats.rows.find((x) => x.query.includes(`INTO ${c.table} `));
    if (!s) continue;
    const key = `${name}/${kind}`;
    const t = pss.get(key) ?? { calls: 0, execMs: 0, dirtied: 0, walRecords: 0, fpi: 0, walBytes: 0 };
    t.calls += Number(s.calls); t.execMs += s.exec_ms; t.dirtied += Number(s.dirtied); t.walRecords += Number(s.wal_records); t.fpi += Number(s.wal_fpi); t.walBytes += Number(s.wal_bytes);
    pss.set(key, t);
  }
  await admin.query('SELECT pg_stat_statements_reset()');
}

await admin.query('SELECT pg_stat_statements_reset()');
let serial = prefill;
for (let r = 0; r < rounds; r++) {
  for (const kind of ['read', 'search'] as const) {
    await admin.query('CHECKPOINT');
    // Alternate the order of the variants from round to round.
    const order = r % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) {
      const c = conns.get(v.name);
      if (!c) continue;
      const sql = v.sql ? v.sql(c.table) : auditInsertSql('$1').replace('INTO audit_events', `INTO ${c.table}`);
      const rows = Array.from({ length: slice }, () => JSON.stringify([rowOf(v, kind, serial++)]));
      const before = cpuNs(c.pid);
      for (const json of rows) await c.client.query({ name: 'audit', text: sql, values: [json] });
      const t = tallies.get(`${v.name}/${kind}`);
      if (t) { t.cpuNs += cpuNs(c.pid) - before; t.rows += slice; }
    }
    await collect(kind);
  }
}

console.log(`${rounds} rounds of ${slice} rows per variant and kind, one row per transaction, tables prefilled with ${prefill} rows`);
console.log('variant            kind    backend CPU µs/row (INSERT+COMMIT) | INSERT exec µs | per row: dirtied buffers, WAL records, FPI, WAL bytes');
for (const v of variants) {
  for (const kind of ['read', 'search']) {
    const t = tallies.get(`${v.name}/${kind}`);
    const s = pss.get(`${v.name}/${kind}`);
    if (!t || !s) continue;
    const per = (x: number): string => (x / s.calls).toFixed(2);
    console.log(`${v.name.padEnd(18)} ${kind.padEnd(7)} ${(t.cpuNs / t.rows / 1000).toFixed(0).padStart(8)} | ${(s.execMs * 1000 / s.calls).toFixed(0).padStart(6)} | ${per(s.dirtied)}, ${per(s.walRecords)}, ${per(s.fpi)}, ${(s.walBytes / s.calls).toFixed(0)}`);
  }
}
console.log('variant            both kinds, per row: backend CPU µs | INSERT exec µs | WAL bytes | FPI');
for (const v of variants) {
  const t = ['read', 'search'].map((k) => tallies.get(`${v.name}/${k}`));
  const s = ['read', 'search'].map((k) => pss.get(`${v.name}/${k}`));
  const rows = t.reduce((a, x) => a + (x?.rows ?? 0), 0);
  const sum = (f: (x: Pss) => number): number => s.reduce((a, x) => a + (x ? f(x) : 0), 0);
  console.log(`${v.name.padEnd(18)} ${(t.reduce((a, x) => a + (x?.cpuNs ?? 0), 0) / rows / 1000).toFixed(0).padStart(6)} | ${(sum((x) => x.execMs) * 1000 / rows).toFixed(0).padStart(6)} | ${(sum((x) => x.walBytes) / rows).toFixed(0).padStart(6)} | ${(sum((x) => x.fpi) / rows).toFixed(2)}`);
}
for (const c of conns.values()) await c.client.end();
for (const c of conns.values()) await admin.query(`DROP TABLE ${c.table}`);
await admin.query('DROP FUNCTION bench_audit_recorded_now_all()');
await admin.end();
