// Complete, valid handover resources, as the mapping would produce them for scenario S1
// (HAP Huisartsenpost Vechtdal hands a chest-pain patient over to RAV Noordoost).
import type { Encounter, HumanName, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';

export const SD = 'https://handover-gateway.nl/fhir/StructureDefinition/';
const URA = 'http://fhir.nl/fhir/NamingSystem/ura';
export const BSN = 'http://fhir.nl/fhir/NamingSystem/bsn';

export function validTask(): Task {
  return {
    resourceType: 'Task',
    id: 'handover-1',
    status: 'requested',
    intent: 'order',
    code: { coding: [{ system: 'http://hl7.org/fhir/CodeSystem/task-code', code: 'fulfill' }] },
    focus: { reference: 'ServiceRequest/sr-1' },
    for: { reference: 'Patient/p-1' },
    requester: { reference: `Organization?identifier=${URA}|90001234` },
    owner: { type: 'Organization', identifier: { system: URA, value: '90004567' }, display: 'RAV Noordoost' },
    authoredOn: '2025-03-14T21:05:00+01:00',
    groupIdentifier: { system: 'urn:ietf:rfc:3986', value: 'urn:uuid:6f1c1b2e-8d7a-4c1e-9a55-0d3f1b9e2a10' },
    businessStatus: { text: 'AANGEVRAAGD' },
  };
}

// Primitive extensions (`_priority`, `_family`) are valid FHIR JSON that @medplum/fhirtypes does not model.
export function validServiceRequest(): ServiceRequest {
  return {
    resourceType: 'ServiceRequest',
    id: 'sr-1',
    status: 'active',
    intent: 'order',
    priority: 'stat',
    _priority: {
      extension: [
        { url: `${SD}native-code`, valueCoding: { system: 'https://handover-gateway.nl/fhir/CodeSystem/nts-urgency', code: 'U1' } },
      ],
    },
    code: { coding: [{ system: 'http://snomed.info/sct', code: '183459006', display: 'Ambulance transport' }] },
    subject: { reference: 'Patient/p-1' },
    requester: { reference: 'Organization/hap-vechtdal' },
    performer: [{ reference: 'Organization/rav-noordoost' }],
  } as ServiceRequest;
}

export function validEncounter(): Encounter {
  return {
    resourceType: 'Encounter',
    id: 'ride-1',
    extension: [
      {
        url: `${SD}ride-status-times`,
        extension: [
          { url: 'melding', valueDateTime: '2025-03-14T21:06:00+01:00' },
          { url: 'alarmering', valueDateTime: '2025-03-14T21:07:00+01:00' },
        ],
      },
    ],
    identifier: [{ system: 'urn:oid:2.16.840.1.113883.2.4.3.32.5', value: '2025-0412' }],
    status: 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
    subject: { reference: 'Patient/p-1' },
    serviceProvider: { reference: 'Organization/rav-noordoost' },
  };
}

export function validPatient(): Patient {
  return {
    resourceType: 'Patient',
    id: 'p-1',
    identifier: [{ system: BSN, value: '111222333' }],
    name: [
      {
        text: 'A. de Jong',
        family: 'de Jong',
        _family: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/humanname-own-prefix', valueString: 'de' }] },
        given: ['A.'],
      } as HumanName,
    ],
    gender: 'male',
    birthDate: '1958-06-02',
  };
}
