// What /openapi.json tells a vendor about subscriptions works as written: each Subscription example (one per
// payload kind) is accepted as it stands (only its endpoint and topic host changed to this test's), and the
// worked signature example in the webhook's description is what the gateway's signer computes.
import type { Subscription } from '@medplum/fhirtypes';
import request from 'supertest';
import { sign } from '../../src/subscriptions/signing.ts';
import type { DemoClient, TestGateway } from '../support/gateway.ts';
import { withNativeGateway } from '../support/native.ts';
import { receiversForFile, SECRET_EXTENSION, signatureOk } from '../support/receiver.ts';

let tg: TestGateway;
withNativeGateway((g) => ({ tg } = g), { ALLOW_HTTP_LOOPBACK_HOOKS: '1' });
const receiver = receiversForFile();

type Json = Record<string, any>;

async function openapi(): Promise<Json> {
  const res = await request(tg.app).get('/openapi.json');
  expect(res.status).toBe(200);
  return res.body as Json;
}

/** The client whose URA the example's filter names (the examples use the demo organisations). */
const CLIENT_BY_URA: Record<string, DemoClient> = { '90001234': 'hap-vechtdal', '90004567': 'rav-noordoost', '90007890': 'vvt-ijsseldelta' };

describe('Subscription examples in /openapi.json', () => {
  it('has one per payload kind: FHIR id-only, FHIR full-resource and a native format', async () => {
    const examples = (await openapi()).components.requestBodies.Subscription.content['application/fhir+json'].examples as Record<string, { value: Json }>;
    const kinds = Object.values(examples).map(({ value }) => {
      const payload = String(value.channel.payload);
      return payload === 'application/fhir+json' ? String(value.channel._payload.extension[0].valueCode) : payload;
    });
    expect(kinds).toEqual(expect.arrayContaining(['id-only', 'full-resource']));
    expect(kinds.some((k) => k.startsWith('application/x-'))).toBe(true);
  });

  it.each(['idOnly', 'fullResource', 'native'])('%s is accepted as written and the subscriber is sent a signed handshake', async (name) => {
    const doc = await openapi();
    const value = structuredClone(doc.components.requestBodies.Subscription.content['application/fhir+json'].examples[name].value) as Json;
    const r = await receiver();
    value.channel.endpoint = r.url;
    value.criteria = String(value.criteria).replace('http://localhost:8080', 'http://gateway.test');
    const ura = /ura\|(\d+)/.exec(String(value._criteria.extension[0].valueString))?.[1] ?? '';
    const client = CLIENT_BY_URA[ura];
    expect(client).toBeDefined();
    const res = await request(tg.app).post('/fhir/Subscription').set('Authorization', await tg.auth(client)).set('Content-Type', 'application/fhir+json').send(JSON.stringify(value));
    expect(res.status).toBe(201);
    const created = res.body as Subscription;
    const secret = (value.extension as { url: string; valueString: string }[] | undefined)?.find((e) => e.url === SECRET_EXTENSION)?.valueString ?? created.extension?.find((e) => e.url === SECRET_EXTENSION)?.valueString;
    expect(secret).toBeDefined();
    await r.waitFor((got) => got.some((x) => x.subscription === created.id && x.type === 'handshake'), 'handshake');
    const handshake = r.received.find((x) => x.subscription === created.id && x.type === 'handshake');
    expect(handshake && signatureOk(handshake, String(secret))).toBe(true);
  });
});

describe('the worked signature example of the handover webhook', () => {
  it('is what the gateway signs: secret, timestamp and body give the X-Signature shown', async () => {
    const text = String((await openapi()).webhooks.handover.post.description);
    const secret = /secret `([^`]+)`/.exec(text)?.[1];
    const timestamp = /`X-Signature-Timestamp: (\d+)`/.exec(text)?.[1];
    const body = /body `(\{[^`]+\})`/.exec(text)?.[1];
    const signature = /`X-Signature: (v1=[0-9a-f]{64})`/.exec(text)?.[1];
    expect([secret, timestamp, body, signature].every(Boolean)).toBe(true);
    expect(sign(String(secret), Number(timestamp), String(body))).toBe(signature);
  });
});
