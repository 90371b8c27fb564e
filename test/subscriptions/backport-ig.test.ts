// The Subscriptions Backport IG's SHALLs (1.1.0, R4), one test each, named after the IG's rule (issue 16.8).
import type { Bundle, CapabilityStatement, Parameters, Subscription } from '@medplum/fhirtypes';
import request from 'supertest';
import { loadConfig } from '../../src/config.ts';
import { topicCapability } from '../../src/subscriptions/topic.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { createHandover, fhirClient, type Fhir } from '../fhir/helpers.ts';
import { BACKPORT } from '../../src/subscriptions/topic.ts';
import { receiversForFile, subscribe, subscriptionBody } from '../support/receiver.ts';

let tg: TestGateway;
let fhir: Fhir;
const receiver = receiversForFile();
const CANONICAL = 'https://handover-gateway.nl/fhir/SubscriptionTopic/handover';
const TOPIC_EXTENSION = `${BACKPORT}/capabilitystatement-subscriptiontopic-canonical`;
const RAV_OWNER = 'Task?owner=http://fhir.nl/fhir/NamingSystem/ura|90004567';

beforeAll(async () => {
  tg = await startTestGateway({ ALLOW_HTTP_LOOPBACK_HOOKS: '1' });
  fhir = await fhirClient(tg);
});
afterAll(async () => {
  await tg?.stop();
});

const post = async (body: unknown) =>
  request(tg.app).post('/fhir/Subscription').set('Authorization', await tg.auth('rav-noordoost')).set('Content-Type', 'application/fhir+json').send(JSON.stringify(body));
const read = async (id: string) => (await request(tg.app).get(`/fhir/Subscription/${id}`).set('Authorization', await tg.auth('rav-noordoost'))).body as Subscription;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('topic discovery', () => {
  it('CapabilityStatement SubscriptionTopic Canonical: the extension is on rest.resource (Subscription), with a canonical that does not follow PUBLIC_URL', async () => {
    const cap = (await request(tg.app).get('/fhir/metadata')).body as CapabilityStatement;
    const subscription = cap.rest?.[0]?.resource?.find((r) => r.type === 'Subscription');
    expect(subscription?.extension).toContainEqual({ url: TOPIC_EXTENSION, valueCanonical: CANONICAL });
    expect(JSON.stringify(cap.extension ?? [])).not.toContain(TOPIC_EXTENSION);
    expect(subscription?.supportedProfile).toEqual([`${BACKPORT}/backport-subscription`]);
    expect(cap.instantiates).toContain('http://hl7.org/fhir/uv/subscriptions-backport/CapabilityStatement/backport-subscription-server-r4');
  });

  it('the topic canonical is configurable (SUBSCRIPTION_TOPIC_URL), not derived from PUBLIC_URL', () => {
    // Checked without a second gateway (each one costs the test run its definitions): the setting and what the
    // CapabilityStatement lines are built from.
    const config = loadConfig({ SUBSCRIPTION_TOPIC_URL: 'https://region.example/fhir/SubscriptionTopic/handover', PUBLIC_URL: 'http://elsewhere.test', DEMO: '0' });
    expect(config.subscriptionTopicUrl).toBe('https://region.example/fhir/SubscriptionTopic/handover');
    expect(loadConfig({ PUBLIC_URL: 'http://elsewhere.test', DEMO: '0' }).subscriptionTopicUrl).toBe(CANONICAL);
    const ext = topicCapability(config.subscriptionTopicUrl).resources?.[0]?.extension?.find((e) => e.url === TOPIC_EXTENSION);
    expect(ext?.valueCanonical).toBe('https://region.example/fhir/SubscriptionTopic/handover');
    expect(() => loadConfig({ SUBSCRIPTION_TOPIC_URL: 'not a url', DEMO: '0' })).toThrow(/SUBSCRIPTION_TOPIC_URL/);
  });

  it('the Basic-wrapped topic is found by search: Basic?code=SubscriptionTopic and url=', async () => {
    const search = async (q: string) => (await fhir.get(q)).body as Bundle;
    for (const q of ['Basic?code=SubscriptionTopic', 'Basic?code=http://hl7.org/fhir/fhir-types|SubscriptionTopic', `Basic?url=${encodeURIComponent(CANONICAL)}`, `SubscriptionTopic?url=${encodeURIComponent(CANONICAL)}`]) {
      const found = await search(q);
      expect([q, found.total, found.entry?.[0]?.resource?.resourceType]).toEqual([q, 1, 'Basic']);
      expect(JSON.stringify(found.entry?.[0]?.resource)).toContain(CANONICAL);
    }
    expect((await search('Basic?code=Patient')).total).toBe(0);
    expect((await search('Basic?url=https://elsewhere.example/SubscriptionTopic/x')).total).toBe(0);
  });
});

