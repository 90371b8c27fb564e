// A Subscription as a FHIR resource (issue 16.7): PUT honours If-Match, PATCH takes a JSON Patch under the same
// rules as a PUT (owner only, endpoint policy, the delivery state follows), search by status, url and _id with
// paging; and the Backport IG's $status at type level (ids, status) and by POST.
import type { Bundle, Parameters, Subscription } from '@medplum/fhirtypes';
import request from 'supertest';
import { startTestGateway, type DemoClient, type TestGateway } from '../support/gateway.ts';
import { receiversForFile, subscribe, subscriptionBody } from '../support/receiver.ts';

const FHIR_JSON = 'application/fhir+json';
let tg: TestGateway;
const receiver = receiversForFile();

beforeAll(async () => {
  tg = await startTestGateway({ ALLOW_HTTP_LOOPBACK_HOOKS: '1' });
});
afterAll(async () => {
  await tg.stop();
});

const as = async (client: DemoClient) => {
  const auth = await tg.auth(client);
  return {
    get: (path: string) => request(tg.app).get(`/fhir/${path}`).set('Authorization', auth),
    put: (path: string, body: unknown, ifMatch?: string) => {
      const t = request(tg.app).put(`/fhir/${path}`).set('Authorization', auth).set('Content-Type', FHIR_JSON);
      if (ifMatch) t.set('If-Match', ifMatch);
      return t.send(JSON.stringify(body));
    },
    patch: (path: string, body: unknown, ifMatch?: string) => {
      const t = request(tg.app).patch(`/fhir/${path}`).set('Authorization', auth).set('Content-Type', 'application/json-patch+json');
      if (ifMatch) t.set('If-Match', ifMatch);
      return t.send(JSON.stringify(body));
    },
    post: (path: string, body: unknown) => request(tg.app).post(`/fhir/${path}`).set('Authorization', auth).set('Content-Type', FHIR_JSON).send(JSON.stringify(body)),
  };
};

const statuses = (bundle: Bundle): [string, string][] =>
  (bundle.entry ?? []).map((e) => {
    const p = e.resource as Parameters;
    const ref = p.parameter?.find((x) => x.name === 'subscription')?.valueReference?.reference ?? '';
    return [ref.split('/').pop() ?? '', p.parameter?.find((x) => x.name === 'status')?.valueCode ?? ''];
  });

describe('PUT with If-Match', () => {
  it('changes the version named and refuses a stale one with 412, changing nothing', async () => {
    const r = await receiver();
    const { id } = await subscribe(tg, 'hap-vechtdal', r, 'Task?status=requested');
    const hap = await as('hap-vechtdal');
    const v1 = await hap.get(`Subscription/${id}`);
    const etag1 = v1.headers.etag as string;
    const changed = await hap.put(`Subscription/${id}`, { ...subscriptionBody(r.url, 'Task?status=accepted'), id, reason: 'second' }, etag1);
    expect(changed.status).toBe(200);
    expect(changed.headers.etag).not.toBe(etag1);
    const stale = await hap.put(`Subscription/${id}`, { ...subscriptionBody(r.url, 'Task?status=rejected'), id, reason: 'stale' }, etag1);
    expect(stale.status).toBe(412);
    const now = (await hap.get(`Subscription/${id}`)).body as Subscription;
    expect(now.reason).toBe('second');
    expect(JSON.stringify(now)).toContain('Task?status=accepted');
  });
});

