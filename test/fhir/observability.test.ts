// What operators watch: Prometheus metrics by route pattern, native records by outcome, and a token when configured.
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { metricValue } from '../support/metrics.ts';

let gw: TestGateway;
let guarded: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
  guarded = await startTestGateway({ METRICS_TOKEN: 'scrape-me' });
});
afterAll(async () => {
  await gw.stop();
  await guarded.stop();
});

/** A counter not yet incremented has no sample: 0. */
const sample = (text: string, name: string, labels: Record<string, string>): number => metricValue(text, name, labels) ?? 0;

test('requests are counted by route pattern, without ids', async () => {
  const auth = await gw.auth();
  const before = (await request(gw.app).get('/metrics').expect(200)).text;
  await request(gw.app).get('/fhir/Patient/does-not-exist').set('Authorization', auth).expect(404);
  await request(gw.app).get('/fhir/Patient/another-unknown').set('Authorization', auth).expect(404);
  const after = (await request(gw.app).get('/metrics').expect(200)).text;
  const labels = { method: 'GET', route: '/fhir/Patient/{id}', status: '404' };
  expect(sample(after, 'gateway_http_requests_total', labels) - sample(before, 'gateway_http_requests_total', labels)).toBe(2);
  expect(after).not.toContain('does-not-exist');
  expect(after).toContain('gateway_http_request_duration_seconds_bucket');
});

test('native records are counted by format and outcome', async () => {
  const before = (await request(gw.app).get('/metrics').expect(200)).text;
  await request(gw.app).post('/native/nts').set('Authorization', await gw.auth()).type('application/json').send('{"berichttype":"NTS-TRIAGE"}').expect(400);
  const after = (await request(gw.app).get('/metrics').expect(200)).text;
  const labels = { format: 'nts', outcome: 'refused' };
  expect(sample(after, 'gateway_native_records_total', labels) - sample(before, 'gateway_native_records_total', labels)).toBe(1);
});

test('with METRICS_TOKEN set, /metrics asks for it', async () => {
  await request(guarded.app).get('/metrics').expect(401);
  await request(guarded.app).get('/metrics').set('Authorization', 'Bearer wrong-token').expect(401);
  const ok = await request(guarded.app).get('/metrics').set('Authorization', 'Bearer scrape-me').expect(200);
  expect(ok.text).toContain('gateway_http_requests_total');
});
