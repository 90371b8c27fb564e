// The gateway's walk of R4 base validation (src/fhir/validation/base-validation.ts) against Medplum's own
// `validateResource`, which it replaces on the write path: on every FHIR fixture, every mapped native example and
// the validation fixtures, and on thousands of mutations of them (each property removed, nulled, emptied, given a
// value of the wrong JSON type or format, an array for a single value and back, unknown properties, primitive
// extensions, choice elements sent twice, contained resources), both must give the same errors, in the same order
// and words. A difference fails with the resource that shows it.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { OperationOutcomeError, validateResource } from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { acceptsBase } from '../../src/fhir/validation/base-accept.ts';
import { validateBase } from '../../src/fhir/validation/base-validation.ts';
import { baseDefinitions } from '../../src/fhir/validation/definitions.ts';
import { loadNativeMapper } from '../../src/native/mapping/index.ts';
import { example, exampleNames, formatOf, MAPPINGS_DIR, storeRequest } from '../native/mapping-support.ts';
import { validEncounter, validPatient, validServiceRequest, validTask } from './validation-fixtures.ts';

/** What the write path did before: Medplum's validation, its errors as issues (base-validation.ts kept the same tail). */
function medplumBase(resource: Resource): OperationOutcomeIssue[] {
  let issues: OperationOutcomeIssue[];
  try {
    issues = validateResource(resource);
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) {
      const type = typeof resource?.resourceType === 'string' ? resource.resourceType : 'Resource';
      return [{ severity: 'error', code: 'invalid', expression: [type], diagnostics: `The resource could not be read as FHIR R4: ${(err as Error).message}` }];
    }
    issues = err.outcome.issue ?? [];
  }
  return issues
    .filter((i) => i.severity === 'error' || i.severity === 'fatal')
    .map((i) => (i.diagnostics ? i : { ...i, diagnostics: i.details?.text ?? 'Invalid resource' }));
}

/** Issues as comparable text: a processing issue carries the thrown Error, compared by its message. */
function text(issues: OperationOutcomeIssue[]): string {
  return JSON.stringify(issues, (_k, v: unknown) => (v instanceof Error ? `Error: ${v.message}` : v));
}

function jsonFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? jsonFiles(path) : name.endsWith('.json') ? [path] : [];
  });
}

/** Resources of one shape (type and the paths they fill) are met once: the mutations vary the values. */
function shape(value: unknown, path = ''): string[] {
  if (value === null || typeof value !== 'object') return [path];
  return Object.entries(value).flatMap(([k, v]) => shape(v, `${path}.${Array.isArray(value) ? '[]' : k}`));
}

function corpus(): Resource[] {
  const fixtures = jsonFiles(new URL('../fixtures', import.meta.url).pathname)
    .map((file) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>)
    .filter((json) => typeof json.resourceType === 'string') as unknown as Resource[];
  const mapper = loadNativeMapper(MAPPINGS_DIR);
  const mapped = exampleNames().flatMap((name) => {
    const view = storeRequest(mapper.toFhir(formatOf(name), example(name)), 'HAP');
    return [view.task, view.serviceRequest, view.patient, ...view.encounters, ...view.observations].filter((r) => r !== undefined) as Resource[];
  });
  const seen = new Set<string>();
  return [validTask(), validServiceRequest(), validPatient(), validEncounter(), ...fixtures, ...mapped].filter((r) => {
    const key = [...new Set(shape(r))].sort().join();
    return !seen.has(key) && seen.add(key);
  });
}

type Json = Record<string, unknown>;
const MAX_VARIANTS = 120;
const clone = <T>(v: T): T => structuredClone(v);
/**
 * A copy made of this realm's objects and arrays (undefined kept), as JSON.parse makes a request's: structuredClone
 * makes the outer realm's under jest, whose Object.prototype is another, and base-accept.ts answers only for plain
 * objects of its own realm (as the walk walks others whole).
 */
function copy<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item: unknown) => copy(item)) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [key, item] of Object.entries(value)) out[key] = copy(item);
  return out as T;
}

/** The values a property is replaced by: wrong JSON types, empty and malformed values, the wrong shape. */
function replacements(value: unknown): unknown[] {
  const out: unknown[] = [null, {}, [], '', '  ', 'not a date', 'a  b', 42, 1.5, -1, 0, true];
  if (Array.isArray(value)) out.push(value[0], [null], [undefined], [...value, ...value], value.map(() => ({})));
  else out.push([value]);
  if (typeof value === 'string') out.push('2023-02-29', '2023-02-28T25:00:00Z', `${value}\u0001`, 3e9, 'urn:uuid:XYZ');
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) out.push('text', { ...(value as Json), bogus: 1 });
  return out;
}

