// Delivery that loses nothing: a receiver that is down for a while (S6) gets every event afterwards, in order per
// handover and each number once; past the retry horizon the subscription goes to error with dead letters, and
// re-activating it resumes from the first undelivered event.
import type { Bundle, Parameters, Subscription } from '@medplum/fhirtypes';
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { example, fillHandover, nativeClient, setBsn, uniqueRide, type Native } from '../support/native.ts';
import { startReceiver, subscribe, type Received, type Receiver } from '../support/receiver.ts';

const RAV = 'Task?owner=http://fhir.nl/fhir/NamingSystem/ura|90004567';

/** focus of the single event in a notification: [handover id, version]. */
function focusOf(r: Received): [string, number] {
  const status = (JSON.parse(r.body) as Bundle).entry![0]!.resource as Parameters;
  const event = status.parameter!.find((p) => p.name === 'notification-event')!;
  const ref = event.part!.find((p) => p.name === 'focus')!.valueReference!.reference!;
  const m = /Task\/([^/]+)\/_history\/(\d+)$/.exec(ref)!;
  return [m[1]!, Number(m[2])];
}

async function statusParams(tg: TestGateway, id: string): Promise<Parameters> {
  const res = await request(tg.app).get(`/fhir/Subscription/${id}/$status`).set('Authorization', await tg.auth('rav-noordoost'));
  expect(res.status).toBe(200);
  return (res.body as Bundle).entry![0]!.resource as Parameters;
}

async function handoversWithAnswers(native: Native, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const { taskId, bsn } = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
    await native.sendOk('ambulance', fillHandover({ ...setBsn('ambulance', example('ambulance-antwoord-geaccepteerd'), bsn), ...uniqueRide() }, taskId), 'rav-noordoost');
    ids.push(taskId);
  }
  return ids;
}

function expectEveryEventOnceInOrder(events: Received[], total: number): void {
  const numbers = events.map((e) => e.eventNumber);
  expect([...new Set(numbers)].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  expect(numbers.length).toBe(total);
  const last = new Map<string, number>();
  for (const e of events) {
    const [id, version] = focusOf(e);
    expect(version).toBeGreaterThan(last.get(id) ?? 0);
    last.set(id, version);
  }
}

describe('S6: receiver down', () => {
  let tg: TestGateway;
  let rav: Receiver;
  beforeAll(async () => {
    tg = await startTestGateway({ ALLOW_HTTP_LOOPBACK_HOOKS: '1', HOOK_RETRY_BASE_MS: '50', HOOK_RETRY_MAX_MS: '300' });
    rav = await startReceiver();
  });
  afterAll(async () => {
    await tg?.stop();
    await rav?.close();
  });

  it('retries while the endpoint answers 503, shows the errors in $status, then delivers every event in order, each once', async () => {
    const sub = await subscribe(tg, 'rav-noordoost', rav, RAV, 'id-only');
    rav.status = 503;
    const ids = await handoversWithAnswers(nativeClient(tg), 4);
    // $status shows the failures while the receiver is down.
    let status: Parameters | undefined;
    for (let i = 0; i < 200; i++) {
      status = await statusParams(tg, sub.id);
      // Events are numbered just after their commit (once older transactions have finished): wait for all 8 too.
      const counted = status.parameter?.find((p) => p.name === 'events-since-subscription-start')?.valueString === '8';
      if (counted && status.parameter?.some((p) => p.name === 'error' && /failed attempts/.test(p.valueCodeableConcept?.text ?? ''))) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(status?.parameter?.find((p) => p.name === 'events-since-subscription-start')?.valueString).toBe('8');
    expect(status?.parameter?.filter((p) => p.name === 'error').map((p) => p.valueCodeableConcept?.text).join(' ')).toMatch(/HTTP 503/);
    expect(status?.parameter?.find((p) => p.name === 'status')?.valueCode).toBe('active');
    expect(rav.events()).toEqual([]);

    rav.status = 200;
    await rav.waitFor(() => new Set(rav.events().map((e) => e.eventNumber)).size === 8, 'all 8 events', 20_000);
    expectEveryEventOnceInOrder(rav.events(), 8);
    expect(new Set(rav.events().map((e) => focusOf(e)[0]))).toEqual(new Set(ids));

    // Any stored event by number.
    const res = await request(tg.app).get(`/fhir/Subscription/${sub.id}/$events`).query({ eventsSinceNumber: '3', eventsUntilNumber: '4' }).set('Authorization', await tg.auth('rav-noordoost'));
    const bundle = res.body as Bundle;
    expect(bundle.entry!.length).toBe(3);
    const numbers = (bundle.entry![0]!.resource as Parameters).parameter!.filter((p) => p.name === 'notification-event').map((p) => p.part![0]!.valueString);
    expect(numbers).toEqual(['3', '4']);
    expect((await request(tg.app).get(`/fhir/Subscription/${sub.id}/$events`).query({ eventsSinceNumber: 'x' }).set('Authorization', await tg.auth('rav-noordoost'))).status).toBe(400);
  });
});

describe('past the retry horizon', () => {
  let tg: TestGateway;
  let rav: Receiver;
  beforeAll(async () => {
    tg = await startTestGateway({ ALLOW_HTTP_LOOPBACK_HOOKS: '1', HOOK_RETRY_BASE_MS: '50', HOOK_RETRY_MAX_MS: '200', HOOK_RETRY_HORIZON_SECONDS: '1' });
    rav = await startReceiver();
  });
  afterAll(async () => {
    await tg?.stop();
    await rav?.close();
  });

  it('puts the subscription in error with dead letters; re-activation resumes from the first undelivered event', async () => {
    const sub = await subscribe(tg, 'rav-noordoost', rav, RAV, 'id-only');
    rav.status = 503;
    await handoversWithAnswers(nativeClient(tg), 2);
    let status: Parameters | undefined;
    for (let i = 0; i < 400; i++) {
      status = await statusParams(tg, sub.id);
      if (status.parameter?.find((p) => p.name === 'status')?.valueCode === 'error') break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(status?.parameter?.find((p) => p.name === 'status')?.valueCode).toBe('error');
    // On a slow machine the horizon may pass before the last handovers are written: their events wait as undelivered, not dead.
    expect(status?.parameter?.filter((p) => p.name === 'error').map((p) => p.valueCodeableConcept?.text).join(' ')).toMatch(/[1-4] events in the dead-letter state, the first is event 1/);

    rav.status = 200;
    const current = (await request(tg.app).get(`/fhir/Subscription/${sub.id}`).set('Authorization', await tg.auth('rav-noordoost'))).body as Subscription;
    const put = await request(tg.app).put(`/fhir/Subscription/${sub.id}`).set('Authorization', await tg.auth('rav-noordoost')).set('Content-Type', 'application/fhir+json').send(JSON.stringify({ ...current, status: 'requested' }));
    expect(put.status).toBe(200);
    await rav.waitFor(() => new Set(rav.events().map((e) => e.eventNumber)).size === 4, 'the 4 dead letters', 20_000);
    expectEveryEventOnceInOrder(rav.events(), 4);
    expect((await statusParams(tg, sub.id)).parameter?.find((p) => p.name === 'status')?.valueCode).toBe('active');
  });
});
