// One bad receiver cannot stall delivery to the others (issue 14): a receiver that never answers its handshake,
// or that answers and then trickles bytes, holds up only its own subscription. Every send has a total deadline
// shorter than the lease: a trickling answer is cut off and retried later, never sent twice at once.
// Nothing here measures time: the assertions are about what was open while something else arrived.
import type { Subscription } from '@medplum/fhirtypes';
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { nativeClient } from '../support/native.ts';
import { startReceiver, startStallingReceiver, subscribe, subscriptionBody, type Receiver, type StallingReceiver } from '../support/receiver.ts';

const RAV = 'Task?owner=http://fhir.nl/fhir/NamingSystem/ura|90004567';
const U1 = 'nts-u1-pijn-op-de-borst-naar-ambulance.json';

/** Posts a subscription without waiting for its handshake (which a bad receiver may never answer). */
async function postSubscription(tg: TestGateway, endpoint: string, timeout?: number): Promise<string> {
  const res = await request(tg.app).post('/fhir/Subscription').set('Authorization', await tg.auth('rav-noordoost')).set('Content-Type', 'application/fhir+json').send(subscriptionBody(endpoint, RAV, 'id-only', { timeout }));
  expect(res.status).toBe(201);
  return (res.body as Subscription).id!;
}

async function statusOf(tg: TestGateway, id: string): Promise<string | undefined> {
  const res = await request(tg.app).get(`/fhir/Subscription/${id}`).set('Authorization', await tg.auth('rav-noordoost'));
  return (res.body as Subscription).status;
}

async function waitForStatus(tg: TestGateway, id: string, status: string, ms = 15_000): Promise<void> {
  for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
    if ((await statusOf(tg, id)) === status) return;
  }
  throw new Error(`subscription ${id} not ${status} within ${ms} ms (is ${await statusOf(tg, id)})`);
}

describe('a receiver that never answers its handshake', () => {
  let tg: TestGateway;
  let silent: StallingReceiver;
  let good: Receiver;
  beforeAll(async () => {
    // A deadline long enough for everything below to happen while the silent handshake is still open.
    tg = await startTestGateway({ ALLOW_HTTP_LOOPBACK_HOOKS: '1', HOOK_SEND_DEADLINE_SECONDS: '8', HOOK_LEASE_SECONDS: '13' });
    silent = await startStallingReceiver('silent');
    good = await startReceiver();
  });
  afterAll(async () => {
    await tg?.stop();
    await silent?.close();
    await good?.close();
  });

  it("holds up neither another subscription's handshake nor its notifications, and goes to error at the deadline", async () => {
    const bad = await postSubscription(tg, silent.url);
    await silent.waitFor((r) => r.some((x) => x.type === 'handshake'), 'handshake');

    const sub = await subscribe(tg, 'rav-noordoost', good, RAV);
    const { taskId } = await nativeClient(tg).createHandover(U1, 'hap-vechtdal');
    await good.waitFor((r) => r.some((x) => x.subscription === sub.id && x.type === 'event-notification'), 'event notification');
    // The good subscriber was made active and told of the handover while the silent handshake was still waiting.
    expect(silent.open().map((x) => [x.type, x.subscription])).toEqual([['handshake', bad]]);
    expect(await statusOf(tg, bad)).toBe('requested');
    expect(taskId).toBeTruthy();

    // At the deadline the gateway gives up on the handshake: the connection is closed and the subscription in error.
    await silent.waitFor((r) => r.every((x) => x.closedAt !== undefined), 'handshake cut off at the deadline', 15_000);
    await waitForStatus(tg, bad, 'error');
  }, 40_000);
});

