// Create, read, vread, update, patch, delete and history through HTTP; ETag, Location, Last-Modified, Prefer; meta owned by the server.
import type { Bundle, OperationOutcome, Patient, Task } from '@medplum/fhirtypes';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { buildPatient, buildTask, unique } from '../support/fhir-builders.ts';
import { createHandover, expectOutcome, fhirClient, type Fhir } from './helpers.ts';

let tg: TestGateway;
let fhir: Fhir;

beforeAll(async () => {
  tg = await startTestGateway();
  fhir = await fhirClient(tg);
});
afterAll(async () => {
  await tg?.stop();
});

describe('create', () => {
  it('answers 201 with Location, ETag W/"1", Last-Modified and the stored resource', async () => {
    const res = await fhir.post('Patient', buildPatient());
    expect(res.status).toBe(201);
    const body = res.body as Patient;
    expect(body.id).toMatch(/^[A-Za-z0-9\-.]{1,64}$/);
    expect(body.meta?.versionId).toBe('1');
    expect(res.headers.location).toBe(`http://gateway.test/fhir/Patient/${body.id}/_history/1`);
    expect(res.headers.etag).toBe('W/"1"');
    expect(new Date(res.headers['last-modified']!).getTime()).toBe(Math.floor(Date.parse(body.meta!.lastUpdated!) / 1000) * 1000);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(Object.keys(body).slice(0, 3)).toEqual(['resourceType', 'id', 'meta']);
    expect(body.identifier).toEqual(buildPatient().identifier);
  });

  it('ignores a client id, versionId and lastUpdated: the server assigns them; the rest of meta is kept (issue 16.3)', async () => {
    const res = await fhir.post('Patient', {
      ...buildPatient(),
      id: 'chosen-by-client',
      meta: { versionId: '77', lastUpdated: '2001-01-01T00:00:00Z', tag: [{ system: 'x', code: 'y' }], source: 'client' },
    });
    expect(res.status).toBe(201);
    const body = res.body as Patient;
    expect(body.id).not.toBe('chosen-by-client');
    expect(body.meta).toEqual({ versionId: '1', lastUpdated: expect.any(String), tag: [{ system: 'x', code: 'y' }], source: 'client' });
    expect(Date.parse(body.meta!.lastUpdated!)).toBeGreaterThan(Date.parse('2020-01-01'));
    expect((await fhir.get('Patient/chosen-by-client')).status).toBe(404);
  });

  it.each([
    ['minimal', (res: { body: unknown; text: string }) => expect(res.text).toBe('')],
    ['representation', (res: { body: unknown }) => expect((res.body as Patient).resourceType).toBe('Patient')],
    ['OperationOutcome', (res: { body: unknown }) => expect((res.body as OperationOutcome).resourceType).toBe('OperationOutcome')],
  ])('honours Prefer: return=%s on create, update and patch', async (prefer, check) => {
    const created = await fhir.post('Patient', buildPatient(), { Prefer: `return=${prefer}` });
    expect(created.status).toBe(201);
    expect(created.headers.location).toMatch(/\/fhir\/Patient\/[^/]+\/_history\/1$/);
    check(created);
    const id = /Patient\/([^/]+)\//.exec(created.headers.location!)![1];
    const updated = await fhir.put(`Patient/${id}`, { ...buildPatient({ gender: 'female' }), id }, { Prefer: `return=${prefer}` });
    expect(updated.status).toBe(200);
    expect(updated.headers.etag).toBe('W/"2"');
    check(updated);
    const patched = await fhir.patch(`Patient/${id}`, [{ op: 'replace', path: '/gender', value: 'other' }], { Prefer: `return=${prefer}` });
    expect(patched.status).toBe(200);
    expect(patched.headers.etag).toBe('W/"3"');
    check(patched);
  });
});

