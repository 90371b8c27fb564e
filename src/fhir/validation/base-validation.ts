import {
  LRUCache,
  OperationOutcomeError,
  PropertyType,
  UCUM,
  arrayify,
  capitalize,
  createConstraintIssue,
  createProcessingIssue,
  createStructureIssue,
  deepEquals,
  deepIncludes,
  evalFhirPathTyped,
  fhirTypeToJsType,
  getDataType,
  getElementDefinition,
  getNestedProperty,
  getTypedPropertyValue,
  isEmpty,
  isPrimitiveType,
  isResource,
  isResourceType,
  isValidCalendarDate,
  matchDiscriminant,
  toTypedValue,
  tryGetDataType,
  validationError,
  validationRegexes,
} from '@medplum/core';
import type { FhirPathAtom, InternalSchemaElement, InternalTypeSchema, SliceDefinition, SlicingRules, TypedValue, TypedValueWithPath } from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { baseDefinitions } from './definitions.ts';
import { issue } from './issues.ts';

/**
 * R4 base validation: Medplum's `validateResource` (@medplum/core 5.2, typeschema/validation.ts and crawler.ts,
 * Apache-2.0), walked here instead of by Medplum so that it visits only what a resource holds. Medplum's crawler
 * visits every element of every type's schema (some 50 for a Task, 7 for each Identifier) and builds a path and
 * a typed value for each, present or not: three quarters of what a handover's resources contain is absent, and
 * that walk was most of the gateway's validation time. An absent element has one consequence there, a missing
 * required property, which is reported here the same way; everything a present value meets (cardinality, JSON
 * types, formats, patterns, the R4 constraints evaluated by Medplum's own FHIRPath engine, slices, unknown
 * properties, nulls) is Medplum's code as it is, called with the same values. The same errors, in the same order
 * and words, refuse the same resources: `test/fhir/validation-base.test.ts` compares both on the fixtures and
 * on mutations of them. Medplum's warnings (reference targets, a choice element sent twice) are not computed:
 * only errors ever refused or were reported.
 */

/** Medplum's list of constraints it does not evaluate (`skippedConstraintKeys`). */
const SKIPPED_CONSTRAINTS = new Set(['ele-1', 'dom-3', 'org-1', 'sdf-19']);
const FHIR_INTEGER_MIN = -2_147_483_648;
const FHIR_INTEGER_MAX = 2_147_483_647;
/**
 * R4's constraints on every DomainResource that read nothing but its `contained` resources (dom-2, dom-4, dom-5).
 * Without `contained` (and `_contained`), Medplum's engine reads `contained` as empty (its getter finds neither name),
 * each path on it as empty, `empty()` as true and `true and true` as true: they hold, and are not evaluated. Three of
 * the five constraints a handover's resources meet; matched by their exact text, so other definitions are evaluated.
 */
const ABOUT_CONTAINED = new Set([
  'contained.contained.empty()',
  'contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()',
  'contained.meta.security.empty()',
]);

function withoutContained(value: unknown): boolean {
  // A resource of type `contained` would be `contained` itself to Medplum's member step (never a valid type anyway).
  if (!value || typeof value !== 'object' || (value as { resourceType?: unknown }).resourceType === 'contained') return false;
  return !('contained' in value) && !('_contained' in value);
}

/**
 * R4's ext-1 on every Extension. On an Extension with no nested `extension` (nor `_extension`) and one non-empty
 * `value[x]` the getter reads without a primitive extension, Medplum's engine reads `extension.exists()` as false,
 * `value.exists()` as true and `false != true` as true: it holds, and is not evaluated (15 of a handover's 52).
 * Anything else (a value in an array, an empty one, a `_value`, a `resourceType`, which the member step would take
 * for a resource) is evaluated.
 */
const EXT_1 = 'extension.exists() != value.exists()';

function valueWithoutExtensions(holder: unknown): boolean {
  if (!holder || typeof holder !== 'object' || Array.isArray(holder) || 'resourceType' in holder) return false;
  const extension = holder as Record<string, unknown>;
  if (extension.extension !== undefined || extension._extension !== undefined) return false;
  const read = plan(getDataType('Extension'), 'Extension').find((p) => p.key === 'value[x]')?.read;
  const i = read ? settle(extension, read) : ABSENT;
  if (!read || i < 0) return false;
  const value = extension[read.names[i]];
  return !Array.isArray(value) && !isEmpty(value);
}

