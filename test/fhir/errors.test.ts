// Every error is an OperationOutcome with the right status; after each bad request the gateway still serves and stored nothing.
import type { Bundle, Patient } from '@medplum/fhirtypes';
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { buildPatient } from '../support/fhir-builders.ts';
import { expectOutcome, FHIR_JSON, fhirClient, type Fhir } from './helpers.ts';

const MAX_BODY_BYTES = 4096;

let tg: TestGateway;
let fhir: Fhir;
let authorization: string;
let patient: Patient;

beforeAll(async () => {
  tg = await startTestGateway({ MAX_BODY_BYTES: String(MAX_BODY_BYTES) });
  fhir = await fhirClient(tg);
  authorization = await tg.auth('hap-vechtdal');
  patient = await fhir.create(buildPatient());
});
afterAll(async () => {
  await tg?.stop();
});

/** How many versions the whole store holds. */
async function storedVersions(): Promise<number> {
  const res = await fhir.get('_history?_count=1');
  expect(res.status).toBe(200);
  return (res.body as Bundle).total!;
}

/** Sends a raw body as given (bytes, any Content-Type). */
function raw(method: 'post' | 'put', path: string, body: string | Buffer, contentType = FHIR_JSON): request.Test {
  return request(tg.app)[method](`/fhir/${path}`).set('Authorization', authorization).set('Content-Type', contentType).send(body);
}

/** Runs `bad`, expects `status` with an OperationOutcome, then checks the gateway still answers and nothing was stored. */
async function refused(status: number, bad: () => request.Test | Promise<request.Response>): Promise<void> {
  const before = await storedVersions();
  const res = await bad();
  expectOutcome(res, status);
  expect(await storedVersions()).toBe(before);
  const alive = await fhir.get(`Patient/${patient.id}`);
  expect(alive.status).toBe(200);
  expect((alive.body as Patient).meta!.versionId).toBe('1');
}

