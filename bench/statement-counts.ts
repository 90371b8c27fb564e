// Statements per operation, counted by pg_stat_statements: what a Task read, a Task search (a page of 20 of 200
// matches, `Task?status=requested&owner=…`), a native NTS handover, its identical re-send and its next sequence cost PostgreSQL in round trips, independent of how busy the machine is (the CPU figures of a shared
// VM are not). Needs a server with pg_stat_statements preloaded (shared_preload_libraries) and a database of
// its own, e.g. a private cluster:
//   initdb -D /tmp/pg -A trust -U postgres; pg_ctl -D /tmp/pg -o '-p 5433 -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_planning=on' start
//   DATABASE_URL=postgres://postgres@127.0.0.1:5433/counts node bench/statement-counts.ts
// Per statement: calls, execution and planning time (planning only with track_planning on), rows, blocks read and
// dirtied, WAL bytes, each per call of the operation. Execution time is wall time (it moves with the machine's load);
// blocks read do not, and say when a plan reads more than it needs (a scan that grows with the table).
// Options: BENCH_CLIENTS (32; 2 keeps the times near the work itself), BENCH_COUNT (calls per operation, 500),
// BENCH_GATEWAY_ROOT (another checkout: its gateway, measured the same way, for a before/after).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { demoToken, startGatewayProcess } from './lib/gateway-process.ts';
import { bsn } from './lib/ingest.ts';
import { seedTasks } from './lib/seed-tasks.ts';
import { benchServiceRequest, benchTask } from './lib/bench-resources.ts';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL must name an empty database on a server with pg_stat_statements preloaded');
  process.exit(2);
}
const clients = Number(process.env.BENCH_CLIENTS ?? 32);
const count = Number(process.env.BENCH_COUNT ?? 500);
const example = JSON.parse(readFileSync(join(import.meta.dirname, '../test/fixtures/native-examples/nts-u1-pijn-op-de-borst-naar-ambulance.json'), 'utf8')) as Record<string, unknown>;

const admin = new pg.Client({ connectionString: databaseUrl });
await admin.connect();
await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
const gateway = await startGatewayProcess({ DATABASE_URL: databaseUrl, DEMO: '1' });

/** Runs `call` `count` times from `clients` workers. */
async function calls(call: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: clients }, async () => {
    for (let i = next++; i < count; i = next++) await call(i);
  }));
}

/** Statements of this database between a reset and now, by text, per call of the operation. */
async function measure(label: string, call: (i: number) => Promise<void>): Promise<void> {
  await calls(call);
  // The linker's work is the chain's, counted apart: wait for a quiet second, then reset.
  await new Promise((r) => setTimeout(r, 1500));
  await admin.query('SELECT pg_stat_statements_reset()');
  await calls(call);
  const r = await admin.query<{ calls: string; ms: number; plan: number; rows: string; hit: string; dirtied: string; wal: string; query: string }>(
    `SELECT s.calls::text AS calls, s.total_exec_time AS ms, s.total_plan_time AS plan, s.rows::text AS rows, (s.shared_blks_hit + s.shared_blks_read)::text AS hit, s.shared_blks_dirtied::text AS dirtied, s.wal_bytes::text AS wal,
            regexp_replace(s.query, '\\s+', ' ', 'g') AS query FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
      WHERE d.datname = current_database() AND s.query NOT LIKE '%pg_stat_statements%' ORDER BY s.calls DESC`,
  );
  const total = r.rows.reduce((n, x) => n + Number(x.calls), 0);
  const totalMs = r.rows.reduce((n, x) => n + x.ms, 0);
  const totalPlan = r.rows.reduce((n, x) => n + x.plan, 0);
  const totalWal = r.rows.reduce((n, x) => n + Number(x.wal), 0);
  const totalHit = r.rows.reduce((n, x) => n + Number(x.hit), 0);
  const totalDirtied = r.rows.reduce((n, x) => n + Number(x.dirtied), 0);
  // Execution time (pg_stat_statements' total_exec_time) per call of the operation: where PostgreSQL's time goes.
  console.log(`${label}: ${(total / count).toFixed(2)} statements, ${(totalMs / count).toFixed(3)} ms executing, ${(totalPlan / count).toFixed(3)} ms planning (with pg_stat_statements.track_planning on), ${(totalWal / count / 1024).toFixed(1)} KB WAL, ${(totalHit / count).toFixed(0)} blocks read (a count the machine's load does not move), ${(totalDirtied / count).toFixed(1)} dirtied per call (${count} calls, ${clients} clients)`);
  // Rows, blocks dirtied and WAL bytes per call of the operation: what each statement writes, which the CPU
  // figures of a shared machine hide.
  console.log('  calls  ms/call  plan ms   rows    read  dirtied  WAL KB  statement');
  for (const x of r.rows) {
    if (Number(x.calls) / count < 0.01) continue;
    const per = (v: string | number, digits: number): string => (Number(v) / count).toFixed(digits);
    console.log(`  ${per(x.calls, 2).padStart(5)}  ${per(x.ms, 3).padStart(7)}  ${per(x.plan, 3).padStart(7)}  ${per(x.rows, 2).padStart(5)}  ${per(x.hit, 1).padStart(6)}  ${per(x.dirtied, 2).padStart(7)}  ${(Number(x.wal) / count / 1024).toFixed(2).padStart(6)}  ${x.query.slice(0, 110)}`);
  }
}