const BASE64_BINARY_MAX_BYTES = 1024 * 1024;
const fhirPathCache = new LRUCache<FhirPathAtom>(1_000);

/**
 * Per schema element, what Medplum's property getter (`getTypedPropertyValueWithSchema`) reads: the JSON names it
 * tries, in its order (one for a plain element, one per type for a choice element `value[x]`), and the type each
 * gives. Undefined where the getter would not use a schema (it then guesses by name): Medplum's getter is called.
 */
interface Property {
  readonly key: string;
  readonly element: InternalSchemaElement;
  readonly read: Reader | undefined;
}

interface Reader {
  readonly names: readonly string[];
  /** `_name` beside each name, made once: a key built per lookup costs more than the lookup. */
  readonly shadows: readonly string[];
  readonly types: readonly string[];
  /** The getter's `Element`/`BackboneElement` replacement: its element's first type. */
  readonly firstType: string;
  /** For a choice element (`value[x]` of an Extension has 50 names): the index of each name, plain and `_`. */
  readonly byName: ReadonlyMap<string, number> | undefined;
}

const plans = new WeakMap<InternalTypeSchema, Map<string, readonly Property[]>>();

function plan(schema: InternalTypeSchema, valueType: string): readonly Property[] {
  let byType = plans.get(schema);
  if (!byType) plans.set(schema, (byType = new Map()));
  let properties = byType.get(valueType);
  if (!properties) {
    properties = Object.keys(schema.elements).map((key) => ({ key, element: schema.elements[key], read: readerOf(valueType, key) }));
    byType.set(valueType, properties);
  }
  return properties;
}

function readerOf(valueType: string, key: string): Reader | undefined {
  // The getter resolves the element through the global schema of the value's type; without one it guesses by name.
  if (!tryGetDataType(valueType) || key.includes('.')) return undefined;
  const element = getElementDefinition(valueType, key);
  if (!element?.type?.length) return undefined;
  const last = element.path.substring(element.path.lastIndexOf('.') + 1);
  const choice = last.endsWith('[x]');
  const trimmed = choice ? last.substring(0, last.length - 3) : last;
  const types = element.type.map((t) => t.code);
  const names = types.map((code) => (choice ? trimmed + capitalize(code) : trimmed));
  const byName = choice ? new Map(names.flatMap((name, i) => [[name, i] as const, [`_${name}`, i] as const])) : undefined;
  return { names, shadows: names.map((name) => `_${name}`), types, firstType: types[0], byName };
}

/** Medplum's `withPath` over the getter's answer. */
function withPath(value: unknown, type: string, path: string): TypedValueWithPath | TypedValueWithPath[] {
  const typed = (v: unknown): string => (type === 'Resource' && isResource(v) ? v.resourceType : type);
  if (Array.isArray(value)) return value.map((v: unknown, i) => ({ type: typed(v), value: v, path: `${path}[${i}]` }));
  return { type: typed(value), value, path };
}

const ABSENT = -1;
const DELEGATE = -2;

/**
 * Which of the getter's names it settles on for this holder: the first, in its order, with a value or a `_` beside it.
 * ABSENT where it finds none; DELEGATE where that name has a primitive extension, which Medplum's getter merges.
 */
function settle(holder: Record<string, unknown>, read: Reader): number {
  if (read.byName && Object.getPrototypeOf(holder) === Object.prototype) {
    // A plain object's keys (for-in also sees an inherited enumerable one, as a lookup would) instead of 50 lookups.
    let first = ABSENT;
    for (const key in holder) {
      const i = read.byName.get(key);
      if (i !== undefined && (first === ABSENT || i < first) && holder[key] !== undefined) first = i;
    }
    return first !== ABSENT && holder[read.shadows[first]] !== undefined ? DELEGATE : first;
  }
  for (let i = 0; i < read.names.length; i++) {
    if (holder[read.shadows[i]] !== undefined) return DELEGATE;
    if (holder[read.names[i]] !== undefined) return i;
  }
  return ABSENT;
}