describe('authentication', () => {
  it('401 without a token, with a bad token and with another scheme', async () => {
    await refused(401, () => request(tg.app).get('/fhir/Patient'));
    await refused(401, () => request(tg.app).get(`/fhir/Patient/${patient.id}`).set('Authorization', 'Bearer not-a-token'));
    await refused(401, () => request(tg.app).get('/fhir/Patient').set('Authorization', 'Basic aGFwLXZlY2h0ZGFsOmRlbW8tc2VjcmV0'));
    await refused(401, () => request(tg.app).post('/fhir/Patient').set('Authorization', 'Bearer x.y.z').set('Content-Type', FHIR_JSON).send(JSON.stringify(buildPatient())));
    const res = await request(tg.app).get('/fhir/Patient');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it('403 when the token lacks the scope', async () => {
    const auditor = await fhirClient(tg, 'auditor');
    expect((await auditor.get(`Patient/${patient.id}`)).status).toBe(200);
    await refused(403, () => auditor.post('Patient', buildPatient()));
    await refused(403, () => auditor.delete(`Patient/${patient.id}`));
  });
});

describe('routing', () => {
  it('404 for an unknown id, type or path', async () => {
    await refused(404, () => fhir.get('Patient/no-such-id'));
    await refused(404, () => fhir.get('Patient/no-such-id/_history'));
    await refused(404, () => fhir.get(`Patient/${patient.id}/_history/7`));
    await refused(404, () => fhir.get('Spaceship/1'));
    await refused(404, () => fhir.get('Spaceship'));
    await refused(404, () => fhir.post('Spaceship', { resourceType: 'Spaceship' }));
    await refused(404, () => fhir.get(`Patient/${patient.id}/something/else/entirely`));
    await refused(404, () => request(tg.app).get('/no/such/path').set('Authorization', authorization));
  });

  it('405 for a method the path does not take', async () => {
    await refused(405, () => fhir.delete('Patient'));
    await refused(405, () => fhir.put('Patient', buildPatient()));
    await refused(405, () => fhir.post(`Patient/${patient.id}`, buildPatient()));
    await refused(405, () => fhir.put('Patient/never-created', { ...buildPatient(), id: 'never-created' }));
  });

  it('406 when Accept admits no JSON', async () => {
    await refused(406, () => fhir.get(`Patient/${patient.id}`, { Accept: 'application/xml' }));
    await refused(406, () => fhir.get(`Patient/${patient.id}?_format=xml`));
    await refused(406, () => fhir.post('Patient', buildPatient(), { Accept: 'text/html' }));
    expect((await fhir.get(`Patient/${patient.id}`, { Accept: 'application/json' })).status).toBe(200);
    expect((await fhir.get(`Patient/${patient.id}`, { Accept: '*/*' })).status).toBe(200);
  });

  it('410 for a deleted resource; 412 for a stale If-Match', async () => {
    const gone = await fhir.create(buildPatient());
    expect((await fhir.delete(`Patient/${gone.id}`)).status).toBe(200);
    await refused(410, () => fhir.get(`Patient/${gone.id}`));
    await refused(412, () => fhir.put(`Patient/${patient.id}`, { ...patient, gender: 'female' }, { 'If-Match': 'W/"9"' }));
  });
});

describe('request bodies', () => {
  it('413 for a body over MAX_BODY_BYTES', async () => {
    const big = { ...buildPatient(), name: [{ family: 'x'.repeat(MAX_BODY_BYTES) }] };
    await refused(413, () => fhir.post('Patient', big));
    await refused(413, () => fhir.put(`Patient/${patient.id}`, { ...patient, name: [{ family: 'x'.repeat(MAX_BODY_BYTES) }] }));
  });

  it('415 for a body that is not JSON', async () => {
    await refused(415, () => raw('post', 'Patient', 'resourceType=Patient', 'text/plain'));
    await refused(415, () => raw('put', `Patient/${patient.id}`, JSON.stringify(patient), 'application/xml'));
    await refused(415, () => request(tg.app).post('/fhir/Patient').set('Authorization', authorization).send(Buffer.from(JSON.stringify(buildPatient()))));
  });

  it('400 for malformed JSON and bodies that do not fit the URL', async () => {
    await refused(400, () => raw('post', 'Patient', '{"resourceType": "Patient",'));
    await refused(400, () => raw('post', 'Patient', ''));
    await refused(400, () => raw('post', 'Patient', 'null'));
    await refused(400, () => raw('post', 'Patient', '[]'));
    await refused(400, () => fhir.post('Patient', { ...buildPatient(), resourceType: 'Organization' }));
    await refused(400, () => fhir.put(`Patient/${patient.id}`, { ...patient, resourceType: 'Organization' }));
    await refused(400, () => fhir.put(`Patient/${patient.id}`, { ...patient, id: 'another-id' }));
    await refused(400, () => fhir.put(`Patient/${patient.id}`, { ...patient, id: undefined }));
  });

  it('400 for prototype-polluting keys in the body and the query', async () => {
    const polluted = JSON.stringify(buildPatient()).replace('{', '{"__proto__": {"polluted": true},');
    await refused(400, () => raw('post', 'Patient', polluted));
    await refused(400, () => raw('post', 'Patient', JSON.stringify({ ...buildPatient(), name: [{ family: 'x', constructor: { prototype: { polluted: true } } }] })));
    await refused(400, () => fhir.get('Patient?__proto__=x'));
    // Brackets mean nothing to the query parser: a literal (unknown) name, ignored.
    expect((await fhir.get('Patient?__proto__[polluted]=true')).status).toBe(200);
    await refused(400, () => fhir.get('Patient?constructor=x'));
    await refused(400, () => fhir.post('Patient/_search', undefined).set('Content-Type', 'application/x-www-form-urlencoded').send('__proto__=x'));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('400 for prototype keys in If-None-Exist and in the urls of transaction and batch entries', async () => {
    for (const key of ['__proto__', 'constructor']) {
      await refused(400, () => fhir.post('Patient', buildPatient(), { 'If-None-Exist': `${key}=x` }));
      await refused(400, () => fhir.post('', { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'GET', url: `Patient?${key}=x` } }] }));
      await refused(400, () =>
        fhir.post('', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: buildPatient(), request: { method: 'POST', url: 'Patient', ifNoneExist: `${key}=x` } }] }),
      );
      const batch = await fhir.post('', { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Patient?${key}=x` } }] });
      expect(batch.status).toBe(200);
      expect((batch.body as Bundle).entry![0]!.response!.status).toBe('400');
    }
  });

  it('400 for JSON nested deeper than 100 levels', async () => {
    const deep = `{"resourceType":"Patient","extension":${'['.repeat(101)}${']'.repeat(101)}}`;
    await refused(400, () => raw('post', 'Patient', deep));
    const deeper = '['.repeat(100_000) + ']'.repeat(100_000);
    await refused(413, () => raw('post', 'Patient', deeper));
  });

  it('400 for invalid UTF-8 and NUL characters', async () => {
    const text = JSON.stringify({ ...buildPatient(), name: [{ family: 'XX' }] });
    const bytes = Buffer.from(text);
    const at = bytes.indexOf('XX');
    bytes[at] = 0xff;
    bytes[at + 1] = 0xfe;
    await refused(400, () => raw('post', 'Patient', bytes));
    await refused(400, () => raw('post', 'Patient', JSON.stringify({ ...buildPatient(), name: [{ family: 'a\u0000b' }] })));
    await refused(400, () => raw('post', 'Patient', text.replace('XX', 'a\u0000b')));
    await refused(400, () => fhir.get('Patient?family=a%00b'));
  });

  it('400 for a conditional create with unknown search parameters', async () => {
    await refused(400, () => fhir.post('Patient', buildPatient(), { 'If-None-Exist': 'colour=blue' }));
    await refused(400, () => fhir.post('Patient', buildPatient(), { 'If-None-Exist': '' }));
  });

  it('400 for a JSON Patch that is not an array of operations', async () => {
    await refused(400, () => fhir.patch(`Patient/${patient.id}`, { op: 'replace', path: '/gender', value: 'female' }));
    await refused(400, () => raw('post', 'Patient', '{"resourceType":"Patient","gender":"male"', 'application/json-patch+json'));
  });
});

describe('the error body', () => {
  it('is a FHIR OperationOutcome without internals', async () => {
    const res = await fhir.get('Patient/no-such-id');
    const outcome = expectOutcome(res, 404);
    expect(outcome.issue![0]!.severity).toBe('error');
    expect(outcome.issue![0]!.code).toBe('not-found');
    expect(res.text).not.toMatch(/at \w+ \(|node_modules|\.ts:\d+/);
    expect(res.headers['x-request-id']).toBeDefined();
  });
});
