// Part of the R4 base validation (base-validation.ts): Medplum's `validateResource` (@medplum/core 5.2,
// typeschema/validation.ts and crawler.ts, Apache-2.0), walked by the gateway so that it visits only what a resource holds.
//
// What a present value is checked against, as Medplum checks it, and the constraints that hold by their text.

import {
  LRUCache,
  PropertyType,
  arrayify,
  createStructureIssue,
  deepEquals,
  deepIncludes,
  getDataType,
  getNestedProperty,
  getTypedPropertyValue,
  isPrimitiveType,
  isResourceType,
  isValidCalendarDate,
  matchDiscriminant,
  validationRegexes,
} from '@medplum/core';
import type { FhirPathAtom, InternalSchemaElement, InternalTypeSchema, SlicingRules, TypedValue } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { ABSENT, plan, readerFor, settle } from './base-properties.ts';
import type { Reader } from './base-properties.ts';
import { isObject } from './json.ts';

/** Medplum's list of constraints it does not evaluate (`skippedConstraintKeys`). */
const SKIPPED_CONSTRAINTS = new Set(['ele-1', 'dom-3', 'org-1', 'sdf-19']);
const FHIR_INTEGER_MIN = -2_147_483_648;
const FHIR_INTEGER_MAX = 2_147_483_647;
/**
 * R4 constraints of the form `<name>.… or …` / `… .empty()` that hold whenever the value has no `<name>` (nor
 * `_<name>`): Medplum's engine then reads `<name>` as empty (its getter finds neither name), each path on it as empty,
 * `empty()` as true, and `or`/`and` of that with the other side (a boolean or empty, never an error there) as true.
 * So they are not evaluated; matched by their exact text, so other definitions are evaluated. Each evaluation by
 * Medplum's engine costs tens of microseconds; a handover meets these eleven times in its eight resources.
 * - dom-2, dom-4, dom-5 on every DomainResource: they read nothing but its `contained` resources (three of the five
 *   constraints a handover's resources meet).
 * - obs-6 and obs-7 on every Observation: without `dataAbsentReason`, and without `component`.
 * - prr-1 on a ServiceRequest: without `orderDetail`.
 */
const HOLDS_WITHOUT = new Map<string, string>([
  ['contained.contained.empty()', 'contained'],
  ['contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()', 'contained'],
  ['contained.meta.security.empty()', 'contained'],
  ['dataAbsentReason.empty() or value.empty()', 'dataAbsentReason'],
  ['value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()', 'component'],
  ['orderDetail.empty() or code.exists()', 'orderDetail'],
]);

/**
 * dom-2, dom-4 and dom-5 with contained resources (a Twiin Encounter contains its Location): what each reads of every
 * contained resource, which must hold none of it for the constraint to hold without an evaluation. Medplum's engine
 * reads `contained` as its resources (an array of them, none a `_contained`), and `<name>` of each as the key, which
 * none holds (nor its `_`); a resource of a type its schema has no such element for reads no such key either.
 */
const CONTAINED_HOLDS = new Map<string, { readonly keys: readonly string[]; readonly metaKeys: readonly string[] }>([
  ['contained.contained.empty()', { keys: ['contained', '_contained'], metaKeys: [] }],
  ['contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()', { keys: ['_meta'], metaKeys: ['versionId', '_versionId', 'lastUpdated', '_lastUpdated'] }],
  ['contained.meta.security.empty()', { keys: ['_meta'], metaKeys: ['security', '_security'] }],
]);

/**
 * Constraints of HOLDS_WITHOUT that hold by their text with the element there too: the other side of their `or`.
 * - prr-1 with a ServiceRequest's `code` (a non-empty object, no `_code`): `code.exists()` is true.
 * - obs-7 on an Observation without a value (a blood pressure: its components, no value[x] nor its `_`, whose names
 *   all begin with `value`): `value.empty()` is true.
 */
