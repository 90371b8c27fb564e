// Search through HTTP: every search parameter of profiles/search-parameters/bundle.json, _id, _lastUpdated, paging,
// sorting, _include/_revinclude, _summary, _total, and what happens to parameters the server does not know.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, OperationOutcome, Patient, Resource, SearchParameter, Task } from '@medplum/fhirtypes';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { BSN_SYSTEM, buildPatient, IDENTIFIER_SYSTEM, TASK_CODE_SYSTEM, unique } from '../support/fhir-builders.ts';
import { createAsGateway, createHandover, entries, exampleOf, expectOutcome, fhirClient, matchIds, type Fhir, type Handover } from './helpers.ts';

const BUNDLE = JSON.parse(readFileSync(join(import.meta.dirname, '../../profiles/search-parameters/bundle.json'), 'utf8')) as Bundle<SearchParameter>;
const SEARCH_PARAMETERS = BUNDLE.entry!.map((e) => e.resource!);
const STATUS_SYSTEM = 'https://handover-gateway.nl/fhir/CodeSystem/terugkoppeling-status';
const GROUP_SYSTEM = 'urn:ietf:rfc:3986';

let tg: TestGateway;
let fhir: Fhir;
let h: Handover;
let marker: string;
/** One resource per type, with the values the cases below search for. */
const subjects: Record<string, Resource> = {};
const idOf = (ref: string): string => ref.split('/')[1]!;

beforeAll(async () => {
  tg = await startTestGateway();
  fhir = await fhirClient(tg);
  h = await createHandover(tg, fhir);
  marker = unique('search');
  const make: Record<string, () => Resource> = {
    Patient: () =>
      buildPatient({
        identifier: [{ system: BSN_SYSTEM, value: '999990111' }, { system: IDENTIFIER_SYSTEM, value: marker }],
        name: [{ family: 'Çelik-Müller', given: ['Zoë'] }],
        gender: 'female',
        birthDate: '1958-06-02',
      }),
    Organization: () => ({ resourceType: 'Organization', identifier: [{ system: IDENTIFIER_SYSTEM, value: marker }], name: 'Huisartsenpost Ëmmen', alias: ['HAP Drenthe'] }),
    Encounter: () => ({ ...exampleOf('Encounter', h, marker), period: { start: '2025-03-14T21:06:00+01:00', end: '2025-03-14T23:00:00+01:00' } }),
    Task: () => ({
      ...exampleOf('Task', h, marker),
      businessStatus: { coding: [{ system: STATUS_SYSTEM, code: 'AANGEVRAAGD' }] },
      groupIdentifier: { system: GROUP_SYSTEM, value: `urn:uuid:${marker}` },
      lastModified: '2025-03-14T21:10:00+01:00',
    }),
  };
  for (const type of ['Patient', 'Organization', 'Practitioner', 'PractitionerRole', 'HealthcareService', 'Location', 'Encounter', 'ServiceRequest', 'Task', 'Observation', 'Provenance']) {
    const resource = make[type]?.() ?? exampleOf(type, h, marker);
    // Provenance is the gateway's to write (clients get 405): the fixture is written as the gateway.
    subjects[type] = type === 'Provenance' ? await createAsGateway(tg, resource) : await fhir.create(resource);
  }
});
afterAll(async () => {
  await tg?.stop();
});

/** A search value, or [name with modifier, value]. */
type Term = string | [string, string];
interface Case {
  match: Term[];
  miss: Term[];
}

const identifierCase = (): Case => ({
  match: [`${IDENTIFIER_SYSTEM}|${marker}`, marker, `${IDENTIFIER_SYSTEM}|`, `other,${marker}`],
  miss: [`${IDENTIFIER_SYSTEM}|other`, `http://other|${marker}`, [`identifier:not`, marker]],
});
const referenceCase = (ref: () => string, other: string): Case => ({ match: [ref(), idOf(ref()), `${other},${ref()}`], miss: [other, idOf(other), [':not', ref()]] });

