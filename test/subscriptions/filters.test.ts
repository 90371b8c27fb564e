// Subscription filters as integrations write them (issue 16.2): an organisation as a bare id, as Organization/<id>,
// as an absolute URL of this server, or by URA (owner:identifier=…) fires when a Task names it; a filter that can
// never match (a parameter or modifier the topic does not offer, an organisation that does not exist, a code outside
// its value set) is refused with 422 naming it (Backport IG: a server SHALL reject a filter it cannot honour).
import type { Subscription } from '@medplum/fhirtypes';
import request from 'supertest';
import { startTestGateway, type DemoClient, type TestGateway } from '../support/gateway.ts';
import { receiversForFile, subscribe, subscriptionBody, type Receiver } from '../support/receiver.ts';
import { createHandover, fhirClient } from '../fhir/helpers.ts';

const URA = 'http://fhir.nl/fhir/NamingSystem/ura';
const BASE = 'http://gateway.test/fhir';
const RAV_URA = '90004567';
const HAP_URA = '90001234';

let tg: TestGateway;
const receiver = receiversForFile();

beforeAll(async () => {
  tg = await startTestGateway({ ALLOW_HTTP_LOOPBACK_HOOKS: '1' });
});
afterAll(async () => {
  await tg?.stop();
});

const post = async (body: unknown, client: DemoClient = 'rav-noordoost') =>
  request(tg.app).post('/fhir/Subscription').set('Authorization', await tg.auth(client)).set('Content-Type', 'application/fhir+json').send(JSON.stringify(body));

const notified = (r: Receiver, taskId: string): boolean => r.events().some((e) => e.body.includes(`Task/${taskId}`));

it('owner as bare id, Organization/<id>, absolute URL, owner:identifier and URA token: each fires on a new Task; a status it does not have does not', async () => {
  const rav = (await tg.organizationRef('rav-noordoost')).split('/')[1] ?? '';
  const hap = (await tg.organizationRef('hap-vechtdal')).split('/')[1] ?? '';
  const filters = [
    `Task?owner=${rav}`,
    `Task?owner=Organization/${rav}`,
    `Task?owner=${BASE}/Organization/${rav}`,
    `Task?owner:identifier=${URA}|${RAV_URA}`,
    `Task?owner:identifier=${RAV_URA}`,
    `Task?owner=${URA}|${RAV_URA}`,
    `Task?requester=${BASE}/Organization/${hap}&owner=${rav}`,
    `Task?requester:identifier=${URA}|${HAP_URA}&status=http://hl7.org/fhir/task-status|requested`,
  ];
  const receivers: Receiver[] = [];
  for (const filter of filters) {
    const r = await receiver();
    await subscribe(tg, 'rav-noordoost', r, filter);
    receivers.push(r);
  }
  const quiet = await receiver();
  await subscribe(tg, 'rav-noordoost', quiet, `Task?owner=${rav}&status=accepted`);

  const h = await createHandover(tg, await fhirClient(tg, 'hap-vechtdal'));
  const taskId = h.task.split('/')[1] ?? '';
  for (const [i, r] of receivers.entries()) {
    await r.waitFor(() => notified(r, taskId), `notification for ${filters[i]}`);
  }
  // Every filter above has fired by now; the one that cannot match this Task has not.
  expect(notified(quiet, taskId)).toBe(false);
});

it('a filter that can never match is refused with 422 naming it, and nothing is stored', async () => {
  const r = await receiver();
  const cases: [string, RegExp][] = [
    ['Task?owner=Organization/does-not-exist', /no Organization\/does-not-exist/],
    ['Task?owner=does-not-exist', /does-not-exist/],
    [`Task?owner:identifier=${URA}|00000000`, /no organisation has URA 00000000/],
    [`Task?owner=${URA}|00000000`, /no organisation has URA 00000000/],
    ['Task?owner:identifier=http://other.example/ids|1', /by URA/],
    ['Task?owner=https://elsewhere.example/fhir/Organization/1', /can never match/],
    ['Task?owner=Patient/1', /can never match/],
    ['Task?owner:missing=true', /cannot filter by 'owner:missing'/],
    [`Task?owner:identifier:not=${URA}|${RAV_URA}`, /cannot filter by 'owner:identifier:not'/],
    ['Task?status:not=requested', /cannot filter by 'status:not'/],
    ['Task?owner.identifier=x', /cannot filter by 'owner.identifier'/],
    ['Task?status=open', /status=open can never match/],
    ['Task?status=http://other.example|requested', /can never match/],
    ['Task?priority=high', /priority=high can never match/],
  ];
  for (const [filter, message] of cases) {
    const res = await post(subscriptionBody(r.url, filter));
    expect([filter, res.status, res.body.resourceType]).toEqual([filter, 422, 'OperationOutcome']);
    expect([filter, JSON.stringify(res.body)]).toEqual([filter, expect.stringMatching(message)]);
    expect(res.body.issue[0].expression).toEqual(['Subscription.criteria.extension']);
  }
  const list = await request(tg.app).get('/fhir/Subscription').set('Authorization', await tg.auth('rav-noordoost'));
  const stored = (list.body.entry ?? []).map((e: { resource: Subscription }) => JSON.stringify(e.resource));
  expect(stored.filter((s: string) => s.includes('does-not-exist') || s.includes('00000000'))).toEqual([]);
});

it('an update is checked the same way', async () => {
  const r = await receiver();
  const { id } = await subscribe(tg, 'rav-noordoost', r, `Task?owner:identifier=${URA}|${RAV_URA}`);
  const current = (await request(tg.app).get(`/fhir/Subscription/${id}`).set('Authorization', await tg.auth('rav-noordoost'))).body as Subscription;
  const res = await request(tg.app)
    .put(`/fhir/Subscription/${id}`)
    .set('Authorization', await tg.auth('rav-noordoost'))
    .set('Content-Type', 'application/fhir+json')
    .send(JSON.stringify({ ...subscriptionBody(r.url, 'Task?owner=Organization/gone'), id, meta: current.meta }));
  expect(res.status).toBe(422);
  expect(JSON.stringify(res.body)).toContain('Organization/gone');
});
