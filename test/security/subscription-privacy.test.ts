// Issue 14, row 5: a Subscription (its endpoint, and credentials in channel.header) is its owner's alone. The
// ZCC and the auditor read the region's handovers, but no route (system or type history, instance history,
// vread, search, a batch entry) shows them, or anyone else, another organisation's Subscription.
import { randomUUID } from 'node:crypto';
import type { Bundle, Subscription } from '@medplum/fhirtypes';
import request from 'supertest';
import { subscriptionBody } from '../support/receiver.ts';
import { startTestGateway, type DemoClient, type TestGateway } from '../support/gateway.ts';

let tg: TestGateway;
const CREDENTIAL = `Bearer hap-credential-${randomUUID()}`;
let id = '';

beforeAll(async () => {
  tg = await startTestGateway();
  const body = subscriptionBody('http://127.0.0.1:9/hook', 'Task?requester=http://fhir.nl/fhir/NamingSystem/ura|90001234');
  body.channel.header = [`Authorization: ${CREDENTIAL}`];
  const made = await request(tg.app).post('/fhir/Subscription').set('Authorization', await tg.auth('hap-vechtdal')).set('Content-Type', 'application/fhir+json').send(JSON.stringify(body));
  expect(made.status).toBe(201);
  id = (made.body as Subscription).id!;
  // A second version, so that history has more than one.
  const changed = { ...(made.body as Subscription), reason: 'Changed' };
  const put = await request(tg.app).put(`/fhir/Subscription/${id}`).set('Authorization', await tg.auth('hap-vechtdal')).set('Content-Type', 'application/fhir+json').send(JSON.stringify(changed));
  expect(put.status).toBe(200);
}, 120_000);

afterAll(async () => {
  await tg?.stop();
});

async function get(client: DemoClient, path: string): Promise<request.Response> {
  return request(tg.app).get(`/fhir/${path}`).set('Authorization', await tg.auth(client));
}

const ids = (res: request.Response): string[] => ((res.body as Bundle).entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);

const OTHERS: DemoClient[] = ['zcc-ijsselland', 'auditor', 'rav-noordoost', 'vvt-ijsseldelta', 'vvt-sallandse-heuvelrug'];

describe.each(OTHERS)('%s does not see the HAP’s Subscription', (client) => {
  it('in system history', async () => {
    const res = await get(client, '_history?_count=1000');
    expect(res.status).toBe(200);
    expect(ids(res)).not.toContain(`Subscription/${id}`);
    expect(res.text).not.toContain(CREDENTIAL);
  });

  it('in type history', async () => {
    const res = await get(client, 'Subscription/_history');
    expect(res.text).not.toContain(CREDENTIAL);
    expect(res.status === 404 || !ids(res).includes(`Subscription/${id}`)).toBe(true);
  });

  it('in its instance history or a version read (404, as for an unknown id)', async () => {
    const history = await get(client, `Subscription/${id}/_history`);
    expect([history.status, history.body.resourceType]).toEqual([404, 'OperationOutcome']);
    const version = await get(client, `Subscription/${id}/_history/1`);
    expect([version.status, version.body.resourceType]).toEqual([404, 'OperationOutcome']);
    expect(history.text + version.text).not.toContain(CREDENTIAL);
  });

  it('in a search, GET or POST', async () => {
    for (const res of [
      await get(client, `Subscription?_id=${id}`),
      await get(client, 'Subscription'),
      await request(tg.app).post('/fhir/Subscription/_search').set('Authorization', await tg.auth(client)).type('form').send({ _id: id }),
    ]) {
      expect(res.status === 404 || !ids(res).includes(`Subscription/${id}`)).toBe(true);
      expect(res.text).not.toContain(CREDENTIAL);
    }
  });

  it('through the entries of a batch', async () => {
    const batch = { resourceType: 'Bundle', type: 'batch', entry: [`Subscription/${id}/_history/1`, `Subscription/${id}/_history`, '_history', 'Subscription/_history'].map((url) => ({ request: { method: 'GET', url } })) };
    const res = await request(tg.app).post('/fhir').set('Authorization', await tg.auth(client)).set('Content-Type', 'application/fhir+json').send(JSON.stringify(batch));
    expect(res.status).toBe(200);
    expect(res.text).not.toContain(CREDENTIAL);
    expect(res.text).not.toContain(`"id":"${id}"`);
  });
});

describe('the owner', () => {
  it('still reads its Subscription, in system history (both versions) and through the Subscription routes', async () => {
    const history = await get('hap-vechtdal', '_history?_count=1000');
    expect(ids(history).filter((x) => x === `Subscription/${id}`)).toHaveLength(2);
    expect(history.text).toContain(CREDENTIAL);
    expect(ids(await get('hap-vechtdal', 'Subscription'))).toEqual([`Subscription/${id}`]);
    expect((await get('hap-vechtdal', `Subscription/${id}`)).status).toBe(200);
  });
});
