// Operations by GET and by POST with a Parameters body (FHIR R4 §operations: an operation that changes nothing
// may be invoked either way, and clients such as fhir-kit-client POST by default), and HEAD on reads.
import type { Bundle, OperationOutcome, Parameters, Task } from '@medplum/fhirtypes';
import request from 'supertest';
import { startTestGateway, type DemoClient, type TestGateway } from '../support/gateway.ts';
import { createHandover, FHIR_JSON, fhirClient, type Fhir } from './helpers.ts';

const NTS_URGENTIE = 'https://handover-gateway.nl/fhir/CodeSystem/nts-urgentie';
const AMBULANCE_URGENTIE = 'https://handover-gateway.nl/fhir/CodeSystem/ambulance-urgentie';

let tg: TestGateway;
let hap: Fhir;
beforeAll(async () => {
  tg = await startTestGateway();
  hap = await fhirClient(tg, 'hap-vechtdal');
});
afterAll(async () => {
  await tg.stop();
});

const parameters = (parameter: Parameters['parameter']): Parameters => ({ resourceType: 'Parameters', parameter });
const postOperation = async (path: string, body: Parameters, client: DemoClient = 'hap-vechtdal') =>
  request(tg.app).post(`/fhir/${path}`).set('Authorization', await tg.auth(client)).set('Content-Type', FHIR_JSON).send(JSON.stringify(body));
const getOperation = async (path: string, client: DemoClient = 'hap-vechtdal') => request(tg.app).get(`/fhir/${path}`).set('Authorization', await tg.auth(client));

describe('ConceptMap/$translate', () => {
  it('answers a POST with a Parameters body as the GET with the same parameters, a coding standing for system and code', async () => {
    const byGet = await getOperation(`ConceptMap/$translate?system=${encodeURIComponent(NTS_URGENTIE)}&code=U1&targetsystem=${encodeURIComponent(AMBULANCE_URGENTIE)}`);
    expect(byGet.status).toBe(200);
    const byPost = await postOperation('ConceptMap/$translate', parameters([{ name: 'coding', valueCoding: { system: NTS_URGENTIE, code: 'U1' } }, { name: 'targetsystem', valueUri: AMBULANCE_URGENTIE }]));
    expect(byPost.status).toBe(200);
    expect(byPost.body).toEqual(byGet.body);
    const withMap = await postOperation('ConceptMap/nts-urgentie-to-ambulance-urgentie/$translate', parameters([{ name: 'system', valueUri: NTS_URGENTIE }, { name: 'code', valueCode: 'U2' }]));
    expect(withMap.status).toBe(200);
    expect(JSON.stringify(withMap.body)).toContain('"A2"');
  });

  it('refuses a POST body that is not Parameters, naming it', async () => {
    const res = await request(tg.app).post('/fhir/ConceptMap/$translate').set('Authorization', await tg.auth()).set('Content-Type', FHIR_JSON).send(JSON.stringify({ resourceType: 'Patient' }));
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body as OperationOutcome)).toMatch(/Parameters/);
  });
});

describe('the auditor operations by POST', () => {
  it('$verify and $trail answer a POST as their GET, and only for the auditor', async () => {
    const h = await createHandover(tg, hap);
    const verify = await postOperation('AuditEvent/$verify', parameters([]), 'auditor');
    expect(verify.status).toBe(200);
    expect((verify.body as OperationOutcome).issue?.some((i) => /^Intact/.test(i.diagnostics ?? ''))).toBe(true);
    const trailByGet = await getOperation(`${h.task}/$trail`, 'auditor');
    const trailByPost = await postOperation(`${h.task}/$trail`, parameters([]), 'auditor');
    expect(trailByPost.status).toBe(200);
    expect((trailByPost.body as Bundle).entry?.length).toBeGreaterThanOrEqual((trailByGet.body as Bundle).entry?.length ?? 1);
    expect((await postOperation(`${h.patient}/$trail`, parameters([]), 'auditor')).status).toBe(200);
    expect((await postOperation('AuditEvent/$verify', parameters([]), 'hap-vechtdal')).status).toBe(403);
    expect((await postOperation(`${h.task}/$trail`, parameters([]), 'hap-vechtdal')).status).toBe(403);
  });
});

describe('HEAD', () => {
  it('answers a read and a vread with the GET\'s status and headers and no body', async () => {
    const h = await createHandover(tg, hap);
    const auth = await tg.auth();
    const get = await request(tg.app).get(`/fhir/${h.task}`).set('Authorization', auth);
    const head = await request(tg.app).head(`/fhir/${h.task}`).set('Authorization', auth);
    expect(head.status).toBe(200);
    expect(head.headers.etag).toBe(get.headers.etag);
    expect(head.headers['last-modified']).toBe(get.headers['last-modified']);
    expect(head.headers['content-location']).toBe(get.headers['content-location']);
    expect(head.text ?? '').toBe('');
    const version = (get.body as Task).meta?.versionId ?? '';
    const vread = await request(tg.app).head(`/fhir/${h.task}/_history/${version}`).set('Authorization', auth);
    expect([vread.status, vread.headers.etag]).toEqual([200, get.headers.etag]);
  });

  it('is 404 for what does not exist or cannot be seen, and 401 without a token, as a GET', async () => {
    const h = await createHandover(tg, hap);
    expect((await request(tg.app).head('/fhir/Task/does-not-exist').set('Authorization', await tg.auth())).status).toBe(404);
    expect((await request(tg.app).head(`/fhir/${h.task}`).set('Authorization', await tg.auth('vvt-ijsseldelta'))).status).toBe(404);
    expect((await request(tg.app).head(`/fhir/${h.task}`)).status).toBe(401);
  });
});
