// A statement run just before a transaction, in a transaction of its own (TransactionOptions.before,
// src/store/statement-before.ts): committed before BEGIN whatever the transaction does, its failure told and not
// stopping the transaction, and sent in the same write as the transaction's first statement once prepared.
import pg from 'pg';
import type { StatementBefore } from '../../src/store/database.ts';
import { createTestDatabase, postgresOnly, type TestDatabase } from '../support/database.ts';

let testDb: TestDatabase;

beforeAll(async () => {
  testDb = await createTestDatabase({ migrate: false, prefix: 'before' });
  await testDb.db.exec('CREATE TABLE marks (n int PRIMARY KEY)');
});

afterAll(async () => {
  await testDb.drop();
});

const onPostgres = postgresOnly(it);
const MARK = 'INSERT INTO marks (n) VALUES ($1) RETURNING n';
const marks = async (from: number, to: number): Promise<number[]> =>
  (await testDb.db.query<{ n: number }>('SELECT n FROM marks WHERE n >= $1 AND n < $2 ORDER BY n', [from, to])).rows.map((r) => r.n);
const before = (n: number, failures: unknown[] = []): StatementBefore => ({ sql: MARK, params: [n], failed: (err) => failures.push(err) });

it('runs the statement before in a transaction of its own, committed before the transaction begins', async () => {
  for (let i = 0; i < 4; i++) {
    const seen = await testDb.db.transaction(
      async (tx) => {
        // The transaction sees the row, and it is not the transaction's own: another transaction wrote it.
        const r = await tx.query<{ own: boolean }>('SELECT xmin::text = xid(pg_current_xact_id())::text AS own FROM marks WHERE n = $1', [100 + 3 * i]);
        await tx.query(MARK, [101 + 3 * i], { commit: true });
        return r.rows;
      },
      { before: before(100 + 3 * i) },
    );
    expect(seen).toEqual([{ own: false }]);
  }
  expect(await marks(100, 112)).toEqual([100, 101, 103, 104, 106, 107, 109, 110]);
});

it('keeps the statement before when the transaction fails, and the transaction when the statement before fails', async () => {
  for (let i = 0; i < 3; i++) {
    // The transaction fails (n = 100 exists): rolled back, the row before it stays.
    await expect(testDb.db.transaction((tx) => tx.query(MARK, [100], { commit: true }), { before: before(200 + i) })).rejects.toMatchObject({ code: '23505' });
    // The statement before fails (n = 100 exists): told, and the transaction runs and commits all the same.
    const failures: unknown[] = [];
    const r = await testDb.db.transaction((tx) => tx.query<{ n: number }>(MARK, [210 + i], { commit: true }), { before: before(100, failures) });
    expect(r.rows).toEqual([{ n: 210 + i }]);
    expect(failures).toEqual([expect.objectContaining({ code: '23505' })]);
  }
  expect(await marks(200, 300)).toEqual([200, 201, 202, 210, 211, 212]);
  // A transaction that sends nothing: the statement before runs all the same.
  await testDb.db.transaction(async () => undefined, { before: before(300) });
  expect(await marks(300, 301)).toEqual([300]);
});

onPostgres('sends the statement before in the same write as the first statement once its text is prepared on the connection', async () => {
  const text = `${MARK} -- before`;
  const writes: number[] = [];
  for (let i = 0; i < 4; i++) {
    await testDb.db.transaction(
      async (tx) => {
        // Each submit of pg corks the socket, writes its messages and uncorks: one uncork per write.
        const client = (tx as unknown as { client: pg.PoolClient }).client;
        const stream = (client as unknown as { connection: { stream: { uncork(): void } } }).connection.stream;
        const uncork = stream.uncork.bind(stream);
        let n = 0;
        stream.uncork = () => {
          n++;
          uncork();
        };
        try {
          // Its first statement with the ahead-and-commit form, as the delivery worker's claim goes.
          await tx.query(MARK, [401 + 2 * i], { commit: true });
        } finally {
          stream.uncork = uncork;
        }
        writes.push(n);
      },
      { before: { sql: text, params: [400 + 2 * i], failed: () => undefined } },
    );
  }
  // The first use of the text on a connection goes alone (it is prepared then); later ones go in one write.
  expect(writes[0]).toBe(2);
  expect(writes.slice(1)).toEqual([1, 1, 1]);
  expect(await marks(400, 408)).toEqual([400, 401, 402, 403, 404, 405, 406, 407]);
});
