import {
  OperationOutcomeError,
  UCUM,
  arrayify,
  createConstraintIssue,
  createProcessingIssue,
  createStructureIssue,
  evalFhirPathTyped,
  fhirTypeToJsType,
  getDataType,
  getNestedProperty,
  isResource,
  isResourceType,
  toTypedValue,
  validationError,
} from '@medplum/core';
import type { InternalSchemaElement, InternalTypeSchema, SliceDefinition, TypedValue, TypedValueWithPath } from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { acceptsBase } from './base-accept.ts';
import { baseDefinitions } from './definitions.ts';
import { issue } from './issues.ts';
import { ABSENT, plan, presentProperties, settle, withPath } from './base-properties.ts';
import type { Property } from './base-properties.ts';
import {
  checkObjectForNull,
  checkSliceElement,
  errorChecks,
  fhirPathCache,
  isEmpty,
  isPrimitive,
  isChoiceOfType,
  matchesSpecifiedValue,
  primitiveValueProblem,
  unpackPrimitiveElement,
} from './base-checks.ts';
import type { ErrorCheck } from './base-checks.ts';

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

/** `%ucum` of every evaluation, as Medplum makes it (`toTypedValue(UCUM)`), made once. */
const UCUM_VALUE: TypedValue = toTypedValue(UCUM);

/**
 * The properties each object being walked visits (presentProperties), by depth of the walk: lists reused by every
 * object and every validation (a walk is synchronous and never starts another), not made and grown for each.
 */
const VISITS: number[][] = [];

class BaseValidator {
  readonly issues: OperationOutcomeIssue[] = [];
  private readonly root: TypedValue;
  /** The resources being walked, innermost last, each as the typed value `%resource` names (made once per resource). */
  private readonly resourceStack: TypedValue[] = [];
  private readonly schema: InternalTypeSchema;
  /** How deep the walk is: the index into VISITS of the object being walked. */
  private depth = 0;