/** What each search parameter must find on its type's subject, and what it must not. Keyed `Type.code`. */
const CASES: Record<string, () => Case> = {
  'Patient.family': () => ({ match: ['celik', 'ÇELIK-MÜ', 'Celik-Muller', 'xyz,celik'], miss: ['muller', 'jong', [':exact', 'celik'], '%', '_elik', 'c\\'] }),
  'Patient.name': () => ({ match: ['zoe', 'Zoë', 'celik', [':exact', 'celik-muller']], miss: ['oe', 'jong'] }),
  'Patient.gender': () => ({
    match: ['female', 'male,female', 'http://hl7.org/fhir/administrative-gender|female', 'http://hl7.org/fhir/administrative-gender|'],
    miss: ['male', [':not', 'female'], 'http://other|female', 'http://hl7.org/fhir/administrative-gender|male', '|female'],
  }),
  'Patient.birthdate': () => ({
    match: ['1958-06-02', 'eq1958-06-02', '1958', '1958-06', 'le1958-06-02', 'ge1958-06-02', 'lt1958-06-03', 'gt1958-06-01'],
    miss: ['1958-06-03', 'eq1958-06-01', 'lt1958-06-02', 'gt1958-06-02', 'le1958-06-01', 'ge1958-06-03'],
  }),
  'Organization.name': () => ({ match: ['huisartsenpost emmen', 'HUISARTS', 'hap dr'], miss: ['emmen', 'drenthe'] }),
  'Encounter.date': () => ({
    match: ['2025-03-14', 'eq2025-03-14', '2025-03', 'lt2025-03-15', 'gt2025-03-13', 'le2025-03-14', 'ge2025-03-14', 'ge2025-03-14T22:30:00+01:00', 'le2025-03-14T21:10:00+01:00', 'ne2025-03-15', 'sa2025-03-13', 'eb2025-03-15'],
    miss: ['2025-03-15', 'eq2025-03-14T21:06:00+01:00', 'lt2025-03-14', 'gt2025-03-14', 'le2025-03-13', 'ge2025-03-15', 'gt2025-03-14T23:30:00+01:00', 'ne2025-03-14', 'sa2025-03-14', 'eb2025-03-14'],
  }),
  'Encounter.patient': () => referenceCase(() => h.patient, 'Patient/other'),
  'Encounter.class': () => ({ match: ['http://terminology.hl7.org/CodeSystem/v3-ActCode|EMER', 'EMER'], miss: ['AMB', 'http://other|EMER'] }),
  'Encounter.service-provider': () => referenceCase(() => h.owner, 'Organization/other'),
  'Encounter.status': () => ({ match: ['in-progress', 'finished,in-progress', 'http://hl7.org/fhir/encounter-status|in-progress'], miss: ['finished', 'http://other|in-progress'] }),
  'Encounter.based-on': () => referenceCase(() => h.serviceRequest, 'ServiceRequest/other'),
  'ServiceRequest.patient': () => referenceCase(() => h.patient, 'Patient/other'),
  'ServiceRequest.authored': () => ({
    match: ['2025-03-14', 'ge2025-03-14T21:05:00+01:00', 'le2025-03-14T21:05:00+01:00', 'lt2025-03-15', 'gt2025-03-13'],
    miss: ['2025-03-15', 'gt2025-03-14T21:05:00+01:00', 'lt2025-03-14T21:05:00+01:00', 'lt2025-03-14', 'ge2025-03-15'],
  }),
  'ServiceRequest.performer': () => referenceCase(() => h.owner, h.requester),
  // A plain code is found by itself and with the one system its required binding takes codes from.
  'ServiceRequest.priority': () => ({ match: ['urgent', 'routine,urgent', 'http://hl7.org/fhir/request-priority|urgent'], miss: ['routine', 'http://other|urgent'] }),
  'ServiceRequest.requester': () => referenceCase(() => h.requester, h.owner),
  'ServiceRequest.status': () => ({ match: ['active', 'http://hl7.org/fhir/request-status|active'], miss: ['completed', 'http://hl7.org/fhir/request-status|completed'] }),
  'Task.authored-on': () => ({ match: ['2025-03-14', 'ge2025-03-14T21:00:00+01:00', 'lt2025-03-15'], miss: ['2025-03-13', 'gt2025-03-14', 'lt2025-03-14'] }),
  'Task.business-status': () => ({ match: [`${STATUS_SYSTEM}|AANGEVRAAGD`, 'AANGEVRAAGD'], miss: ['GEACCEPTEERD', `http://other|AANGEVRAAGD`] }),
  // `system|` matches the indexed `code=system|fulfill` by prefix (the index holds no `code=system|` of its own).
  'Task.code': () => ({ match: [`${TASK_CODE_SYSTEM}|fulfill`, 'fulfill', `${TASK_CODE_SYSTEM}|`, [':not', 'http://other|']], miss: ['approve', `${TASK_CODE_SYSTEM}|approve`, [':not', `${TASK_CODE_SYSTEM}|`], 'http://other|', `${TASK_CODE_SYSTEM}|approve,http://other|`] }),
  'Task.encounter': () => referenceCase(() => h.encounter, 'Encounter/other'),
  'Task.focus': () => referenceCase(() => h.serviceRequest, 'ServiceRequest/other'),
  'Task.group-identifier': () => ({ match: [`${GROUP_SYSTEM}|urn:uuid:${marker}`, `urn:uuid:${marker}`], miss: [`${GROUP_SYSTEM}|urn:uuid:other`] }),
  'Task.modified': () => ({ match: ['2025-03-14', 'eq2025-03-14T21:10:00+01:00', 'ge2025-03-14T21:10:00+01:00', 'le2025-03-14T21:10:00+01:00'], miss: ['2025-03-15', 'gt2025-03-14T21:10:00+01:00', 'lt2025-03-14T21:10:00+01:00'] }),
  'Task.owner': () => referenceCase(() => h.owner, h.requester),
  'Task.patient': () => referenceCase(() => h.patient, 'Patient/other'),
  'Task.priority': () => ({ match: ['urgent', 'http://hl7.org/fhir/request-priority|urgent'], miss: ['routine', 'stat', 'http://hl7.org/fhir/task-status|urgent'] }),
  'Task.requester': () => referenceCase(() => h.requester, h.owner),
  'Task.status': () => ({
    match: ['requested', [':not', 'accepted'], 'accepted,requested', 'http://hl7.org/fhir/task-status|requested', [':not', 'http://hl7.org/fhir/task-status|accepted'], 'http://hl7.org/fhir/task-status|'],
    miss: ['accepted', [':not', 'requested'], 'http://hl7.org/fhir/request-status|requested', [':not', 'http://hl7.org/fhir/task-status|requested'], [':not', 'http://hl7.org/fhir/task-status|'], 'http://hl7.org/fhir/request-status|', '|requested'],
  }),
  'Task.subject': () => referenceCase(() => h.patient, 'Patient/other'),
  'Observation.code': () => ({ match: ['http://loinc.org|8867-4', '8867-4'], miss: ['1234-5', 'http://other|8867-4'] }),
  'Observation.date': () => ({ match: ['2025-03-14', 'ge2025-03-14T21:30:00+01:00', 'le2025-03-14T21:30:00+01:00'], miss: ['2025-03-13', 'gt2025-03-14T21:30:00+01:00', 'lt2025-03-14T21:30:00+01:00'] }),
  'Observation.patient': () => referenceCase(() => h.patient, 'Patient/other'),
  'Observation.encounter': () => referenceCase(() => h.encounter, 'Encounter/other'),
  'Provenance.target': () => referenceCase(() => h.task, 'Task/other'),
  // R4 Provenance has no identifier element: the parameter is accepted, and can never match.
  'Provenance.identifier': () => ({ match: [], miss: [marker, `${IDENTIFIER_SYSTEM}|${marker}`] }),
};

