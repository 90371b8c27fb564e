/** The resource types the FHIR REST API serves with full read/write interactions (the CapabilityStatement lists exactly these). */
export const WRITABLE_TYPES = [
  'Patient',
  'Organization',
  'Practitioner',
  'PractitionerRole',
  'HealthcareService',
  'Location',
  'Encounter',
  'ServiceRequest',
  'Task',
  'Observation',
  'Provenance',
  // The AZ-IG referral message's own resources (issue 17): the message, the letter and its attachment.
  'MessageHeader',
  'Composition',
  'DocumentReference',
] as const;

export type WritableType = (typeof WRITABLE_TYPES)[number];

export function isWritableType(type: string): type is WritableType {
  return (WRITABLE_TYPES as readonly string[]).includes(type);
}

/** FHIR ids: 1–64 of letters, digits, '-' and '.'. */
export const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;

/** Types the gateway serves read-only, from its own data (mappings/terminology). */
export const READ_ONLY_TYPES = ['CodeSystem', 'ConceptMap'];