  constructor(root: TypedValue) {
    this.root = root;
    if (isResource(root.value)) this.resourceStack.push(toTypedValue(root.value));
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
    if (objIsResource) this.resourceStack.push(toTypedValue(obj.value));
    const holder = obj.value as Record<string, unknown> | undefined;
    const properties = plan(schema, obj.type);
    // What the object holds and what it must (see presentProperties): the others would read as absent, unrequired.
    // One list of indices per depth of the walk, reused by every object at that depth.
    const depth = this.depth++;
    const visit = (VISITS[depth] ??= []);
    const present = presentProperties(holder, properties, visit);
    const count = present >= 0 ? present : properties.length;
    for (let n = 0; n < count; n++) {
      const property = properties[present >= 0 ? (visit[n] as number) : n] as Property;
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
          direct = withPath(value, type, obj, property.key);
        }
      }
      this.crawlProperty(obj, property.key, schema, childPath(path, property.key), direct);
    }
    this.depth--;
    this.checkAdditionalProperties(obj, schema.elements);
    if (objIsResource) this.resourceStack.pop();
  }

  private crawlProperty(parent: TypedValueWithPath, key: string, schema: InternalTypeSchema, path: string, direct: TypedValueWithPath | TypedValueWithPath[] | undefined): void {
    if (direct) {
      // The one value read directly, visited and crawled as Medplum's loops over `[direct]` do, without the arrays
      // made for it (the walk's allocations are most of what validation costs the collector).
      this.visitValue(path, direct, elementOf(schema, key));
      if (Array.isArray(direct)) for (let i = 0; i < direct.length; i++) this.crawlValue(direct[i] as TypedValueWithPath, schema, path);
      else this.crawlValue(direct, schema, path);
      return;
    }
    const propertyValues = getNestedProperty(parent, key, { withPath: true });
    this.visitProperty(key, path, propertyValues, schema);
    for (const propertyValue of propertyValues) {
      for (const value of arrayify(propertyValue) as TypedValueWithPath[]) this.crawlValue(value, schema, path);
    }
  }

  private crawlValue(value: TypedValueWithPath, schema: InternalTypeSchema, path: string): void {
    if (!isPrimitive(value.type)) this.crawlObject(value, innerType(schema, value.type) ?? getDataType(value.type), path);
  }

  private visitProperty(key: string, path: string, propertyValues: (TypedValueWithPath | TypedValueWithPath[])[], schema: InternalTypeSchema): void {
    const element = elementOf(schema, key);
    for (const value of propertyValues) if (!this.visitValue(path, value, element)) return;
  }

  /** One value of an element (all of it for an array element) as Medplum's visitor checks it; false where it stops. */
  private visitValue(path: string, value: TypedValueWithPath | TypedValueWithPath[], element: InternalSchemaElement): boolean {
    if (!this.checkPresence(value, element, path)) return false;
    let count: number;
    if (element.isArray) {
      if (!Array.isArray(value)) {
        this.issues.push(createStructureIssue(path, 'Expected array of values for property'));
        return false;
      }
      count = value.length;
    } else {
      if (Array.isArray(value)) {
        this.issues.push(createStructureIssue(path, 'Expected single value for property'));
        return false;
      }
      count = 1;
    }
    if (count < element.min || count > element.max) {
      this.issues.push(
        createStructureIssue(
          element.path,
          `Invalid number of values: expected ${element.min}..${Number.isFinite(element.max) ? element.max : '*'}, but found ${count}`,
        ),
      );
    }
    if (!matchesSpecifiedValue(value, element)) this.issues.push(createStructureIssue(path, 'Value did not match expected pattern'));
    const sliceCounts: Record<string, number> | undefined = element.slicing
      ? Object.fromEntries(element.slicing.slices.map((s) => [s.name, 0]))
      : undefined;
    if (Array.isArray(value)) for (let i = 0; i < value.length; i++) this.visitItem(value[i] as TypedValueWithPath, element, sliceCounts);
    else this.visitItem(value, element, sliceCounts);
    this.validateSlices(element.slicing?.slices, sliceCounts, path);
    return true;
  }

  private visitItem(v: TypedValueWithPath, element: InternalSchemaElement, sliceCounts: Record<string, number> | undefined): void {
    this.constraintsCheck(v, element);
    this.checkPropertyValue(v);
    const sliceName = checkSliceElement(v, element.slicing);
    if (sliceName && sliceCounts) sliceCounts[sliceName] += 1;
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
    if (isPrimitive(value.type)) this.validatePrimitiveType(value);
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
  private checkAdditionalProperties(parent: TypedValueWithPath, properties: Record<string, InternalSchemaElement>): void {
    const object = parent.value as Record<string, unknown> | undefined;
    if (!object) return;
    // Own keys through for-in: Object.keys' order without its array, for every object of every resource.
    for (const key in object) {
      if (!Object.hasOwn(object, key)) continue;
      // An element's own name is never refused, choice or not: only an unknown name needs Medplum's choice test.
      if (key === 'resourceType' || key in properties || (key.startsWith('_') && key.slice(1) in properties) || object[key] === undefined) continue;
      if (!isChoiceOfType(parent, key, properties)) this.issues.push(createStructureIssue(`${parent.path}.${key}`, `Invalid additional property "${key}"`));
    }
  }

  private constraintsCheck(value: TypedValueWithPath, field: InternalTypeSchema | InternalSchemaElement): void {
    const checks = errorChecks(field.constraints);
    for (let i = 0; i < checks.length; i++) {
      const check = checks[i] as ErrorCheck;
      if (check.holds?.(value)) continue;
      if (!this.isExpressionTrue(check.constraint.expression, value)) {
        this.issues.push(createConstraintIssue(value.path, check.constraint));
        return;
      }
    }
  }

  private isExpressionTrue(expression: string, value: TypedValueWithPath): boolean {
    const variables: Record<string, TypedValue> = { '%context': value, '%ucum': UCUM_VALUE };
    const resource = this.resourceStack.at(-1);
    if (resource) variables['%resource'] = resource;
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
    // A value that is no object has nothing to unpack (unpackPrimitiveElement gives it back alone): nearly every
    // primitive of a resource, checked without the pair of typed values made for it.
    if (typeof typedValue.value !== 'object' || !typedValue.value) {
      this.checkPrimitiveValue(typedValue.type, typedValue.value, typedValue);
      return;
    }
    const [primitiveValue, extensionElement] = unpackPrimitiveElement(typedValue);
    if (primitiveValue && !this.checkPrimitiveValue(primitiveValue.type, primitiveValue.value, typedValue)) return;
    if (extensionElement) {
      const schema = getDataType('Element');
      const path = typedValue.path;
      this.crawlObject({ ...extensionElement, path }, schema, path);
    }
  }

  /** false where Medplum stops (no extension is then walked): an unknown type or a value of the wrong JSON type. `at`'s path is an issue's. */
  private checkPrimitiveValue(type: string, value: unknown, at: TypedValueWithPath): boolean {
    if (!(type in fhirTypeToJsType)) {
      this.issues.push(createStructureIssue(at.path, `Invalid JSON type: ${type} is not a valid FHIR type`));
      return false;
    }
    const expectedType = fhirTypeToJsType[type as keyof typeof fhirTypeToJsType];
    if (typeof value !== expectedType) {
      if (value !== null) this.issues.push(createStructureIssue(at.path, `Invalid JSON type: expected ${expectedType}, but got ${typeof value}`));
      return false;
    }
    const problem = primitiveValueProblem(type, expectedType, value as string | number | boolean);
    if (problem !== undefined) this.issues.push(createStructureIssue(at.path, problem));
    return true;
  }
}

