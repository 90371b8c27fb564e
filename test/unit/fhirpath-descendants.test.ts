import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { compileFastPath, evaluatorWithFastPath, FALLBACK } from '../../src/fhirpath/fast-path.ts';

// `children()` and `descendants()` in the fast FHIRPath subset, held to fhirpath.js: the Twiin rule twiin-sr-1
// (profiles/handover-servicerequest.json) looks for a masking extension anywhere in a ServiceRequest's subject.
const DAR = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason';
const MASKED = `subject.descendants().where(url = '${DAR}').empty()`;

const subjects: Record<string, unknown> = {
  plain: { reference: 'Patient/1' },
  'with display and type': { reference: 'Patient/1', type: 'Patient', display: 'J. Jansen' },
  'masked by an extension (the IG test twiin-sr-1)': { extension: [{ url: DAR, valueCode: 'masked' }], reference: 'Patient/1' },
  'masked on its reference (twiin-sr-1b: a primitive extension)': { reference: 'Patient/1', _reference: { extension: [{ url: DAR, valueCode: 'masked' }] } },
  'masked deep in its identifier': { identifier: { system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: '999990111', assigner: { display: 'x', extension: [{ url: DAR, valueCode: 'masked' }] } } },
  'another extension': { reference: 'Patient/1', extension: [{ url: 'http://example.org/other', valueString: 'x' }] },
  'an extension in an extension': { extension: [{ url: 'http://example.org/outer', extension: [{ url: DAR, valueCode: 'unknown' }] }] },
  'a null in an array': { extension: [null] },
  'an Extension with a bare value (a choice element: fhirpath.js drops it)': { extension: [{ url: 'http://example.org/x', value: { url: DAR } }] },
  'an identifier (its value a plain string)': { identifier: { system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: '999990111' } },
};

const slowOf = (expression: string) => {
  const fn = fhirpath.compile({ base: 'ServiceRequest', expression }, r4, { async: false });
  return (focus: unknown) => fn(focus as object, {}) as unknown[];
};

describe('descendants() in the fast FHIRPath subset', () => {
  test('the masking rule compiles into the subset', () => {
    expect(compileFastPath(MASKED, true)).toBeDefined();
  });

  test.each(Object.entries(subjects))('%s: the masking rule gives what fhirpath.js gives', (_name, subject) => {
    const resource = { resourceType: 'ServiceRequest', subject };
    const slow = slowOf(MASKED);
    // verify: both evaluators run, and a difference throws.
    const both = evaluatorWithFastPath(MASKED, true, (focus) => slow(focus), { verify: 'twiin-sr-1' });
    expect(both(resource, {})).toEqual(slow(resource));
  });

  test.each(Object.entries(subjects))('%s: descendants() itself, where the subset takes it, is fhirpath.js\'s collection in its order', (_name, subject) => {
    const resource = { resourceType: 'ServiceRequest', subject };
    const fast = compileFastPath('subject.descendants()', true);
    const got = fast?.(resource, {});
    if (got === FALLBACK) return; // a primitive's extensions or a null: fhirpath.js's
    expect(got).toEqual(slowOf('subject.descendants()')(resource));
  });

  test('the fast path takes the plain and the masked subject itself, and leaves a primitive extension to fhirpath.js', () => {
    const fast = compileFastPath(MASKED, true);
    const evaluate = (subject: unknown) => fast?.({ resourceType: 'ServiceRequest', subject }, {});
    expect(evaluate(subjects.plain)).toEqual([true]);
    expect(evaluate(subjects['masked by an extension (the IG test twiin-sr-1)'])).toEqual([false]);
    expect(evaluate(subjects['masked on its reference (twiin-sr-1b: a primitive extension)'])).toBe(FALLBACK);
  });
});
