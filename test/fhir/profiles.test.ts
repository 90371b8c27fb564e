// The gateway's own conformance resources can be looked up (issue 16.5): every profile, search parameter and
// operation the CapabilityStatement names resolves on this server, and $validate takes profile=.
import type { Bundle, CapabilityStatement, HealthcareService, OperationOutcome, StructureDefinition } from '@medplum/fhirtypes';
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { buildEncounter, buildPatient, buildServiceRequest, buildTask } from '../support/fhir-builders.ts';
import { expectOutcome, fhirClient, type Fhir } from './helpers.ts';

let tg: TestGateway;
let fhir: Fhir;
let capability: CapabilityStatement;
const CANONICAL = 'https://handover-gateway.nl/fhir/';

beforeAll(async () => {
  tg = await startTestGateway();
  fhir = await fhirClient(tg);
  capability = (await request(tg.app).get('/fhir/metadata')).body as CapabilityStatement;
});
afterAll(async () => {
  await tg?.stop();
});

/** The one resource `type?url=` finds on this server. */
async function resolve(type: string, url: string): Promise<{ url?: string; resourceType?: string }> {
  const res = await fhir.get(`${type}?url=${encodeURIComponent(url)}`);
  expect([type, url, res.status, (res.body as Bundle).total]).toEqual([type, url, 200, 1]);
  return (res.body as Bundle).entry?.[0]?.resource as { url?: string };
}

describe('the CapabilityStatement names what the gateway holds resources to', () => {
  it('names the profile of each profiled type, at a canonical that does not follow PUBLIC_URL, and it resolves here', async () => {
    const resources = capability.rest?.[0]?.resource ?? [];
    const profiled = Object.fromEntries(resources.filter((r) => r.supportedProfile?.length).map((r) => [r.type, r.supportedProfile]));
    expect(profiled).toEqual({
      Task: [`${CANONICAL}StructureDefinition/handover-task`],
      ServiceRequest: [`${CANONICAL}StructureDefinition/handover-servicerequest`],
      Encounter: [`${CANONICAL}StructureDefinition/handover-encounter`],
      Patient: [`${CANONICAL}StructureDefinition/nl-patient`],
      Subscription: ['http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription'],
    });
    for (const [type, urls] of Object.entries(profiled)) {
      if (type === 'Subscription') continue;
      const sd = (await resolve('StructureDefinition', urls?.[0] ?? '')) as StructureDefinition;
      expect([sd.type, (sd.snapshot?.element?.length ?? 0) > 0]).toEqual([type, true]);
      expect(resources.find((r) => r.type === type)?.profile).toBe(urls?.[0]);
    }
    expect(capability.implementation?.url).toBe('http://gateway.test/fhir');
  });

  it('resolves every search parameter definition of its own', async () => {
    const own = (capability.rest?.[0]?.resource ?? []).flatMap((r) => (r.searchParam ?? []).map((p) => p.definition ?? '')).filter((d) => d.startsWith(CANONICAL));
    expect(own.length).toBeGreaterThan(40);
    for (const url of new Set(own)) expect((await resolve('SearchParameter', url)).url).toBe(url);
  });

  it('names an OperationDefinition served here for every operation of its own', async () => {
    const ops = (capability.rest?.[0]?.resource ?? []).flatMap((r) => (r.operation ?? []).map((o) => [r.type, o.name, o.definition ?? '']));
    const names = new Set(ops.map(([type, name]) => `${type}/$${name}`));
    for (const expected of ['Task/$validate', 'Patient/$validate', 'Subscription/$status', 'Subscription/$events', 'ConceptMap/$translate', 'AuditEvent/$verify', 'Task/$trail', 'Patient/$trail', 'Task/$candidates']) {
      expect([expected, names.has(expected)]).toEqual([expected, true]);
    }
    for (const [type, name, url] of ops) {
      expect([type, name, url.startsWith(`${CANONICAL}OperationDefinition/`)]).toEqual([type, name, true]);
      const od = (await resolve('OperationDefinition', url)) as { code?: string; resource?: string[] };
      expect([od.code, od.resource?.includes(type ?? '')]).toEqual([name, true]);
    }
  });
});

describe('StructureDefinition, SearchParameter and OperationDefinition are read-only resources', () => {
  it('reads by id, searches by type, code and name, and answers 404 for what is not there', async () => {
    const sd = await fhir.get('StructureDefinition/handover-task');
    expect([sd.status, (sd.body as StructureDefinition).url]).toEqual([200, `${CANONICAL}StructureDefinition/handover-task`]);
    const byType = (await fhir.get('StructureDefinition?type=Patient')).body as Bundle;
    expect(byType.entry?.map((e) => e.resource?.id)).toEqual(['nl-patient']);
    const sp = (await fhir.get('SearchParameter?base=Task&code=owner')).body as Bundle;
    expect(sp.entry?.map((e) => e.resource?.id)).toEqual(['Task-owner']);
    const od = (await fhir.get('OperationDefinition?code=status')).body as Bundle;
    expect(od.entry?.map((e) => e.resource?.id)).toEqual(['Subscription-status']);
    expect(((await fhir.get('OperationDefinition?_summary=count')).body as Bundle).entry).toBeUndefined();
    expectOutcome(await fhir.get('StructureDefinition/no-such-profile'), 404);
    expect(JSON.stringify(expectOutcome(await fhir.get('StructureDefinition?publisher=x'), 400))).toContain('publisher');
  });

  it('needs a token like every other resource', async () => {
    expect((await request(tg.app).get('/fhir/StructureDefinition/handover-task')).status).toBe(401);
  });
});

