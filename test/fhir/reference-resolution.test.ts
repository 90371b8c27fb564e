// The pure core of reference handling (src/fhir/references/): literal forms, where References are, fullUrl resolution.
import { FullUrlIndex } from '../../src/fhir/references/bundle.ts';
import { parseLiteral, relativeOf, sameBase } from '../../src/fhir/references/literal.ts';
import { findReferences } from '../../src/fhir/references/walk.ts';

describe('parseLiteral', () => {
  it.each([
    ['#p1', { kind: 'contained', id: 'p1' }],
    ['urn:uuid:0b1c', { kind: 'urn', value: 'urn:uuid:0b1c' }],
    ['urn:oid:2.16.840.1', { kind: 'urn', value: 'urn:oid:2.16.840.1' }],
    ['Organization?identifier=a|b', { kind: 'conditional', type: 'Organization', query: 'identifier=a|b' }],
    ['Patient/hg-1', { kind: 'relative', type: 'Patient', id: 'hg-1' }],
    ['Patient/hg-1/_history/3', { kind: 'relative', type: 'Patient', id: 'hg-1', version: '3' }],
    ['http://nictiz.nl/fhir/Patient/hg-1', { kind: 'absolute', base: 'http://nictiz.nl/fhir', type: 'Patient', id: 'hg-1' }],
    ['https://x.example/r4/fhir/Task/7/_history/2', { kind: 'absolute', base: 'https://x.example/r4/fhir', type: 'Task', id: '7', version: '2' }],
    ['patient/1', { kind: 'other' }],
    ['Patient', { kind: 'other' }],
    ['ftp://x/Patient/1', { kind: 'other' }],
  ])('%s', (text, expected) => {
    expect(parseLiteral(text)).toEqual(expected);
  });

  it('gives the relative form of an absolute reference, with its version', () => {
    const literal = parseLiteral('http://gateway.test/fhir/Task/7/_history/2');
    expect(literal.kind === 'absolute' && relativeOf(literal)).toBe('Task/7/_history/2');
  });

  it('compares bases without a trailing slash or the case of scheme and host', () => {
    expect(sameBase('HTTP://Gateway.Test/fhir/', 'http://gateway.test/fhir')).toBe(true);
    expect(sameBase('http://gateway.test/FHIR', 'http://gateway.test/fhir')).toBe(false);
    expect(sameBase('http://other.test/fhir', 'http://gateway.test/fhir')).toBe(false);
  });
});

describe('findReferences', () => {
  it('finds References in elements, arrays, extensions and contained resources, with their paths, but not identifiers of resources', () => {
    const task = {
      resourceType: 'Task',
      identifier: [{ system: 's', value: 'v' }],
      for: { reference: 'Patient/1' },
      requester: { identifier: { system: 'ura', value: '9' } },
      input: [{ type: { text: 'x' }, valueReference: { reference: 'Observation/2' } }],
      extension: [{ url: 'u', valueReference: { reference: 'Encounter/3' } }],
      contained: [{ resourceType: 'Patient', id: 'c', identifier: [{ system: 's', value: 'w' }], managingOrganization: { reference: 'Organization/4' } }],
    };
    expect(findReferences(task).map((f) => f.path)).toEqual([
      'Task.for',
      'Task.requester',
      'Task.input[0].valueReference',
      'Task.extension[0].valueReference',
      'Task.contained[0].managingOrganization',
    ]);
  });
});

describe('FullUrlIndex (R4 bundle.html#references)', () => {
  const index = new FullUrlIndex();
  index.set('http://nictiz.nl/fhir/Patient/hg-1', 'Patient/a');
  index.set('http://other.nl/fhir/Patient/hg-2', 'Patient/b');
  index.set('http://third.nl/fhir/Patient/hg-2', 'Patient/c');
  index.set('urn:uuid:5', 'Task/d');
  index.set('urn:oid:1.2.3', 'ServiceRequest/e');

  it('resolves urn:uuid:, urn:oid: and absolute references by their exact fullUrl', () => {
    expect(index.resolve('urn:uuid:5', undefined)).toBe('Task/d');
    expect(index.resolve('urn:oid:1.2.3', undefined)).toBe('ServiceRequest/e');
    expect(index.resolve('http://nictiz.nl/fhir/Patient/hg-1', undefined)).toBe('Patient/a');
    expect(index.resolve('http://nictiz.nl/fhir/Patient/hg-1/_history/1', undefined)).toBe('Patient/a');
  });

  it("resolves a relative reference against the base of the referring entry's absolute fullUrl", () => {
    expect(index.resolve('Patient/hg-2', 'http://third.nl/fhir/Task/x')).toBe('Patient/c');
    expect(index.resolve('Patient/hg-2', 'http://other.nl/fhir/Task/x')).toBe('Patient/b');
  });

  it('otherwise resolves a relative reference to the one absolute fullUrl ending in it, and not when it is ambiguous or absent', () => {
    expect(index.resolve('Patient/hg-1', 'urn:uuid:5')).toBe('Patient/a');
    expect(index.resolve('Patient/hg-2', 'urn:uuid:5')).toBeUndefined();
    expect(index.resolve('Patient/hg-9', undefined)).toBeUndefined();
    expect(index.resolve('http://nictiz.nl/fhir/Patient/hg-9', undefined)).toBeUndefined();
  });
});