async function search(type: string, name: string, term: Term): Promise<string[]> {
  const [param, value] = typeof term === 'string' ? [name, term] : [term[0].startsWith(':') ? `${name}${term[0]}` : term[0], term[1]];
  const res = await fhir.get(`${type}?_id=${subjects[type]!.id}&${param}=${encodeURIComponent(value)}`, { Prefer: 'handling=strict' });
  if (res.status !== 200) throw new Error(`${type}?${param}=${value}: ${res.status} ${res.text}`);
  expect(entries(res.body as Bundle, 'outcome')).toEqual([]);
  return matchIds(res.body as Bundle);
}

describe.each(SEARCH_PARAMETERS.flatMap((sp) => sp.base!.map((type) => [`${type}?${sp.code}`, type, sp] as const)))('%s', (_label, type, sp) => {
  it(`finds and misses by ${sp.type}`, async () => {
    const key = `${type}.${sp.code}`;
    const c = CASES[key]?.() ?? (sp.code === 'identifier' ? identifierCase() : undefined);
    if (!c) throw new Error(`No search test for ${key}: add one to CASES`);
    const id = subjects[type]!.id;
    for (const term of c.match) expect([term, await search(type, sp.code!, term)]).toEqual([term, [id]]);
    for (const term of c.miss) expect([term, await search(type, sp.code!, term)]).toEqual([term, []]);
  });
});