class BaseValidator {
  readonly issues: OperationOutcomeIssue[] = [];
  private readonly root: TypedValue;
  private readonly resourceStack: Resource[] = [];
  private readonly schema: InternalTypeSchema;

  constructor(root: TypedValue) {
    this.root = root;
    if (isResource(root.value)) this.resourceStack.push(root.value);
    this.schema = getDataType(root.type);
  }

  validate(): OperationOutcomeIssue[] {
    checkObjectForNull(this.root.value as Record<string, unknown>, this.schema.path, this.issues);
    this.constraintsCheck({ ...this.root, path: this.schema.path }, this.schema);
    this.crawlObject({ ...this.root, path: this.schema.path }, this.schema, this.schema.path);
    return this.issues;
  }

  private crawlObject(obj: TypedValueWithPath, schema: InternalTypeSchema, path: string): void {
    const objIsResource = isResource(obj.value);
    if (objIsResource) this.resourceStack.push(obj.value);
    const holder = obj.value as Record<string, unknown> | undefined;
    for (const property of plan(schema, obj.type)) {
      const read = property.read;
      // `getTypedPropertyValueWithPath(obj, key)` read directly where no primitive extension is involved.
      let direct: TypedValueWithPath | TypedValueWithPath[] | undefined;
      if (read) {
        const i = holder ? settle(holder, read) : ABSENT;
        const value = i >= 0 ? holder?.[read.names[i]] : undefined;
        if (i === ABSENT || (i >= 0 && isEmpty(value))) {
          // What Medplum's visitor does with an absent element (checkPresence), and its crawler then nothing.
          if (property.element.min > 0) this.issues.push(createStructureIssue(`${obj.path}.${property.key}`, 'Missing required property'));
          continue;
        }
        if (i >= 0) {
          const type = read.types[i] === 'Element' || read.types[i] === 'BackboneElement' ? read.firstType : read.types[i];
          direct = withPath(value, type, `${obj.path}.${property.key}`);
        }
      }
      this.crawlProperty(obj, property.key, schema, `${path}.${property.key}`, direct);
    }
    this.checkAdditionalProperties(obj, schema.elements, obj.path);
    if (objIsResource) this.resourceStack.pop();
  }

  private crawlProperty(parent: TypedValueWithPath, key: string, schema: InternalTypeSchema, path: string, direct: TypedValueWithPath | TypedValueWithPath[] | undefined): void {
    const propertyValues = direct ? [direct] : getNestedProperty(parent, key, { withPath: true });
    this.visitProperty(key, path, propertyValues, schema);
    for (const propertyValue of propertyValues) {
      for (const value of arrayify(propertyValue) as TypedValueWithPath[]) {
        if (!isPrimitiveType(value.type)) {
          const type = schema.innerTypes?.find((t) => t.name === value.type) ?? getDataType(value.type);
          this.crawlObject(value, type, path);
        }
      }
    }
  }

  private visitProperty(key: string, path: string, propertyValues: (TypedValueWithPath | TypedValueWithPath[])[], schema: InternalTypeSchema): void {
    const element = schema.elements[key];
    if (!element) throw new Error(`Missing element validation schema for ${key}`);
    for (const value of propertyValues) {
      if (!this.checkPresence(value, element, path)) return;
      let values: TypedValueWithPath[];
      if (element.isArray) {
        if (!Array.isArray(value)) {
          this.issues.push(createStructureIssue(path, 'Expected array of values for property'));
          return;
        }
        values = value;
      } else {
        if (Array.isArray(value)) {
          this.issues.push(createStructureIssue(path, 'Expected single value for property'));
          return;
        }
        values = [value];
      }
      if (values.length < element.min || values.length > element.max) {
        this.issues.push(
          createStructureIssue(
            element.path,
            `Invalid number of values: expected ${element.min}..${Number.isFinite(element.max) ? element.max : '*'}, but found ${values.length}`,
          ),
        );
      }
      if (!matchesSpecifiedValue(value, element)) this.issues.push(createStructureIssue(path, 'Value did not match expected pattern'));
      const sliceCounts: Record<string, number> | undefined = element.slicing
        ? Object.fromEntries(element.slicing.slices.map((s) => [s.name, 0]))
        : undefined;
      for (const v of values) {
        this.constraintsCheck(v, element);
        this.checkPropertyValue(v);
        const sliceName = checkSliceElement(v, element.slicing);
        if (sliceName && sliceCounts) sliceCounts[sliceName] += 1;
      }
      this.validateSlices(element.slicing?.slices, sliceCounts, path);
    }
  }