describe('PATCH', () => {
  it('switches a subscription off through the delivery state, and re-activation by patch goes through the handshake', async () => {
    const r = await receiver();
    const { id } = await subscribe(tg, 'hap-vechtdal', r, 'Task?status=requested');
    const hap = await as('hap-vechtdal');
    const off = await hap.patch(`Subscription/${id}`, [{ op: 'replace', path: '/status', value: 'off' }]);
    expect(off.status).toBe(200);
    expect((off.body as Subscription).status).toBe('off');
    expect(statuses((await hap.get(`Subscription/$status?ids=${id}`)).body as Bundle)).toEqual([[id, 'off']]);
    // Asking `active` of a subscription that is off re-activates it: `requested` until the endpoint answers a handshake.
    const handshakes = r.received.filter((x) => x.subscription === id && x.type === 'handshake').length;
    const again = await hap.patch(`Subscription/${id}`, [{ op: 'replace', path: '/status', value: 'active' }]);
    expect(again.status).toBe(200);
    expect((again.body as Subscription).status).toBe('requested');
    await r.waitFor((got) => got.filter((x) => x.subscription === id && x.type === 'handshake').length > handshakes, 'a second handshake');
  });

  it('applies the endpoint policy, refuses a stale If-Match, and is the owner\'s alone', async () => {
    const r = await receiver();
    const { id } = await subscribe(tg, 'hap-vechtdal', r, undefined);
    const hap = await as('hap-vechtdal');
    const etag = (await hap.get(`Subscription/${id}`)).headers.etag as string;
    const unsafe = await hap.patch(`Subscription/${id}`, [{ op: 'replace', path: '/channel/endpoint', value: 'https://10.1.2.3/x' }]);
    expect(unsafe.status).toBe(422);
    expect(JSON.stringify(unsafe.body)).toMatch(/private/);
    expect((await hap.patch(`Subscription/${id}`, [{ op: 'replace', path: '/reason', value: 'patched' }], etag)).status).toBe(200);
    expect((await hap.patch(`Subscription/${id}`, [{ op: 'replace', path: '/reason', value: 'stale' }], etag)).status).toBe(412);
    expect((await hap.patch(`Subscription/${id}`, [{ op: 'replace', path: '/id', value: 'other' }])).status).toBe(400);
    const rav = await as('rav-noordoost');
    expect((await rav.patch(`Subscription/${id}`, [{ op: 'replace', path: '/status', value: 'off' }])).status).toBe(404);
    // Not the ZCC either, although it reads every handover of the region (Subscription is owner-only).
    expect((await (await as('zcc-ijsselland')).patch(`Subscription/${id}`, [{ op: 'replace', path: '/status', value: 'off' }])).status).toBe(404);
    const after = (await hap.get(`Subscription/${id}`)).body as Subscription;
    expect([after.status, after.reason]).toEqual(['active', 'patched']);
  });
});