describe('common parameters', () => {
  it('_id takes one id or several', async () => {
    const a = subjects.Patient!.id!;
    const b = idOf(h.patient);
    expect(matchIds((await fhir.get(`Patient?_id=${a}`)).body)).toEqual([a]);
    expect(matchIds((await fhir.get(`Patient?_id=${a},${b}`)).body).sort()).toEqual([a, b].sort());
    expect(matchIds((await fhir.get(`Patient?_id=unknown`)).body)).toEqual([]);
  });

  it('token parameters of one value each must all match, and so must one of several values', async () => {
    const marker = unique('both');
    const made = async (value: string, gender: Patient['gender']): Promise<string> =>
      ((await fhir.post('Patient', buildPatient({ identifier: [{ system: IDENTIFIER_SYSTEM, value }], gender }))).body as Patient).id!;
    const femaleMarked = await made(marker, 'female');
    const maleMarked = await made(marker, 'male');
    await made(unique('other'), 'female');
    const ids = async (query: string): Promise<string[]> => matchIds((await fhir.get(`Patient?identifier=${encodeURIComponent(`${IDENTIFIER_SYSTEM}|${marker}`)}&${query}`)).body).sort();
    expect(await ids('gender=female')).toEqual([femaleMarked]);
    expect(await ids('gender=female,male')).toEqual([femaleMarked, maleMarked].sort());
    expect(await ids('gender:not=female')).toEqual([maleMarked]);
    expect(await ids('gender=other')).toEqual([]);
    expect(((await fhir.get(`Patient?identifier=${encodeURIComponent(`${IDENTIFIER_SYSTEM}|${marker}`)}&gender=female&_summary=count`)).body as Bundle).total).toBe(1);
  });

  it('_lastUpdated with eq, lt, gt, le, ge', async () => {
    const p = subjects.Patient!;
    const at = p.meta!.lastUpdated!;
    const q = async (v: string): Promise<string[]> => {
      const res = await fhir.get(`Patient?_id=${p.id}&_lastUpdated=${encodeURIComponent(v)}`);
      expect([v, res.status]).toEqual([v, 200]);
      return matchIds(res.body as Bundle);
    };
    for (const v of [at, `eq${at}`, `le${at}`, `ge${at}`, 'gt2020-01-01', `lt${new Date(Date.parse(at) + 1000).toISOString()}`]) expect([v, await q(v)]).toEqual([v, [p.id]]);
    for (const v of [`lt${at}`, `gt${at}`, 'lt2020-01-01', `ge${new Date(Date.parse(at) + 1000).toISOString()}`]) expect([v, await q(v)]).toEqual([v, []]);
  });

  it('an open-ended period matches every later date', async () => {
    const e = await fhir.create({ ...exampleOf('Encounter', h, unique('open')), period: { start: '2025-03-14T21:06:00+01:00' } });
    const later = await fhir.get(`Encounter?_id=${e.id}&date=ge2030-01-01`);
    expect(later.status).toBe(200);
    expect(matchIds(later.body as Bundle)).toEqual([e.id]);
    expect(matchIds((await fhir.get(`Encounter?_id=${e.id}&date=lt2025-03-14`)).body as Bundle)).toEqual([]);
  });

  it('refuses malformed values with 400', async () => {
    expectOutcome(await fhir.get('Patient?birthdate=yesterday'), 400);
    expectOutcome(await fhir.get('Patient?birthdate=1958-02-30'), 400);
    expectOutcome(await fhir.get('Patient?birthdate=1958-13'), 400);
    expectOutcome(await fhir.get('Patient?_lastUpdated=2025-02-29T10:00:00Z'), 400);
    expectOutcome(await fhir.get('Patient?_lastUpdated=ge-soon'), 400);
    expectOutcome(await fhir.get('Patient?_count=-1'), 400);
    expectOutcome(await fhir.get('Patient?_count=ten'), 400);
    expectOutcome(await fhir.get('Patient?_offset=-5'), 400);
    expectOutcome(await fhir.get('Patient?_sort=birthdate'), 400);
    expectOutcome(await fhir.get('Patient?_summary=text'), 400);
    expectOutcome(await fhir.get('Patient?_total=maybe'), 400);
    expectOutcome(await fhir.get('Patient?_include=Task:focus'), 400);
    expectOutcome(await fhir.get('Task?_include=Task:status'), 400);
    expectOutcome(await fhir.get('Patient?_revinclude=Encounter:based-on'), 400);
  });

  it('POST _search takes the parameters as a form', async () => {
    const res = await fhir
      .post('Task/_search', undefined)
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .send(`_id=${subjects.Task!.id}&status=requested`);
    expect(res.status).toBe(200);
    expect(matchIds(res.body as Bundle)).toEqual([subjects.Task!.id]);
    const none = await fhir.post('Task/_search?status=accepted', undefined).set('Content-Type', 'application/x-www-form-urlencoded').send(`_id=${subjects.Task!.id}`);
    expect(matchIds(none.body as Bundle)).toEqual([]);
  });
});

