// Resource writes held back in a write transaction (src/store/write-behind.ts): those that follow each other go in
// one statement, every statement of the transaction that may read them sees the writes before it (one naming what it
// reads goes before those it cannot read; the commit batch takes them along), and a refused write still rolls the
// whole transaction back. Runs on PostgreSQL (npm test) and on PGlite (npm run test:pglite).
import { randomUUID } from 'node:crypto';
import type { Patient } from '@medplum/fhirtypes';
import { systemContext } from '../../src/context.ts';
import { COMMIT_BATCH, WritePipeline } from '../../src/fhir/write-phases.ts';
import type { Database, Tx } from '../../src/store/database.ts';
import type { WriteBehindTx } from '../../src/store/write-behind.ts';
import { resourceStore, type StoredVersion } from '../../src/store/resource-store.ts';
import type { IndexValues } from '../../src/fhir/search/index-values.ts';
import { parseKeepingNumberTexts } from '../../src/fhir/number-text.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let testDb: TestDatabase;
const pipeline = new WritePipeline({});
const ctx = systemContext('write-behind-test');
const NO_INDEX = { tokens: [], strings: [], dates: [] };

beforeAll(async () => {
  testDb = await createTestDatabase({ prefix: 'writebehind' });
});
afterAll(async () => {
  await testDb?.drop();
});

/** The database, with every statement its transactions send recorded in `sent`. */
function recording(sent: string[]): Pick<Database, 'transaction'> {
  return {
    transaction: async (work) =>
      testDb.db.transaction(async (tx) => {
        const recorded: Tx = {
          query: async (sql, params, options) => {
            // A statement sent ahead of this one (the held writes, in its round trip) is sent before it.
            for (const ahead of options?.ahead ?? []) sent.push(ahead.sql);
            sent.push(sql);
            return tx.query(sql, params, options);
          },
          exec: async (sql) => {
            sent.push(sql);
            return tx.exec(sql);
          },
        };
        return work(recorded);
      }),
  };
}

function patient(id: string, versionId: string, family: string): StoredVersion {
  const lastUpdated = new Date().toISOString();
  const content: Patient = { resourceType: 'Patient', id, meta: { versionId, lastUpdated }, name: [{ family }] };
  return { resourceType: 'Patient', id, versionId, lastUpdated, deleted: false, content };
}

test('writes that follow each other go in one statement, sent before the next statement, which sees them', async () => {
  const sent: string[] = [];
  const a = randomUUID();
  const b = randomUUID();
  await pipeline.transaction(recording(sent), ctx, async ({ tx }) => {
    await resourceStore.write(tx, patient(a, '1', 'A'), NO_INDEX, [], true);
    await resourceStore.write(tx, patient(b, '1', 'B'), NO_INDEX, [], true);
    expect(sent).toHaveLength(0);
    const read = await resourceStore.current(tx, 'Patient', b, true);
    expect(read?.content).toMatchObject({ name: [{ family: 'B' }] });
    expect(sent).toHaveLength(2);
    // Both creates are rows of one INSERT: one part of the statement, whatever their number.
    expect(sent[0]).toContain('jsonb_to_recordset');
    expect(sent[0]).not.toContain('w1_');
    // Two changes of one row never share a statement: the second would not see the first.
    await resourceStore.write(tx, patient(a, '2', 'A2'), NO_INDEX, [], false);
    await resourceStore.write(tx, patient(a, '3', 'A3'), NO_INDEX, [], false);
    expect(sent).toHaveLength(3);
  });
  // The last write went at the end of the transaction, before COMMIT.
  expect(sent).toHaveLength(4);
  expect((await resourceStore.current(testDb.db, 'Patient', a))?.versionId).toBe('3');
  expect((await resourceStore.version(testDb.db, 'Patient', a, '2'))?.content).toMatchObject({ name: [{ family: 'A2' }] });
  // Every version once: the replaced ones in resource_history, the current one only in resources (migration 026).
  expect((await resourceStore.version(testDb.db, 'Patient', a, '1'))?.content).toMatchObject({ name: [{ family: 'A' }] });
  expect((await resourceStore.version(testDb.db, 'Patient', a, '3'))?.content).toMatchObject({ name: [{ family: 'A3' }] });
  const stored = await testDb.db.query<{ history: string; versions: string }>(
    `SELECT (SELECT string_agg(version_id::text, ',' ORDER BY version_id) FROM resource_history WHERE resource_type = 'Patient' AND id = $1) AS history,
            (SELECT string_agg(version_id::text, ',' ORDER BY version_id) FROM resource_versions WHERE resource_type = 'Patient' AND id = $1) AS versions`,
    [a],
  );
  expect(stored.rows[0]).toEqual({ history: '1,2', versions: '1,2,3' });
  expect((await resourceStore.current(testDb.db, 'Patient', b))?.versionId).toBe('1');
});

