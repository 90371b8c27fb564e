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

/** FHIR ids: 1–64 of letters, digits, '-' and '.'. Every pattern of an id or of a reference is built from this one. */
export const FHIR_ID = '[A-Za-z0-9\\-.]{1,64}';
export const ID_PATTERN = new RegExp(`^${FHIR_ID}$`);
/** A relative literal reference `Type/id`: [1] the type, [2] the id. */
export const REFERENCE_PATTERN = new RegExp(`^([A-Z][A-Za-z]+)/(${FHIR_ID})$`);
/** The same, or a version of it (`Type/id/_history/vid`): [1] the type, [2] the id. */
export const VERSIONED_REFERENCE_PATTERN = new RegExp(`^([A-Z][A-Za-z]+)/(${FHIR_ID})(?:/_history/\\d{1,15})?$`);

/** A relative literal reference to one type (`Organization/id`): [1] the id. */
export function referencePatternOf(type: string): RegExp {
  return new RegExp(`^${type}/(${FHIR_ID})$`);
}

/** Types the gateway serves read-only, from its own data (mappings/terminology). */
export const READ_ONLY_TYPES = ['CodeSystem', 'ConceptMap'];
