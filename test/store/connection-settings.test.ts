// The gateway's PostgreSQL connections run without JIT compilation (src/store/postgres.ts): the planner's estimates
// grow with tables never analyzed and passed jit_above_cost, and PostgreSQL then compiled a statement that reads a
// few index pages at every execution (about 100 ms each). The server's own default (on) must not hold for them.
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let testDb: TestDatabase;

beforeAll(async () => {
  testDb = await createTestDatabase();
});

afterAll(async () => {
  await testDb.drop();
});

it('every connection of the pool has JIT compilation off', async () => {
  const seen = await Promise.all(Array.from({ length: 3 }, () => testDb.db.transaction(async (tx) => (await tx.query<{ jit: string }>('SHOW jit')).rows[0]?.jit)));
  expect(seen).toEqual(['off', 'off', 'off']);
});