const HOLDS_ALSO = new Map<string, (holder: unknown) => boolean>([
  ...[...CONTAINED_HOLDS].map(([expression, what]) => [expression, (holder: unknown) => containedHold(holder, what)] as const),
  ['orderDetail.empty() or code.exists()', (holder) => isObject(holder) && !('_code' in holder) && isObject(holder.code) && !isEmpty(holder.code)],
  [
    'value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()',
    (holder) => isObject(holder) && !Object.keys(holder).some((key) => key.startsWith('value') || key.startsWith('_value')),
  ],
]);

function containedHold(holder: unknown, what: { readonly keys: readonly string[]; readonly metaKeys: readonly string[] }): boolean {
  if (!isObject(holder)) return false;
  const contained = holder.contained;
  if (!Array.isArray(contained) || '_contained' in holder) return false;
  for (const inner of contained) {
    if (!isObject(inner)) return false;
    // A valid type's name is never the name of an element, which a member step would take the resource itself for.
    if (typeof inner.resourceType !== 'string' || !isResourceType(inner.resourceType)) return false;
    for (const key of what.keys) if (key in inner) return false;
    if (what.metaKeys.length === 0 || !('meta' in inner)) continue;
    const meta = inner.meta;
    if (!isObject(meta)) return false;
    for (const key of what.metaKeys) if (key in meta) return false;
  }
  return true;
}

/** `shadow` is `_<name>`, made once with the constraint's other facts (errorChecks), not for every value. */
function without(value: unknown, name: string, shadow: string): boolean {
  // A resource of type `<name>` would be itself to Medplum's member step `<name>` (never a valid type anyway).
  if (!value || typeof value !== 'object' || (value as { resourceType?: unknown }).resourceType === name) return false;
  return !(name in value) && !(shadow in value);
}

type Constraint = NonNullable<InternalSchemaElement['constraints']>[number];

/** A constraint Medplum evaluates (an error, not skipped), with what lets it hold without an evaluation. */
export interface ErrorCheck {
  readonly constraint: Constraint;
  /** True where the constraint holds for the value by what it says, without Medplum's engine (false: evaluate). */
  readonly holds: ((value: TypedValue) => boolean) | undefined;
}

const NO_CHECKS: readonly ErrorCheck[] = [];
const errorChecksOf = new WeakMap<readonly Constraint[], readonly ErrorCheck[]>();

/** The test of a constraint's text that shows it holds without an evaluation, if it has one. */
function holdsTest(expression: string): ((value: TypedValue) => boolean) | undefined {
  const absent = HOLDS_WITHOUT.get(expression);
  if (absent !== undefined) {
    const shadow = `_${absent}`;
    const also = HOLDS_ALSO.get(expression);
    return also ? (value) => without(value.value, absent, shadow) || also(value.value) : (value) => without(value.value, absent, shadow);
  }
  if (expression === EXT_1) return (value) => value.type === 'Extension' && (valueWithoutExtensions(value.value) || extensionsWithoutValue(value.value));
  if (expression === TASK_INV_1) return (value) => value.type === 'Task' && modifiedSinceAuthored(value.value);
  return undefined;
}

/**
 * The constraints of a schema element the walk evaluates, worked out once per list of constraints (Medplum makes it
 * once per schema): every element of every type carries ele-1, which Medplum skips, and most carry nothing else, so
 * most present values have none to look at. Same constraints, in the same order, as a test of each at each value.
 */
export function errorChecks(constraints: readonly Constraint[] | undefined): readonly ErrorCheck[] {
  if (!constraints) return NO_CHECKS;
  let checks = errorChecksOf.get(constraints);
  if (!checks) {
    const kept = constraints.filter((c) => c.severity === 'error' && !SKIPPED_CONSTRAINTS.has(c.key));
    checks = kept.length ? kept.map((constraint) => ({ constraint, holds: holdsTest(constraint.expression) })) : NO_CHECKS;
    errorChecksOf.set(constraints, checks);
  }
  return checks;
}

