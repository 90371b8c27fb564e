// What the token GIN index (`resources_type_tokens_idx`, migration 009) costs per native handover, by kind of token and
// by the size of the database: WAL (records, bytes, full-page images, read back with pg_walinspect) and PostgreSQL's
// CPU (the backend's own user + system time, from /proc) of its inserts, on scratch copies of the index, so that a
// database of 20,000 handovers takes seconds instead of an hour of ingest.
//
// Needs a database a gateway has stored native handovers in (e.g. after bench/wal-by-relation.ts), PostgreSQL 15+
// with pg_walinspect, a superuser connection, and the server on this machine (its backend's /proc entry):
//   DATABASE_URL=postgres://postgres@127.0.0.1:55430/wal node bench/token-index-cost.ts
// The stored rows' tokens are taken as one "copy"; a token of at most 20 rows is the handover's own (an identifier,
// a reference to its Patient or Task) and is made distinct in each further copy, the others (`status=requested`,
// `code=...`, `owner=...`) are shared by every copy, as they are by every handover of one organisation. The index is
// filled with BENCH_COPIES copies (comma-separated sizes, "1,4,40"), then one more copy is inserted after a
// CHECKPOINT and measured (its WAL per handover, full-page images apart), and BENCH_ROUNDS times (6) more inside a
// transaction rolled back (CPU per handover beside the same rows into a table without the index).
// Variants (BENCH_VARIANTS, "all,own,shared,ordered"): every token; only the handover's own ones; only the shared
// ones (the rows' type keys in all of them; a Provenance, all of whose tokens are its own, then has GIN's one
// "empty" key instead); `ordered`: every token with the ids in references time-ordered (UUID
// version 7), each copy's after the last's, as src/store/time-ordered-id.ts makes them.
import { readFileSync } from 'node:fs';
import pg from 'pg';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL must name a database with native handovers stored (PostgreSQL 15+, superuser, pg_walinspect)');
  process.exit(2);
}
const sizes = (process.env.BENCH_COPIES ?? '1,4,40').split(',').map(Number);
const variants = (process.env.BENCH_VARIANTS ?? 'all,own,shared,ordered').split(',');
const rounds = Number(process.env.BENCH_ROUNDS ?? 6);

const db = new pg.Client({ connectionString: databaseUrl });
await db.connect();
const pid = (await db.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;
/** The backend's CPU so far, in ms (utime + stime, 100 ticks a second). */
const cpuMs = (): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

await db.query('CREATE EXTENSION IF NOT EXISTS pg_walinspect');
await db.query('DROP SCHEMA IF EXISTS token_cost CASCADE');
await db.query('CREATE SCHEMA token_cost');
// Each token as stored, marked `#` when it is a handover's own (at most 20 rows share it).
await db.query(`CREATE TABLE token_cost.src AS
  WITH f AS (SELECT tok, count(*) AS c FROM resources, unnest(tokens) tok GROUP BY tok)
  SELECT r.resource_type, r.id, ARRAY(SELECT CASE WHEN f.c > 20 THEN u.tok ELSE u.tok || '#' END
                                         FROM unnest(r.tokens) WITH ORDINALITY u(tok, n) JOIN f USING (tok) ORDER BY n) AS tokens
    FROM resources r WHERE r.resource_type <> 'Organization'`);
const handovers = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM token_cost.src WHERE resource_type = 'Task'`)).rows[0]!.n);
// Copy g of a row's tokens: its own tokens made distinct by g; `ordered` puts g before the id in a reference, so that
// copy g's references sort after copy g-1's (what version 7 UUIDs do over time).
await db.query(`CREATE FUNCTION token_cost.copy(t text[], g int, variant text) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(array_agg(CASE WHEN x NOT LIKE '%#' THEN x
                                 WHEN variant = 'ordered' THEN regexp_replace(x, '/([0-9a-f]{8}-)', '/' || lpad(g::text, 8, '0') || '\\1') || g
                                 ELSE x || g END), '{}')
    FROM unnest(t) x
   WHERE variant IN ('all', 'ordered') OR (variant = 'own' AND x LIKE '%#') OR (variant = 'shared' AND x NOT LIKE '%#')
$$`);

console.log(`token index per native handover; one copy = ${handovers} handovers stored; load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
console.log('handovers  variant   WAL records   WAL KB  of which full-page images   index inserts CPU ms (median of rounds, range)');
for (const copies of sizes) {
  for (const variant of variants) {
    const prefill = variant === 'ordered' ? 'ordered' : 'all';
    await db.query('DROP TABLE IF EXISTS token_cost.idx, token_cost.plain, token_cost.next');
    await db.query('CREATE TABLE token_cost.idx (resource_type text NOT NULL, tokens text[] NOT NULL)');
    await db.query('CREATE INDEX token_cost_idx ON token_cost.idx USING gin (resource_type, tokens) WITH (fastupdate = off)');
    await db.query('CREATE TABLE token_cost.plain (resource_type text NOT NULL, tokens text[] NOT NULL)');
    await db.query(`INSERT INTO token_cost.idx SELECT resource_type, token_cost.copy(tokens, g, $1) FROM token_cost.src, generate_series(1, $2::int) g ORDER BY g, id`, [prefill, copies]);
    await db.query(`CREATE TABLE token_cost.next AS SELECT resource_type, token_cost.copy(tokens, 1000000, $1) AS tokens FROM token_cost.src ORDER BY id`, [variant]);
    await db.query('VACUUM ANALYZE token_cost.idx');
    await db.query('CHECKPOINT');
    const start = (await db.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0]!.l;
    await db.query('INSERT INTO token_cost.idx SELECT * FROM token_cost.next');
    const wal = (await db.query<{ records: string; bytes: string; fpi: string }>(
      `SELECT count(*) AS records, coalesce(sum(record_length), 0) AS bytes, coalesce(sum(fpi_length), 0) AS fpi
         FROM pg_get_wal_records_info($1::pg_lsn, pg_current_wal_flush_lsn())
        WHERE block_ref ~ ('/' || pg_relation_filenode('token_cost.token_cost_idx') || ' ')`,
      [start],
    )).rows[0]!;
    const cpu: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const per = async (table: string): Promise<number> => {
        await db.query('BEGIN');
        const before = cpuMs();
        await db.query(`INSERT INTO token_cost.${table} SELECT * FROM token_cost.next`);
        const spent = cpuMs() - before;
        await db.query('ROLLBACK');
        return spent;
      };
      cpu.push((await per('idx')) - (await per('plain')));
      // The rolled-back rows' entries out of the index again, so that every round inserts into the same index.
      await db.query('VACUUM token_cost.idx');
    }
    cpu.sort((a, b) => a - b);
    const perHandover = (v: number): string => (v / handovers).toFixed(2);
    console.log(
      `${String(copies * handovers).padStart(9)}  ${variant.padEnd(8)} ${(Number(wal.records) / handovers).toFixed(1).padStart(11)} ${(Number(wal.bytes) / handovers / 1024).toFixed(1).padStart(8)}  ${(Number(wal.fpi) / handovers / 1024).toFixed(1).padStart(26)}   ${perHandover(cpu[Math.floor(cpu.length / 2)]!)} (${perHandover(cpu[0]!)}–${perHandover(cpu[cpu.length - 1]!)})`,
    );
  }
}
await db.query('DROP SCHEMA token_cost CASCADE');
await db.end();