describe('a receiver that trickles its answers', () => {
  let tg: TestGateway;
  let trickle: StallingReceiver;
  let good: Receiver;
  beforeAll(async () => {
    tg = await startTestGateway({
      ALLOW_HTTP_LOOPBACK_HOOKS: '1',
      HOOK_SEND_DEADLINE_SECONDS: '8',
      HOOK_LEASE_SECONDS: '13',
      HOOK_MAX_IN_FLIGHT: '3',
      HOOK_MAX_IN_FLIGHT_PER_SUBSCRIPTION: '1',
    });
    trickle = await startStallingReceiver('trickle');
    trickle.stalls = (type) => type === 'event-notification';
    good = await startReceiver();
  });
  afterAll(async () => {
    await tg?.stop();
    await trickle?.close();
    await good?.close();
  });

  it("takes one of the instance's slots at most: the other subscriber hears of every handover while it trickles", async () => {
    const bad = await postSubscription(tg, trickle.url);
    await waitForStatus(tg, bad, 'active');
    const sub = await subscribe(tg, 'rav-noordoost', good, RAV);
    const native = nativeClient(tg);
    for (let i = 0; i < 4; i++) await native.createHandover(U1, 'hap-vechtdal');

    await good.waitFor((r) => r.filter((x) => x.subscription === sub.id && x.type === 'event-notification').length === 4, 'four event notifications');
    const trickling = trickle.requests.filter((x) => x.type === 'event-notification');
    // One notification of the trickling subscription at a time (HOOK_MAX_IN_FLIGHT_PER_SUBSCRIPTION), still open:
    // the other three events wait for their own subscription's turn, not in the way of anyone else's.
    expect(trickling).toHaveLength(1);
    expect(trickling[0]!.closedAt).toBeUndefined();
  }, 40_000);
});

describe('the send deadline', () => {
  let tg: TestGateway;
  let trickle: StallingReceiver;
  beforeAll(async () => {
    tg = await startTestGateway({ ALLOW_HTTP_LOOPBACK_HOOKS: '1', HOOK_SEND_DEADLINE_SECONDS: '1', HOOK_LEASE_SECONDS: '6', HOOK_RETRY_BASE_MS: '200', HOOK_RETRY_MAX_MS: '400' });
    trickle = await startStallingReceiver('trickle');
    // Only the first event notification trickles; the retry is answered at once.
    trickle.stalls = (type) => type === 'event-notification' && trickle.requests.filter((x) => x.type === 'event-notification').length === 1;
  });
  afterAll(async () => {
    await tg?.stop();
    await trickle?.close();
  });

  it('cuts off an answer that keeps trickling, retries it later, and never sends the event twice at once', async () => {
    // The subscription's own timeout (an idle timeout before) is longer than the deadline and never reached
    // by a receiver that sends a byte every 100 ms.
    const id = await postSubscription(tg, trickle.url, 3);
    await waitForStatus(tg, id, 'active');
    await nativeClient(tg).createHandover(U1, 'hap-vechtdal');

    await trickle.waitFor((r) => r.some((x) => x.type === 'event-notification' && x.answered), 'the retry answered', 20_000);
    const sends = trickle.requests.filter((x) => x.type === 'event-notification');
    expect(sends.map((x) => [x.eventNumber, x.answered])).toEqual([
      [1, false],
      [1, true],
    ]);
    // The first attempt was closed by the gateway before the retry began: never two sends of one event at once.
    expect(sends[0]!.closedAt).toBeDefined();
    expect(sends[1]!.openedAt).toBeGreaterThanOrEqual(sends[0]!.closedAt!);

    // The outcome is recorded just after the answer: the event delivered, on its second attempt.
    const outbox = async (): Promise<{ state: string; attempts: number }[]> =>
      (await tg.gateway.db.query<{ state: string; attempts: number }>('SELECT state, attempts FROM subscription_events WHERE subscription_id = $1', [id])).rows;
    for (let i = 0; i < 100 && (await outbox())[0]?.state !== 'delivered'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await outbox()).toEqual([{ state: 'delivered', attempts: 2 }]);
    const status = await request(tg.app).get(`/fhir/Subscription/${id}/$status`).set('Authorization', await tg.auth('rav-noordoost'));
    expect(JSON.stringify(status.body)).toMatch(/no complete answer within \d+ ms/);
  }, 40_000);
});