/** Every mutation of one resource, each on its own copy. */
function* mutations(resource: Resource): Generator<Resource> {
  function* at(node: Json | unknown[], make: (change: (target: Json | unknown[]) => void) => Resource): Generator<Resource> {
    const keys = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    for (const key of keys) {
      const value = (node as Json)[key as string];
      if (key === 'resourceType') continue;
      for (const replacement of replacements(value)) yield make((t) => ((t as Json)[key as string] = clone(replacement)));
      if (!Array.isArray(node)) {
        yield make((t) => Reflect.deleteProperty(t, key));
        // A primitive extension beside the value, alone, and for a choice element the same choice twice.
        yield make((t) => ((t as Json)[`_${String(key)}`] = { extension: [{ url: 'http://example.org/x', valueString: 'x' }] }));
        yield make((t) => ((t as Json)[`_${String(key)}`] = [null, { id: 'a' }]));
        if (/[A-Z]/.test(String(key))) yield make((t) => ((t as Json)[`${String(key).replace(/[A-Z].*/, '')}String`] = 'twice'));
      }
      if (value !== null && typeof value === 'object') {
        yield* at(value as Json, (change) => make((t) => change((t as Json)[key as string] as Json)));
      }
    }
    if (!Array.isArray(node)) {
      yield make((t) => ((t as Json).unknownProperty = 'x'));
      yield make((t) => ((t as Json)._unknownProperty = { id: 'x' }));
      yield make((t) => ((t as Json).extension = [{ url: 'http://example.org/e' }]));
      yield make((t) => ((t as Json).extension = [{ url: 'http://example.org/e', valueString: 'v', extension: [{ url: 'n', valueBoolean: true }] }]));
    }
  }
  yield* at(resource as unknown as Json, (change) => {
    const copy = clone(resource);
    change(copy as unknown as Json);
    return copy;
  });
}

