// Search the way integrations search (issue 16.9): references by identifier (`:identifier`), one-level chains to
// Patient and Organization, `_has`, `_include` of every Task reference, `_revinclude=Task:focus`, absolute reference
// values; what the caller may not read never counts; what cannot be honoured is refused (strict) or warned about,
// and a value nothing carries finds nothing.
import type { Bundle, CapabilityStatement, OperationOutcome, Task } from '@medplum/fhirtypes';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { buildPatient, buildTask, IDENTIFIER_SYSTEM, unique } from '../support/fhir-builders.ts';
import { createHandover, entries, expectOutcome, fhirClient, matchIds, type Fhir, type Handover } from './helpers.ts';

const URA = 'http://fhir.nl/fhir/NamingSystem/ura';
const BASE = 'http://gateway.test/fhir';
const RAV_URA = '90004567';
const HAP_URA = '90001234';

let tg: TestGateway;
let hap: Fhir;
let rav: Fhir;
let vvt: Fhir;
let h: Handover;
let marker: string;
const idOf = (ref: string): string => ref.split('/')[1] ?? '';
const q = encodeURIComponent;

beforeAll(async () => {
  tg = await startTestGateway();
  hap = await fhirClient(tg, 'hap-vechtdal');
  rav = await fhirClient(tg, 'rav-noordoost');
  vvt = await fhirClient(tg, 'vvt-ijsseldelta');
  marker = unique('chain');
  h = await createHandover(tg, hap);
  // The patient carries an identifier of this test only, so that chains on it find this handover alone.
  const patient = await hap.get(h.patient);
  expect((await hap.put(h.patient, { ...patient.body, identifier: [{ system: IDENTIFIER_SYSTEM, value: marker }] })).status).toBe(200);
});
afterAll(async () => {
  await tg?.stop();
});

