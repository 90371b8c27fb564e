// Paging links reproduce exactly the query the client sent: nothing invented when it sent none.
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

test('a search without parameters links to itself without invented parameters', async () => {
  const res = await request(gw.app).get('/fhir/Organization').set('Authorization', await gw.auth()).expect(200);
  const self = (res.body as Bundle).link?.find((l) => l.relation === 'self')?.url ?? '';
  expect(new URL(self).searchParams.toString()).toBe('_count=20&_offset=0');
  expect((res.body as Bundle).entry?.some((e) => e.search?.mode === 'outcome')).toBe(false);
});