/**
 * R4's ext-1 on every Extension. On an Extension with no nested `extension` (nor `_extension`) and one non-empty
 * `value[x]` the getter reads without a primitive extension, Medplum's engine reads `extension.exists()` as false,
 * `value.exists()` as true and `false != true` as true: it holds, and is not evaluated (15 of a handover's 52).
 * Anything else (a value in an array, an empty one, a `_value`, a `resourceType`, which the member step would take
 * for a resource) is evaluated.
 */
const EXT_1 = 'extension.exists() != value.exists()';

/** value[x]'s reader of an Extension (what Medplum's getter tries for it), looked up once per schema. */
let extensionValue: { schema: InternalTypeSchema; read: Reader | undefined } | undefined;
function extensionValueReader(): Reader | undefined {
  const schema = getDataType('Extension');
  if (extensionValue?.schema !== schema) extensionValue = { schema, read: plan(schema, 'Extension').find((p) => p.key === 'value[x]')?.read };
  return extensionValue.read;
}

function valueWithoutExtensions(holder: unknown): boolean {
  if (!holder || typeof holder !== 'object' || Array.isArray(holder) || 'resourceType' in holder) return false;
  const extension = holder as Record<string, unknown>;
  if (extension.extension !== undefined || extension._extension !== undefined) return false;
  const read = extensionValueReader();
  const i = read ? settle(extension, read) : ABSENT;
  if (!read || i < 0) return false;
  const value = extension[read.names[i]];
  return !Array.isArray(value) && !isEmpty(value);
}

/**
 * ext-1 on a complex Extension (the caller of an NTS handover: nested extensions, no value): with a non-empty array of
 * nested extensions, each non-empty, and no `_extension`, Medplum's engine reads `extension.exists()` as true (its
 * exists() asks that every item be non-empty); with no name of value[x] (nor its `_`) holding anything, its getter
 * finds no value and `value.exists()` is false; `true != false` holds. Anything else is evaluated.
 */
function extensionsWithoutValue(holder: unknown): boolean {
  if (!holder || typeof holder !== 'object' || Array.isArray(holder) || 'resourceType' in holder) return false;
  const extension = holder as Record<string, unknown>;
  const nested = extension.extension;
  if (!Array.isArray(nested) || nested.length === 0 || extension._extension !== undefined) return false;
  for (let i = 0; i < nested.length; i++) if (isEmpty(nested[i])) return false;
  const read = extensionValueReader();
  return read !== undefined && settle(extension, read) === ABSENT;
}

/**
 * R4's inv-1 on every Task. With `lastModified` and `authoredOn` both non-empty strings without a `_` beside them,
 * Medplum's getter reads each as that string, both `exists().not()` are false, and its `>=` compares the two values
 * as JavaScript does (strings: by their characters), so the constraint holds exactly when lastModified >= authoredOn.
 * Without either (nor a `_` beside it: as HOLDS_WITHOUT), its getter finds nothing, that `exists().not()` is true and
 * so is the `or` (a Task created is authored, not yet modified: most Tasks are written without lastModified).
 * Only that answer is taken from here: where it is false, or anything differs, Medplum's engine evaluates it.
 */
const TASK_INV_1 = 'lastModified.exists().not() or authoredOn.exists().not() or lastModified >= authoredOn';

function modifiedSinceAuthored(holder: unknown): boolean {
  if (!holder || typeof holder !== 'object' || Array.isArray(holder)) return false;
  const task = holder as Record<string, unknown>;
  if (without(task, 'lastModified', '_lastModified') || without(task, 'authoredOn', '_authoredOn')) return true;
  const lastModified = task.lastModified;
  const authoredOn = task.authoredOn;
  if (typeof lastModified !== 'string' || typeof authoredOn !== 'string' || lastModified === '' || authoredOn === '') return false;
  if (task._lastModified !== undefined || task._authoredOn !== undefined) return false;
  return lastModified >= authoredOn;
}