  private checkPresence(value: TypedValueWithPath | TypedValueWithPath[], field: InternalSchemaElement, path: string): boolean {
    if (!Array.isArray(value) && value.value === undefined) {
      if (field.min > 0) this.issues.push(createStructureIssue(value.path, 'Missing required property'));
      return false;
    }
    if (isEmpty(value)) {
      this.issues.push(createStructureIssue(path, 'Invalid empty value'));
      return false;
    }
    return true;
  }

  private checkPropertyValue(value: TypedValueWithPath): void {
    if (isPrimitiveType(value.type)) this.validatePrimitiveType(value);
    else if (isEmpty(value.value)) this.issues.push(createStructureIssue(value.path, `Invalid empty non-primitive value`));
  }

  private validateSlices(slices: SliceDefinition[] | undefined, counts: Record<string, number> | undefined, path: string): void {
    if (!slices || !counts) return;
    for (const slice of slices) {
      const n = counts[slice.name];
      if (n < slice.min || n > slice.max) {
        this.issues.push(
          createStructureIssue(
            path,
            `Incorrect number of values provided for slice '${slice.name}': expected ${slice.min}..${Number.isFinite(slice.max) ? slice.max : '*'}, but found ${n}`,
          ),
        );
      }
    }
  }

  /** Medplum's check without its warnings (a choice element sent with two types): only the control flow stays. */
  private checkAdditionalProperties(parent: TypedValueWithPath, properties: Record<string, InternalSchemaElement>, path: string): void {
    const object = parent.value as Record<string, unknown> | undefined;
    if (!object) return;
    for (const key of Object.keys(object)) {
      // An element's own name is never refused, choice or not: only an unknown name needs Medplum's choice test.
      if (key === 'resourceType' || key in properties || (key.startsWith('_') && key.slice(1) in properties) || object[key] === undefined) continue;
      if (!isChoiceOfType(parent, key, properties)) this.issues.push(createStructureIssue(`${path}.${key}`, `Invalid additional property "${key}"`));
    }
  }

  private constraintsCheck(value: TypedValueWithPath, field: InternalTypeSchema | InternalSchemaElement): void {
    for (const constraint of field.constraints ?? []) {
      if (constraint.severity === 'error' && !SKIPPED_CONSTRAINTS.has(constraint.key)) {
        if (ABOUT_CONTAINED.has(constraint.expression) && withoutContained(value.value)) continue;
        if (constraint.expression === EXT_1 && value.type === 'Extension' && valueWithoutExtensions(value.value)) continue;
        if (!this.isExpressionTrue(constraint.expression, value)) {
          this.issues.push(createConstraintIssue(value.path, constraint));
          return;
        }
      }
    }
  }

  private isExpressionTrue(expression: string, value: TypedValueWithPath): boolean {
    const variables: Record<string, TypedValue> = { '%context': value, '%ucum': toTypedValue(UCUM) };
    const resource = this.resourceStack.at(-1);
    if (resource) variables['%resource'] = toTypedValue(resource);
    if (isResource(this.root.value)) variables['%rootResource'] = this.root;
    try {
      const result = evalFhirPathTyped(expression, [value], variables, fhirPathCache);
      return result.length === 1 && result[0].value === true;
    } catch (e) {
      this.issues.push(createProcessingIssue(value.path, 'Error evaluating invariant expression', e as Error, { fhirpath: expression }));
      return false;
    }
  }