describe('paging, sorting, totals', () => {
  let pageMarker: string;
  const created: string[] = [];

  beforeAll(async () => {
    pageMarker = unique('page');
    // 205 Patients in one transaction: enough to see _count capped at 200.
    const res = await fhir.post('', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: Array.from({ length: 205 }, () => ({
        resource: buildPatient({ identifier: [{ system: IDENTIFIER_SYSTEM, value: pageMarker }] }),
        request: { method: 'POST', url: 'Patient' },
      })),
    });
    expect(res.status).toBe(200);
    for (const e of (res.body as Bundle).entry!) created.push(e.resource!.id!);
  });

  const byMarker = (): string => `identifier=${encodeURIComponent(`${IDENTIFIER_SYSTEM}|${pageMarker}`)}`;
  const relative = (url: string): string => url.replace('http://gateway.test/fhir/', '');

  it('caps _count at 200 and reports the total when asked (_total=accurate)', async () => {
    const res = await fhir.get(`Patient?${byMarker()}&_count=1000&_total=accurate`);
    const bundle = res.body as Bundle;
    expect(bundle.total).toBe(205);
    expect(bundle.entry).toHaveLength(200);
    const self = new URL(bundle.link!.find((l) => l.relation === 'self')!.url!);
    expect(self.searchParams.get('_count')).toBe('200');
    const next = (await fhir.get(relative(bundle.link!.find((l) => l.relation === 'next')!.url!))).body as Bundle;
    expect(next.entry).toHaveLength(5);
    expect(new Set([...matchIds(bundle), ...matchIds(next)])).toEqual(new Set(created));
  });

  it('next and previous links walk the pages without gaps or repeats', async () => {
    const seen: string[] = [];
    let url: string | undefined = `Patient?${byMarker()}&_count=50`;
    const pages: Bundle[] = [];
    while (url) {
      const page = (await fhir.get(url)).body as Bundle;
      pages.push(page);
      seen.push(...matchIds(page));
      const next = page.link!.find((l) => l.relation === 'next')?.url;
      url = next ? relative(next) : undefined;
    }
    expect(pages.map((p) => p.entry!.length)).toEqual([50, 50, 50, 50, 5]);
    // By default full pages count nothing (issue 19.1: the count cost a thousand times the page); the last,
    // short page gives its total from its own length.
    expect(pages.map((p) => p.total)).toEqual([undefined, undefined, undefined, undefined, 205]);
    expect(seen).toHaveLength(205);
    expect(new Set(seen)).toEqual(new Set(created));
    expect(pages[0]!.link!.some((l) => l.relation === 'previous')).toBe(false);
    const previous = (await fhir.get(relative(pages[2]!.link!.find((l) => l.relation === 'previous')!.url!))).body as Bundle;
    expect(matchIds(previous)).toEqual(matchIds(pages[1]!));
  });

  it('_sort=_lastUpdated ascending and -_lastUpdated descending', async () => {
    const asc = (await fhir.get(`Patient?${byMarker()}&_count=200&_sort=_lastUpdated`)).body as Bundle;
    const desc = (await fhir.get(`Patient?${byMarker()}&_count=200&_sort=-_lastUpdated`)).body as Bundle;
    const times = (b: Bundle): number[] => entries(b, 'match').map((r) => Date.parse(r.meta!.lastUpdated!));
    expect(times(asc)).toEqual([...times(asc)].sort((a, b) => a - b));
    expect(times(desc)).toEqual([...times(desc)].sort((a, b) => b - a));
    const all = (await fhir.get(`Patient?${byMarker()}&_count=200&_offset=200&_sort=_lastUpdated`)).body as Bundle;
    expect(new Set([...matchIds(asc), ...matchIds(all)])).toEqual(new Set(created));
  });

  it('a page past the last match is empty and tells the total when asked', async () => {
    const past = (await fhir.get(`Patient?${byMarker()}&_count=50&_offset=300&_total=accurate`)).body as Bundle;
    expect(past.entry ?? []).toEqual([]);
    expect(past.total).toBe(205);
    expect(((await fhir.get(`Patient?${byMarker()}&_count=50&_offset=300`)).body as Bundle).total).toBeUndefined();
    const exact = (await fhir.get(`Patient?${byMarker()}&_count=5&_offset=200`)).body as Bundle;
    expect({ entries: exact.entry?.length, total: exact.total }).toEqual({ entries: 5, total: 205 });
    // Asked for an accurate total, a page that is not full says it too (the count in its statement is not run).
    const lastAccurate = (await fhir.get(`Patient?${byMarker()}&_count=10&_offset=200&_total=accurate`)).body as Bundle;
    expect({ entries: lastAccurate.entry?.length, total: lastAccurate.total }).toEqual({ entries: 5, total: 205 });
    const fullAccurate = (await fhir.get(`Patient?${byMarker()}&_count=5&_offset=195&_total=accurate`)).body as Bundle;
    expect({ entries: fullAccurate.entry?.length, total: fullAccurate.total }).toEqual({ entries: 5, total: 205 });
  });

  it('total: counted only with _total=accurate or _summary=count; a full page ends the paging only when nothing follows', async () => {
    const full = (await fhir.get(`Patient?${byMarker()}&_count=10`)).body as Bundle;
    expect({ entries: full.entry?.length, total: full.total }).toEqual({ entries: 10, total: undefined });
    expect(full.link!.some((l) => l.relation === 'next')).toBe(true);
    const estimate = (await fhir.get(`Patient?${byMarker()}&_count=10&_total=estimate`)).body as Bundle;
    expect(estimate.total).toBeUndefined();
    expect(((await fhir.get(`Patient?${byMarker()}&_count=10&_total=accurate`)).body as Bundle).total).toBe(205);
    // A first page holding every match says the total without counting.
    expect(((await fhir.get(`Patient?${byMarker()}&_count=200&_id=${created.slice(0, 3).join(',')}`)).body as Bundle).total).toBe(3);
    // The last page exactly full: no next link to an empty page.
    const last = (await fhir.get(`Patient?${byMarker()}&_count=5&_offset=200`)).body as Bundle;
    expect(last.link!.some((l) => l.relation === 'next')).toBe(false);
    const before = (await fhir.get(`Patient?${byMarker()}&_count=5&_offset=195`)).body as Bundle;
    expect(before.link!.some((l) => l.relation === 'next')).toBe(true);
  });

  it('_summary=count gives the total without entries; _total=none leaves the total out', async () => {
    const count = (await fhir.get(`Patient?${byMarker()}&_summary=count`)).body as Bundle;
    expect(count.total).toBe(205);
    expect(count.entry ?? []).toEqual([]);
    const none = (await fhir.get(`Patient?${byMarker()}&_total=none&_count=10`)).body as Bundle;
    expect(none.total).toBeUndefined();
    expect(none.entry).toHaveLength(10);
    expect(none.link!.some((l) => l.relation === 'next')).toBe(true);
  });

  it('a count includes only what the caller may read: another organisation counts none of these Patients, a deleted one leaves the count', async () => {
    const rav = await fhirClient(tg, 'rav-noordoost');
    expect(((await rav.get(`Patient?${byMarker()}&_summary=count`)).body as Bundle).total).toBe(0);
    expect(((await rav.get(`Patient?${byMarker()}&_count=1&_total=accurate`)).body as Bundle).total).toBe(0);
    const gone = created.pop()!;
    expect((await fhir.delete(`Patient/${gone}`)).status).toBe(200);
    expect(((await fhir.get(`Patient?${byMarker()}&_summary=count`)).body as Bundle).total).toBe(204);
    expect(((await fhir.get(`Patient?${byMarker()}&_count=1&_total=accurate`)).body as Bundle).total).toBe(204);
  });

  it('a count inside a transaction Bundle sees what the transaction wrote before it, and a count after it sees the commit', async () => {
    const res = await fhir.post('', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'GET', url: `Patient?${byMarker()}&_summary=count` } },
        { resource: buildPatient({ identifier: [{ system: IDENTIFIER_SYSTEM, value: pageMarker }] }), request: { method: 'POST', url: 'Patient' } },
      ],
    });
    expect(res.status).toBe(200);
    const [count, made] = (res.body as Bundle).entry!;
    expect((count?.resource as Bundle).total).toBe(205);
    created.push(made!.resource!.id!);
    expect(((await fhir.get(`Patient?${byMarker()}&_count=1&_total=accurate`)).body as Bundle).total).toBe(205);
  });
});