/** Whole-resource cases every resource meets: contained resources (the dom-* constraints), R4 Task's inv-1, no type. */
function specials(resource: Resource): Resource[] {
  const additions: Json[] = [
    { contained: [{ resourceType: 'Patient', id: 'c1', meta: { versionId: '1' } }] },
    { contained: [{ resourceType: 'Basic', code: { text: 'x' }, meta: { security: [{ code: 'R' }] }, contained: [{ resourceType: 'Basic' }] }] },
    { contained: [{ resourceType: 'Nonsense' }] },
    { contained: [] },
    { _contained: [{ id: 'x' }] },
    { lastModified: '2000-01-01', authoredOn: '2001-01-01' },
    // inv-1 at the edges of its reading without an evaluation (base-checks.ts, modifiedSinceAuthored): equal, later by
    // its characters but not in time, a primitive extension beside either, an empty one, a value of another JSON type.
    { lastModified: '2001-01-01', authoredOn: '2001-01-01' },
    { lastModified: '2001-01-01T10:00:00+02:00', authoredOn: '2001-01-01T09:00:00Z' },
    { lastModified: '2002-01-01', authoredOn: '2001-01-01', _lastModified: { id: 'x' } },
    { lastModified: '2002-01-01', authoredOn: '2001-01-01', _authoredOn: { extension: [{ url: 'http://example.org/e', valueString: 'x' }] } },
    { lastModified: '', authoredOn: '2001-01-01' },
    { lastModified: '2002-01-01', authoredOn: 2001 },
    { lastModified: ['2002-01-01'], authoredOn: '2001-01-01' },
    // ext-1 of an Extension with nested extensions (base-checks.ts, extensionsWithoutValue): with a value beside them,
    // a primitive extension of either, an empty or null nested one, none.
    { extension: [{ url: 'http://example.org/e', extension: [{ url: 'a', valueString: 'x' }, { url: 'b', valueCoding: { code: 'c' } }] }] },
    { extension: [{ url: 'http://example.org/e', extension: [{ url: 'a', valueString: 'x' }], valueString: 'v' }] },
    { extension: [{ url: 'http://example.org/e', extension: [{ url: 'a', valueString: 'x' }], _valueString: { id: 'x' } }] },
    { extension: [{ url: 'http://example.org/e', extension: [{ url: 'a', valueString: 'x' }], _extension: [{ id: 'x' }] }] },
    { extension: [{ url: 'http://example.org/e', extension: [{ url: 'a', valueString: 'x' }, {}] }] },
    { extension: [{ url: 'http://example.org/e', extension: [{ url: 'a', valueString: 'x' }, null] }] },
    { extension: [{ url: 'http://example.org/e', extension: [] }] },
    { extension: [{ url: 'http://example.org/e', extension: { url: 'a', valueString: 'x' } }] },
    { extension: [{ url: 'http://example.org/e', extension: [{ url: 'a', valueString: 'x' }], resourceType: 'Basic' }] },
    // Extensions at the edges of ext-1 (a member step takes an object with that resourceType for the resource itself).
    { extension: [{ url: 'http://example.org/e', valueString: 'v', resourceType: 'extension' }] },
    { extension: [{ url: 'http://example.org/e', valueString: 'v', resourceType: 'value' }] },
    { extension: [{ url: 'http://example.org/e', valueString: ['a', 'b'] }] },
    { extension: [{ url: 'http://example.org/e', valueString: 'v', _valueString: { id: 'x' } }] },
    { extension: [{ url: 'http://example.org/e', valueString: 'v', valueBoolean: true }] },
    { extension: [{ url: 'http://example.org/e', valueCoding: {} }] },
    // Names that start as a choice element but name none of its types, an empty choice value, and a choice value
    // only as a primitive extension (base-checks.ts reads the getter's answer for those without Medplum's getter).
    { valueFoo: 'x' },
    { _valueFoo: { id: 'x' } },
    { occurrenceFoo: '2020-01-01' },
    { extension: [{ url: 'http://example.org/e', valueFoo: 'x' }] },
    { extension: [{ url: 'http://example.org/e', valueString: '' }] },
    { extension: [{ url: 'http://example.org/e', valueString: [] }] },
    { extension: [{ url: 'http://example.org/e', _valueString: { extension: [{ url: 'http://example.org/n', valueString: 'x' }] } }] },
    // The constraints that hold by their text without an element (base-checks.ts, HOLDS_WITHOUT), with it.
    { dataAbsentReason: { text: 'unknown' }, valueString: 'x' },
    { _dataAbsentReason: { id: 'x' } },
    { component: [{ code: { text: 'c' }, valueString: 'x' }], valueString: 'x' },
    { component: [] },
    { orderDetail: [{ text: 'x' }], code: undefined },
    { _orderDetail: [{ id: 'x' }] },
    // The same constraints with the element there, holding by their other side (base-checks.ts, HOLDS_ALSO) or not.
    { orderDetail: [{ text: 'x' }], code: { text: 'c' } },
    { orderDetail: [{ text: 'x' }], code: {} },
    { orderDetail: [{ text: 'x' }], code: { text: 'c' }, _code: { id: 'x' } },
    { orderDetail: [{ text: 'x' }], code: [{ text: 'c' }] },
    { component: [{ code: { text: 'c' }, valueString: 'x' }] },
    { component: [{ code: { text: 'c' }, valueString: 'x' }], _valueString: { id: 'x' } },
    { component: [{ code: { coding: [{ system: 's', code: 'c' }] }, valueString: 'x' }], valueBoolean: true },
    { contained: [{ resourceType: 'Location', id: 'l', meta: {} }] },
    { contained: [{ resourceType: 'Location', id: 'l', meta: { lastUpdated: '2020-01-01T00:00:00Z' } }] },
    { contained: [{ resourceType: 'Location', id: 'l', meta: { _versionId: { id: 'x' } } }] },
    { contained: [{ resourceType: 'Location', id: 'l', _meta: { id: 'x' } }] },
    { contained: [{ resourceType: 'Location', id: 'l', meta: 'x' }] },
    { contained: [{ resourceType: 'Location', id: 'l', meta: { security: [] } }] },
    { contained: { resourceType: 'Location', id: 'l' } },
    { contained: [{ resourceType: 'Location', id: 'l' }], _contained: [{ id: 'x' }] },
    { contained: [{ resourceType: 'Location', id: 'l', _contained: [{ id: 'x' }] }] },
    { contained: [{ resourceType: 'Location', id: 'l', name: '' }] },
    { contained: [{ resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Patient', contained: [] } }] }] },
    { resourceType: 'Nonsense' },
  ];
  return additions.map((addition) => ({ ...(clone(resource) as unknown as Json), ...addition }) as unknown as Resource);
}

beforeAll(() => {
  baseDefinitions();
});

test('the corpus is the fixtures, the mapped native examples and the validation fixtures', () => {
  const types = new Set(corpus().map((r) => r.resourceType));
  for (const type of ['Task', 'ServiceRequest', 'Patient', 'Encounter', 'Observation', 'Bundle', 'Subscription']) expect(types).toContain(type);
});

test('the same errors as Medplum on every resource of the corpus and every mutation of it', () => {
  let compared = 0;
  let refused = 0;
  let accepted = 0;
  const kinds = new Set<string>();
  for (const resource of corpus()) {
    // At most MAX_VARIANTS mutations of one resource, spread evenly over all of them (a Bundle has thousands).
    const all = [...mutations(resource)];
    const stride = Math.max(1, Math.ceil(all.length / MAX_VARIANTS));
    for (const variant of [resource, ...all.filter((_, i) => i % stride === 0), ...specials(resource)]) {
      // Each on its own copy: Medplum's getter merges a primitive extension sent for a complex element into the
      // element itself (Object.assign), so a validation can change what it was given, in both walks alike.
      const expected = text(medplumBase(clone(variant)));
      const actual = text(validateBase(clone(variant)));
      const actualHere = text(validateBase(copy(variant)));
      if (actualHere !== expected) throw new Error(`differs on ${JSON.stringify(variant)} (this realm's copy)\nMedplum: ${expected}\nours:    ${actualHere}`);
      if (actual !== expected) throw new Error(`differs on ${JSON.stringify(variant)}\nMedplum: ${expected}\nours:    ${actual}`);
      // The shortcut (base-accept.ts) accepts only what Medplum accepts.
      if (acceptsBase(copy(variant))) {
        if (expected !== '[]') throw new Error(`accepted by base-accept.ts, refused by Medplum: ${JSON.stringify(variant)}\n${expected}`);
        accepted++;
      }
      compared++;
      if (expected !== '[]') refused++;
      for (const i of validateBase(clone(variant))) kinds.add((i.details?.text ?? i.diagnostics ?? '').replace(/^(Constraint \S+|Invalid \S+).*/, '$1'));
    }
  }
  // The mutations must reach the checks: most refused, and enough of them to cover every kind of issue.
  expect(compared).toBeGreaterThan(5_000);
  expect(refused / compared).toBeGreaterThan(0.5);
  // And the shortcut answers for a good part of what Medplum accepts: the rest, most of it the walk's leniencies that
  // the mutations make (an optional value left empty, a choice element sent twice, an extension without its value),
  // it leaves to the walk.
  expect(accepted / (compared - refused)).toBeGreaterThan(0.25);
  for (const kind of ['Missing required property', 'Invalid additional', 'Invalid null', 'Invalid JSON', 'Invalid empty', 'Invalid dateTime', 'Invalid resource', 'Constraint dom-4', 'Constraint ext-1', 'Constraint inv-1', 'Expected single value for property', 'Expected array of values for property', 'String must contain non-whitespace content']) {
    expect([...kinds]).toContain(kind);
  }
});

test('made-up property names, more of them than the name test remembers per type, still get the same errors as Medplum', () => {
  // Names a client makes up: some begin with a choice element's name (value, effective), the rest with none.
  const prefixes = ['value', 'effective', 'other', '_value'];
  for (let round = 0; round < 3; round++) {
    const observation: Record<string, unknown> = { resourceType: 'Observation', status: 'final', code: { text: 'pain' } };
    for (let i = 0; i < 400; i++) observation[`${prefixes[i % prefixes.length]}Made${round}Up${i}`] = i % 2 === 0 ? 'x' : { y: 1 };
    const resource = observation as unknown as Resource;
    expect(text(validateBase(clone(resource)))).toBe(text(medplumBase(clone(resource))));
  }
});

test('the shortcut accepts the resources of every mapped native example but those whose constraints need an evaluation', () => {
  const mapper = loadNativeMapper(MAPPINGS_DIR);
  const resources = exampleNames().flatMap((name) => {
    const view = storeRequest(mapper.toFhir(formatOf(name), example(name)), 'HAP');
    return [view.task, view.serviceRequest, view.patient, ...view.encounters, ...view.observations].filter((r) => r !== undefined) as Resource[];
  });
  const left = resources.filter((r) => !acceptsBase(r));
  expect(resources.every((r) => validateBase(r).length === 0)).toBe(true);
  // A Glasgow coma score: components beside a value (obs-7 is evaluated by Medplum's engine).
  expect(left.map((r) => r.resourceType)).toEqual(left.map(() => 'Observation'));
  expect(left.length).toBeLessThan(resources.length / 10);
});

test("a Task's inv-1 without lastModified or authoredOn, whatever the other holds, gets the same errors as Medplum", () => {
  for (const lastModified of [undefined, '2002-01-01', 2002, ['2002-01-01'], '', { x: 1 }]) {
    for (const authoredOn of [undefined, '2001-01-01', 2001, ['2001-01-01'], '']) {
      if (lastModified !== undefined && authoredOn !== undefined) continue;
      const task: Record<string, unknown> = { ...(clone(validTask()) as unknown as Json) };
      delete task.lastModified;
      delete task.authoredOn;
      if (lastModified !== undefined) task.lastModified = lastModified;
      if (authoredOn !== undefined) task.authoredOn = authoredOn;
      const resource = task as unknown as Resource;
      expect(text(validateBase(clone(resource)))).toBe(text(medplumBase(clone(resource))));
    }
  }
});