  private validatePrimitiveType(typedValue: TypedValueWithPath): void {
    const [primitiveValue, extensionElement] = unpackPrimitiveElement(typedValue);
    const path = typedValue.path;
    if (primitiveValue) {
      const { type, value } = primitiveValue;
      if (!(type in fhirTypeToJsType)) {
        this.issues.push(createStructureIssue(path, `Invalid JSON type: ${type} is not a valid FHIR type`));
        return;
      }
      const expectedType = fhirTypeToJsType[type as keyof typeof fhirTypeToJsType];
      if (typeof value !== expectedType) {
        if (value !== null) this.issues.push(createStructureIssue(path, `Invalid JSON type: expected ${expectedType}, but got ${typeof value}`));
        return;
      }
      if (type === 'base64Binary') this.validateBase64Binary(value as string, path);
      else if (expectedType === 'string') this.validateString(value as string, type, path);
      else if (expectedType === 'number') this.validateNumber(value as number, type, path);
    }
    if (extensionElement) {
      const schema = getDataType('Element');
      this.crawlObject({ ...extensionElement, path }, schema, path);
    }
  }

  private validateBase64Binary(str: string, path: string): void {
    if (!isValidBase64Binary(str)) {
      this.issues.push(createStructureIssue(path, 'Invalid base64Binary format'));
      return;
    }
    const padding = str.endsWith('==') ? 2 : str.endsWith('=') ? 1 : 0;
    const approxBytes = Math.max(0, Math.floor((str.length * 3) / 4) - padding);
    if (approxBytes > BASE64_BINARY_MAX_BYTES) this.issues.push(createStructureIssue(path, `base64Binary exceeds ${BASE64_BINARY_MAX_BYTES} bytes`));
  }

  private validateString(str: string, type: string, path: string): void {
    if (!str.trim()) {
      this.issues.push(createStructureIssue(path, 'String must contain non-whitespace content'));
      return;
    }
    if (str.length > 1024 * 1024) {
      this.issues.push(createStructureIssue(path, 'String cannot be larger than 1 MB'));
      return;
    }
    const regex = validationRegexes[type];
    if (regex && !regex.exec(str)) this.issues.push(createStructureIssue(path, 'Invalid ' + type + ' format'));
    else if ((type === 'date' || type === 'dateTime' || type === 'instant') && !isValidCalendarDate(str)) {
      this.issues.push(createStructureIssue(path, 'Invalid ' + type + ' value'));
    }
  }

  private validateNumber(n: number, type: string, path: string): void {
    const integer = type === PropertyType.integer || type === PropertyType.positiveInt || type === PropertyType.unsignedInt;
    if (Number.isNaN(n) || !Number.isFinite(n)) this.issues.push(createStructureIssue(path, 'Invalid numeric value'));
    else if (integer && !Number.isInteger(n)) this.issues.push(createStructureIssue(path, 'Expected number to be an integer'));
    else if (type === PropertyType.integer && (n < FHIR_INTEGER_MIN || n > FHIR_INTEGER_MAX)) {
      this.issues.push(createStructureIssue(path, `Expected number to be in the range ${FHIR_INTEGER_MIN}..${FHIR_INTEGER_MAX}`));
    } else if (type === PropertyType.positiveInt && (n < 1 || n > FHIR_INTEGER_MAX)) {
      this.issues.push(createStructureIssue(path, `Expected number to be in the range 1..${FHIR_INTEGER_MAX}`));
    } else if (type === PropertyType.unsignedInt && (n < 0 || n > FHIR_INTEGER_MAX)) {
      this.issues.push(createStructureIssue(path, `Expected number to be in the range 0..${FHIR_INTEGER_MAX}`));
    }
  }
}

/** Medplum's `isChoiceOfType`: whether the key is the JSON name of a choice element the getter finds a value for. */
function isChoiceOfType(typedValue: TypedValue, key: string, properties: Record<string, InternalSchemaElement>): boolean {
  const name = key.startsWith('_') ? key.slice(1) : key;
  let testProperty = '';
  for (const part of name.split(/(?=[A-Z])/g)) {
    testProperty += part;
    if (properties[testProperty + '[x]']) return getTypedPropertyValue(typedValue, testProperty) !== undefined;
  }
  return false;
}

