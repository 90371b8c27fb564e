// Searching the gateway's code systems and concept maps pages as any search does (issue 16.9: CodeSystem search
// ignored _count): _count, _offset with a next link, _id, _summary=count, unknown parameters warned or refused.
import request from 'supertest';
import type { Bundle } from '@medplum/fhirtypes';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw.stop();
});

const get = async (path: string, headers: Record<string, string> = {}) => request(gw.app).get(path).set('Authorization', await gw.auth()).set(headers);
const ids = (b: Bundle): string[] => (b.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource?.id ?? '');

test('_count and _offset page the code systems, with a next link exactly while more follow', async () => {
  const all = (await get('/fhir/CodeSystem')).body as Bundle;
  const total = all.total ?? 0;
  expect(total).toBeGreaterThan(5);
  expect(ids(all)).toHaveLength(total);
  const seen: string[] = [];
  let url: string | undefined = '/fhir/CodeSystem?_count=5';
  while (url) {
    const page = (await get(url)).body as Bundle;
    expect(ids(page).length).toBeLessThanOrEqual(5);
    seen.push(...ids(page));
    const next = page.link?.find((l) => l.relation === 'next')?.url;
    url = next ? next.replace('http://gateway.test', '') : undefined;
  }
  expect(seen).toEqual(ids(all));
  expect(ids((await get('/fhir/ConceptMap?_count=2')).body as Bundle)).toHaveLength(2);
});

test('_id, _summary=count, and unknown parameters', async () => {
  const first = ids((await get('/fhir/CodeSystem?_count=1')).body as Bundle)[0] ?? '';
  expect(ids((await get(`/fhir/CodeSystem?_id=${first}`)).body as Bundle)).toEqual([first]);
  const count = (await get('/fhir/CodeSystem?_summary=count')).body as Bundle;
  expect({ entries: count.entry ?? [], total: count.total }).toEqual({ entries: [], total: ((await get('/fhir/CodeSystem')).body as Bundle).total });
  const lenient = (await get('/fhir/CodeSystem?colour=blue')).body as Bundle;
  expect(lenient.entry?.find((e) => e.search?.mode === 'outcome')?.resource).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'warning', expression: ['colour'] }] });
  expect((await get('/fhir/CodeSystem?colour=blue', { Prefer: 'handling=strict' })).status).toBe(400);
  expect((await get('/fhir/CodeSystem?_count=many')).status).toBe(400);
  expect((await get('/fhir/CodeSystem?_sort=-_lastUpdated&_total=accurate', { Prefer: 'handling=strict' })).status).toBe(200);
  expect((await get('/fhir/CodeSystem?_sort=name')).status).toBe(400);
});