test('a statement naming what it reads goes before held writes it cannot read; one reading one of them sends them all first', async () => {
  const sent: string[] = [];
  const a = randomUUID();
  const b = randomUUID();
  await pipeline.transaction(recording(sent), ctx, async ({ tx }) => {
    await resourceStore.write(tx, patient(a, '1', 'A'), NO_INDEX, [], true);
    // Another row by its key, and another type: the held Patient is neither, and stays held.
    expect(await resourceStore.current(tx, 'Patient', b)).toBeUndefined();
    await tx.query(`SELECT count(*) FROM resources WHERE resource_type = 'Task'`, [], { reads: ['Task'] });
    expect(sent).toHaveLength(2);
    expect(sent.some((sql) => sql.includes('w0_cur'))).toBe(false);
    await resourceStore.write(tx, patient(b, '1', 'B'), NO_INDEX, [], true);
    // A read of the type: every held write goes first, in the order held, in one statement, and it sees both.
    const found = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM resources WHERE resource_type = 'Patient' AND id = ANY($1::text[])`, [[a, b]], { reads: ['Patient'] });
    expect(found.rows[0]?.n).toBe(2);
    expect(sent).toHaveLength(4);
    expect(sent[2]).toContain('w0_cur');
    expect(sent[2]).not.toContain('w1_');
  });
});

test('creates that follow each other are rows of the same INSERTs: every row, its index rows and its number texts stored, one text for any number of them', async () => {
  const sent: string[] = [];
  const ids = [randomUUID(), randomUUID(), randomUUID()];
  const index = (n: number): IndexValues => ({
    tokens: [`identifier=x|${n}`, 'gender=female'],
    strings: [{ param: 'family', value: `family${n}` }, { param: 'name', value: `given${n}` }],
    dates: [{ param: 'birthdate', low: `190${n}-01-01T00:00:00.000Z`, high: `190${n}-12-31T23:59:59.999Z` }],
  });
  const withText = (v: StoredVersion): StoredVersion => {
    // A decimal sent as `37.0` keeps its text (src/fhir/number-text.ts), through the shared JSON parameter too.
    const content = parseKeepingNumberTexts(JSON.stringify({ ...v.content, extension: [{ url: 'urn:test', valueDecimal: 1 }] }).replace('"valueDecimal":1', '"valueDecimal":37.0')) as Patient;
    return { ...v, content };
  };
  await pipeline.transaction(recording(sent), ctx, async ({ tx }) => {
    for (const [n, id] of ids.entries()) await resourceStore.write(tx, withText(patient(id, '1', `F${n}`)), index(n), [`9000000${n}`], true);
  });
  expect(sent).toHaveLength(1);
  // Two creates are sent as the same text as three; one alone keeps its own VALUES.
  const two: string[] = [];
  await pipeline.transaction(recording(two), ctx, async ({ tx }) => {
    await resourceStore.write(tx, patient(randomUUID(), '1', 'One'), index(3), [], true);
    await resourceStore.write(tx, patient(randomUUID(), '1', 'Two'), index(4), [], true);
  });
  expect(two).toEqual(sent);
  // Without string or date index rows, their INSERTs are left out of the statement (each a plan node set up at every call).
  const bare: string[] = [];
  await pipeline.transaction(recording(bare), ctx, async ({ tx }) => {
    await resourceStore.write(tx, patient(randomUUID(), '1', 'One'), NO_INDEX, [], true);
    await resourceStore.write(tx, patient(randomUUID(), '1', 'Two'), NO_INDEX, [], true);
  });
  expect(bare).toHaveLength(1);
  expect(bare[0]).not.toMatch(/search_string|search_date/);
  const one: string[] = [];
  await pipeline.transaction(recording(one), ctx, async ({ tx }) => resourceStore.write(tx, patient(randomUUID(), '1', 'Alone'), NO_INDEX, [], true));
  expect(one[0]).toContain('VALUES');
  for (const [n, id] of ids.entries()) {
    const row = await testDb.db.query<{ tokens: string[]; parties: string[]; version_id: string; strings: string; dates: string }>(
      `SELECT r.tokens, r.parties, r.version_id::text AS version_id,
              (SELECT string_agg(param || '=' || value, ',' ORDER BY param) FROM search_string s WHERE s.resource_type = r.resource_type AND s.id = r.id) AS strings,
              (SELECT string_agg(param || '=' || to_char(low AT TIME ZONE 'UTC', 'YYYY') || '..' || to_char(high AT TIME ZONE 'UTC', 'YYYY-MM-DD'), ',') FROM search_date d WHERE d.resource_type = r.resource_type AND d.id = r.id) AS dates
         FROM resources r WHERE r.resource_type = 'Patient' AND r.id = $1`,
      [id],
    );
    expect(row.rows[0]).toEqual({ tokens: [`identifier=x|${n}`, 'gender=female'], parties: [`9000000${n}`], version_id: '1', strings: `family=family${n},name=given${n}`, dates: `birthdate=190${n}..190${n}-12-31` });
    const stored = await resourceStore.current(testDb.db, 'Patient', id);
    expect(stored?.content).toMatchObject({ name: [{ family: `F${n}` }] });
    expect(JSON.stringify(stored?.content)).toContain('"valueDecimal":37.0');
  }
});

test('index tables without rows are left out of a write: a create alone, creates together and an update store the same index rows, an update still clearing the rows of both tables', async () => {
  const indexRows = async (id: string): Promise<{ strings: string | null; dates: string | null }> => {
    const r = await testDb.db.query<{ strings: string | null; dates: string | null }>(
      `SELECT (SELECT string_agg(param || '=' || value, ',' ORDER BY param, value) FROM search_string WHERE resource_type = 'Patient' AND id = $1) AS strings,
              (SELECT string_agg(param || '=' || to_char(low AT TIME ZONE 'UTC', 'YYYY'), ',' ORDER BY param, low) FROM search_date WHERE resource_type = 'Patient' AND id = $1) AS dates`,
      [id],
    );
    return r.rows[0] ?? { strings: null, dates: null };
  };
  const strings = (v: string): IndexValues => ({ tokens: [], strings: [{ param: 'family', value: v }], dates: [] });
  const dates = (year: number): IndexValues => ({ tokens: [], strings: [], dates: [{ param: 'birthdate', low: `${year}-01-01T00:00:00.000Z`, high: `${year}-12-31T23:59:59.999Z` }] });
  const [alone, first, second, updated] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  const sent: string[] = [];
  await pipeline.transaction(recording(sent), ctx, async ({ tx }) => resourceStore.write(tx, patient(alone, '1', 'A'), dates(1950), [], true));
  expect(sent[0]).not.toContain('search_string');
  expect(await indexRows(alone)).toEqual({ strings: null, dates: 'birthdate=1950' });
  // Together: one has strings, the other dates; both tables' INSERTs are there, each with only its own rows.
  await pipeline.transaction(recording([]), ctx, async ({ tx }) => {
    await resourceStore.write(tx, patient(first, '1', 'F'), strings('first'), [], true);
    await resourceStore.write(tx, patient(second, '1', 'S'), dates(1960), [], true);
  });
  expect(await indexRows(first)).toEqual({ strings: 'family=first', dates: null });
  expect(await indexRows(second)).toEqual({ strings: null, dates: 'birthdate=1960' });
  // An update to a version with dates only: the strings of the version it replaces are gone all the same.
  await pipeline.transaction(recording([]), ctx, async ({ tx }) => resourceStore.write(tx, patient(updated, '1', 'U'), { ...strings('old'), dates: dates(1970).dates }, [], true));
  const update: string[] = [];
  await pipeline.transaction(recording(update), ctx, async ({ tx }) => resourceStore.write(tx, patient(updated, '2', 'U'), dates(1980), [], false));
  expect(update[0]).not.toContain('INSERT INTO search_string');
  expect(await indexRows(updated)).toEqual({ strings: null, dates: 'birthdate=1980' });
  // And to one with neither: both tables cleared.
  await pipeline.transaction(recording([]), ctx, async ({ tx }) => resourceStore.write(tx, patient(updated, '3', 'U'), NO_INDEX, [], false));
  expect(await indexRows(updated)).toEqual({ strings: null, dates: null });
});

test('the commit batch takes along the held writes none of its parts reads; a part reading one gets them sent first', async () => {
  const sent: string[] = [];
  const a = randomUUID();
  await pipeline.transaction(recording(sent), ctx, async ({ tx, state }) => {
    await resourceStore.write(tx, patient(a, '1', 'A'), NO_INDEX, [], true);
    state.get(COMMIT_BATCH).add({ shape: 'test:reads-nothing', sql: () => `SELECT 1 AS one`, params: [], rows: () => undefined, reads: [] });
  });
  expect(sent).toHaveLength(1);
  expect(sent[0]).toContain('w0_cur');
  expect(sent[0]).toContain('c0 AS');
  expect((await resourceStore.current(testDb.db, 'Patient', a))?.versionId).toBe('1');

  const sentAgain: string[] = [];
  const b = randomUUID();
  let seen: unknown[] = [];
  await pipeline.transaction(recording(sentAgain), ctx, async ({ tx, state }) => {
    await resourceStore.write(tx, patient(b, '1', 'B'), NO_INDEX, [], true);
    state.get(COMMIT_BATCH).add({
      shape: 'test:reads-the-patient',
      sql: (p) => `SELECT id FROM resources WHERE resource_type = 'Patient' AND id = ${p(1)}`,
      params: [b],
      rows: (rows) => {
        seen = rows;
      },
      reads: [`Patient/${b}`],
    });
  });
  expect(sentAgain).toHaveLength(2);
  expect(seen).toEqual([{ id: b }]);
});

test('a write refused when its statement is sent rolls back the whole transaction, the writes held with it too', async () => {
  const taken = randomUUID();
  await pipeline.transaction(testDb.db, ctx, async ({ tx }) => resourceStore.write(tx, patient(taken, '1', 'First'), NO_INDEX, [], true));
  const other = randomUUID();
  const attempt = pipeline.transaction(testDb.db, ctx, async ({ tx }) => {
    await resourceStore.write(tx, patient(other, '1', 'Other'), NO_INDEX, [], true);
    // The same id again: the primary key refuses it when the held writes are sent, at the end of the transaction.
    await resourceStore.write(tx, patient(taken, '1', 'Second'), NO_INDEX, [], true);
  });
  await expect(attempt).rejects.toThrow();
  expect(await resourceStore.current(testDb.db, 'Patient', other)).toBeUndefined();
  expect((await resourceStore.current(testDb.db, 'Patient', taken))?.content).toMatchObject({ name: [{ family: 'First' }] });
});

test('a read held for the next statement goes ahead of it with its rows; alone when no statement takes it; a lock held goes ahead of earlier writes', async () => {
  const sent: string[] = [];
  const a = randomUUID();
  await pipeline.transaction(recording(sent), ctx, async ({ tx }) => {
    const behind = tx as WriteBehindTx;
    const first = behind.holdRead<{ n: number }>('SELECT 41 + $1::int AS n', [1]);
    expect(sent).toHaveLength(0);
    const other = await tx.query<{ m: number }>('SELECT 7 AS m', []);
    // Both went: the held read ahead of the statement, each with its own rows.
    expect(sent).toEqual(['SELECT 41 + $1::int AS n', 'SELECT 7 AS m']);
    expect(other.rows).toEqual([{ m: 7 }]);
    expect(await first.rows()).toEqual([{ n: 42 }]);
    // Nothing after it: asked for, it goes alone.
    const second = behind.holdRead<{ n: number }>('SELECT 43 AS n', []);
    expect(await second.rows()).toEqual([{ n: 43 }]);
    expect(sent).toHaveLength(3);
    // A statement that reads no held write (a lock) goes ahead of them; they stay held past a statement reading none of them.
    await resourceStore.write(tx, patient(a, '1', 'A'), NO_INDEX, [], true);
    behind.holdStatement({ sql: 'SELECT 1 WHERE pg_advisory_xact_lock(hashtext($1)) IS NULL', params: ['write-behind-test'] }, { readsNoWrite: true });
    await tx.query(`SELECT count(*) FROM resources WHERE resource_type = 'Task'`, [], { reads: ['Task'] });
    expect(sent.slice(3)).toEqual(['SELECT 1 WHERE pg_advisory_xact_lock(hashtext($1)) IS NULL', `SELECT count(*) FROM resources WHERE resource_type = 'Task'`]);
    expect((await resourceStore.current(tx, 'Patient', a))?.content).toMatchObject({ name: [{ family: 'A' }] });
    expect(sent[5]).toContain('w0_cur');
  });
});

test('a statement that commits sends every held write and statement before it, whatever it says it reads', async () => {
  const a = randomUUID();
  await pipeline.transaction(recording([]), ctx, async ({ tx }) => {
    await resourceStore.write(tx, patient(a, '1', 'A'), NO_INDEX, [], true);
    (tx as WriteBehindTx).holdStatement({ sql: 'SELECT 1 WHERE pg_advisory_xact_lock(hashtext($1)) IS NULL', params: ['write-behind-commit'] }, { readsNoWrite: true });
    await tx.query(`SELECT count(*) FROM resources WHERE resource_type = 'Task'`, [], { reads: ['Task'], commit: true });
  });
  expect((await resourceStore.current(testDb.db, 'Patient', a))?.content).toMatchObject({ name: [{ family: 'A' }] });
  const b = randomUUID();
  await pipeline.transaction(recording([]), ctx, async ({ tx }) => {
    await resourceStore.write(tx, patient(b, '1', 'B'), NO_INDEX, [], true);
    await tx.query(`SELECT count(*) FROM resources WHERE resource_type = 'Task'`, [], { reads: ['Task'], commit: true });
  });
  expect((await resourceStore.current(testDb.db, 'Patient', b))?.content).toMatchObject({ name: [{ family: 'B' }] });
});
