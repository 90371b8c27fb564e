// What one page of a big search costs in PostgreSQL (issue 19.1): 20,000+ Tasks of one owner with status requested,
// searched as the owner would (`Task?owner=…&status=requested`, the owner's party scope), through the gateway's own
// search code (parse → SQL → the store's statements). Prints, per way of running the page query, the median time and
// the plan's shape (EXPLAIN ANALYZE), the generic plan a prepared statement may switch to included, and the count.
// Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node bench/search-plan.ts   (Node 24 from node_modules/.bin)
// It makes and drops a database of its own beside the one named. Options: SEARCH_TASKS (20,000), SEARCH_OTHER (3,000).
import { join } from 'node:path';
import pg from 'pg';
import { SearchParameterRegistry } from '../src/fhir/search/parameters.ts';
import { parseSearch } from '../src/fhir/search/parse.ts';
import { resolveChains, runSearch } from '../src/fhir/search/execute.ts';
import { buildWhere } from '../src/fhir/search/sql.ts';
import { migrate } from '../src/store/migrate.ts';
import { PostgresDatabase } from '../src/store/postgres.ts';
import { DIRECTORY_TYPES } from '../src/access/policy.ts';
import { URA_SYSTEM } from '../src/fhir/identifier-systems.ts';

const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) {
  console.error('DATABASE_URL must name a PostgreSQL server (any database): the benchmark makes its own beside it');
  process.exit(2);
}
const matching = Number(process.env.SEARCH_TASKS ?? 20_000);
const other = Number(process.env.SEARCH_OTHER ?? 3_000);
const dbName = `search_plan_${process.pid}`;
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${dbName}`);
const url = new URL(adminUrl);
url.pathname = `/${dbName}`;
const db = new PostgresDatabase({ connectionString: url.toString(), maxConnections: 2 });

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

try {
  await migrate(db);
  const OWNER = 'owner-org';
  const OWNER_URA = '90000001';
  const REQUESTER_URA = '90000002';
  // Tasks as the gateway indexes them (tokens and parties), ~1.5 KB of content each; the other Tasks belong to other owners.
  await db.query(
    `INSERT INTO resources (resource_type, id, version_id, last_updated, content, tokens, parties)
     SELECT 'Task', 't' || g, 1, now() - (g || ' seconds')::interval,
            jsonb_build_object('resourceType', 'Task', 'id', 't' || g, 'status', CASE WHEN g <= $1::int THEN 'requested' ELSE 'accepted' END,
              'intent', 'order', 'owner', jsonb_build_object('reference', 'Organization/' || CASE WHEN g <= $1::int THEN $3 ELSE 'o' || (g % 50) END),
              'requester', jsonb_build_object('reference', 'Organization/req'), 'description', repeat('x', 1400)),
            ARRAY['status=' || CASE WHEN g <= $1::int THEN 'requested' ELSE 'accepted' END,
                  'status=http://hl7.org/fhir/task-status|' || CASE WHEN g <= $1::int THEN 'requested' ELSE 'accepted' END,
                  'owner=Organization/' || CASE WHEN g <= $1::int THEN $3 ELSE 'o' || (g % 50) END,
                  'owner=' || CASE WHEN g <= $1::int THEN $3 ELSE 'o' || (g % 50) END,
                  'requester=Organization/req', 'requester=req', 'focus=ServiceRequest/s' || g, 'patient=Patient/p' || g, 'subject=Patient/p' || g],
            ARRAY[CASE WHEN g <= $1::int THEN $4 ELSE 'u' || (g % 50) END, $5]
     FROM generate_series(1, $1::int + $2::int) g`,
    [matching, other, OWNER, OWNER_URA, REQUESTER_URA],
  );
  // The owner's Organization, so that a search may name it by URA (owner:identifier=, owner.identifier=).
  await db.query(
    `INSERT INTO resources (resource_type, id, version_id, last_updated, content, tokens, parties)
     VALUES ('Organization', $1, 1, now(), '{"resourceType":"Organization"}', ARRAY['identifier=' || $2 || '|' || $3, 'identifier=' || $3], ARRAY[$3])`,
    [OWNER, URA_SYSTEM, OWNER_URA],
  );
  await db.query('ANALYZE resources');
  const registry = SearchParameterRegistry.load(join(import.meta.dirname, '../profiles/search-parameters/bundle.json'));
  const scope = { parties: [OWNER_URA], open: DIRECTORY_TYPES };
  const query = { owner: [`Organization/${OWNER}`], status: ['requested'] };
  const req = parseSearch(registry, 'Task', query);
  console.log(`search Task?owner=Organization/${OWNER}&status=requested as the owner: ${matching} matches among ${matching + other} Tasks, page of ${req.count}`);

  // Through the gateway's code: what a request costs the database now, default total behaviour and _total=accurate,
  // and the same search naming the owner by URA (a chain through the Organization).
  const cases: [string, Record<string, string[]>][] = [
    ['default total', query],
    ['_total=accurate', { ...query, _total: ['accurate'] }],
    ['owner:identifier', { 'owner:identifier': [`${URA_SYSTEM}|${OWNER_URA}`], status: ['requested'] }],
    ['page 50 (offset 1000)', { ...query, _offset: ['1000'] }],
  ];
  for (const [label, q] of cases) {
    const r = parseSearch(registry, 'Task', q, { planPerCall: true });
    const times: number[] = [];
    let result: Awaited<ReturnType<typeof runSearch>> | undefined;
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      result = await runSearch(db, r, scope);
      times.push(performance.now() - t0);
    }
    console.log(`  runSearch, ${label.padEnd(22)} median ${median(times.slice(5)).toFixed(2)} ms (30 runs), ${result?.resources.length} entries, total ${result?.total ?? 'none'}, more ${result?.more}`);
  }
  {
    const { where, params } = buildWhere(await resolveChains(db, parseSearch(registry, 'Task', cases[2]?.[1] ?? {}, { planPerCall: true }), scope), scope);
    const plan = await db.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT r.id FROM resources r WHERE ${where} ORDER BY r.last_updated DESC, r.id DESC LIMIT 21 OFFSET 0`,
      params,
      { prepare: false },
    );
    console.log('  owner:identifier page (the chain resolved first), planned for its values:');
    for (const row of plan.rows) console.log(`      ${row['QUERY PLAN']}`);
  }

  // What planning per call costs a selective lookup (the kind native ingest makes): the same statement prepared and not.
  {
    const { where, params } = buildWhere(parseSearch(registry, 'Task', { focus: ['ServiceRequest/s77'] }), scope);
    const sql = `SELECT r.id FROM resources r WHERE ${where} ORDER BY r.last_updated DESC, r.id DESC LIMIT 3 OFFSET 0`;
    const timed = async (prepare: boolean): Promise<number> => {
      const times: number[] = [];
      for (let i = 0; i < 300; i++) {
        const t0 = performance.now();
        await db.query(sql, params, { prepare });
        times.push(performance.now() - t0);
      }
      return median(times.slice(20));
    };
    const planned = await timed(false);
    const prepared = await timed(true);
    console.log(`  a selective lookup (Task?focus=…): prepared median ${prepared.toFixed(3)} ms, planned per call ${planned.toFixed(3)} ms`);
  }

  // The page statement itself, as a prepared statement under each plan cache mode: what it costs whatever the cache does.
  const { where, params } = buildWhere(req, scope);
  const page = `SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.content, r.parties FROM resources r WHERE ${where}
     ORDER BY r.last_updated DESC, r.id DESC LIMIT $${params.length + 1} OFFSET $${params.length + 2}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const types = params.map((p) => (Array.isArray(p) ? 'text[]' : 'text'));
    await client.query(`PREPARE page(${[...types, 'int', 'int'].join(', ')}) AS ${page}`);
    const literal = (v: unknown): string => (Array.isArray(v) ? `ARRAY[${v.map((x) => `'${String(x)}'`).join(',')}]::text[]` : `'${String(v)}'`);
    const args = [...params, req.count, 0].map(literal).join(', ');
    for (const mode of ['force_custom_plan', 'force_generic_plan']) {
      await client.query(`SET plan_cache_mode = ${mode}`);
      const times: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        await client.query(`EXECUTE page(${args})`);
        times.push(performance.now() - t0);
      }
      const plan = (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) EXECUTE page(${args})`)).rows.map((r) => r['QUERY PLAN']);
      console.log(`  page statement, ${mode.padEnd(18)} median ${median(times.slice(3)).toFixed(2)} ms round trip`);
      for (const line of plan) console.log(`      ${line}`);
    }
    await client.query('RESET plan_cache_mode');
    const t0 = performance.now();
    const plan = (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT count(*) FROM resources r WHERE ${where}`, params)).rows.map((r) => r['QUERY PLAN']);
    console.log(`  count(*) of all matches (what an accurate total costs): ${(performance.now() - t0).toFixed(1)} ms`);
    for (const line of plan) console.log(`      ${line}`);
  } finally {
    await client.end();
  }
} finally {
  await db.close();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName}`);
  await admin.end();
}