describe('_include and _revinclude', () => {
  it('Task:focus, Task:patient, Task:owner and Task:encounter bring the referenced resources', async () => {
    const id = idOf(h.task);
    const res = await fhir.get(`Task?_id=${id}&_include=Task:focus&_include=Task:patient&_include=Task:owner&_include=Task:encounter`);
    expect(res.status).toBe(200);
    const bundle = res.body as Bundle;
    expect(matchIds(bundle)).toEqual([id]);
    const included = entries(bundle, 'include').map((r) => `${r.resourceType}/${r.id}`);
    expect(included.sort()).toEqual([h.serviceRequest, h.patient, h.owner, h.encounter].sort());
    // One at a time.
    for (const [inc, ref] of [['Task:focus', h.serviceRequest], ['Task:patient', h.patient], ['Task:owner', h.owner], ['Task:encounter', h.encounter]] as const) {
      const one = (await fhir.get(`Task?_id=${id}&_include=${inc}`)).body as Bundle;
      expect(entries(one, 'include').map((r) => `${r.resourceType}/${r.id}`)).toEqual([ref]);
    }
  });

  it('Provenance:target brings the Provenance of the matches', async () => {
    const res = await fhir.get(`Task?_id=${idOf(h.task)}&_revinclude=Provenance:target`);
    const included = entries(res.body as Bundle, 'include');
    expect(included.map((r) => `${r.resourceType}/${r.id}`)).toContain(`Provenance/${subjects.Provenance!.id}`);
    expect(included.every((r) => r.resourceType === 'Provenance')).toBe(true);
    const without = await fhir.get(`Task?_id=${subjects.Task!.id}&_revinclude=Provenance:target`);
    expect(entries(without.body as Bundle, 'include').map((r) => r.id)).not.toContain(subjects.Provenance!.id);
  });

  it('includes nothing when nothing matches, and never a deleted resource', async () => {
    expect(entries((await fhir.get('Task?_id=none&_include=Task:focus')).body as Bundle)).toEqual([]);
    const task = subjects.Task as Task;
    const fresh = await fhir.create<Task>({ ...(exampleOf('Task', h, unique('inc')) as Task), focus: task.focus });
    const patient = await fhir.create<Patient>(buildPatient());
    const withPatient = await fhir.put(`Task/${fresh.id}`, { ...fresh, for: { reference: `Patient/${patient.id}` } });
    expect(withPatient.status).toBe(200);
    expect((await fhir.delete(`Patient/${patient.id}`)).status).toBe(200);
    const bundle = (await fhir.get(`Task?_id=${fresh.id}&_include=Task:patient`)).body as Bundle;
    expect(entries(bundle, 'include')).toEqual([]);
  });
});

describe('unknown parameters', () => {
  it('are ignored and listed in an OperationOutcome entry', async () => {
    const res = await fhir.get(`Patient?_id=${subjects.Patient!.id}&colour=blue&family:contains=cel`);
    expect(res.status).toBe(200);
    const bundle = res.body as Bundle;
    expect(matchIds(bundle)).toEqual([subjects.Patient!.id]);
    const outcomes = entries(bundle, 'outcome') as OperationOutcome[];
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]!.resourceType).toBe('OperationOutcome');
    expect(outcomes[0]!.issue![0]!.severity).toBe('warning');
    expect(outcomes[0]!.issue![0]!.diagnostics).toContain('colour');
    expect(outcomes[0]!.issue![0]!.diagnostics).toContain('family:contains');
  });

  it('are refused with Prefer: handling=strict', async () => {
    const res = await fhir.get('Patient?colour=blue', { Prefer: 'handling=strict' });
    expect(expectOutcome(res, 400).issue![0]!.diagnostics).toContain('colour');
    expect((await fhir.get('Patient?gender=female', { Prefer: 'handling=strict' })).status).toBe(200);
  });
});
