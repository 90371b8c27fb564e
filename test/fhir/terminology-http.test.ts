// The gateway's code systems and concept maps over HTTP, $translate and $validate: what an integration developer calls.
import request from 'supertest';
import type { Bundle, OperationOutcome, Parameters } from '@medplum/fhirtypes';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw.stop();
});

const NTS_URGENTIE = 'https://handover-gateway.nl/fhir/CodeSystem/nts-urgentie';
const AMBULANCE_URGENTIE = 'https://handover-gateway.nl/fhir/CodeSystem/ambulance-urgentie';

function matches(p: Parameters): string[] {
  return (p.parameter ?? [])
    .filter((x) => x.name === 'match')
    .map((m) => m.part?.find((x) => x.name === 'concept')?.valueCoding?.code ?? '')
    .sort();
}

test('code systems and concept maps are listed and readable, and need a token', async () => {
  await request(gw.app).get('/fhir/CodeSystem').expect(401);
  const list = await request(gw.app).get('/fhir/CodeSystem').set('Authorization', await gw.auth()).expect(200);
  const systems = (list.body as Bundle).entry?.map((e) => (e.resource as { url?: string }).url) ?? [];
  expect(systems).toEqual(expect.arrayContaining([NTS_URGENTIE, AMBULANCE_URGENTIE]));
  const byUrl = await request(gw.app).get('/fhir/CodeSystem').query({ url: NTS_URGENTIE }).set('Authorization', await gw.auth()).expect(200);
  expect((byUrl.body as Bundle).total).toBe(1);
  const id = ((byUrl.body as Bundle).entry?.[0]?.resource as { id: string }).id;
  const read = await request(gw.app).get(`/fhir/CodeSystem/${id}`).set('Authorization', await gw.auth()).expect(200);
  expect(read.body.url).toBe(NTS_URGENTIE);
  await request(gw.app).get('/fhir/ConceptMap/no-such-map').set('Authorization', await gw.auth()).expect(404);
});

test('code systems are read-only', async () => {
  const res = await request(gw.app)
    .post('/fhir/CodeSystem')
    .set('Authorization', await gw.auth())
    .type('application/fhir+json')
    .send({ resourceType: 'CodeSystem', status: 'active', content: 'complete' });
  expect(res.status).toBe(405);
  expect((res.body as OperationOutcome).resourceType).toBe('OperationOutcome');
});

test('$translate never weakens urgency: U1 → A1, U2 → A2, and A1 back to U1', async () => {
  const u1 = await request(gw.app)
    .get('/fhir/ConceptMap/$translate')
    .query({ system: NTS_URGENTIE, code: 'U1', targetsystem: AMBULANCE_URGENTIE })
    .set('Authorization', await gw.auth())
    .expect(200);
  expect(matches(u1.body as Parameters)).toEqual(['A1']);
  const u2 = await request(gw.app)
    .get('/fhir/ConceptMap/nts-urgentie-to-ambulance-urgentie/$translate')
    .query({ system: NTS_URGENTIE, code: 'U2' })
    .set('Authorization', await gw.auth())
    .expect(200);
  expect(matches(u2.body as Parameters)).toEqual(['A2']);
  const back = await request(gw.app)
    .get('/fhir/ConceptMap/$translate')
    .query({ system: AMBULANCE_URGENTIE, code: 'A1', targetsystem: NTS_URGENTIE })
    .set('Authorization', await gw.auth())
    .expect(200);
  expect(matches(back.body as Parameters)).toEqual(['U1']);
  await request(gw.app).get('/fhir/ConceptMap/$translate').query({ code: 'U1' }).set('Authorization', await gw.auth()).expect(400);
});

test('$validate applies the handover Task profile without storing anything', async () => {
  const incomplete = { resourceType: 'Task', status: 'requested', intent: 'order' };
  const res = await request(gw.app).post('/fhir/Task/$validate').set('Authorization', await gw.auth()).type('application/fhir+json').send(incomplete).expect(200);
  const issues = (res.body as OperationOutcome).issue ?? [];
  const expressions = issues.flatMap((i) => i.expression ?? []);
  // Task.for is required only for a handover of code fulfill since issue 18 (hgw-task-3); this Task has no code.
  expect(expressions).toEqual(expect.arrayContaining(['Task.owner', 'Task.requester', 'Task.focus', 'Task.code']));
  const count = await request(gw.app).get('/fhir/Task').query({ _summary: 'count' }).set('Authorization', await gw.auth()).expect(200);
  expect((count.body as Bundle).total).toBe(0);
});

test('the CapabilityStatement lists the terminology types and operations it serves', async () => {
  const res = await request(gw.app).get('/fhir/metadata').expect(200);
  const resources = res.body.rest[0].resource as { type: string; operation?: { name: string }[] }[];
  expect(resources.find((r) => r.type === 'ConceptMap')?.operation?.map((o) => o.name)).toContain('translate');
  expect(resources.find((r) => r.type === 'Task')?.operation?.map((o) => o.name)).toContain('validate');
});
