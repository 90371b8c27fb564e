// How database failures reach a client: a transaction PostgreSQL broke off to end a deadlock is the client's to
// send again (503 with Retry-After), not a server fault (500).
import { toHttpError } from '../../src/http/errors.ts';
import { createTestDatabase, postgresOnly, type TestDatabase } from '../support/database.ts';

// A deadlock needs two transactions at once: PGlite runs one at a time.
const onPostgres = postgresOnly(it);

let tdb: TestDatabase;
beforeAll(async () => {
  tdb = await createTestDatabase({ migrate: false, prefix: 'errors' });
  await tdb.db.exec('CREATE TABLE probe (id int PRIMARY KEY, n int NOT NULL); INSERT INTO probe VALUES (1, 0), (2, 0)');
});
afterAll(async () => {
  await tdb?.drop();
});

/** Two transactions that each lock one row and then want the other's: PostgreSQL rolls one of them back. */
async function deadlock(): Promise<unknown> {
  let arrived = 0;
  let release: () => void = () => undefined;
  const bothHoldOne = new Promise<void>((resolve) => (release = resolve));
  const lockInOrder = (first: number, second: number): Promise<unknown> =>
    tdb.db
      .transaction(async (tx) => {
        await tx.query('UPDATE probe SET n = n + 1 WHERE id = $1', [first]);
        if (++arrived === 2) release();
        await bothHoldOne;
        await tx.query('UPDATE probe SET n = n + 1 WHERE id = $1', [second]);
      })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
  const outcomes = await Promise.all([lockInOrder(1, 2), lockInOrder(2, 1)]);
  const failed = outcomes.filter((o) => o !== undefined);
  expect(failed).toHaveLength(1);
  return failed[0];
}

onPostgres('a deadlock victim is answered 503 with Retry-After and a transient OperationOutcome', async () => {
  const err = await deadlock();
  expect((err as { code?: string }).code).toBe('40P01');
  const answer = toHttpError(err);
  expect(answer.status).toBe(503);
  expect(answer.headers['Retry-After']).toBe('1');
  expect(answer.outcome.issue?.[0]?.code).toBe('transient');
  expect(answer.outcome.issue?.[0]?.diagnostics).toMatch(/nothing was stored/);
});

it('other database failures stay a plain 500 that says nothing of the database', () => {
  const answer = toHttpError(Object.assign(new Error('relation "x" does not exist'), { code: '42P01' }));
  expect(answer.status).toBe(500);
  expect(JSON.stringify(answer.outcome)).not.toMatch(/relation|42P01/);
});
