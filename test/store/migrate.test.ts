// Migrations by checksum, on PostgreSQL (npm test) and PGlite (npm run test:pglite): an applied migration that
// was edited afterwards stops the start with a clear error instead of being skipped silently; databases made
// before checksums were kept get theirs; a new migration is applied once.
import { EditedMigrationError, loadMigrations, migrate, migrationChecksum, type Migration } from '../../src/store/migrate.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { chainHash, GENESIS_HASH, linkAll, RECORD_COLUMNS, type EventRecord } from '../../src/audit/chain.ts';
import { toAuditRow, type AuditRow } from '../../src/audit/event.ts';
import { AUDIT_CONTENT, insertAuditRows } from '../../src/audit/store.ts';
import { verifyChain } from '../../src/audit/verify.ts';
import type { Database } from '../../src/store/database.ts';
import { PostgresDatabase } from '../../src/store/postgres.ts';

let testDb: TestDatabase;
const migrations = loadMigrations();

beforeAll(async () => {
  testDb = await createTestDatabase({ prefix: 'migrate', migrate: false });
  await migrate(testDb.db, migrations);
});
afterAll(async () => {
  await testDb?.drop();
});

const checksums = async (): Promise<Map<number, string | null>> =>
  new Map((await testDb.db.query<{ version: number; checksum: string | null }>('SELECT version, checksum FROM schema_migrations')).rows.map((r) => [r.version, r.checksum]));

test('every applied migration is recorded with the checksum of its text', async () => {
  const stored = await checksums();
  for (const m of migrations) expect(stored.get(m.version)).toBe(migrationChecksum(m));
});

test('an applied migration whose text changed stops the migration, naming the file', async () => {
  const edited: Migration[] = migrations.map((m) => (m.version === 3 ? { ...m, sql: `${m.sql}\n-- a later edit\n` } : m));
  const failure = await migrate(testDb.db, edited).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(failure).toBeInstanceOf(EditedMigrationError);
  expect(String((failure as Error).message)).toContain('003_');
  // Nothing was written by the refused run.
  expect((await checksums()).get(3)).toBe(migrationChecksum(migrations[2]));
});

test('a database from before checksums gets them, and a new migration is applied exactly once', async () => {
  await testDb.db.query('UPDATE schema_migrations SET checksum = NULL');
  const extra: Migration = { version: 999, name: 'test_only_table', sql: 'CREATE TABLE migrate_test_only (id integer)' };
  expect(await migrate(testDb.db, [...migrations, extra])).toEqual([999]);
  expect(await migrate(testDb.db, [...migrations, extra])).toEqual([]);
  const stored = await checksums();
  for (const m of [...migrations, extra]) expect(stored.get(m.version)).toBe(migrationChecksum(m));
});

test('026 keeps every version of a database written before it once: the history rows repeating the current version go', async () => {
  const old = await createTestDatabase({ prefix: 'migrate026', migrate: false });
  try {
    await migrate(old.db, migrations.filter((m) => m.version < 26));
    // As the gateway wrote before 026: every version in resource_history, the current one in resources too.
    const row = (v: number, family: string): unknown[] => ['Patient', 'p1', v, `2026-01-0${v}T00:00:00Z`, false, JSON.stringify({ resourceType: 'Patient', id: 'p1', meta: { versionId: String(v) }, name: [{ family }] })];
    for (const [v, family] of [[1, 'A'], [2, 'B'], [3, 'C']] as const) {
      await old.db.query('INSERT INTO resource_history (resource_type, id, version_id, last_updated, deleted, content) VALUES ($1, $2, $3, $4, $5, $6)', row(v, family));
    }
    await old.db.query("INSERT INTO resources (resource_type, id, version_id, last_updated, deleted, content, parties) VALUES ($1, $2, $3, $4, $5, $6, '{90001234}')", row(3, 'C'));
    expect(await migrate(old.db, migrations.filter((m) => m.version <= 26))).toEqual([26]);
    const versions = async (table: string): Promise<string[]> =>
      (await old.db.query<{ v: string; family: string }>(`SELECT version_id::text AS v, content->'name'->0->>'family' AS family FROM ${table} WHERE id = 'p1' ORDER BY version_id`)).rows.map((r) => `${r.v}:${r.family}`);
    expect(await versions('resource_history')).toEqual(['1:A', '2:B']);
    expect(await versions('resource_versions')).toEqual(['1:A', '2:B', '3:C']);
    // Applied once; and its statement deletes nothing the second time.
    expect(await migrate(old.db, migrations.filter((m) => m.version <= 26))).toEqual([]);
    const again = migrations.find((m) => m.version === 26);
    await old.db.exec((again?.sql ?? '').replace(/CREATE VIEW[\s\S]*$/, ''));
    expect(await versions('resource_versions')).toEqual(['1:A', '2:B', '3:C']);
  } finally {
    await old.drop();
  }
});