async function ids(fhir: Fhir, path: string, strict = true): Promise<string[]> {
  const res = await fhir.get(path, strict ? { Prefer: 'handling=strict' } : {});
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${res.text}`);
  return matchIds(res.body as Bundle);
}

describe(':identifier and chains', () => {
  it('owner:identifier and requester:identifier find the Tasks of the organisation with that URA', async () => {
    const task = idOf(h.task);
    expect(await ids(hap, `Task?_id=${task}&owner:identifier=${q(`${URA}|${RAV_URA}`)}`)).toEqual([task]);
    expect(await ids(hap, `Task?_id=${task}&requester:identifier=${q(`${URA}|${HAP_URA}`)}`)).toEqual([task]);
    expect(await ids(hap, `Task?_id=${task}&owner:identifier=${q(`${URA}|${HAP_URA}`)}`)).toEqual([]);
    expect(await ids(hap, `ServiceRequest?_id=${idOf(h.serviceRequest)}&performer:identifier=${q(`${URA}|${RAV_URA}`)}`)).toEqual([idOf(h.serviceRequest)]);
    // By system alone, through the chain (an Organization with any URA) and inside `_has`.
    expect(await ids(hap, `Task?_id=${task}&owner:identifier=${q(`${URA}|`)}`)).toEqual([task]);
    expect(await ids(hap, `Task?_id=${task}&owner:identifier=${q('http://other|')}`)).toEqual([]);
    expect(await ids(hap, `ServiceRequest?_id=${idOf(h.serviceRequest)}&_has:Task:focus:status=${q('http://hl7.org/fhir/task-status|')}`)).toEqual([idOf(h.serviceRequest)]);
    expect(await ids(hap, `ServiceRequest?_id=${idOf(h.serviceRequest)}&_has:Task:focus:owner:identifier=${q(`${URA}|`)}`)).toEqual([idOf(h.serviceRequest)]);
    expect(await ids(hap, `ServiceRequest?_id=${idOf(h.serviceRequest)}&_has:Task:focus:owner:identifier=${q('http://other|')}`)).toEqual([]);
  });

  it('a URA nobody has finds nothing, not every Task (strict or lenient)', async () => {
    const all = await ids(rav, 'Task?_count=200');
    expect(all.length).toBeGreaterThan(0);
    for (const param of ['owner:identifier', 'owner.identifier', 'requester.identifier']) {
      expect([param, await ids(rav, `Task?${param}=${q(`${URA}|00000000`)}&_count=200`)]).toEqual([param, []]);
      expect([param, await ids(rav, `Task?${param}=${q(`${URA}|00000000`)}&_count=200`, false)]).toEqual([param, []]);
    }
  });

  it('chains to Patient and Organization: patient.identifier, subject.identifier, subject:Patient.identifier, owner.identifier, requester.identifier, owner.name', async () => {
    const task = idOf(h.task);
    const byPatient = q(`${IDENTIFIER_SYSTEM}|${marker}`);
    expect(await ids(rav, `Task?patient.identifier=${byPatient}`)).toEqual([task]);
    expect(await ids(rav, `Task?subject.identifier=${byPatient}`)).toEqual([task]);
    expect(await ids(rav, `Task?subject:Patient.identifier=${byPatient}`)).toEqual([task]);
    expect(await ids(rav, `Task?patient.identifier=${q(`${IDENTIFIER_SYSTEM}|other-${marker}`)}`)).toEqual([]);
    expect(await ids(hap, `ServiceRequest?patient.identifier=${byPatient}`)).toEqual([idOf(h.serviceRequest)]);
    expect(await ids(hap, `Encounter?patient.identifier=${byPatient}`)).toEqual([idOf(h.encounter)]);
    expect(await ids(rav, `Task?_id=${task}&owner.identifier=${q(`${URA}|${RAV_URA}`)}&requester.identifier=${q(`${URA}|${HAP_URA}`)}`)).toEqual([task]);
    expect(await ids(rav, `Task?_id=${task}&requester.identifier=${q(`${URA}|${RAV_URA}`)}`)).toEqual([]);
    const ownerName = ((await rav.get(h.owner)).body as { name: string }).name;
    expect(await ids(rav, `Task?_id=${task}&owner.name=${q(ownerName)}`)).toEqual([task]);
    expect(await ids(rav, `Task?_id=${task}&owner:Organization.name=${q(ownerName)}`)).toEqual([task]);
  });

  it('a chain does not reach what the caller may not read: another organisation finds nothing by this patient', async () => {
    const byPatient = q(`${IDENTIFIER_SYSTEM}|${marker}`);
    expect(await ids(vvt, `Task?patient.identifier=${byPatient}`)).toEqual([]);
    expect(await ids(vvt, `Patient?identifier=${byPatient}`)).toEqual([]);
  });

  it('reference values given as absolute URLs of this server match like relative ones; another server does not', async () => {
    const task = idOf(h.task);
    expect(await ids(hap, `Task?_id=${task}&owner=${q(`${BASE}/${h.owner}`)}`)).toEqual([task]);
    expect(await ids(hap, `Task?_id=${task}&patient=${q(`${BASE}/${h.patient}`)}`)).toEqual([task]);
    expect(await ids(hap, `Task?_id=${task}&owner=${q(`https://elsewhere.example/fhir/${h.owner}`)}`)).toEqual([]);
    expect(await ids(hap, `Task?_id=${task}&subject:Patient=${idOf(h.patient)}`)).toEqual([task]);
  });

  it('a Task naming its owner by URA beside the reference is found by that Reference.identifier', async () => {
    const patient = `Patient/${(await hap.create(buildPatient())).id}`;
    const owner = { reference: h.owner, identifier: { system: URA, value: RAV_URA } };
    const created = await hap.post('Task', { ...buildTask({ focus: h.serviceRequest, patient, requester: h.requester, owner: h.owner, encounter: h.encounter }), owner });
    expect(created.status).toBe(201);
    const id = (created.body as Task).id ?? '';
    expect(await ids(hap, `Task?_id=${id}&owner:identifier=${q(`${URA}|${RAV_URA}`)}`)).toEqual([id]);
    expect(await ids(hap, `Task?_id=${id}&owner:identifier=${RAV_URA}`)).toEqual([id]);
    // By system alone: a prefix of the indexed `owner:identifier=system|value`.
    expect(await ids(hap, `Task?_id=${id}&owner:identifier=${q(`${URA}|`)}`)).toEqual([id]);
    expect(await ids(hap, `Task?_id=${id}&owner:identifier=${q('http://other|')}`)).toEqual([]);
  });

  it('what the gateway cannot honour is refused under strict handling and warned about otherwise', async () => {
    for (const param of ['owner.partof.identifier', 'owner.identifier:not', 'encounter.colour', 'owner:Device.identifier', 'status.identifier', '_has:Task:focus:_has:Task:focus:status', '_has:Nothing:focus:status', 'owner:identifier:not']) {
      const strict = await rav.get(`Task?${param}=x`, { Prefer: 'handling=strict' });
      expect([param, strict.status]).toEqual([param, 400]);
      expect(expectOutcome(strict, 400).issue?.[0]?.diagnostics).toContain(param);
      const lenient = await rav.get(`Task?${param}=x&_count=1`);
      expect([param, lenient.status]).toEqual([param, 200]);
      const warning = entries(lenient.body as Bundle, 'outcome') as OperationOutcome[];
      expect([param, warning[0]?.issue?.[0]?.diagnostics?.includes(param)]).toEqual([param, true]);
    }
  });
});

describe('_has', () => {
  it('_has:Task:focus:status finds the ServiceRequests whose Task has that status', async () => {
    const sr = idOf(h.serviceRequest);
    expect(await ids(hap, `ServiceRequest?_id=${sr}&_has:Task:focus:status=requested`)).toEqual([sr]);
    expect(await ids(hap, `ServiceRequest?_id=${sr}&_has:Task:focus:status=accepted,completed`)).toEqual([]);
    expect(await ids(hap, `ServiceRequest?_id=${sr}&_has:Task:focus:owner:identifier=${q(`${URA}|${RAV_URA}`)}`)).toEqual([sr]);
    expect(await ids(hap, `Patient?_id=${idOf(h.patient)}&_has:Task:patient:status=requested`)).toEqual([idOf(h.patient)]);
    expect(await ids(hap, `ServiceRequest?_id=${sr}&_has:Encounter:based-on:status=in-progress,planned,arrived,finished`)).toEqual([]);
  });

  it('counts only Tasks the caller may read', async () => {
    // A ServiceRequest of the HAP's own with a Task the VVT is not party to: the VVT cannot read either.
    expect(await ids(vvt, `ServiceRequest?_id=${idOf(h.serviceRequest)}&_has:Task:focus:status=requested`)).toEqual([]);
  });
});

describe('_include and _revinclude', () => {
  it('_include brings every reference of a Task: requester, subject, and a type-narrowed owner', async () => {
    const task = idOf(h.task);
    const included = async (path: string): Promise<string[]> => entries((await hap.get(path)).body as Bundle, 'include').map((r) => `${r.resourceType}/${r.id}`).sort();
    expect(await included(`Task?_id=${task}&_include=Task:requester`)).toEqual([h.requester]);
    expect(await included(`Task?_id=${task}&_include=Task:subject`)).toEqual([h.patient]);
    expect(await included(`Task?_id=${task}&_include=Task:owner:Organization`)).toEqual([h.owner]);
    expect(await included(`Task?_id=${task}&_include=Task:owner:HealthcareService`)).toEqual([]);
    expect(await included(`Task?_id=${task}&_include=Task:requester&_include=Task:owner`)).toEqual([h.requester, h.owner].sort());
    expect(expectOutcome(await hap.get(`Task?_id=${task}&_include=Task:status`), 400).issue?.[0]?.expression).toEqual(['_include']);
    expect((await hap.get(`Task?_id=${task}&_include=ServiceRequest:patient`)).status).toBe(400);
  });

  it('_revinclude=Task:focus brings the Tasks of the ServiceRequests found, only those the caller may read', async () => {
    const sr = idOf(h.serviceRequest);
    const bundle = (await hap.get(`ServiceRequest?_id=${sr}&_revinclude=Task:focus`)).body as Bundle;
    expect(matchIds(bundle)).toEqual([sr]);
    const included = entries(bundle, 'include') as Task[];
    expect(included.map((r) => `${r.resourceType}/${r.id}`)).toContain(h.task);
    expect(included.every((t) => t.resourceType === 'Task' && t.focus?.reference === h.serviceRequest)).toBe(true);
    expect(entries((await vvt.get(`ServiceRequest?_id=${sr}&_revinclude=Task:focus`)).body as Bundle)).toEqual([]);
    expect((await hap.get(`Patient?_id=${idOf(h.patient)}&_revinclude=Encounter:based-on`)).status).toBe(400);
  });
});

it('the CapabilityStatement lists the includes, revincludes, _has and what a reference parameter takes', async () => {
  const cs = (await hap.get('metadata')).body as CapabilityStatement;
  const of = (type: string) => cs.rest?.[0]?.resource?.find((r) => r.type === type);
  expect(of('Task')?.searchInclude).toEqual(expect.arrayContaining(['Task:requester', 'Task:owner', 'Task:focus', 'Task:patient', 'Task:subject', 'Task:encounter']));
  expect(of('ServiceRequest')?.searchRevInclude).toEqual(expect.arrayContaining(['Task:focus', 'Encounter:based-on', 'Provenance:target']));
  expect(of('ServiceRequest')?.documentation).toContain('_has:<Type>:<reference>:<parameter>');
  expect(of('ServiceRequest')?.documentation).toContain('Task:focus');
  expect(of('Task')?.searchParam?.find((p) => p.name === 'owner')?.documentation).toContain(':identifier');
  expect(of('Task')?.searchParam?.find((p) => p.name === 'owner')?.documentation).toContain('owner.identifier');
});
