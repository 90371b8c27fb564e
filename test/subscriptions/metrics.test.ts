// What operators watch of delivery on /metrics: attempts and their time by outcome, the outbox backlog and its oldest
// event, dead letters and subscriptions in error.
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { metricValue } from '../support/metrics.ts';
import { nativeClient } from '../support/native.ts';
import { startReceiver, subscribe, type Receiver } from '../support/receiver.ts';

const RAV = 'Task?owner=http://fhir.nl/fhir/NamingSystem/ura|90004567';

let tg: TestGateway;
let rav: Receiver;
beforeAll(async () => {
  tg = await startTestGateway({ ALLOW_HTTP_LOOPBACK_HOOKS: '1', HOOK_RETRY_BASE_MS: '50', HOOK_RETRY_MAX_MS: '200', HOOK_RETRY_HORIZON_SECONDS: '2' });
  rav = await startReceiver();
});
afterAll(async () => {
  await tg?.stop();
  await rav?.close();
});

/** A gauge must be there; a counter not yet incremented has no sample (0). */
const sample = (text: string, name: string, labels: Record<string, string> = {}): number => metricValue(text, name, labels) ?? Number.NaN;
const scrape = async (): Promise<string> => (await request(tg.app).get('/metrics').expect(200)).text;

async function until(what: string, check: (metrics: string) => boolean): Promise<string> {
  for (let i = 0; i < 400; i++) {
    const text = await scrape();
    if (check(text)) return text;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`/metrics never showed ${what}`);
}

it('counts deliveries and failures, shows the backlog while a receiver is down, then dead letters and the subscription in error', async () => {
  await subscribe(tg, 'rav-noordoost', rav, RAV, 'id-only');
  const native = nativeClient(tg);
  const before = await scrape();
  const delivered = (t: string): number => sample(t, 'gateway_delivery_attempts_total', { outcome: 'delivered' }) || 0;
  const failed = (t: string): number => sample(t, 'gateway_delivery_attempts_total', { outcome: 'failed' }) || 0;

  await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
  const afterDelivery = await until('the delivery', (t) => delivered(t) === delivered(before) + 1 && sample(t, 'gateway_outbox_backlog') === 0);
  expect(sample(afterDelivery, 'gateway_delivery_duration_seconds_count', { outcome: 'delivered' })).toBe(delivered(afterDelivery));
  expect(sample(afterDelivery, 'gateway_outbox_oldest_event_age_seconds')).toBe(0);
  expect(sample(afterDelivery, 'gateway_subscriptions_in_error')).toBe(0);

  // The receiver is down: attempts fail, and the event waits in the backlog, older with each scrape.
  rav.status = 503;
  await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
  const down = await until('a failed attempt with the event waiting', (t) => failed(t) >= failed(before) + 1 && sample(t, 'gateway_outbox_backlog') === 1);
  expect(sample(down, 'gateway_outbox_oldest_event_age_seconds')).toBeGreaterThan(0);

  // Past the retry horizon: a dead letter, and the subscription in error.
  const gaveUp = await until('the subscription in error', (t) => sample(t, 'gateway_subscriptions_in_error') === 1);
  expect(sample(gaveUp, 'gateway_outbox_dead_letters')).toBe(1);
  expect(sample(gaveUp, 'gateway_outbox_backlog')).toBe(0);
  expect(sample(gaveUp, 'gateway_writes_waiting')).toBe(0);
});
