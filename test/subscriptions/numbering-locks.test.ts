// The numbering of notifications beside writers still in their transaction: a writer's outbox row holds FOR KEY
// SHARE on its subscription's row (the foreign key) until it commits, and at 100 writes/s one nearly always does.
import type { Database } from '../../src/store/database.ts';
import { createTestDatabase, postgresOnly, type TestDatabase } from '../support/database.ts';

// A writer's transaction left open beside the numbering: PGlite runs one transaction at a time.
const onPostgres = postgresOnly(it);

let t: TestDatabase;
let db: Database;

beforeAll(async () => {
  t = await createTestDatabase({ prefix: 'numlock' });
  db = t.db;
  await db.query(
    `INSERT INTO subscription_state (id, owner_ura, status, secret, filters, endpoint, payload, timeout_seconds)
     VALUES ('sub-1', '90004567', 'active', 'secret', '[]', 'http://127.0.0.1:1/hook', 'id-only', 2)`,
  );
});

afterAll(async () => {
  await t.drop();
});

const addEvent = async (q: Pick<Database, 'query'>, handover: string): Promise<void> => {
  await q.query(
    `INSERT INTO subscription_events (subscription_id, handover_id, focus_version, task_status, occurred, next_attempt)
     VALUES ('sub-1', $1, 1, 'requested', now(), now())`,
    [handover],
  );
};
const numberEvents = async (): Promise<string> => (await db.query<{ n: string }>('SELECT subscription_number_events()::text AS n')).rows[0]!.n;

onPostgres('numbers committed events while a writer of the same subscription has not committed yet, gap-free once it has', async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let inserted!: () => void;
  const open = new Promise<void>((resolve) => (inserted = resolve));
  const writer = db.transaction(async (tx) => {
    await addEvent(tx, 'Task-open');
    inserted();
    await held;
  });
  await open;
  await addEvent(db, 'Task-committed');
  // The open writer's foreign-key lock does not make the numbering skip the subscription (FOR UPDATE did: 0).
  expect(await numberEvents()).toBe('1');
  release();
  await writer;
  expect(await numberEvents()).toBe('1');
  const rows = await db.query<{ handover_id: string; event_number: string }>(`SELECT handover_id, event_number::text AS event_number FROM subscription_events ORDER BY event_number`);
  expect(rows.rows).toEqual([
    { handover_id: 'Task-committed', event_number: '1' },
    { handover_id: 'Task-open', event_number: '2' },
  ]);
  const count = await db.query<{ events_count: string }>(`SELECT events_count::text AS events_count FROM subscription_state WHERE id = 'sub-1'`);
  expect(count.rows[0]?.events_count).toBe('2');
});
