// The CapabilityStatement is truthful: every type, interaction, search parameter and include it lists works.
import type { Bundle, CapabilityStatement, CapabilityStatementRestResource, Resource } from '@medplum/fhirtypes';
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { unique } from '../support/fhir-builders.ts';
import { createHandover, exampleOf, expectOutcome, fhirClient, type Fhir, type Handover } from './helpers.ts';

let tg: TestGateway;
let fhir: Fhir;
// Audit data is the auditor's only.
let auditor: Fhir;
const as = (type: string | undefined): Fhir => (type === 'AuditEvent' ? auditor : fhir);
let h: Handover;
let capability: CapabilityStatement;
let resources: CapabilityStatementRestResource[];

beforeAll(async () => {
  tg = await startTestGateway();
  fhir = await fhirClient(tg);
  auditor = await fhirClient(tg, 'auditor');
  h = await createHandover(tg, fhir);
  const res = await request(tg.app).get('/fhir/metadata');
  capability = res.body as CapabilityStatement;
  resources = capability.rest![0]!.resource!;
});
afterAll(async () => {
  await tg?.stop();
});

const SAMPLE: Record<string, string> = { token: 'x', reference: 'Patient/x', string: 'x', date: '2025-03-14', uri: 'http://example.org/x' };

describe('GET /fhir/metadata', () => {
  it('needs no token and says FHIR R4, JSON, SMART', async () => {
    const res = await request(tg.app).get('/fhir/metadata');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(capability.resourceType).toBe('CapabilityStatement');
    expect(capability.fhirVersion).toBe('4.0.1');
    expect(capability.format).toContain('application/fhir+json');
    expect(capability.implementation?.url).toBe('http://gateway.test/fhir');
    expect(JSON.stringify(capability.rest![0]!.security)).toContain('http://gateway.test/oauth2/token');
    expect(resources.length).toBeGreaterThan(0);
  });

  it('answers 406 to an Accept it cannot serve, and ignores a bad token', async () => {
    expectOutcome(await request(tg.app).get('/fhir/metadata').set('Accept', 'application/xml'), 406);
    expect((await request(tg.app).get('/fhir/metadata').set('Authorization', 'Bearer nonsense')).status).toBe(200);
  });
});

describe('every listed type', () => {
  it('lists each type once', () => {
    const types = resources.map((r) => r.type);
    expect(new Set(types).size).toBe(types.length);
  });

  it('supports every listed interaction', async () => {
    for (const r of resources) {
      const codes = new Set(r.interaction!.map((i) => i.code));
      const type = r.type!;
      const marker = unique(type);
      let created: Resource | undefined;
      if (codes.has('create')) {
        const res = await fhir.post(type, exampleOf(type, h, marker));
        expect([type, 'create', res.status]).toEqual([type, 'create', 201]);
        created = res.body as Resource;
      }
      if (!created) {
        // A read-only type (served from files): its routes exist and answer.
        if (codes.has('search-type')) expect([type, 'search-type', (await as(type).get(type)).status]).toEqual([type, 'search-type', 200]);
        if (codes.has('read')) expect([type, 'read', expectOutcome(await as(type).get(`${type}/unknown-id`), 404).resourceType]).toBeDefined();
        continue;
      }
      const path = `${type}/${created.id}`;
      if (codes.has('read')) expect([type, 'read', (await fhir.get(path)).status]).toEqual([type, 'read', 200]);
      if (codes.has('vread')) expect([type, 'vread', (await fhir.get(`${path}/_history/1`)).status]).toEqual([type, 'vread', 200]);
      if (codes.has('update')) {
        const res = await fhir.put(path, { ...created, language: 'nl' }, { 'If-Match': 'W/"1"' });
        expect([type, 'update', res.status, res.headers.etag]).toEqual([type, 'update', 200, 'W/"2"']);
      }
      if (codes.has('patch')) {
        const res = await fhir.patch(path, [{ op: 'replace', path: '/language', value: 'en' }]);
        expect([type, 'patch', res.status]).toEqual([type, 'patch', 200]);
      }
      if (codes.has('history-instance')) {
        const res = await fhir.get(`${path}/_history`);
        expect([type, 'history-instance', res.status, (res.body as Bundle).total]).toEqual([type, 'history-instance', 200, 3]);
      }
      if (codes.has('history-type')) expect([type, 'history-type', (await fhir.get(`${type}/_history?_count=1`)).status]).toEqual([type, 'history-type', 200]);
      if (codes.has('search-type')) {
        const res = await fhir.get(`${type}?_id=${created.id}`);
        expect([type, 'search-type', res.status, (res.body as Bundle).total]).toEqual([type, 'search-type', 200, 1]);
      }
      if (codes.has('delete')) {
        expect([type, 'delete', (await fhir.delete(path)).status]).toEqual([type, 'delete', 200]);
        expect([type, 'read after delete', (await fhir.get(path)).status]).toEqual([type, 'read after delete', 410]);
      }
    }
  });

  it('supports every listed search parameter, include and revinclude', async () => {
    for (const r of resources) {
      const type = r.type!;
      for (const sp of r.searchParam ?? []) {
        const value = SAMPLE[sp.type!];
        expect([type, sp.name, sp.type, value !== undefined]).toEqual([type, sp.name, sp.type, true]);
        const res = await as(type).get(`${type}?${sp.name}=${encodeURIComponent(value!)}`, { Prefer: 'handling=strict' });
        expect([type, sp.name, res.status]).toEqual([type, sp.name, 200]);
        expect((res.body as Bundle).type).toBe('searchset');
      }
      for (const inc of r.searchInclude ?? []) {
        const res = await fhir.get(`${type}?_include=${inc}`, { Prefer: 'handling=strict' });
        expect([type, inc, res.status]).toEqual([type, inc, 200]);
      }
      for (const inc of r.searchRevInclude ?? []) {
        const res = await fhir.get(`${type}?_revinclude=${inc}`, { Prefer: 'handling=strict' });
        expect([type, inc, res.status]).toEqual([type, inc, 200]);
      }
    }
  });

  it('supports the listed common search parameters on every type', async () => {
    const values: Record<string, string[]> = { _count: ['5'], _sort: ['_lastUpdated', '-_lastUpdated'], _summary: ['count'], _total: ['none', 'accurate'] };
    for (const sp of capability.rest![0]!.searchParam ?? []) {
      expect([sp.name, values[sp.name!] !== undefined]).toEqual([sp.name, true]);
      for (const r of resources) {
        for (const v of values[sp.name!]!) {
          const res = await as(r.type).get(`${r.type}?${sp.name}=${v}`, { Prefer: 'handling=strict' });
          expect([r.type, sp.name, v, res.status]).toEqual([r.type, sp.name, v, 200]);
        }
      }
    }
  });
});

describe('system interactions', () => {
  it('transaction, batch and history-system work', async () => {
    const codes = capability.rest![0]!.interaction!.map((i) => i.code);
    expect(codes.sort()).toEqual(['batch', 'history-system', 'transaction']);
    for (const type of ['transaction', 'batch']) {
      const res = await fhir.post('', { resourceType: 'Bundle', type, entry: [{ request: { method: 'GET', url: h.task } }] });
      expect([type, res.status]).toEqual([type, 200]);
      expect((res.body as Bundle).entry![0]!.response!.status).toBe('200');
    }
    const history = await fhir.get('_history?_count=5');
    expect(history.status).toBe(200);
    expect((history.body as Bundle).type).toBe('history');
  });
});
