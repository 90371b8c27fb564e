// Twiin TA Workflow (issue 18): the IG's test/invalid cases not carried over with the first part (aid-1*, sr-1*,
// acrt*; test/fixtures/twiin/invalid, see SOURCE.md), each refused with a 4xx, the rule named by $validate or by
// the refusal itself.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HealthcareService, OperationOutcome, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import { startTestGateway, DEMO_CLIENTS, type DemoClient, type TestGateway } from '../support/gateway.ts';
import { fhirClient, type Fhir } from './helpers.ts';

const FIXTURES = join(process.cwd(), 'test', 'fixtures', 'twiin');
const PLACER: DemoClient = 'hap-vechtdal';
const CANDIDATE_A: DemoClient = 'vvt-ijsseldelta';

let tg: TestGateway;
let placer: Fhir;
let a: Fhir;

beforeAll(async () => {
  tg = await startTestGateway();
  [placer, a] = await Promise.all([fhirClient(tg, PLACER), fhirClient(tg, CANDIDATE_A)]);
});
afterAll(async () => {
  await tg?.stop();
});

/** A fixture with the IG's URAs replaced by the demo organisations' and without id and meta (every Task is held to handover-task). */
function load<T>(dir: string, name: string): T {
  const text = readFileSync(join(FIXTURES, dir, `${name}.json`), 'utf8').split('"12345678"').join(`"${DEMO_CLIENTS[PLACER]}"`).split('"87654321"').join(`"${DEMO_CLIENTS[CANDIDATE_A]}"`);
  const resource = JSON.parse(text) as { id?: string; meta?: unknown };
  delete resource.id;
  delete resource.meta;
  return resource as T;
}

interface Setting {
  patient: string;
  serviceRequest: string;
  service: string;
}

/** The placer's Patient and ServiceRequest and candidate A's HealthcareService (its own identifier value per test). */
async function setUp(): Promise<Setting> {
  const patient = `Patient/${(await placer.create(load<Patient>('.', 'patient'))).id}`;
  const sr = load<ServiceRequest>('.', 'servicerequest');
  sr.subject = { reference: patient };
  const serviceRequest = `ServiceRequest/${(await placer.create(sr)).id}`;
  const service = `wondzorg-thuis-${randomUUID().slice(0, 8)}`;
  await a.create<HealthcareService>({ resourceType: 'HealthcareService', identifier: [{ system: 'https://fulfiller-a.example.org/healthcareservice', value: service }], name: 'Wondzorg thuis', providedBy: { reference: await tg.organizationRef(CANDIDATE_A) } });
  return { patient, serviceRequest, service };
}

/** The invalid Task pointed at this test's own data: the ServiceRequest, or (a Cancellation Request Task) an invitation of it. */
async function invalidTask(key: string, s: Setting): Promise<Task> {
  const task = load<Task>('invalid', key);
  if (task.owner?.identifier?.system === 'https://fulfiller-a.example.org/healthcareservice') task.owner.identifier.value = s.service;
  if (task.focus?.reference?.startsWith('Task/')) {
    const invitation = load<Task>('.', 'coordination-task-invited');
    invitation.focus = { reference: s.serviceRequest };
    if (invitation.owner?.identifier) invitation.owner.identifier.value = s.service;
    task.focus = { reference: `Task/${(await placer.create(invitation)).id}` };
  } else {
    task.focus = { reference: s.serviceRequest };
  }
  return task;
}

function issues(body: unknown, severity: string, key: string): OperationOutcome['issue'] {
  return ((body as OperationOutcome).issue ?? []).filter((i) => i.severity === severity && (i.diagnostics ?? '').includes(`(${key})`));
}

describe("the IG's test/invalid Task cases are refused naming the rule", () => {
  it.each([
    ['twiin-aid-1', 'twiin-aid-1', PLACER],
    ['twiin-aid-1b', 'twiin-aid-1', PLACER],
    ['twiin-aid-1c', 'twiin-aid-1', PLACER],
    ['twiin-aid-1d', 'twiin-acrt-2', CANDIDATE_A],
    ['twiin-acrt-1', 'twiin-acrt-1', CANDIDATE_A],
    ['acrt-requester-system', 'twiin-acrt-2', CANDIDATE_A],
  ] as const)('%s is refused naming %s', async (name, rule, sender) => {
    const s = await setUp();
    const task = await invalidTask(name, s);
    const client = sender === PLACER ? placer : a;
    // $validate names the rule; creation is refused (4xx), for the Authorization Cancellation Request Tasks
    // already by the handover's own rules on requester and status, which run before the profile.
    // A Task owned by a HealthcareService is refused naming twiin-aid-1 on creation (the owner is resolved there).
    const validated = await client.post('Task/$validate', task);
    const created = await client.post('Task', task);
    expect([name, created.status >= 400 && created.status < 500]).toEqual([name, true]);
    expect(JSON.stringify([validated.body, created.body])).toContain(`(${rule})`);
  });

  it('acrt-requester-system: the message names the fixed URA system', async () => {
    const s = await setUp();
    const validated = await a.post('Task/$validate', await invalidTask('acrt-requester-system', s));
    expect(issues(validated.body, 'error', 'twiin-acrt-2')?.[0]?.diagnostics).toContain('http://fhir.nl/fhir/NamingSystem/ura');
  });
});

describe("the IG's test/invalid ServiceRequest cases are refused naming twiin-sr-1", () => {
  it.each(['twiin-sr-1', 'twiin-sr-1b'])('%s: a masked subject is refused', async (name) => {
    const patient = `Patient/${(await placer.create(load<Patient>('.', 'patient'))).id}`;
    const sr = load<ServiceRequest & { subject: { reference?: string } }>('invalid', name);
    sr.subject.reference = patient;
    const created = await placer.post('ServiceRequest', sr);
    expect([name, created.status >= 400 && created.status < 500]).toEqual([name, true]);
    expect(JSON.stringify(created.body)).toContain('(twiin-sr-1)');
    // Unmasked, the same ServiceRequest is accepted.
    const accepted = await placer.post('ServiceRequest', { ...sr, subject: { reference: patient } });
    expect(accepted.status).toBe(201);
  });
});