/** Medplum's null check, with each path built only for an issue. */
function checkObjectForNull(obj: Record<string, unknown>, path: string, issues: OperationOutcomeIssue[]): void {
  for (const key of Object.keys(obj)) {
    const value = obj[key];
    if (value === null) {
      issues.push(createStructureIssue(`${path}.${key}`, 'Invalid null value'));
    } else if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        if (item === undefined) {
          issues.push(createStructureIssue(`${path}.${key}[${i}]`, 'Invalid undefined value'));
        } else if (item === null && !(obj[key.startsWith('_') ? key.slice(1) : `_${key}`] as unknown[] | undefined)?.[i]) {
          // The one place JSON allows null: an array of primitives with extensions on some of its values.
          issues.push(createStructureIssue(`${path}.${key}[${i}]`, 'Invalid null value'));
        } else if (item && typeof item === 'object') {
          // Medplum also walks the characters of a string here, which can hold no null.
          checkObjectForNull(item as Record<string, unknown>, `${path}.${key}[${i}]`, issues);
        }
      }
    } else if (typeof value === 'object') {
      checkObjectForNull(value as Record<string, unknown>, `${path}.${key}`, issues);
    }
  }
}

function matchesSpecifiedValue(value: TypedValue | TypedValue[], element: InternalSchemaElement): boolean {
  const typeAndValue = Array.isArray(value) ? value.map((v) => ({ type: v.type, value: v.value })) : { type: value.type, value: value.value };
  if (element.pattern && !deepIncludes(typeAndValue, element.pattern)) return false;
  if (element.fixed && !deepEquals(typeAndValue, element.fixed)) return false;
  return true;
}

function checkSliceElement(value: TypedValue, slicing: SlicingRules | undefined): string | undefined {
  for (const slice of slicing?.slices ?? []) {
    if (slicing?.discriminator?.every((d) => arrayify(getNestedProperty(value, d.path))?.some((v) => matchDiscriminant(v, d, slice)))) return slice.name;
  }
  return undefined;
}

function unpackPrimitiveElement(v: TypedValue): [TypedValue | undefined, TypedValue | undefined] {
  if (typeof v.value !== 'object' || !v.value) return [v, undefined];
  const primitiveValue = (v.value as object).valueOf();
  if (primitiveValue === v.value) return [undefined, { type: 'Element', value: v.value }];
  const primitiveKeys = new Set(Object.keys(primitiveValue));
  const extensionEntries = Object.entries(v.value as object).filter(([k]) => !primitiveKeys.has(k));
  const extensionElement = extensionEntries.length > 0 ? Object.fromEntries(extensionEntries) : undefined;
  return [
    { type: v.type, value: primitiveValue },
    { type: 'Element', value: extensionElement },
  ];
}

function isValidBase64Binary(str: string): boolean {
  if (str.length === 0) return false;
  const padding = str.endsWith('==') ? 2 : str.endsWith('=') ? 1 : 0;
  const dataLen = str.length - padding;
  if (dataLen < 0 || (padding + dataLen) % 4 !== 0) return false;
  return /^[A-Za-z\d+/]+$/.test(padding > 0 ? str.slice(0, -padding) : str);
}

/** Medplum's `validateResource`: its errors as a list, where Medplum throws them. */
function baseErrors(resource: Resource): OperationOutcomeIssue[] {
  if (!isResourceType(resource.resourceType)) throw new OperationOutcomeError(validationError('Invalid resource type'));
  return new BaseValidator(toTypedValue(resource)).validate();
}

/**
 * R4 base validation. The errors become issues like every other check's, with the text in `diagnostics` as well;
 * what cannot be read as FHIR at all becomes one issue saying so.
 */
export function validateBase(resource: Resource): OperationOutcomeIssue[] {
  baseDefinitions();
  let issues: OperationOutcomeIssue[];
  try {
    issues = baseErrors(resource);
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) {
      const type = typeof resource?.resourceType === 'string' ? resource.resourceType : 'Resource';
      return [issue('invalid', type, `The resource could not be read as FHIR R4: ${(err as Error).message}`)];
    }
    issues = err.outcome.issue ?? [];
  }
  return issues
    .filter((i) => i.severity === 'error' || i.severity === 'fatal')
    .map((i) => (i.diagnostics ? i : { ...i, diagnostics: i.details?.text ?? 'Invalid resource' }));
}