describe('read, update, vread, delete, history', () => {
  it('keeps every version, deleted ones included', async () => {
    const created = await fhir.create(buildPatient());
    const id = created.id!;

    const read = await fhir.get(`Patient/${id}`);
    expect(read.status).toBe(200);
    expect(read.headers.etag).toBe('W/"1"');
    expect(read.headers['last-modified']).toBeDefined();
    expect(read.body).toEqual(created);

    const v2 = await fhir.put(`Patient/${id}`, { ...created, gender: 'female', meta: { versionId: '99', source: 'client' } });
    expect(v2.status).toBe(200);
    expect(v2.headers.etag).toBe('W/"2"');
    expect((v2.body as Patient).meta).toEqual({ versionId: '2', lastUpdated: expect.any(String), source: 'client' });
    expect(Date.parse((v2.body as Patient).meta!.lastUpdated!)).toBeGreaterThanOrEqual(Date.parse(created.meta!.lastUpdated!));

    const del = await fhir.delete(`Patient/${id}`);
    expect(del.status).toBe(200);
    expect((await fhir.get(`Patient/${id}`)).status).toBe(410);
    expectOutcome(await fhir.get(`Patient/${id}`), 410);
    expectOutcome(await fhir.patch(`Patient/${id}`, [{ op: 'replace', path: '/gender', value: 'other' }]), 410);
    expectOutcome(await fhir.patch('Patient/never-created', [{ op: 'replace', path: '/gender', value: 'other' }]), 404);

    const vread1 = await fhir.get(`Patient/${id}/_history/1`);
    expect(vread1.status).toBe(200);
    expect(vread1.body).toEqual(created);
    expect(vread1.headers.etag).toBe('W/"1"');
    const vread2 = await fhir.get(`Patient/${id}/_history/2`);
    expect((vread2.body as Patient).gender).toBe('female');
    expect((await fhir.get(`Patient/${id}/_history/3`)).status).toBe(410);
    expect((await fhir.get(`Patient/${id}/_history/4`)).status).toBe(404);
    expect((await fhir.get(`Patient/${id}/_history/x`)).status).toBe(404);

    const history = await fhir.get(`Patient/${id}/_history`);
    expect(history.status).toBe(200);
    const bundle = history.body as Bundle;
    expect(bundle.type).toBe('history');
    expect(bundle.total).toBe(3);
    expect(bundle.entry!.map((e) => [e.request?.method, e.response?.etag, e.resource?.meta?.versionId])).toEqual([
      ['DELETE', 'W/"3"', undefined],
      ['PUT', 'W/"2"', '2'],
      ['POST', 'W/"1"', '1'],
    ]);

    // A deleted resource is gone from search, and deleting again changes nothing.
    expect((await fhir.get(`Patient?_id=${id}`)).body.entry).toEqual([]);
    expect((await fhir.delete(`Patient/${id}`)).status).toBe(200);
    expect((await fhir.get(`Patient/${id}/_history`)).body.total).toBe(3);
  });

  it('type and system history list the versions of many resources', async () => {
    const marker = unique('hist');
    const a = await fhir.create(buildPatient({ name: [{ family: marker }] }));
    await fhir.put(`Patient/${a.id}`, { ...a, gender: 'female' });
    const handover = await createHandover(tg, fhir);
    const typeHistory = (await fhir.get('Patient/_history?_count=200')).body as Bundle;
    const patientVersions = typeHistory.entry!.filter((e) => e.fullUrl?.endsWith(`/Patient/${a.id}`)).map((e) => e.response?.etag);
    expect(patientVersions).toEqual(['W/"2"', 'W/"1"']);
    expect(typeHistory.entry!.every((e) => e.fullUrl?.includes('/Patient/'))).toBe(true);

    const systemHistory = (await fhir.get('_history?_count=200')).body as Bundle;
    const urls = systemHistory.entry!.map((e) => e.fullUrl);
    expect(urls).toContain(`http://gateway.test/fhir/${handover.task}`);
    expect(urls).toContain(`http://gateway.test/fhir/Patient/${a.id}`);

    const since = (await fhir.get(`Patient/_history?_since=${encodeURIComponent(a.meta!.lastUpdated!)}`)).body as Bundle;
    expect(since.entry!.some((e) => e.fullUrl?.endsWith(`/Patient/${a.id}`))).toBe(true);
    expect((await fhir.get('Patient/_history?_since=yesterday')).status).toBe(400);
    for (const bad of ['_count=-5', '_offset=-1', '_count=abc', '_since=yesterday']) {
      expect([bad, (await fhir.get(`_history?${bad}`)).status]).toEqual([bad, 400]);
      expect([bad, (await fhir.get(`Patient/_history?${bad}`)).status]).toEqual([bad, 400]);
      expect([bad, (await fhir.get(`Patient/${a.id}/_history?${bad}`)).status]).toEqual([bad, 400]);
    }
  });

  it('history pages with a next link that works', async () => {
    const p = await fhir.create(buildPatient());
    for (let i = 0; i < 4; i++) await fhir.put(`Patient/${p.id}`, { ...p, birthDate: `1960-01-0${i + 1}` });
    const first = (await fhir.get(`Patient/${p.id}/_history?_count=2`)).body as Bundle;
    expect(first.total).toBe(5);
    expect(first.entry!.map((e) => e.response?.etag)).toEqual(['W/"5"', 'W/"4"']);
    const next = first.link!.find((l) => l.relation === 'next')!.url!;
    const second = (await fhir.get(next.replace('http://gateway.test/fhir/', ''))).body as Bundle;
    expect(second.entry!.map((e) => e.response?.etag)).toEqual(['W/"3"', 'W/"2"']);
  });

  it('an update with the same content makes no new version', async () => {
    const p = await fhir.create(buildPatient());
    const same = await fhir.put(`Patient/${p.id}`, p);
    expect(same.status).toBe(200);
    expect(same.headers.etag).toBe('W/"1"');
    expect((await fhir.get(`Patient/${p.id}/_history`)).body.total).toBe(1);
  });

  it('update of an unknown id is refused (the server assigns ids) and stores nothing', async () => {
    const res = await fhir.put('Patient/never-created', { ...buildPatient(), id: 'never-created' });
    expectOutcome(res, 405);
    expect((await fhir.get('Patient/never-created')).status).toBe(404);
  });

  it('a complete handover Task reads back as written', async () => {
    const h = await createHandover(tg, fhir);
    const task = (await fhir.get(h.task)).body as Task;
    expect(task).toMatchObject({
      status: 'requested',
      intent: 'order',
      code: { coding: [{ system: 'http://hl7.org/fhir/CodeSystem/task-code', code: 'fulfill' }] },
      focus: { reference: h.serviceRequest },
      for: { reference: h.patient },
      requester: { reference: h.requester },
      owner: { reference: h.owner },
      encounter: { reference: h.encounter },
    });
    expect(buildTask({ focus: 'a', patient: 'b', requester: 'c', owner: 'd' }).authoredOn).toBe(task.authoredOn);
  });
});