describe('search', () => {
  it('finds subscriptions by status, url and _id, pages with _count, and shows no other organisation\'s', async () => {
    const r1 = await receiver();
    const r2 = await receiver();
    const a = await subscribe(tg, 'vvt-ijsseldelta', r1, undefined);
    const b = await subscribe(tg, 'vvt-ijsseldelta', r2, undefined);
    const c = await subscribe(tg, 'vvt-ijsseldelta', r2, 'Task?status=requested');
    const vvt = await as('vvt-ijsseldelta');
    expect((await vvt.patch(`Subscription/${c.id}`, [{ op: 'replace', path: '/status', value: 'off' }])).status).toBe(200);
    const ids = (res: request.Response): string[] => ((res.body as Bundle).entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource?.id ?? '');

    expect(ids(await vvt.get('Subscription?status=active')).sort()).toEqual([a.id, b.id].sort());
    expect(ids(await vvt.get('Subscription?status=off'))).toEqual([c.id]);
    expect(ids(await vvt.get(`Subscription?url=${encodeURIComponent(r2.url)}`)).sort()).toEqual([b.id, c.id].sort());
    expect(ids(await vvt.get(`Subscription?url=${encodeURIComponent(r2.url)}&status=active`))).toEqual([b.id]);
    expect(ids(await vvt.get(`Subscription?_id=${a.id},${c.id}`)).sort()).toEqual([a.id, c.id].sort());
    // A token with its system, and a code no subscription has (nothing matches, as in any search).
    expect(ids(await vvt.get('Subscription?status=http://hl7.org/fhir/subscription-status|off'))).toEqual([c.id]);
    expect(ids(await vvt.get('Subscription?status=bogus'))).toEqual([]);
    const newest = ids(await vvt.get('Subscription?_sort=-_lastUpdated&_count=1'));
    expect(newest).toEqual([c.id]);
    const counted = (await vvt.get('Subscription?_summary=count')).body as Bundle;
    expect([counted.total, counted.entry?.length ?? 0]).toEqual([3, 0]);
    expect(((await vvt.get('Subscription?_total=none')).body as Bundle).total).toBeUndefined();
    expect((await vvt.get('Subscription?_sort=status')).status).toBe(400);

    const first = (await vvt.get('Subscription?_count=2')).body as Bundle;
    expect(first.total).toBe(3);
    expect(first.entry?.filter((e) => e.search?.mode === 'match')).toHaveLength(2);
    const next = first.link?.find((l) => l.relation === 'next')?.url ?? '';
    expect(next).toMatch(/_count=2&_offset=2$/);
    const second = (await vvt.get(next.replace(/^http:\/\/gateway\.test\/fhir\//, ''))).body as Bundle;
    expect(second.entry?.filter((e) => e.search?.mode === 'match')).toHaveLength(1);
    expect(second.link?.some((l) => l.relation === 'next')).toBe(false);

    expect(ids(await (await as('vvt-sallandse-heuvelrug')).get('Subscription'))).toEqual([]);
    const unknown = await vvt.get('Subscription?topic=x');
    expect(JSON.stringify(unknown.body)).toMatch(/Ignored unknown search parameters: topic/);
    expect((await request(tg.app).get('/fhir/Subscription?topic=x').set('Authorization', await tg.auth('vvt-ijsseldelta')).set('Prefer', 'handling=strict')).status).toBe(400);
  });
});

describe('$status', () => {
  it('at type level gives the status of the caller\'s subscriptions, by ids and status, by GET and POST', async () => {
    const r = await receiver();
    const a = await subscribe(tg, 'vvt-sallandse-heuvelrug', r, undefined);
    const b = await subscribe(tg, 'vvt-sallandse-heuvelrug', r, 'Task?status=requested');
    const other = await subscribe(tg, 'hap-vechtdal', r, undefined);
    const vvt = await as('vvt-sallandse-heuvelrug');
    expect((await vvt.patch(`Subscription/${b.id}`, [{ op: 'replace', path: '/status', value: 'off' }])).status).toBe(200);

    expect(statuses((await vvt.get('Subscription/$status')).body as Bundle).sort()).toEqual([[a.id, 'active'], [b.id, 'off']].sort());
    expect(statuses((await vvt.get(`Subscription/$status?ids=${a.id},${other.id}`)).body as Bundle)).toEqual([[a.id, 'active']]);
    expect(statuses((await vvt.get('Subscription/$status?status=off')).body as Bundle)).toEqual([[b.id, 'off']]);
    const byPost = await vvt.post('Subscription/$status', { resourceType: 'Parameters', parameter: [{ name: 'ids', valueId: a.id }, { name: 'ids', valueId: b.id }, { name: 'status', valueCode: 'active' }] });
    expect(byPost.status).toBe(200);
    expect(statuses(byPost.body as Bundle)).toEqual([[a.id, 'active']]);
    const instance = await vvt.post(`Subscription/${a.id}/$status`, { resourceType: 'Parameters' });
    expect(statuses(instance.body as Bundle)).toEqual([[a.id, 'active']]);
    const events = await vvt.post(`Subscription/${a.id}/$events`, { resourceType: 'Parameters', parameter: [{ name: 'eventsSinceNumber', valueString: '1' }] });
    expect([events.status, (events.body as Bundle).type]).toEqual([200, 'history']);
    expect((await vvt.post(`Subscription/${other.id}/$status`, { resourceType: 'Parameters' })).status).toBe(404);
  });
});
