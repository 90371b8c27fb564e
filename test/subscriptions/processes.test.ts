// Gateways as child processes on one PostgreSQL: one SIGKILLed again and again during a stream of handovers loses and
// skips no event; two running together deliver every event exactly once, in order per handover.
import type { Bundle, Parameters } from '@medplum/fhirtypes';
import { childAuth, startChildGateway, type ChildGateway } from '../support/child-gateway.ts';
import { createTestDatabase, postgresOnly, type TestDatabase } from '../support/database.ts';
import { example, fillHandover, setBsn, uniqueBsn, uniqueId, uniqueRide } from '../support/native.ts';
import { startReceiver, subscriptionBody, type Received, type Receiver } from '../support/receiver.ts';

// The gateway processes here work on this test's database, which only PostgreSQL can share with another process (on
// PGlite each would open a store of its own in ./data).
const onPostgres = postgresOnly(it);

const RAV = 'Task?owner=http://fhir.nl/fhir/NamingSystem/ura|90004567';

async function subscribeVia(g: ChildGateway, receiver: Receiver, timeout = 2): Promise<string> {
  const res = await g.fetch('/fhir/Subscription', {
    method: 'POST',
    headers: { Authorization: await childAuth(g, 'rav-noordoost'), 'Content-Type': 'application/fhir+json' },
    body: JSON.stringify(subscriptionBody(receiver.url, RAV, 'id-only', { timeout })),
  });
  if (res.status !== 201) throw new Error(`subscribe: ${res.status} ${await res.text()}`);
  const id = ((await res.json()) as { id: string }).id;
  await receiver.waitFor((r) => r.some((x) => x.type === 'handshake' && x.subscription === id), 'handshake');
  return id;
}

/** A U1 handover from the HAP; the Task id, or undefined when the process died under the request. */
async function sendHandover(g: ChildGateway): Promise<{ taskId: string; bsn: string } | undefined> {
  const bsn = uniqueBsn();
  const record = { ...setBsn('nts', example('nts-u1-pijn-op-de-borst-naar-ambulance'), bsn), contactId: uniqueId('HAPV') };
  try {
    const res = await g.fetch('/native/nts', { method: 'POST', headers: { Authorization: await childAuth(g, 'hap-vechtdal'), 'Content-Type': 'application/json' }, body: JSON.stringify(record) });
    if (res.status !== 201) return undefined;
    const m = /\/Task\/([^/]+)$/.exec(res.headers.get('location') ?? '');
    return m ? { taskId: m[1]!, bsn } : undefined;
  } catch {
    return undefined;
  }
}

async function accept(g: ChildGateway, taskId: string, bsn: string): Promise<boolean> {
  const answer = fillHandover({ ...setBsn('ambulance', example('ambulance-antwoord-geaccepteerd'), bsn), ...uniqueRide() }, taskId);
  const res = await g.fetch('/native/ambulance', { method: 'POST', headers: { Authorization: await childAuth(g, 'rav-noordoost'), 'Content-Type': 'application/json' }, body: JSON.stringify(answer) });
  return res.status === 200 || res.status === 201;
}

async function statusOf(g: ChildGateway, id: string): Promise<Parameters> {
  const res = await g.fetch(`/fhir/Subscription/${id}/$status`, { headers: { Authorization: await childAuth(g, 'rav-noordoost') } });
  return ((await res.json()) as Bundle).entry![0]!.resource as Parameters;
}

async function eventsCount(g: ChildGateway, id: string): Promise<number> {
  return Number((await statusOf(g, id)).parameter!.find((p) => p.name === 'events-since-subscription-start')!.valueString);
}

/**
 * The subscription's event count once it reaches `expected` (or what it is after 5 s): `$status` numbers what is
 * committed, but skips a subscription that a worker is numbering at that moment (subscription_number_events, SKIP
 * LOCKED), so the count reaches a committed write's events within a cycle, not necessarily at once.
 */
async function eventsCountReaching(g: ChildGateway, id: string, expected: number): Promise<number> {
  let total = await eventsCount(g, id);
  for (let i = 0; i < 100 && total < expected; i++) {
    await new Promise((r) => setTimeout(r, 50));
    total = await eventsCount(g, id);
  }
  return total;
}

function focusOf(r: Received): [string, number] {
  const status = (JSON.parse(r.body) as Bundle).entry![0]!.resource as Parameters;
  const ref = status.parameter!.find((p) => p.name === 'notification-event')!.part!.find((p) => p.name === 'focus')!.valueReference!.reference!;
  const m = /Task\/([^/]+)\/_history\/(\d+)$/.exec(ref)!;
  return [m[1]!, Number(m[2])];
}

let db: TestDatabase;
let receiver: Receiver;
const children: ChildGateway[] = [];

beforeEach(async () => {
  db = await createTestDatabase({ prefix: 'proc' });
  receiver = await startReceiver();
});
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.kill('SIGKILL')));
  await receiver?.close();
  await db?.drop();
});

async function child(env: Record<string, string> = {}): Promise<ChildGateway> {
  const c = await startChildGateway(db.url, env);
  children.push(c);
  return c;
}