describe('If-Match', () => {
  it('a stale If-Match on update, patch and delete gives 412 and changes nothing', async () => {
    const p = await fhir.create(buildPatient());
    const v2 = await fhir.put(`Patient/${p.id}`, { ...p, gender: 'female' }, { 'If-Match': 'W/"1"' });
    expect(v2.status).toBe(200);

    expectOutcome(await fhir.put(`Patient/${p.id}`, { ...p, gender: 'other' }, { 'If-Match': 'W/"1"' }), 412);
    expectOutcome(await fhir.patch(`Patient/${p.id}`, [{ op: 'replace', path: '/gender', value: 'other' }], { 'If-Match': 'W/"1"' }), 412);
    expectOutcome(await fhir.delete(`Patient/${p.id}`, { 'If-Match': 'W/"1"' }), 412);

    const now = await fhir.get(`Patient/${p.id}`);
    expect(now.status).toBe(200);
    expect(now.headers.etag).toBe('W/"2"');
    expect((now.body as Patient).gender).toBe('female');
    expect((await fhir.get(`Patient/${p.id}/_history`)).body.total).toBe(2);

    // The current version is accepted, with or without W/.
    expect((await fhir.patch(`Patient/${p.id}`, [{ op: 'replace', path: '/gender', value: 'other' }], { 'If-Match': '"2"' })).status).toBe(200);
    expect((await fhir.delete(`Patient/${p.id}`, { 'If-Match': 'W/"3"' })).status).toBe(200);
  });

  it('a malformed If-Match is a 400', async () => {
    const p = await fhir.create(buildPatient());
    expectOutcome(await fhir.put(`Patient/${p.id}`, p, { 'If-Match': 'yesterday' }), 400);
  });

  it('a patch may not change id or resourceType; an invalid patch is a 400, one that does not apply a 422', async () => {
    const p = await fhir.create(buildPatient());
    expectOutcome(await fhir.patch(`Patient/${p.id}`, [{ op: 'replace', path: '/id', value: 'other' }]), 400);
    expectOutcome(await fhir.patch(`Patient/${p.id}`, [{ op: 'remove', path: '/nothing/here' }]), 422);
    expectOutcome(await fhir.patch(`Patient/${p.id}`, [{ op: 'test', path: '/gender', value: 'female' }, { op: 'replace', path: '/gender', value: 'other' }]), 422);
    expectOutcome(await fhir.patch(`Patient/${p.id}`, [{ op: 'bogus', path: '/gender' }]), 400);
    expectOutcome(await fhir.patch(`Patient/${p.id}`, { op: 'replace' }), 400);
    expect((await fhir.get(`Patient/${p.id}`)).headers.etag).toBe('W/"1"');
  });
});
