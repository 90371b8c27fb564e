// SMART scopes on every interaction: REST, transaction and batch entries, operations, terminology, system
// history and the native endpoints. A token with only `system/Task.rs` reads Tasks and does nothing else.
import type { Bundle } from '@medplum/fhirtypes';
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { nativeClient, refusal, type Native } from '../support/native.ts';
import { example } from '../support/native.ts';

const FHIR_JSON = 'application/fhir+json';
let tg: TestGateway;
let native: Native;
let taskId: string;

beforeAll(async () => {
  tg = await startTestGateway();
  native = nativeClient(tg);
  taskId = (await native.createHandover('nts-u1-pijn-op-de-borst-naar-ambulance.json', 'hap-vechtdal')).taskId;
});
afterAll(async () => {
  await tg?.stop();
});

const as = async (scope: string) => `Bearer ${await tg.token('hap-vechtdal', scope)}`;

describe('a token with system/Task.rs only', () => {
  it('reads and searches Tasks', async () => {
    const auth = await as('system/Task.rs');
    expect((await request(tg.app).get(`/fhir/Task/${taskId}`).set('Authorization', auth)).status).toBe(200);
    expect((await request(tg.app).get('/fhir/Task').set('Authorization', auth)).status).toBe(200);
  });

  it.each([
    ['update a Task', (auth: string) => request(tg.app).put(`/fhir/Task/${taskId}`).set('Authorization', auth).set('Content-Type', FHIR_JSON).send('{"resourceType":"Task","id":"' + taskId + '"}')],
    ['read a Patient', (auth: string) => request(tg.app).get('/fhir/Patient').set('Authorization', auth)],
    ['read the whole system history', (auth: string) => request(tg.app).get('/fhir/_history').set('Authorization', auth)],
    ['$validate a Task', (auth: string) => request(tg.app).post('/fhir/Task/$validate').set('Authorization', auth).set('Content-Type', FHIR_JSON).send('{"resourceType":"Task"}')],
    ['read a CodeSystem', (auth: string) => request(tg.app).get('/fhir/CodeSystem').set('Authorization', auth)],
    ['$translate', (auth: string) => request(tg.app).get('/fhir/ConceptMap/$translate?system=a&code=b').set('Authorization', auth)],
    ['send a native record', (auth: string) => request(tg.app).post('/native/nts').set('Authorization', auth).set('Content-Type', 'application/json').send(JSON.stringify(example('nts-u1-pijn-op-de-borst-naar-ambulance.json')))],
    ['render a handover natively (needs read on every type it shows)', (auth: string) => request(tg.app).get(`/native/nts/${taskId}`).set('Authorization', auth)],
  ])('cannot %s: 403 with an OperationOutcome', async (_what, send) => {
    const before = await native.count('Task');
    refusal(await send(await as('system/Task.rs')), [403]);
    expect(await native.count('Task')).toBe(before);
  });

  it('cannot create or update through a transaction or batch entry', async () => {
    const auth = await as('system/Task.rs');
    const entry = { request: { method: 'PUT', url: `Task?identifier=urn:x|${taskId}` }, resource: { resourceType: 'Task' } };
    const tx = await request(tg.app).post('/fhir').set('Authorization', auth).set('Content-Type', FHIR_JSON).send(JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [entry] }));
    refusal(tx, [403]);
    const batch = await request(tg.app)
      .post('/fhir')
      .set('Authorization', auth)
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'POST', url: 'Task' }, resource: { resourceType: 'Task' } }, { request: { method: 'GET', url: `Task/${taskId}` } }] }));
    expect(batch.status).toBe(200);
    expect(((batch.body as Bundle).entry ?? []).map((e) => e.response?.status)).toEqual(['403', '200']);
  });
});

describe('native scopes', () => {
  it('render needs read on Task, ServiceRequest, Encounter, Patient and Observation: system/*.r is enough', async () => {
    expect((await request(tg.app).get(`/native/nts/${taskId}`).set('Authorization', await as('system/*.r'))).status).toBe(200);
  });

  it('a record needs create and update on those types', async () => {
    refusal(await request(tg.app).post('/native/nts').set('Authorization', await as('system/*.c')).set('Content-Type', 'application/json').send('{}'), [403]);
  });
});

describe('scopes in a token request', () => {
  it('refuses letters out of order or repeated (SMART v2), and scopes not registered', async () => {
    for (const scope of ['system/Task.sr', 'system/Task.rr', 'system/Task.dc', 'patient/Task.rs']) {
      const res = await request(tg.app).post('/oauth2/token').auth('hap-vechtdal', 'demo-secret').type('form').send({ grant_type: 'client_credentials', scope });
      expect({ scope, status: res.status, error: (res.body as { error?: string }).error }).toEqual({ scope, status: 400, error: 'invalid_scope' });
    }
    const auditor = await request(tg.app).post('/oauth2/token').auth('auditor', 'demo-secret').type('form').send({ grant_type: 'client_credentials', scope: 'system/Task.u' });
    expect(auditor.status).toBe(400);
  });
});