describe('Subscription requests', () => {
  it('backport-channel-type: a server SHALL reject the subscription if the client requests an unsupported channel', async () => {
    const r = await receiver();
    const base = subscriptionBody(r.url, RAV_OWNER);
    const custom = { ...base, channel: { ...base.channel, _type: { extension: [{ url: `${BACKPORT}/backport-channel-type`, valueCoding: { system: 'http://example.org/channel-types', code: 'carrier-pigeon' } }] } } };
    const res = await post(custom);
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.body)).toContain('carrier-pigeon');
    expect(JSON.stringify(res.body)).toContain('Subscription.channel.type');
    const websocket = await post({ ...base, channel: { ...base.channel, type: 'websocket' } });
    expect(websocket.status).toBe(422);
  });

  it('Subscription.end: one that has already ended is refused, not activated', async () => {
    const r = await receiver();
    const res = await post({ ...subscriptionBody(r.url, RAV_OWNER), end: '2020-01-01T00:00:00Z' });
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.body)).toContain('Subscription.end');
    await sleep(300);
    expect(r.received).toEqual([]);
  });

  it('Subscription.end: a subscription is switched off when its end passes, and told of nothing after it', async () => {
    const r = await receiver();
    const end = new Date(Date.now() + 2500).toISOString();
    const res = await post({ ...subscriptionBody(r.url, RAV_OWNER), end });
    expect(res.status).toBe(201);
    const id = (res.body as Subscription).id ?? '';
    await r.waitFor((x) => x.some((y) => y.type === 'handshake'), 'handshake');
    while (Date.now() < Date.parse(end) + 1500 && (await read(id)).status !== 'off') await sleep(100);
    expect((await read(id)).status).toBe('off');
    await createHandover(tg, fhir);
    await sleep(1500);
    expect(r.events()).toEqual([]);
  });
});

describe('notifications', () => {
  it('payload content empty: notification events SHALL NOT carry a focus', async () => {
    const r = await receiver();
    const sub = await subscribe(tg, 'rav-noordoost', r, RAV_OWNER, 'empty');
    await createHandover(tg, fhir);
    await r.waitFor((x) => x.some((y) => y.subscription === sub.id && y.type === 'event-notification'), 'event');
    const bundle = JSON.parse(r.events()[0]?.body ?? '{}') as Bundle;
    expect(bundle.entry?.length).toBe(1);
    const status = bundle.entry?.[0]?.resource as Parameters;
    const event = status.parameter?.find((p) => p.name === 'notification-event');
    expect(event?.part?.map((p) => p.name)).toEqual(['event-number', 'timestamp']);
    // id-only still names it.
    const idOnly = await receiver();
    const sub2 = await subscribe(tg, 'rav-noordoost', idOnly, RAV_OWNER, 'id-only');
    await createHandover(tg, fhir);
    await idOnly.waitFor((x) => x.some((y) => y.subscription === sub2.id && y.type === 'event-notification'), 'event');
    const status2 = (JSON.parse(idOnly.events()[0]?.body ?? '{}') as Bundle).entry?.[0]?.resource as Parameters;
    expect(status2.parameter?.find((p) => p.name === 'notification-event')?.part?.map((p) => p.name)).toContain('focus');
  });

  it('channel.payload: notifications SHALL be sent in the MIME type the subscription asked for (application/json; application/fhir+json; fhirVersion=4.0)', async () => {
    for (const mime of ['application/json', 'application/fhir+json; fhirVersion=4.0']) {
      const r = await receiver();
      const base = subscriptionBody(r.url, RAV_OWNER);
      const res = await post({ ...base, channel: { ...base.channel, payload: mime } });
      expect([mime, res.status]).toEqual([mime, 201]);
      const id = (res.body as Subscription).id;
      await r.waitFor((x) => x.some((y) => y.subscription === id && y.type === 'handshake'), 'handshake');
      expect([mime, r.received[0]?.headers['content-type']]).toEqual([mime, mime]);
      await createHandover(tg, fhir);
      await r.waitFor((x) => x.some((y) => y.subscription === id && y.type === 'event-notification'), 'event');
      expect([mime, r.events()[0]?.headers['content-type']]).toEqual([mime, mime]);
    }
    const r = await receiver();
    const base = subscriptionBody(r.url, RAV_OWNER);
    const r5 = await post({ ...base, channel: { ...base.channel, payload: 'application/fhir+json; fhirVersion=5.0' } });
    expect(r5.status).toBe(422);
    expect(JSON.stringify(r5.body)).toContain('fhirVersion=5.0');
  });
});
