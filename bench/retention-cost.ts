// What the retention indexes of migration 011 cost the hot path, measured in ways a busy shared machine does not
// blur: WAL bytes written per hot-path write (the work an index adds shows there, whatever the load), with the
// indexes and without them, alternated; the time of the same loops as a rough second figure; and the plans of
// the claim and of one pruning batch on big tables.
// Run: node bench/retention-cost.ts   (PostgreSQL from BENCH_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres;
// BENCH_ROWS rows per table, default 300000; a scratch database is made and dropped)
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../src/store/migrate.ts';
import { PostgresDatabase } from '../src/store/postgres.ts';

const adminUrl = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const rows = Number(process.env.BENCH_ROWS ?? 300_000);
const loops = 3000;
const name = `bench_retention_${randomBytes(4).toString('hex')}`;
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${name}`);
const url = adminUrl.replace(/\/[^/]*$/, `/${name}`);
try {
  const db = new PostgresDatabase({ connectionString: url, maxConnections: 2 });
  await migrate(db);
  await db.close();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const q = async (sql: string): Promise<pg.QueryResult> => c.query(sql);
  console.log(`filling: ${rows} ledger rows, ${rows} delivered events (+100 waiting), ${rows} conditional keys`);
  await q(`INSERT INTO subscription_state (id, owner_ura, status, secret, filters, endpoint, payload, timeout_seconds) VALUES ('s1', '90004567', 'active', 'x', '[]', 'http://127.0.0.1/hook', 'id-only', 10)`);
  await q(`INSERT INTO native_record_heads SELECT '90001234', 'nts', 'r' || i, 2 FROM generate_series(1, ${rows / 2}) i`);
  await q(`INSERT INTO native_records SELECT '90001234', 'nts', 'r' || ((i + 1) / 2), 1 + i % 2, 'h', 201, 'l', '{}', now() - make_interval(days => 60 - (i * 59 / ${rows})::int) FROM generate_series(1, ${rows}) i`);
  await q(`INSERT INTO subscription_events (subscription_id, event_number, handover_id, focus_version, task_status, occurred, state, next_attempt, delivered_at)
           SELECT 's1', i, 'h' || (i % 5000), 1, 'requested', now(), 'delivered', now(), now() - make_interval(days => 30 - (i * 29 / ${rows})::int) FROM generate_series(1, ${rows}) i`);
  await q(`INSERT INTO subscription_events (subscription_id, event_number, handover_id, focus_version, task_status, occurred, state, next_attempt)
           SELECT 's1', ${rows} + i, 'w' || i, 1, 'requested', now(), 'pending', now() FROM generate_series(1, 100) i`);
  await q(`UPDATE subscription_state SET events_count = ${rows + 100}`);
  await q(`INSERT INTO conditional_keys SELECT 'Patient', 'k' || i, 'p' || i, now() - make_interval(hours => 48 - (i * 47 / ${rows})::int) FROM generate_series(1, ${rows}) i`);
  await q('VACUUM ANALYZE');

  // One hot-path write of each table per iteration, as ingest and delivery do them (an event: inserted, claimed, delivered).
  const hot = (tag: string, base: number): string => `DO $$
    DECLARE eid bigint;
    BEGIN
      FOR i IN 1..${loops} LOOP
        INSERT INTO native_records VALUES ('90001234', 'nts', '${tag}' || i, 1, 'h', 201, 'l', '{}', now());
        INSERT INTO conditional_keys (resource_type, key, id) VALUES ('Patient', '${tag}' || i, 'x');
        INSERT INTO subscription_events (subscription_id, handover_id, focus_version, task_status, occurred, next_attempt, event_number)
          VALUES ('s1', '${tag}' || i, 1, 'requested', now(), now(), ${base} + i) RETURNING id INTO eid;
        UPDATE subscription_events SET state = 'sending', claimed_until = now() WHERE id = eid;
        UPDATE subscription_events SET state = 'delivered', delivered_at = now() WHERE id = eid;
      END LOOP;
    END $$`;
  const indexes = {
    drop: `DROP INDEX subscription_events_delivered_idx, subscription_events_sending_idx, native_records_received_idx, conditional_keys_created_idx`,
    create: `CREATE INDEX subscription_events_delivered_idx ON subscription_events (delivered_at) WHERE state = 'delivered';
             CREATE INDEX subscription_events_sending_idx ON subscription_events (subscription_id) WHERE state = 'sending';
             CREATE INDEX native_records_received_idx ON native_records (received_at);
             CREATE INDEX conditional_keys_created_idx ON conditional_keys (created_at);`,
  };
  let base = rows + 1000;
  const measure = async (label: string, round: number): Promise<void> => {
    base += loops;
    const lsn = async (): Promise<string> => (await q('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0].l as string;
    const before = await lsn();
    const t = performance.now();
    await q(hot(`${label}${round}x`, base));
    const ms = performance.now() - t;
    const wal = Number((await q(`SELECT pg_wal_lsn_diff('${await lsn()}', '${before}') AS d`)).rows[0].d);
    console.log(`  ${label.padEnd(16)} round ${round}: ${(wal / loops).toFixed(0)} WAL bytes and ${((ms * 1000) / loops).toFixed(0)} µs per iteration`);
  };
  console.log(`hot-path writes, ${loops} iterations each (1 ledger insert, 1 key insert, 1 event insert + 2 updates):`);
  // Alternated in ABBA order, so that neither side always comes first after a change of indexes.
  let present = true;
  for (const [round, want] of [[1, true], [1, false], [2, false], [2, true], [3, true], [3, false]] as const) {
    if (want !== present) await q(want ? indexes.create : indexes.drop);
    present = want;
    await measure(want ? 'with indexes' : 'without', round);
  }
  if (!present) await q(indexes.create);
  await q('ANALYZE');
  const plan = async (label: string, sql: string): Promise<void> => {
    const r = await q(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) ${sql}`);
    console.log(`${label}:\n${r.rows.map((x) => `    ${x['QUERY PLAN'] as string}`).join('\n')}`);
  };
  const claimNew = `WITH room AS (
         SELECT s.id, 4 - (SELECT count(*) FROM subscription_events b WHERE b.subscription_id = s.id AND b.state = 'sending' AND b.claimed_until >= now())::int AS n
           FROM subscription_state s WHERE s.status = 'active'
       ), candidates AS (
         SELECT c.id FROM room CROSS JOIN LATERAL (
             SELECT e.id, e.next_attempt, e.subscription_id, e.event_number FROM subscription_events e
              WHERE e.subscription_id = room.id AND e.state <> 'delivered' AND e.event_number IS NOT NULL
                AND ((e.state = 'pending' AND e.next_attempt <= now()) OR (e.state = 'sending' AND e.claimed_until < now()))
                AND NOT EXISTS (SELECT 1 FROM subscription_events p WHERE p.subscription_id = e.subscription_id AND p.handover_id = e.handover_id AND p.event_number < e.event_number AND p.state <> 'delivered')
              ORDER BY e.next_attempt, e.event_number LIMIT greatest(room.n, 0)) c
          LIMIT 32)
       SELECT e.id FROM subscription_events e WHERE e.id IN (SELECT id FROM candidates) FOR UPDATE OF e SKIP LOCKED`;
  // The claim as it was before HOOK_MAX_IN_FLIGHT_PER_SUBSCRIPTION (one LIMIT over every due event), for comparison.
  const claimOld = `SELECT e.id FROM subscription_events e JOIN subscription_state s ON s.id = e.subscription_id
         WHERE s.status = 'active' AND e.event_number IS NOT NULL
           AND ((e.state = 'pending' AND e.next_attempt <= now()) OR (e.state = 'sending' AND e.claimed_until < now()))
           AND NOT EXISTS (SELECT 1 FROM subscription_events p WHERE p.subscription_id = e.subscription_id AND p.handover_id = e.handover_id AND p.event_number < e.event_number AND p.state <> 'delivered')
         ORDER BY e.next_attempt, e.subscription_id, e.event_number LIMIT 32 FOR UPDATE OF e SKIP LOCKED`;
  await q('VACUUM ANALYZE subscription_events');
  const execution = async (sql: string): Promise<string> => {
    const r = await q(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) ${sql}`);
    const lines = r.rows.map((x) => x['QUERY PLAN'] as string);
    return `${lines.find((l) => l.startsWith('Execution Time'))?.replace('Execution Time: ', '')} (${lines[1]?.trim()})`;
  };
  for (let i = 1; i <= 3; i++) console.log(`the claim, 300,000 delivered and 100 waiting events in one subscription, run ${i}: old ${await execution(claimOld)}; new ${await execution(claimNew)}`);
  await plan('the claim (new)', claimNew);
  await plan('the ingest ledger lookup', `SELECT content_hash, location, response FROM native_records WHERE sender_ura = '90001234' AND format = 'nts' AND record_id = 'r77' AND sequence = 2`);
  await q('BEGIN');
  await plan('one pruning batch of delivered events (500)', `DELETE FROM subscription_events WHERE id IN (SELECT id FROM subscription_events WHERE state = 'delivered' AND delivered_at < now() - make_interval(days => 7) ORDER BY delivered_at LIMIT 500 FOR UPDATE SKIP LOCKED)`);
  await plan('one pruning batch of the ledger (500)', `DELETE FROM native_records WHERE (sender_ura, format, record_id, sequence) IN (SELECT n.sender_ura, n.format, n.record_id, n.sequence FROM native_records n JOIN native_record_heads h USING (sender_ura, format, record_id) WHERE n.received_at < now() - make_interval(days => 30) AND n.sequence < h.last_sequence ORDER BY n.received_at LIMIT 500 FOR UPDATE OF n SKIP LOCKED)`);
  await plan('one pruning batch of conditional keys (500)', `DELETE FROM conditional_keys WHERE (resource_type, key) IN (SELECT resource_type, key FROM conditional_keys WHERE created_at < now() - make_interval(hours => 24) ORDER BY created_at LIMIT 500 FOR UPDATE SKIP LOCKED)`);
  await q('ROLLBACK');
  await c.end();
} finally {
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}
