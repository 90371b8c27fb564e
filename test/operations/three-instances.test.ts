// The production shape: three gateway processes started together on one fresh PostgreSQL database, records and
// answers sent through all three at once. Migrations run once, no handover is made twice, and every
// notification arrives once (a repeat would carry the same idempotency key).
import type { Bundle } from '@medplum/fhirtypes';
import { childAuth, startChildGateway, type ChildGateway } from '../support/child-gateway.ts';
import { createTestDatabase, postgresOnly, type TestDatabase } from '../support/database.ts';
import { example, fillHandover, setBsn, uniqueBsn, uniqueId, uniqueRide } from '../support/native.ts';
import { startReceiver, subscriptionBody, type Receiver } from '../support/receiver.ts';
import { loadMigrations } from '../../src/store/migrate.ts';

// Three processes on one database: only PostgreSQL can be shared so.
const onPostgres = postgresOnly(test);

let db: TestDatabase;
let receiver: Receiver;
let gateways: ChildGateway[] = [];

beforeAll(async () => {
  // Not migrated: the three processes race to migrate it themselves.
  db = await createTestDatabase({ prefix: 'three', migrate: false });
  receiver = await startReceiver();
  gateways = await Promise.all([1, 2, 3].map(() => startChildGateway(db.url)));
}, 180_000);

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.kill('SIGTERM')));
  await receiver?.close();
  await db?.drop();
});

onPostgres('migrations ran once, in one transaction, although three processes started together', async () => {
  const rows = await db.db.query<{ version: number; applied_at: Date }>('SELECT version, applied_at FROM schema_migrations ORDER BY version');
  expect(rows.rows.map((r) => r.version)).toEqual(loadMigrations().map((m) => m.version));
  expect(new Set(rows.rows.map((r) => new Date(r.applied_at).toISOString())).size).toBe(1);
});

onPostgres('records and answers through three instances at once: no duplicate handover, every event delivered once', async () => {
  const [a, b, c] = gateways as [ChildGateway, ChildGateway, ChildGateway];
  const sub = await a.fetch('/fhir/Subscription', {
    method: 'POST',
    headers: { Authorization: await childAuth(a, 'rav-noordoost'), 'Content-Type': 'application/fhir+json' },
    body: JSON.stringify(subscriptionBody(receiver.url, 'Task?owner=http://fhir.nl/fhir/NamingSystem/ura|90004567', 'id-only')),
  });
  expect(sub.status).toBe(201);
  const subId = ((await sub.json()) as { id: string }).id;
  await receiver.waitFor((r) => r.some((x) => x.type === 'handshake' && x.subscription === subId), 'handshake');

  // 15 distinct handovers, each sent three times at once: once through every instance.
  const records = Array.from({ length: 15 }, () => {
    const bsn = uniqueBsn();
    return { bsn, record: { ...setBsn('nts', example('nts-u1-pijn-op-de-borst-naar-ambulance'), bsn), contactId: uniqueId('HAPV') } };
  });
  const sends = await Promise.all(
    records.flatMap(({ record }) =>
      [a, b, c].map(async (g) => {
        const res = await g.fetch('/native/nts', { method: 'POST', headers: { Authorization: await childAuth(g, 'hap-vechtdal'), 'Content-Type': 'application/json' }, body: JSON.stringify(record) });
        await res.arrayBuffer();
        return { contactId: record.contactId, status: res.status, location: res.headers.get('location') ?? '' };
      }),
    ),
  );
  for (const { record } of records) {
    const mine = sends.filter((s) => s.contactId === record.contactId);
    // One send made the handover (201); the others were identical re-sends (200) pointing at the same Task.
    expect(mine.map((s) => s.status).sort()).toEqual([200, 200, 201]);
    expect(new Set(mine.map((s) => s.location)).size).toBe(1);
  }
  const taskIds = records.map(({ record }) => /Task\/([^/]+)$/.exec(sends.find((s) => s.contactId === record.contactId)?.location ?? '')?.[1] ?? '');

  // Accepted by the RAV, each through a different instance than the one that will be asked next.
  const answers = await Promise.all(
    records.map(async ({ bsn }, i) => {
      const g = [a, b, c][i % 3] as ChildGateway;
      const answer = fillHandover({ ...setBsn('ambulance', example('ambulance-antwoord-geaccepteerd'), bsn), ...uniqueRide() }, taskIds[i] ?? '');
      const res = await g.fetch('/native/ambulance', { method: 'POST', headers: { Authorization: await childAuth(g, 'rav-noordoost'), 'Content-Type': 'application/json' }, body: JSON.stringify(answer) });
      await res.arrayBuffer();
      return res.status;
    }),
  );
  expect(answers.every((s) => s === 200)).toBe(true);

  const all = (await (await b.fetch('/fhir/Task?_summary=count', { headers: { Authorization: await childAuth(b, 'zcc-ijsselland') } })).json()) as Bundle;
  expect(all.total).toBe(15);

  // 15 creations + 15 acceptances = 30 events, numbered 1..30, each delivered once.
  await receiver.waitFor(() => receiver.events().filter((e) => e.subscription === subId).length >= 30, 'all 30 events', 30_000);
  const events = receiver.events().filter((e) => e.subscription === subId);
  const numbers = events.map((e) => e.eventNumber).sort((x, y) => x - y);
  expect(numbers).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  for (const e of events) expect(e.idempotencyKey).toBe(`${subId}-${e.eventNumber}`);
}, 180_000);