try {
  const token = await demoToken(gateway.url, 'hap-vechtdal');
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/fhir+json' };
  const created = await fetch(`${gateway.url}/fhir/Patient`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ resourceType: 'Patient', identifier: [{ system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: '999990111' }], name: [{ family: 'Count', given: ['Test'] }], gender: 'unknown', birthDate: '1950-01-01' }),
  });
  if (created.status !== 201) throw new Error(`create Patient: ${created.status} ${await created.text()}`);
  const patient = (await created.json()) as { id: string };
  await measure('GET Patient/{id}', async () => {
    const res = await fetch(`${gateway.url}/fhir/Patient/${patient.id}`, { headers });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`read: ${res.status}`);
  });
  // A Task as bench/lib/fhir-ops.ts creates it (owner and requester found by URA), then read back.
  const orgRef = async (ura: string): Promise<string> => {
    const res = await fetch(`${gateway.url}/fhir/Organization?identifier=http://fhir.nl/fhir/NamingSystem/ura|${ura}`, { headers });
    return `Organization/${((await res.json()) as { entry: { resource: { id: string } }[] }).entry[0]?.resource.id}`;
  };
  const requester = await orgRef('90001234');
  const owner = await orgRef('90004567');
  const order = await fetch(`${gateway.url}/fhir/ServiceRequest`, { method: 'POST', headers, body: JSON.stringify(benchServiceRequest(`Patient/${patient.id}`, requester, owner)) });
  if (order.status !== 201) throw new Error(`create ServiceRequest: ${order.status} ${await order.text()}`);
  const task = benchTask(requester, owner, new Date().toISOString(), { patient: `Patient/${patient.id}`, serviceRequest: `ServiceRequest/${((await order.json()) as { id: string }).id}` });
  const taskIds: string[] = [];
  await measure('POST Task (return=minimal)', async () => {
    const res = await fetch(`${gateway.url}/fhir/Task`, { method: 'POST', headers: { ...headers, Prefer: 'return=minimal' }, body: JSON.stringify(task) });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`create Task: ${res.status} ${text.slice(0, 300)}`);
    taskIds.push(/Task\/([^/]+)/.exec(res.headers.get('location') ?? '')?.[1] ?? '');
  });
  await measure('GET Task/{id}', async (i) => {
    const res = await fetch(`${gateway.url}/fhir/Task/${taskIds[i % taskIds.length]}`, { headers });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`read Task: ${res.status}`);
  });
  await seedTasks(databaseUrl, 200, owner, requester, ['90001234', '90004567']);
  await admin.query('ANALYZE');
  await measure('GET Task?status=requested&owner=… (a page of 20)', async () => {
    const res = await fetch(`${gateway.url}/fhir/Task?status=requested&owner=${encodeURIComponent(owner)}&_count=20`, { headers });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`search: ${res.status}`);
  });
  const run = Date.now().toString(36);
  const nativeHeaders = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
  let n = 0;
  await measure('POST /native/nts (a new handover)', async () => {
    const i = ++n;
    const body = JSON.stringify({ ...example, contactId: `COUNT-${run}-${i}`, patient: { ...(example.patient as object), bsn: bsn(Number.parseInt(run.slice(-4), 36) * 1000 + i) } });
    const res = await fetch(`${gateway.url}/native/nts`, { method: 'POST', headers: nativeHeaders, body });
    await res.arrayBuffer();
    if (res.status !== 201) throw new Error(`ingest: ${res.status}`);
  });
  // The same records again (measure() sends its calls twice, a warm-up then the counted pass): each record's next
  // sequence with a changed phone number (its Patient updated, the rest the same), then that sequence re-sent as it was
  // (the ledger answers what it answered before); and an updated handover counted on its own.
  const record = (i: number, sequence: number, phone: string): string =>
    JSON.stringify({ ...example, contactId: `COUNT-${run}-${i}`, volgnummer: sequence, patient: { ...(example.patient as object), bsn: bsn(Number.parseInt(run.slice(-4), 36) * 1000 + i), telefoon: phone } });
  const again = async (body: string, label: string): Promise<void> => {
    const res = await fetch(`${gateway.url}/native/nts`, { method: 'POST', headers: nativeHeaders, body });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${label}: ${res.status}`);
  };
  await measure('POST /native/nts (an identical re-send: the counted pass re-sends each record\'s sequence 2)', (i) => again(record(i + 1, 2, '038-4219999'), 're-send'));
  let k = 0;
  await measure('POST /native/nts (an updated handover: a record\'s next sequence, its patient\'s phone changed)', async () => {
    const pass = Math.floor(k / count);
    const i = (k++ % count) + 1;
    await again(record(i, 3 + pass, `038-42${String(1000 * pass + i).padStart(5, '0')}`), 'update');
  });
} finally {
  await gateway.stop();
  await admin.end();
}
