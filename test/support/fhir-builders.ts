// Complete handover resources for tests. Profiles require these fields, so tests build on these and
// change only what they are about (pass `overrides`).
import { randomUUID } from 'node:crypto';
import type { Encounter, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';

export const BSN_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/bsn';
/** A BSN that passes the 11-proof and belongs to no one (test range). */
const TEST_BSN = '999990111';
export const TASK_CODE_SYSTEM = 'http://hl7.org/fhir/CodeSystem/task-code';
export const IDENTIFIER_SYSTEM = 'urn:ietf:rfc:3986';

let counter = 0;
/** A value unique within the test run, for identifiers that must not collide between tests. */
export function unique(prefix = 'test'): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${++counter}`;
}

export function buildPatient(overrides: Partial<Patient> = {}): Patient {
  return {
    resourceType: 'Patient',
    identifier: [{ system: BSN_SYSTEM, value: TEST_BSN }],
    name: [{ text: 'A. de Jong', family: 'de Jong', given: ['A.'] }],
    gender: 'male',
    birthDate: '1958-06-02',
    ...overrides,
  };
}

export function buildServiceRequest(refs: { patient: string; requester: string; performer: string }, overrides: Partial<ServiceRequest> = {}): ServiceRequest {
  return {
    resourceType: 'ServiceRequest',
    identifier: [{ system: IDENTIFIER_SYSTEM, value: `urn:uuid:${randomUUID()}` }],
    status: 'active',
    intent: 'order',
    priority: 'urgent',
    code: { coding: [{ system: 'http://snomed.info/sct', code: '183459006', display: 'Ambulance transport' }] },
    subject: { reference: refs.patient },
    requester: { reference: refs.requester },
    performer: [{ reference: refs.performer }],
    authoredOn: '2025-03-14T21:05:00+01:00',
    ...overrides,
  };
}

export function buildEncounter(refs: { patient: string; serviceProvider: string }, overrides: Partial<Encounter> = {}): Encounter {
  return {
    resourceType: 'Encounter',
    identifier: [{ system: IDENTIFIER_SYSTEM, value: `urn:uuid:${randomUUID()}` }],
    status: 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
    subject: { reference: refs.patient },
    serviceProvider: { reference: refs.serviceProvider },
    period: { start: '2025-03-14T21:06:00+01:00' },
    ...overrides,
  };
}

export interface TaskRefs {
  /** `ServiceRequest/<id>` (or a `urn:uuid:` inside a transaction). */
  focus: string;
  patient: string;
  requester: string;
  owner: string;
  encounter?: string;
}

/** A complete handover Task: requester hands `focus` for `patient` over to `owner`. */
export function buildTask(refs: TaskRefs, overrides: Partial<Task> = {}): Task {
  const task: Task = {
    resourceType: 'Task',
    identifier: [{ system: IDENTIFIER_SYSTEM, value: `urn:uuid:${randomUUID()}` }],
    status: 'requested',
    intent: 'order',
    priority: 'urgent',
    code: { coding: [{ system: TASK_CODE_SYSTEM, code: 'fulfill' }] },
    focus: { reference: refs.focus },
    for: { reference: refs.patient },
    requester: { reference: refs.requester },
    owner: { reference: refs.owner },
    authoredOn: '2025-03-14T21:05:00+01:00',
    ...overrides,
  };
  if (refs.encounter && !overrides.encounter) task.encounter = { reference: refs.encounter };
  return task;
}
