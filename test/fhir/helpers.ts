// Shared by the FHIR REST tests: JSON over supertest, and a complete handover made through the API.
import type { Bundle, OperationOutcome, Resource } from '@medplum/fhirtypes';
import request from 'supertest';
import type { DemoClient, TestGateway } from '../support/gateway.ts';
import { systemContext } from '../../src/context.ts';
import { buildEncounter, buildPatient, buildServiceRequest, buildTask, IDENTIFIER_SYSTEM } from '../support/fhir-builders.ts';

export const FHIR_JSON = 'application/fhir+json';

export interface Fhir {
  get(path: string, headers?: Record<string, string>): request.Test;
  post(path: string, body: unknown, headers?: Record<string, string>): request.Test;
  put(path: string, body: unknown, headers?: Record<string, string>): request.Test;
  patch(path: string, body: unknown, headers?: Record<string, string>): request.Test;
  delete(path: string, headers?: Record<string, string>): request.Test;
  /** Creates a resource and returns what the server stored (fails the test on anything but 201). */
  create<T extends Resource>(resource: T): Promise<T>;
}

/** A FHIR client acting as `client`; paths are relative to /fhir/. */
export async function fhirClient(tg: TestGateway, client: DemoClient = 'hap-vechtdal'): Promise<Fhir> {
  const authorization = await tg.auth(client);
  const withHeaders = (t: request.Test, headers: Record<string, string> = {}): request.Test => {
    t.set('Authorization', authorization).set('Accept', FHIR_JSON);
    for (const [k, v] of Object.entries(headers)) t.set(k, v);
    return t;
  };
  const url = (path: string): string => `/fhir/${path.replace(/^\//, '')}`;
  const send = (t: request.Test, body: unknown, headers?: Record<string, string>): request.Test =>
    withHeaders(t, { 'Content-Type': FHIR_JSON, ...headers }).send(JSON.stringify(body));
  const fhir: Fhir = {
    get: (path, headers) => withHeaders(request(tg.app).get(url(path)), headers),
    post: (path, body, headers) => send(request(tg.app).post(url(path)), body, headers),
    put: (path, body, headers) => send(request(tg.app).put(url(path)), body, headers),
    patch: (path, body, headers) => send(request(tg.app).patch(url(path)), body, { 'Content-Type': 'application/json-patch+json', ...headers }),
    delete: (path, headers) => withHeaders(request(tg.app).delete(url(path)), headers),
    create: async <T extends Resource>(resource: T): Promise<T> => {
      const res = await fhir.post(resource.resourceType, resource);
      if (res.status !== 201) throw new Error(`Creating ${resource.resourceType} gave ${res.status}: ${res.text}`);
      return res.body as T;
    },
  };
  return fhir;
}

export interface Handover {
  patient: string;
  serviceRequest: string;
  encounter: string;
  task: string;
  requester: string;
  owner: string;
}

/** Patient, ServiceRequest, Encounter and Task of one handover from HAP Vechtdal to RAV Noordoost, each created on its own. */
export async function createHandover(tg: TestGateway, fhir: Fhir, taskOverrides: Parameters<typeof buildTask>[1] = {}): Promise<Handover> {
  const requester = await tg.organizationRef('hap-vechtdal');
  const owner = await tg.organizationRef('rav-noordoost');
  const patient = `Patient/${(await fhir.create(buildPatient())).id}`;
  const serviceRequest = `ServiceRequest/${(await fhir.create(buildServiceRequest({ patient, requester, performer: owner }))).id}`;
  const encounter = `Encounter/${(await fhir.create(buildEncounter({ patient, serviceProvider: owner }))).id}`;
  const task = `Task/${(await fhir.create(buildTask({ focus: serviceRequest, patient, requester, owner, encounter }, taskOverrides))).id}`;
  return { patient, serviceRequest, encounter, task, requester, owner };
}

/** Writes a resource as the gateway itself (Provenance and other server-owned types); returns what was stored. */
export async function createAsGateway<T extends Resource>(tg: TestGateway, resource: T): Promise<T> {
  const result = await tg.gateway.repository(systemContext('test-fixture')).create(resource);
  return result.stored.content as T;
}

export function entries(bundle: Bundle, mode?: 'match' | 'include' | 'outcome'): Resource[] {
  return (bundle.entry ?? []).filter((e) => !mode || e.search?.mode === mode).map((e) => e.resource!);
}

/** Ids of the matches of a searchset. */
export function matchIds(bundle: Bundle): string[] {
  return entries(bundle, 'match').map((r) => r.id!);
}