/**
 * Medplum's `isEmpty` (null, undefined, '', an empty array or an object without own enumerable keys), without the
 * array of keys it makes for every object it is asked about: the walk asks it of every present value.
 */
export function isEmpty(value: unknown): boolean {
  if (value === null || value === undefined) return true;
  if (typeof value === 'string') return value === '';
  if (typeof value !== 'object') return false;
  const object = value as Record<string, unknown>;
  // Either test refuses: an array's length first (for-in would list its indices), an object's own keys first (a
  // `length` of a plain object is one of its keys, and the lookup of an absent one walks up to Object.prototype).
  if (Array.isArray(object)) {
    if (object.length > 0) return false;
    for (const key in object) if (Object.hasOwn(object, key)) return false;
    return true;
  }
  for (const key in object) if (Object.hasOwn(object, key)) return false;
  return !('length' in object && (object.length as number) > 0);
}

/**
 * Medplum's `isPrimitiveType` (a name test against an object of twenty types, which missed for every complex value
 * walked), remembered per type name. Bounded like the choice names: a contained resource's type is the client's.
 */
const primitiveTypes = new Map<string, boolean>();
export function isPrimitive(type: string): boolean {
  let primitive = primitiveTypes.get(type);
  if (primitive === undefined) {
    primitive = isPrimitiveType(type);
    if (primitiveTypes.size < 1024) primitiveTypes.set(type, primitive);
  }
  return primitive;
}

const BASE64_BINARY_MAX_BYTES = 1024 * 1024;
export const fhirPathCache = new LRUCache<FhirPathAtom>(1_000);


/** Per schema's elements, per unknown JSON name: the choice element Medplum's name test settles on (null: none). */
const choiceNames = new WeakMap<Record<string, InternalSchemaElement>, Map<string, string | null>>();
/**
 * The names a schema's map keeps. They come from what clients send (every additional property is tested), so an
 * unbounded map grew with each made-up name for as long as the process ran; a resource's real choice names are a few
 * dozen. Past this the test is made each time (a split on capitals), and nothing more is kept.
 */
const CHOICE_NAMES_PER_SCHEMA = 512;

/** Medplum's name test: the shortest prefix of `name` ending before a capital (or all of it) that names a choice element. */
function choiceElementOf(name: string, properties: Record<string, InternalSchemaElement>): string | null {
  let byName = choiceNames.get(properties);
  if (!byName) choiceNames.set(properties, (byName = new Map()));
  let found = byName.get(name);
  if (found === undefined) {
    found = null;
    let testProperty = '';
    for (const part of name.split(/(?=[A-Z])/g)) {
      testProperty += part;
      if (properties[testProperty + '[x]']) {
        found = testProperty;
        break;
      }
    }
    if (byName.size < CHOICE_NAMES_PER_SCHEMA) byName.set(name, found);
  }
  return found;
}

/**
 * Medplum's `isChoiceOfType`: whether the key is the JSON name of a choice element the getter finds a value for.
 * The name test is made once per schema and name, and the getter's answer read as base-properties.ts reads it
 * (Medplum's getter tries the element's name with each of its types, 50 for an Extension's value[x], building two
 * keys per type, for every choice value of every resource); a primitive extension beside it still goes to Medplum's.
 */
export function isChoiceOfType(typedValue: TypedValue, key: string, properties: Record<string, InternalSchemaElement>): boolean {
  const choice = choiceElementOf(key.startsWith('_') ? key.slice(1) : key, properties);
  if (choice === null) return false;
  const holder = typedValue.value as Record<string, unknown> | undefined;
  const read = holder ? readerFor(typedValue.type, choice) : undefined;
  if (holder && read) {
    const i = settle(holder, read);
    if (i === ABSENT) return false;
    if (i >= 0) return !isEmpty(holder[read.names[i]]);
  }
  return getTypedPropertyValue(typedValue, choice) !== undefined;
}

