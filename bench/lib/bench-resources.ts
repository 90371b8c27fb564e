// The resources every FHIR benchmark sends or stores: one ServiceRequest and the Task that hands it over, the same
// shape wherever they are made (through a server's API, or straight into the store by seed-tasks.ts), so that the
// parts of the bench and a comparison server measure the same thing.
import type { ServiceRequest, Task } from '@medplum/fhirtypes';

/** An ambulance-transport order for `patient`, from `requester` to `owner` (references such as `Organization/<id>`). */
export function benchServiceRequest(patient: string, requester: string, owner: string): ServiceRequest {
  return {
    resourceType: 'ServiceRequest',
    status: 'active',
    intent: 'order',
    priority: 'stat',
    code: { coding: [{ system: 'http://snomed.info/sct', code: '706281005', display: 'Ambulance transport' }] },
    subject: { reference: patient },
    requester: { reference: requester },
    performer: [{ reference: owner }],
  };
}

/** A requested handover Task from `requester` to `owner`; `about` names its patient and order when there are any. */
export function benchTask(requester: string, owner: string, authoredOn: string, about?: { patient: string; serviceRequest: string }): Task {
  return {
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    priority: 'stat',
    code: { coding: [{ system: 'http://hl7.org/fhir/CodeSystem/task-code', code: 'fulfill' }] },
    ...(about ? { focus: { reference: about.serviceRequest }, for: { reference: about.patient } } : {}),
    requester: { reference: requester },
    owner: { reference: owner },
    authoredOn,
  };
}