/**
 * Schema paths (`Task.input.value[x]`, the path Medplum's crawler names an element's issues by), each made once: a
 * handover's resources walk the same few hundred, and they were two strings for every property walked. Bounded: a
 * primitive's extension is walked under its instance path (validatePrimitiveType), and that is the client's.
 */
const childPaths = new Map<string, Map<string, string>>();
let childPathCount = 0;
const CHILD_PATHS = 8192;

function childPath(path: string, key: string): string {
  let byKey = childPaths.get(path);
  let child = byKey?.get(key);
  if (child === undefined) {
    child = `${path}.${key}`;
    if (childPathCount < CHILD_PATHS) {
      if (!byKey) childPaths.set(path, (byKey = new Map()));
      byKey.set(key, child);
      childPathCount++;
    }
  }
  return child;
}

function elementOf(schema: InternalTypeSchema, key: string): InternalSchemaElement {
  const element = schema.elements[key];
  if (!element) throw new Error(`Missing element validation schema for ${key}`);
  return element;
}

/** `schema.innerTypes?.find((t) => t.name === type)` without a closure per value. */
function innerType(schema: InternalTypeSchema, type: string): InternalTypeSchema | undefined {
  const inner = schema.innerTypes;
  if (inner) for (let i = 0; i < inner.length; i++) if (inner[i]?.name === type) return inner[i];
  return undefined;
}

/** Medplum's `validateResource`: its errors as a list, where Medplum throws them. */
function baseErrors(resource: Resource): OperationOutcomeIssue[] {
  if (!isResourceType(resource.resourceType)) throw new OperationOutcomeError(validationError('Invalid resource type'));
  return new BaseValidator(toTypedValue(resource)).validate();
}

/**
 * Tests: every resource accepted by the shortcut (base-accept.ts) is walked as well, and an error thrown where the
 * walk finds an issue in it, so that every resource a test writes checks the shortcut.
 */
let verifying = false;
export function verifyBaseAcceptance(on: boolean): void {
  verifying = on;
}

/** R4 base validation: none where the shortcut (base-accept.ts) accepts the resource, else the walk's issues. */
export function validateBase(resource: Resource): OperationOutcomeIssue[] {
  baseDefinitions();
  const accepted = acceptsBase(resource);
  if (accepted && !verifying) return [];
  const issues = walkedIssues(resource);
  if (accepted && issues.length > 0) {
    // Where the issues are, not what the resource holds: the message is logged, and a resource may be a patient's.
    throw new Error(`base-accept.ts accepted a ${resource.resourceType} the walk refuses: ${JSON.stringify(issues.map((i) => i.expression))}`);
  }
  return issues;
}

/**
 * The walk alone, without the shortcut: what validateBase answers where base-accept.ts does not (bench/validation.ts
 * measures both). The errors become issues like every other check's, with the text in `diagnostics` as well; what
 * cannot be read as FHIR at all becomes one issue saying so.
 */
export function walkedIssues(resource: Resource): OperationOutcomeIssue[] {
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
