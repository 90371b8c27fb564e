// How a FHIR answer is written (src/http/app.ts sendFhir): the body and headers express's `res.send` wrote, less the
// ETag it made up by hashing every answer that had none (issue 19: 50–90 µs per search page); a read's own ETag
// still answers a conditional GET with 304, and HEAD still gets GET's headers without the body.
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let tg: TestGateway;
let auth: string;
let id: string;

beforeAll(async () => {
  tg = await startTestGateway();
  auth = await tg.auth('hap-vechtdal');
  const created = await request(tg.app).post('/fhir/Patient').set('Authorization', auth).set('Content-Type', 'application/fhir+json').send({ resourceType: 'Patient', name: [{ family: 'Antwoord' }] }).expect(201);
  id = (created.body as { id: string }).id;
});

afterAll(async () => {
  await tg.stop();
});

test('a search answer: FHIR JSON in UTF-8 with its exact length, and no ETag made up from its body', async () => {
  const res = await request(tg.app).get('/fhir/Patient?family=Antwoord').set('Authorization', auth).expect(200);
  expect(res.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
  expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.text));
  expect((res.body as { resourceType: string; total?: number }).resourceType).toBe('Bundle');
  expect(res.headers.etag).toBeUndefined();
});

test('a read carries its version as ETag; naming it in If-None-Match (or its time in If-Modified-Since) gets 304 without a body, another version 200', async () => {
  const read = await request(tg.app).get(`/fhir/Patient/${id}`).set('Authorization', auth).expect(200);
  expect(read.headers.etag).toBe('W/"1"');
  expect(Number(read.headers['content-length'])).toBe(Buffer.byteLength(read.text));
  const same = await request(tg.app).get(`/fhir/Patient/${id}`).set('Authorization', auth).set('If-None-Match', 'W/"1"').expect(304);
  expect(same.text).toBe('');
  expect(same.headers['content-type']).toBeUndefined();
  await request(tg.app).get(`/fhir/Patient/${id}`).set('Authorization', auth).set('If-None-Match', 'W/"2"').expect(200);
  await request(tg.app).get(`/fhir/Patient/${id}`).set('Authorization', auth).set('If-Modified-Since', read.headers['last-modified'] as string).expect(304);
  await request(tg.app).get(`/fhir/Patient/${id}/_history/1`).set('Authorization', auth).set('If-None-Match', 'W/"1"').expect(304);
});

test('HEAD of a read: the status and headers of GET, no body', async () => {
  const get = await request(tg.app).get(`/fhir/Patient/${id}`).set('Authorization', auth).expect(200);
  const head = await request(tg.app).head(`/fhir/Patient/${id}`).set('Authorization', auth).expect(200);
  expect(head.text ?? '').toBe('');
  for (const h of ['etag', 'content-type', 'content-length', 'last-modified']) expect(head.headers[h]).toBe(get.headers[h]);
});

test('a delete names the version it made; deleting again makes none and names none (no ETag made up from the body)', async () => {
  const created = await request(tg.app).post('/fhir/Patient').set('Authorization', auth).set('Content-Type', 'application/fhir+json').send({ resourceType: 'Patient', name: [{ family: 'Weg' }] }).expect(201);
  const gone = (created.body as { id: string }).id;
  const first = await request(tg.app).delete(`/fhir/Patient/${gone}`).set('Authorization', auth).expect(200);
  expect(first.headers.etag).toBe('W/"2"');
  const again = await request(tg.app).delete(`/fhir/Patient/${gone}`).set('Authorization', auth).expect(200);
  expect(again.headers.etag).toBeUndefined();
});