/** Medplum's null check, with each path built only for an issue. */
export function checkObjectForNull(obj: Record<string, unknown>, path: string, issues: OperationOutcomeIssue[]): void {
  nullsIn(obj, [path], issues);
}

/**
 * The walk of checkObjectForNull, its path kept as the keys and indices themselves and written only for an issue: a
 * valid resource has none, and a string for every object and array item walked was most of what this check allocated.
 * Own keys through for-in: Object.keys' keys in its order, without its array.
 */
function nullsIn(obj: Record<string, unknown>, steps: (string | number)[], issues: OperationOutcomeIssue[]): void {
  for (const key in obj) {
    if (!Object.hasOwn(obj, key)) continue;
    const value = obj[key];
    if (value === null) {
      issues.push(createStructureIssue(`${pathOf(steps)}.${key}`, 'Invalid null value'));
    } else if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        if (item === undefined) {
          issues.push(createStructureIssue(`${pathOf(steps)}.${key}[${i}]`, 'Invalid undefined value'));
        } else if (item === null && !(obj[key.startsWith('_') ? key.slice(1) : `_${key}`] as unknown[] | undefined)?.[i]) {
          // The one place JSON allows null: an array of primitives with extensions on some of its values.
          issues.push(createStructureIssue(`${pathOf(steps)}.${key}[${i}]`, 'Invalid null value'));
        } else if (item && typeof item === 'object') {
          // Medplum also walks the characters of a string here, which can hold no null.
          steps.push(key, i);
          nullsIn(item as Record<string, unknown>, steps, issues);
          steps.length -= 2;
        }
      }
    } else if (typeof value === 'object') {
      steps.push(key);
      nullsIn(value as Record<string, unknown>, steps, issues);
      steps.pop();
    }
  }
}

/** `Task.input[0].valueReference` from its steps: the first as it is, then `.key` or `[index]`. */
function pathOf(steps: readonly (string | number)[]): string {
  let out = String(steps[0]);
  for (let i = 1; i < steps.length; i++) {
    const step = steps[i];
    out += typeof step === 'number' ? `[${step}]` : `.${step}`;
  }
  return out;
}

export function matchesSpecifiedValue(value: TypedValue | TypedValue[], element: InternalSchemaElement): boolean {
  // Most elements have neither: no copy of the values to compare then.
  if (!element.pattern && !element.fixed) return true;
  const typeAndValue = Array.isArray(value) ? value.map((v) => ({ type: v.type, value: v.value })) : { type: value.type, value: value.value };
  if (element.pattern && !deepIncludes(typeAndValue, element.pattern)) return false;
  if (element.fixed && !deepEquals(typeAndValue, element.fixed)) return false;
  return true;
}

export function checkSliceElement(value: TypedValue, slicing: SlicingRules | undefined): string | undefined {
  if (!slicing) return undefined;
  for (const slice of slicing.slices) {
    if (slicing?.discriminator?.every((d) => arrayify(getNestedProperty(value, d.path))?.some((v) => matchDiscriminant(v, d, slice)))) return slice.name;
  }
  return undefined;
}

/** Whether `key` is an array index (`0`, `17`: no sign, no leading zero) below `count`, as a string's own keys are. */
export function isIndexBelow(key: string, count: number): boolean {
  if (key.length === 0 || key.length > 15 || (key.length > 1 && key.charCodeAt(0) === 48)) return false;
  let n = 0;
  for (let i = 0; i < key.length; i++) {
    const digit = key.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return false;
    n = n * 10 + digit;
  }
  return n < count;
}