/** Asserts an OperationOutcome body and returns it. */
export function expectOutcome(res: request.Response, status: number): OperationOutcome {
  if (res.status !== status) throw new Error(`Expected ${status}, got ${res.status}: ${res.text}`);
  expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
  const body = JSON.parse(res.text) as OperationOutcome;
  expect(body.resourceType).toBe('OperationOutcome');
  expect(body.issue?.length).toBeGreaterThan(0);
  return body;
}

/** A valid example of every writable type, carrying `marker` as identifier where the type has one. */
export function exampleOf(type: string, h: Handover, marker: string): Resource {
  const identifier = [{ system: IDENTIFIER_SYSTEM, value: marker }];
  switch (type) {
    case 'Patient':
      return buildPatient({ identifier: [...buildPatient().identifier!, ...identifier] });
    case 'Organization':
      return { resourceType: 'Organization', identifier, active: true, name: `Test organisation ${marker}` };
    case 'Practitioner':
      return { resourceType: 'Practitioner', identifier, name: [{ family: 'Visser', given: ['J.'] }] };
    case 'PractitionerRole':
      return { resourceType: 'PractitionerRole', identifier, active: true, organization: { reference: h.owner } };
    case 'HealthcareService':
      // An organisation publishes only its own services (issue 18): the writer, the requester, provides it.
      return { resourceType: 'HealthcareService', identifier, active: true, name: 'Spoedzorg', providedBy: { reference: h.requester } };
    case 'Location':
      return { resourceType: 'Location', identifier, status: 'active', name: 'Standplaats Zwolle', managingOrganization: { reference: h.owner } };
    case 'Encounter':
      return buildEncounter({ patient: h.patient, serviceProvider: h.owner }, { identifier, basedOn: [{ reference: h.serviceRequest }] });
    case 'ServiceRequest':
      return buildServiceRequest({ patient: h.patient, requester: h.requester, performer: h.owner }, { identifier });
    case 'Task':
      return buildTask({ focus: h.serviceRequest, patient: h.patient, requester: h.requester, owner: h.owner, encounter: h.encounter }, { identifier });
    case 'Subscription':
      return {
        resourceType: 'Subscription',
        status: 'requested',
        reason: `Test subscription ${marker}`,
        criteria: 'http://gateway.test/fhir/SubscriptionTopic/handover',
        channel: { type: 'rest-hook', endpoint: 'http://127.0.0.1:9/hook', payload: 'application/fhir+json' },
      } as Resource;
    case 'Observation':
      return {
        resourceType: 'Observation',
        identifier,
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
        subject: { reference: h.patient },
        encounter: { reference: h.encounter },
        effectiveDateTime: '2025-03-14T21:30:00+01:00',
        valueQuantity: { value: 88, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
      };
    case 'Provenance':
      // R4 Provenance has no identifier.
      return { resourceType: 'Provenance', target: [{ reference: h.task }], recorded: '2025-03-14T21:05:00+01:00', agent: [{ who: { reference: h.requester } }] };
    // The AZ-IG referral message's resources (issue 17), each about the handover's request.
    case 'MessageHeader':
      // R4 MessageHeader has no identifier.
      return { resourceType: 'MessageHeader', eventCoding: { system: 'http://nictiz.nl/fhir/CodeSystem/hg-message-event', code: '145' }, source: { endpoint: 'https://rav.example/fhir' }, focus: [{ reference: h.serviceRequest }] } as Resource;
    case 'Composition':
      return {
        resourceType: 'Composition',
        identifier: identifier[0],
        status: 'final',
        type: { coding: [{ system: 'http://loinc.org', code: '18761-7' }] },
        subject: { reference: h.patient },
        date: '2025-03-14T21:05:00+01:00',
        author: [{ reference: h.requester }],
        title: `Verwijzing ${marker}`,
        section: [{ title: 'Reden van verwijzing', code: { coding: [{ system: 'http://snomed.info/sct', code: '440378000' }] }, text: { status: 'additional', div: '<div xmlns="http://www.w3.org/1999/xhtml">Controle</div>' } }],
      } as Resource;
    case 'DocumentReference':
      return { resourceType: 'DocumentReference', identifier, status: 'current', subject: { reference: h.patient }, content: [{ attachment: { contentType: 'application/pdf', data: 'JVBERi0xLjQK', title: 'ECG' } }] } as Resource;
    default:
      throw new Error(`No example for ${type}`);
  }
}
