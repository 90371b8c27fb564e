// What operators watch: Prometheus metrics by route pattern, native records by outcome, and a token when configured.
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { metricValue } from '../support/metrics.ts';
import { buildPatient } from '../support/fhir-builders.ts';
import { nativeClient } from '../support/native.ts';

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

/** The `route` label values of gateway_http_requests_total in a scrape. */
function routeLabels(text: string): Set<string> {
  const routes = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('gateway_http_requests_total{')) continue;
    const route = /route="([^"]*)"/.exec(line)?.[1];
    if (route !== undefined) routes.add(route);
  }
  return routes;
}

test('FHIR, native, board and token requests are each counted under the route pattern they took', async () => {
  const auth = await gw.auth();
  const native = nativeClient(gw);
  const { taskId } = await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal');
  const before = (await request(gw.app).get('/metrics').expect(200)).text;

  const created = await native.post('/fhir/Patient', buildPatient());
  expect(created.status).toBe(201);
  const patientId = created.body.id as string;
  expect((await native.get(`/fhir/Patient/${patientId}`)).status).toBe(200);
  expect((await native.get(`/fhir/Patient/${patientId}`)).status).toBe(200);
  expect((await native.get(`/fhir/Patient/${patientId}/_history/1`)).status).toBe(200);
  expect((await native.get(`/fhir/Task?_id=${taskId}`)).status).toBe(200);
  expect((await native.get(`/fhir/Task/${taskId}/$trail`, 'auditor')).status).toBe(200);
  await native.get('/fhir/ConceptMap/$translate?system=x&code=y').then((r) => expect(r.status).toBeLessThan(500));
  expect((await native.get(`/native/ambulance/${taskId}`, 'rav-noordoost')).status).toBe(200);
  await native.send('nts', { berichttype: 'NTS-TRIAGE' });
  await request(gw.app).get('/board/events').expect(401);
  await request(gw.app).post('/oauth2/token').auth('hap-vechtdal', 'wrong').type('form').send({ grant_type: 'client_credentials' }).expect(401);
  await request(gw.app).get('/fhir/metadata').expect(200);
  await request(gw.app).get('/fhir/NoSuchType/1').set('Authorization', auth).expect(404);

  const after = (await request(gw.app).get('/metrics').expect(200)).text;
  const delta = (method: string, route: string, status: string): number =>
    sample(after, 'gateway_http_requests_total', { method, route, status }) - sample(before, 'gateway_http_requests_total', { method, route, status });
  expect(delta('POST', '/fhir/Patient', '201')).toBe(1);
  expect(delta('GET', '/fhir/Patient/{id}', '200')).toBe(2);
  expect(delta('GET', '/fhir/Patient/{id}/_history/{vid}', '200')).toBe(1);
  expect(delta('GET', '/fhir/Task', '200')).toBe(1);
  expect(delta('GET', '/fhir/Task/{id}/$trail', '200')).toBe(1);
  expect(after).toMatch(/route="\/fhir\/ConceptMap\/\$translate"/);
  expect(delta('GET', '/native/ambulance/{handoverId}', '200')).toBe(1);
  expect(delta('POST', '/native/nts', '400')).toBe(1);
  expect(delta('GET', '/board/events', '401')).toBe(1);
  expect(delta('POST', '/oauth2/token', '401')).toBe(1);
  expect(delta('GET', '/fhir/metadata', '200')).toBe(1);
  expect(delta('GET', '/fhir/{unknown}', '404')).toBe(1);
  expect(routeLabels(after).has('/{other}')).toBe(false);
  expect(after).not.toContain(patientId);
  expect(after).not.toContain(taskId);
});

test('requests for made-up types, operations and paths, with or without a token, do not grow the set of labels', async () => {
  const auth = await gw.auth();
  const random = (): string => Math.random().toString(36).slice(2, 10);
  // A first round, so that each kind of unknown has had its label once.
  const round = async (): Promise<void> => {
    const t = `T${random()}`;
    await request(gw.app).get(`/fhir/${t}`).set('Authorization', auth);
    await request(gw.app).get(`/fhir/${t}/${random()}`);
    await request(gw.app).post(`/fhir/Patient/$${random()}`).set('Authorization', auth).type('application/fhir+json').send('{}');
    await request(gw.app).get(`/fhir/Task/${random()}/$${random()}`).set('Authorization', auth);
    await request(gw.app).get(`/fhir/$${random()}`).set('Authorization', auth);
    await request(gw.app).get(`/native/${random()}`).set('Authorization', auth);
    await request(gw.app).get(`/native/${random()}/${random()}`).set('Authorization', auth);
    await request(gw.app).get(`/${random()}/${random()}`);
  };
  await round();
  const first = routeLabels((await request(gw.app).get('/metrics').expect(200)).text);
  for (let i = 0; i < 40; i++) await round();
  const later = routeLabels((await request(gw.app).get('/metrics').expect(200)).text);
  expect([...later].filter((r) => !first.has(r))).toEqual([]);
  expect(later.size).toBeLessThan(60);
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
