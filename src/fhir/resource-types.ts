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

/**
 * SQL: whether `expr` (a text) is a relative literal reference `Type/id` to one of `types`, the same test as
 * `referencePatternOf`. Not as one regular expression with `{1,64}`: PostgreSQL's engine unrolls a bounded repeat
 * into 64 states and builds its automaton again at every match, 30-35 µs a match against 2-3 µs for `+` with the
 * length compared apart (100,000 matches in psql, private cluster); a Task create's party propagation made two.
 */
export function referenceToSql(expr: string, types: readonly string[]): string {
  const prefix = types.length === 1 ? `${types[0]}` : `(${types.join('|')})`;
  return `(${expr} ~ '^${prefix}/[A-Za-z0-9.-]+$' AND length(split_part(${expr}, '/', 2)) <= 64)`;
}

/** Types the gateway serves read-only, from its own data (mappings/terminology). */
export const READ_ONLY_TYPES = ['CodeSystem', 'ConceptMap'];