export function unpackPrimitiveElement(v: TypedValue): [TypedValue | undefined, TypedValue | undefined] {
  if (typeof v.value !== 'object' || !v.value) return [v, undefined];
  const primitiveValue = (v.value as object).valueOf();
  if (primitiveValue === v.value) return [undefined, { type: 'Element', value: v.value }];
  // The keys of the primitive (`Object.keys`: a string's are its indices, a number's or boolean's none) are left out,
  // found by their form instead of a Set of every index, and only the other keys are paired with their values (not
  // `Object.entries` of every character): the same entries in the same order.
  const indices = typeof primitiveValue === 'string' ? primitiveValue.length : 0;
  const holder = v.value as Record<string, unknown>;
  const extensionEntries: [string, unknown][] = [];
  for (const key of Object.keys(holder)) if (!isIndexBelow(key, indices)) extensionEntries.push([key, holder[key]]);
  const extensionElement = extensionEntries.length > 0 ? Object.fromEntries(extensionEntries) : undefined;
  return [
    { type: v.type, value: primitiveValue },
    { type: 'Element', value: extensionElement },
  ];
}

/**
 * What is wrong with a primitive value of its FHIR type's JSON type (`expectedType`, from fhirTypeToJsType), in the
 * words of Medplum's issue; undefined where nothing is. At most one problem, as Medplum reports at most one.
 */
export function primitiveValueProblem(type: string, expectedType: string, value: string | number | boolean): string | undefined {
  if (type === 'base64Binary') return base64BinaryProblem(value as string);
  if (expectedType === 'string') return stringProblem(value as string, type);
  if (expectedType === 'number') return numberProblem(value as number, type);
  return undefined;
}

function base64BinaryProblem(str: string): string | undefined {
  if (!isValidBase64Binary(str)) return 'Invalid base64Binary format';
  const padding = str.endsWith('==') ? 2 : str.endsWith('=') ? 1 : 0;
  const approxBytes = Math.max(0, Math.floor((str.length * 3) / 4) - padding);
  return approxBytes > BASE64_BINARY_MAX_BYTES ? `base64Binary exceeds ${BASE64_BINARY_MAX_BYTES} bytes` : undefined;
}

function stringProblem(str: string, type: string): string | undefined {
  if (!str.trim()) return 'String must contain non-whitespace content';
  if (str.length > 1024 * 1024) return 'String cannot be larger than 1 MB';
  const regex = validationRegexes[type];
  // test, not exec: the same match (none of these patterns is global or sticky) without a match array per value.
  if (regex && !regex.test(str)) return 'Invalid ' + type + ' format';
  if ((type === 'date' || type === 'dateTime' || type === 'instant') && !isValidCalendarDate(str)) return 'Invalid ' + type + ' value';
  return undefined;
}

function numberProblem(n: number, type: string): string | undefined {
  const integer = type === PropertyType.integer || type === PropertyType.positiveInt || type === PropertyType.unsignedInt;
  if (Number.isNaN(n) || !Number.isFinite(n)) return 'Invalid numeric value';
  if (integer && !Number.isInteger(n)) return 'Expected number to be an integer';
  if (type === PropertyType.integer && (n < FHIR_INTEGER_MIN || n > FHIR_INTEGER_MAX)) return `Expected number to be in the range ${FHIR_INTEGER_MIN}..${FHIR_INTEGER_MAX}`;
  if (type === PropertyType.positiveInt && (n < 1 || n > FHIR_INTEGER_MAX)) return `Expected number to be in the range 1..${FHIR_INTEGER_MAX}`;
  if (type === PropertyType.unsignedInt && (n < 0 || n > FHIR_INTEGER_MAX)) return `Expected number to be in the range 0..${FHIR_INTEGER_MAX}`;
  return undefined;
}

function isValidBase64Binary(str: string): boolean {
  if (str.length === 0) return false;
  const padding = str.endsWith('==') ? 2 : str.endsWith('=') ? 1 : 0;
  const dataLen = str.length - padding;
  if (dataLen < 0 || (padding + dataLen) % 4 !== 0) return false;
  return /^[A-Za-z\d+/]+$/.test(padding > 0 ? str.slice(0, -padding) : str);
}