describe('$validate with profile=', () => {
  const noGender = buildPatient({ gender: undefined });
  const validate = (path: string, body: unknown) => fhir.post(path, body);
  const errors = (o: OperationOutcome): string[] => (o.issue ?? []).filter((i) => i.severity === 'error' || i.severity === 'fatal').map((i) => i.diagnostics ?? '');

  it('validates against the profile named in the query or in a Parameters body', async () => {
    const url = `${CANONICAL}StructureDefinition/nl-patient`;
    const valid = await validate(`Patient/$validate?profile=${encodeURIComponent(url)}`, buildPatient());
    expect([valid.status, errors(valid.body as OperationOutcome)]).toEqual([200, []]);
    const asParameters = await validate('Patient/$validate', { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: noGender }, { name: 'profile', valueCanonical: url }] });
    expect(asParameters.status).toBe(200);
    expect(errors(asParameters.body as OperationOutcome)).toEqual([]);
  });

  it('says so when the profile is unknown or for another type', async () => {
    const unknown = await validate(`Patient/$validate?profile=${encodeURIComponent('http://example.org/StructureDefinition/x')}`, buildPatient());
    expect(JSON.stringify(unknown.body)).toContain('is not known to this server');
    const other = await validate(`Patient/$validate?profile=${encodeURIComponent(`${CANONICAL}StructureDefinition/handover-task`)}`, buildPatient());
    expect(JSON.stringify(other.body)).toContain('is for Task, not Patient');
  });
});

describe('values the gateway derives where a rule was dropped (profiles/README.md)', () => {
  it('a ServiceRequest without priority: the native rendering takes the Task\'s priority, else routine (FHIR meaningWhenMissing)', async () => {
    const requester = await tg.organizationRef('hap-vechtdal');
    const owner = await tg.organizationRef('rav-noordoost');
    const urgencyOf = async (srPriority: 'urgent' | undefined, taskPriority: 'urgent' | 'routine' | undefined): Promise<unknown> => {
      const patient = `Patient/${(await fhir.create(buildPatient({ name: undefined, gender: undefined }))).id}`;
      const serviceRequest = `ServiceRequest/${(await fhir.create(buildServiceRequest({ patient, requester, performer: owner }, { priority: srPriority, performer: undefined }))).id}`;
      const encounter = `Encounter/${(await fhir.create(buildEncounter({ patient, serviceProvider: owner }, { identifier: undefined }))).id}`;
      const task = (await fhir.create(buildTask({ focus: serviceRequest, patient, requester, owner, encounter }, { priority: taskPriority }))).id;
      const res = await request(tg.app).get(`/native/ambulance/${task}`).set('Authorization', await tg.auth('rav-noordoost'));
      expect(res.status).toBe(200);
      return (res.body as { urgentie?: unknown }).urgentie;
    };
    const asked = await urgencyOf('urgent', undefined);
    expect(asked).toBe('A2');
    expect(await urgencyOf(undefined, 'urgent')).toBe(asked);
    expect(await urgencyOf(undefined, undefined)).toBe(await urgencyOf(undefined, 'routine'));
  });
});

describe('Task.owner as a HealthcareService (Twiin)', () => {
  it('is kept as sent; the Organization that provides the service is the receiver: party, and the one that may accept', async () => {
    const requester = await tg.organizationRef('hap-vechtdal');
    const owner = await tg.organizationRef('rav-noordoost');
    // A HealthcareService is managed by its own organisation (as its Organization is): the RAV publishes it.
    const service = await (await fhirClient(tg, 'rav-noordoost')).create<HealthcareService>({ resourceType: 'HealthcareService', name: 'Ambulancezorg Noordoost', providedBy: { reference: owner } });
    const patient = `Patient/${(await fhir.create(buildPatient())).id}`;
    const focus = `ServiceRequest/${(await fhir.create(buildServiceRequest({ patient, requester, performer: owner }))).id}`;
    const task = buildTask({ focus, patient, requester, owner });
    const created = await fhir.post('Task', { ...task, owner: { reference: `HealthcareService/${service.id}`, display: 'Ambulancezorg' } });
    expect(created.status).toBe(201);
    expect(created.body.owner).toEqual({ reference: `HealthcareService/${service.id}`, display: 'Ambulancezorg' });
    const rav = await fhirClient(tg, 'rav-noordoost');
    const read = await rav.get(`Task/${created.body.id}`);
    expect(read.status).toBe(200);
    // The requester may not accept for the receiver; the organisation behind the service may.
    expect((await fhir.put(`Task/${created.body.id}`, { ...read.body, status: 'accepted' })).status).toBe(422);
    const accepted = await rav.put(`Task/${created.body.id}`, { ...read.body, status: 'accepted' });
    expect([accepted.status, accepted.body.owner]).toEqual([200, { reference: `HealthcareService/${service.id}`, display: 'Ambulancezorg' }]);
  });

  it('is refused, naming Task.owner and what to send, when the service is unknown or provided by no Organization', async () => {
    const requester = await tg.organizationRef('hap-vechtdal');
    const owner = await tg.organizationRef('rav-noordoost');
    const patient = `Patient/${(await fhir.create(buildPatient())).id}`;
    const focus = `ServiceRequest/${(await fhir.create(buildServiceRequest({ patient, requester, performer: owner }))).id}`;
    const orphan = await fhir.create<HealthcareService>({ resourceType: 'HealthcareService', name: 'Nobody\'s' });
    for (const ref of ['HealthcareService/does-not-exist', `HealthcareService/${orphan.id}`]) {
      const res = await fhir.post('Task', { ...buildTask({ focus, patient, requester, owner }), owner: { reference: ref } });
      const oo = expectOutcome(res, 422);
      expect(oo.issue?.[0]?.expression).toEqual(['Task.owner']);
      expect(oo.issue?.[0]?.diagnostics).toContain('send owner = Reference(Organization) of the receiver');
    }
  });
});