test('027 keeps the audit chain verifying: links made before it (both forms) and after it, the AuditEvents read back unchanged', async () => {
  const old = await createTestDatabase({ prefix: 'migrate027', migrate: false });
  let after: Database | undefined;
  const rows = (n: number, tag: string): AuditRow[] =>
    Array.from({ length: n }, (_, i) =>
      toAuditRow({
        type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
        subtype: { system: 'http://hl7.org/fhir/restful-interaction', code: 'read' },
        action: 'R',
        outcome: '0',
        status: 200,
        organizationUra: '90001234',
        clientId: 'hap-vechtdal',
        requestId: `${tag}-${i}`,
        patient: 'Patient/p1',
        resource: { type: 'Task', id: `t${i}`, version: '1' },
        entities: [`Task/t${i}/_history/1`, 'Patient/p1'],
        description: `GET /fhir/Task/t${i} — één “lezing” 1.0e3`,
      }),
    );
  try {
    await migrate(old.db, migrations.filter((m) => m.version < 27));
    // Links as a linker before migration 024 made them: the AuditEvent itself in the record hashed.
    const first = rows(3, 'before-024');
    await insertAuditRows(old.db, first);
    // Linked as a linker of that schema did, the AuditEvent in `content` (jsonb): the first rows in the form before
    // migration 024 (the AuditEvent itself hashed), the next in the form since (the SHA-256 of its jsonb text).
    let prev = GENESIS_HASH;
    let seq = 0;
    const linkAt026 = async (digested: boolean): Promise<void> => {
      const sealed = (await old.db.query<{ x: string; at: string }>(`SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS x, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at`)).rows[0]!;
      const content = digested ? `encode(sha256(convert_to(e.content::text, 'UTF8')), 'hex') AS content_sha256` : 'e.content';
      const records = (
        await old.db.query<EventRecord>(`SELECT ${RECORD_COLUMNS}, ${content} FROM audit_events e WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = e.id) ORDER BY e.txid, e.id`)
      ).rows;
      for (const event of records) {
        const link = { seq: String(++seq), linkedAt: sealed.at, sealedBelow: sealed.x };
        const hash = chainHash(prev, link, event);
        await old.db.query('INSERT INTO audit_chain (seq, event_id, linked_at, sealed_below, prev_hash, hash, content_as_sha256) VALUES ($1, $2, $3, $4::xid8, $5, $6, $7)', [
          link.seq,
          event.id,
          link.linkedAt,
          link.sealedBelow,
          prev,
          hash,
          digested,
        ]);
        prev = hash;
      }
    };
    await linkAt026(false);
    const second = rows(3, 'before-027');
    await insertAuditRows(old.db, second);
    await linkAt026(true);
    expect((await old.db.query<{ n: string }>('SELECT count(*)::text AS n FROM audit_chain')).rows[0]?.n).toBe('6');

    expect(await migrate(old.db, migrations.filter((m) => m.version <= 27))).toEqual([27]);
    // New connections, as a gateway started after the migration has: statements prepared before it by this pool
    // still return jsonb (PostgreSQL refuses to run them: "cached plan must not change result type").
    after = old.url ? new PostgresDatabase({ connectionString: old.url, maxConnections: 2 }) : old.db;
    const columns = (await after.query<{ c: string; t: string }>(`SELECT column_name AS c, data_type AS t FROM information_schema.columns WHERE table_name = 'audit_events' AND column_name LIKE 'content%' ORDER BY 1`)).rows;
    expect(columns).toEqual([{ c: 'content', t: 'json' }, { c: 'content_jsonb', t: 'jsonb' }]);
    // Nothing rewritten: the rows from before keep their jsonb, untouched.
    expect((await after.query<{ n: string }>(`SELECT count(*)::text AS n FROM audit_events WHERE content IS NULL AND content_jsonb IS NOT NULL`)).rows[0]?.n).toBe('6');
    expect(await verifyChain(after)).toMatchObject({ intact: true, linked: 6, pending: 0 });

    // Written after it: stored as the very text sent, linked after the old head, all verifying.
    const third = rows(3, 'after-027');
    await insertAuditRows(after, third);
    // The linker links only rows below the oldest transaction open on the whole server (ids are server-wide): while
    // another test file's transaction is open a pass links less, by design, so pass again until it has caught up.
    const linkedAfter = after;
    const caughtUp = async (): Promise<boolean> => {
      await linkAll(linkedAfter);
      return (await verifyChain(linkedAfter)).pending === 0;
    };
    for (let i = 0; i < 300 && !(await caughtUp()); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await verifyChain(after)).toMatchObject({ intact: true, linked: 9, pending: 0 });
    const stored = (await after.query<{ request_id: string; text: string; content: unknown }>(`SELECT request_id, ${AUDIT_CONTENT('e')}::text AS text, ${AUDIT_CONTENT('e')} AS content FROM audit_events e ORDER BY id`)).rows;
    const sent = [...first, ...second, ...third];
    expect(stored.map((r) => r.content)).toEqual(sent.map((r) => r.content));
    expect(stored.slice(6).map((r) => r.text)).toEqual(third.map((r) => JSON.stringify(r.content)));
  } finally {
    await old.drop();
  }
});