onPostgres('a gateway SIGKILLed repeatedly during a stream of handovers loses no event and skips none', async () => {
  let g = await child();
  const sub = await subscribeVia(g, receiver);
  const created: string[] = [];
  for (let round = 0; round < 4; round++) {
    // A stream in flight when the process dies: some requests may be cut off.
    const sends = Array.from({ length: 8 }, () => sendHandover(g));
    await new Promise((r) => setTimeout(r, 20 + round * 15));
    await g.kill('SIGKILL');
    for (const s of await Promise.all(sends)) if (s) created.push(s.taskId);
    g = await child();
  }
  const total = await eventsCountReaching(g, sub, created.length);
  expect(total).toBeGreaterThanOrEqual(created.length);
  // Claims of the killed processes expire (timeout 2 s + margin) and are delivered by the survivor.
  await receiver.waitFor(() => new Set(receiver.events().map((e) => e.eventNumber)).size >= total, `all ${total} events`, 60_000);
  const numbers = receiver.events().map((e) => e.eventNumber);
  expect([...new Set(numbers)].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  // A number seen twice is a retry after a cut-off attempt, with the same idempotency key.
  for (const e of receiver.events()) expect(e.idempotencyKey).toBe(`${sub}-${e.eventNumber}`);
  const notified = new Set(receiver.events().map((e) => focusOf(e)[0]));
  for (const id of created) expect(notified.has(id)).toBe(true);
}, 120_000);

onPostgres('two gateway processes on one database ingest and deliver together: every event once, in order per handover', async () => {
  const a = await child();
  const b = await child();
  const sub = await subscribeVia(a, receiver);
  const handovers = await Promise.all(Array.from({ length: 20 }, (_, i) => sendHandover(i % 2 ? a : b)));
  // Each answered through the other process.
  await Promise.all(handovers.map((h, i) => (h ? accept(i % 2 ? b : a, h.taskId, h.bsn) : Promise.resolve(false))));
  expect(handovers.every(Boolean)).toBe(true);
  expect(await eventsCountReaching(b, sub, 40)).toBe(40);
  await receiver.waitFor(() => receiver.events().length >= 40, 'all 40 events', 30_000);
  const numbers = receiver.events().map((e) => e.eventNumber);
  expect(numbers.length).toBe(40);
  expect([...new Set(numbers)].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  const last = new Map<string, number>();
  for (const e of receiver.events()) {
    const [id, version] = focusOf(e);
    expect(version).toBeGreaterThan(last.get(id) ?? 0);
    last.set(id, version);
  }
}, 120_000);

onPostgres('S6: a receiver down while the gateway restarts gets every event afterwards, in order per handover, each once', async () => {
  const fast = { HOOK_RETRY_BASE_MS: '50', HOOK_RETRY_MAX_MS: '300' };
  let g = await child(fast);
  const sub = await subscribeVia(g, receiver);
  receiver.status = 503;
  const before = (await Promise.all(Array.from({ length: 3 }, () => sendHandover(g)))).filter((h) => h !== undefined);
  for (const h of before) expect(await accept(g, h.taskId, h.bsn)).toBe(true);
  // $status shows the failures while the receiver is down.
  let errors = '';
  for (let i = 0; i < 200 && !/HTTP 503/.test(errors); i++) {
    errors = ((await statusOf(g, sub)).parameter ?? []).filter((p) => p.name === 'error').map((p) => p.valueCodeableConcept?.text).join(' ');
    await new Promise((r) => setTimeout(r, 25));
  }
  expect(errors).toMatch(/HTTP 503/);
  // A restart in the middle of the outage: the new process takes over the retries and the stream.
  await g.kill('SIGTERM');
  g = await child(fast);
  const after = (await Promise.all(Array.from({ length: 2 }, () => sendHandover(g)))).filter((h) => h !== undefined);
  expect(before.length + after.length).toBe(5);
  expect(await eventsCountReaching(g, sub, 8)).toBe(8);
  expect(receiver.events()).toEqual([]);

  receiver.status = 200;
  await receiver.waitFor(() => new Set(receiver.events().map((e) => e.eventNumber)).size === 8, 'all 8 events', 30_000);
  const numbers = receiver.events().map((e) => e.eventNumber);
  expect([...new Set(numbers)].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  expect(numbers.length).toBe(8);
  const last = new Map<string, number>();
  for (const e of receiver.events()) {
    const [id, version] = focusOf(e);
    expect(version).toBeGreaterThan(last.get(id) ?? 0);
    last.set(id, version);
  }
  expect(new Set(receiver.events().map((e) => focusOf(e)[0]))).toEqual(new Set([...before, ...after].map((h) => h.taskId)));
  // Any stored event by number.
  const res = await g.fetch(`/fhir/Subscription/${sub}/$events?eventsSinceNumber=7&eventsUntilNumber=8`, { headers: { Authorization: await childAuth(g, 'rav-noordoost') } });
  const events = ((await res.json()) as Bundle).entry![0]!.resource as Parameters;
  expect(events.parameter!.filter((p) => p.name === 'notification-event').map((p) => p.part![0]!.valueString)).toEqual(['7', '8']);
}, 120_000);
