// Part of the R4 base validation (base-validation.ts): a shortcut for what it accepts. Per type, a function generated
// from the same schemas the walk reads, which answers true only where the walk would find no error; anything it is not
// sure of (a constraint that needs Medplum's FHIRPath engine, an empty value, a choice element sent twice, an unknown
// name, a primitive's extension without its value) answers false, and the walk then decides and words the issues.
// The generated source holds names and types from the R4 schemas only, never anything a client sent.
//
// Why generated code: the walk interprets the schemas, and every property it reads goes through maps and generic
// property loads that see every type's objects (megamorphic in V8). Under load those cost three times what they cost
// alone (bench/validation.ts against the gateway's own thread time). A function per type reads each element by its
// name, in code of its own: each load sees the objects of one type.
import { fhirTypeToJsType, getDataType, isResourceType } from '@medplum/core';
import type { InternalSchemaElement, InternalTypeSchema, TypedValue } from '@medplum/core';
import { plan } from './base-properties.ts';
import type { Reader } from './base-properties.ts';
import { isObject } from './json.ts';
import { errorChecks, isPrimitive, primitiveValueProblem } from './base-checks.ts';

type Accept = (value: unknown) => boolean;
type Holds = (value: TypedValue) => boolean;

/** The generated function of each schema and value type, by its index in `accepts`, made the first time it is met. */
const indices = new WeakMap<InternalTypeSchema, Map<string, number>>();
const accepts: Accept[] = [];
/** Per resource type: its constraints' tests at the root, as the walk's first constraintsCheck makes them (null: one needs the engine). */
const rootChecks = new Map<string, readonly Holds[] | null>();

/**
 * True only where `validateBase(resource)` gives no issue. False says nothing: the walk decides. The resource is not
 * changed (the walk's getter merges an extension sent for a complex element into the element, which this never
 * accepts).
 */
export function acceptsBase(resource: unknown): boolean {
  const type = resourceTypeOf(resource);
  if (type === undefined) return false;
  const checks = rootChecksOf(type, getDataType(type));
  if (!checks) return false;
  for (let i = 0; i < checks.length; i++) if (!(checks[i] as Holds)({ type, value: resource })) return false;
  return acceptResource(type, resource);
}

/** The resource type a value names, where it is an object naming a known one. */
function resourceTypeOf(value: unknown): string | undefined {
  const type = isObject(value) ? value.resourceType : undefined;
  return typeof type === 'string' && isResourceType(type) ? type : undefined;
}

/** A resource by the function of its type, as the walk walks it with its type's schema. */
function acceptResource(type: string, resource: unknown): boolean {
  return (accepts[acceptIndex(getDataType(type), type)] as Accept)(resource);
}

function rootChecksOf(type: string, schema: InternalTypeSchema): readonly Holds[] | null {
  let checks = rootChecks.get(type);
  if (checks === undefined) {
    const all = errorChecks(schema.constraints);
    checks = all.every((c) => c.holds) ? all.map((c) => c.holds as Holds) : null;
    rootChecks.set(type, checks);
  }
  return checks;
}

function acceptIndex(schema: InternalTypeSchema, valueType: string): number {
  let byType = indices.get(schema);
  if (!byType) indices.set(schema, (byType = new Map()));
  let index = byType.get(valueType);
  if (index === undefined) {
    index = accepts.length;
    byType.set(valueType, index);
    // Until it is made, a type that refers to itself (Identifier.assigner → Reference.identifier) calls it by index.
    accepts.push(NEVER);
    try {
      accepts[index] = generate(schema, valueType);
    } catch {
      // A schema this cannot read as the walk does (none of R4's): the walk judges its values.
    }
  }
  return index;
}

const NEVER: Accept = () => false;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** The generated source's captured values (`C[i]`): tests of constraints and primitives. */
class Constants {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `C[${this.values.length - 1}]`;
  }
}

/** A JSON name read in generated code: `o.status`, or `o["a-b"]` for a name that is no identifier. */
const read = (name: string): string => (IDENTIFIER.test(name) ? `o.${name}` : `o[${JSON.stringify(name)}]`);

/** The value type the walk gives a JSON name of a property (its getter's, Element/BackboneElement as its element's first type). */
function typeOfName(reader: Reader, i: number): string {
  const type = reader.types[i] as string;
  return type === 'Element' || type === 'BackboneElement' ? reader.firstType : type;
}

/**
 * The source of the function accepting an object of `valueType` read with `schema`, as the walk's crawlObject walks it:
 * only its elements' JSON names (an unknown or `_` name is the walk's to judge), each present value of the right
 * shape, count and JSON type, its constraints holding by their text, and each complex value accepted by its type's
 * function.
 */
function generate(schema: InternalTypeSchema, valueType: string): Accept {
  const properties = plan(schema, valueType);
  // Where the walk reads a property with Medplum's own getter (no reader: it guesses by name), or two properties
  // share a JSON name, it walks the plan whole: this answers nothing for such a type.
  if (properties.some((p) => !p.read)) return NEVER;
  const names = new Set<string>();
  for (const p of properties) {
    for (const name of p.read?.names ?? []) {
      if (names.has(name)) return NEVER;
      names.add(name);
    }
  }

  const constants = new Constants();
  const isResource = isResourceType(valueType);
  // The scan of the object's keys: a plain name falls through to one break; a choice name records which it is.
  const plainCases: string[] = [];
  const choiceCases: string[] = [];
  const body: string[] = [];
  properties.forEach((property, j) => {
    const reader = property.read as Reader;
    const element = property.element;
    if (reader.names.length === 1) {
      const name = reader.names[0] as string;
      const type = typeOfName(reader, 0);
      plainCases.push(`case ${JSON.stringify(name)}:`);
      body.push(`v = ${read(name)};`);
      if (isPrimitive(type)) {
        // A primitive's extensions (`_family` beside `family`, nl-core's name parts): the walk's getter merges
        // them into the value and walks them as an Element.
        plainCases.push(`case ${JSON.stringify(`_${name}`)}:`);
        body.push(`s = ${read(`_${name}`)};`, `if (s !== undefined) {`, ...primitiveExtensionChecks(element), `}`);
      }
      body.push(`if (v !== undefined) {`, ...valueChecks(schema, element, type, constants), `}`);
      if (element.min > 0) body.push(`else return false;`);
      return;
    }
    // A choice element: which of its names the object holds, found by the scan of its keys; two are the walk's.
    reader.names.forEach((name, i) => choiceCases.push(`case ${JSON.stringify(name)}: if (c${j} !== -1) return false; c${j} = ${i}; break;`));
    body.push(`switch (c${j}) {`);
    body.push(`case -1: ${element.min > 0 ? 'return false;' : 'break;'}`);
    reader.names.forEach((name, i) => {
      body.push(`case ${i}: v = ${read(name)};`);
      body.push(`if (v !== undefined) {`, ...valueChecks(schema, element, typeOfName(reader, i), constants), `}`);
      if (element.min > 0) body.push(`else return false;`);
      body.push(`break;`);
    });
    body.push(`}`);
  });
  const choices = properties.flatMap((p, j) => ((p.read?.names.length ?? 1) > 1 ? [`let c${j} = -1;`] : []));
  const source = [
    `if (typeof o !== 'object' || o === null || Array.isArray(o) || Object.getPrototypeOf(o) !== Object.prototype) return false;`,
    ...choices,
    `let n = 0;`,
    `for (const k in o) {`,
    `n++;`,
    `switch (k) {`,
    ...plainCases,
    ...(plainCases.length > 0 ? ['break;'] : []),
    ...choiceCases,
    ...(isResource ? [`case "resourceType": if (o.resourceType !== ${JSON.stringify(valueType)}) return false; break;`] : []),
    `default: return false;`,
    `}`,
    `}`,
    // No own key: empty, which the walk refuses where it is required or a value of an array.
    `if (n === 0) return false;`,
    `let v;`,
    `let s;`,
    ...body,
    `return true;`,
  ].join('\n');
  return new Function('C', 'F', `return function accept${safeName(valueType)}(o) {\n${source}\n};`)(constants.values, accepts) as Accept;
}

const safeName = (type: string): string => type.replace(/[^A-Za-z0-9_]/g, '_');

/**
 * The checks of one present value `v` of an element, as the walk's visitValue and crawlValue make them. Conservative
 * where the walk is lenient: an empty value (which the walk skips where the element is optional) answers false.
 */
function valueChecks(schema: InternalTypeSchema, element: InternalSchemaElement, type: string, constants: Constants): string[] {
  // Patterns, fixed values and slices the base R4 types do not use: left to the walk.
  if (element.pattern || element.fixed || element.slicing) return ['return false;'];
  const lines: string[] = [];
  const item = itemChecks(schema, element, type, constants);
  if (element.isArray) {
    lines.push(`if (!Array.isArray(v) || v.length === 0) return false;`);
    if (element.min > 1) lines.push(`if (v.length < ${element.min}) return false;`);
    if (Number.isFinite(element.max)) lines.push(`if (v.length > ${element.max}) return false;`);
    lines.push(`for (let i = 0; i < v.length; i++) {`, `const x = v[i];`, `if (x === null || x === undefined) return false;`, ...item, `}`);
  } else {
    lines.push(`if (v === null || Array.isArray(v)) return false;`);
    if (element.max < 1 || element.min > 1) lines.push(`return false;`);
    lines.push(`{`, `const x = v;`, ...item, `}`);
  }
  return lines;
}

/**
 * The checks of `s`, the `_name` beside a primitive element `v`: for each value an Element (its `id` and
 * `extension`), or null in an array where the value beside it is one (the one place JSON allows null). Only beside a
 * value, and one for each: the getter's other merges (an extension without a value, arrays of other lengths) and
 * the element's own constraints on the merged value are the walk's.
 */
function primitiveExtensionChecks(element: InternalSchemaElement): string[] {
  if (errorChecks(element.constraints).length > 0) return ['return false;'];
  const acceptElement = `F[${acceptIndex(getDataType('Element'), 'Element')}]`;
  if (element.isArray) {
    return [
      `if (!Array.isArray(v) || !Array.isArray(s) || s.length !== v.length) return false;`,
      `for (let i = 0; i < s.length; i++) {`,
      `const e = s[i];`,
      `if (e === null) { if (!v[i]) return false; } else if (!${acceptElement}(e)) return false;`,
      `}`,
    ];
  }
  return [`if (v === undefined || v === null || Array.isArray(v) || !${acceptElement}(s)) return false;`];
}

/** A contained resource (or a Bundle's entry): accepted as its own type is, without the root's constraints (the walk tests those only at the root). */
function acceptInner(value: unknown): boolean {
  const type = resourceTypeOf(value);
  return type !== undefined && acceptResource(type, value);
}

/** The checks of one item `x`: its constraints (those holding by their text), then its JSON type and format, or its type's function. */
function itemChecks(schema: InternalTypeSchema, element: InternalSchemaElement, type: string, constants: Constants): string[] {
  // A resource inside a resource (contained, a Bundle's entries): typed by its own resourceType, which the
  // constraints of the element holding it would be tested with.
  if (type === 'Resource') return errorChecks(element.constraints).length > 0 ? ['return false;'] : [`if (!${constants.add(acceptInner)}(x)) return false;`];
  if (isResourceType(type)) return ['return false;'];
  const lines: string[] = [];
  for (const check of errorChecks(element.constraints)) {
    if (!check.holds) return ['return false;'];
    lines.push(`if (!${constants.add(check.holds)}({ type: ${JSON.stringify(type)}, value: x })) return false;`);
  }
  if (isPrimitive(type)) {
    lines.push(`if (!${constants.add(primitiveTest(type))}(x)) return false;`);
  } else {
    const inner = schema.innerTypes?.find((t) => t.name === type) ?? getDataType(type);
    lines.push(`if (!F[${acceptIndex(inner, type)}](x)) return false;`);
  }
  return lines;
}

const primitiveTests = new Map<string, Accept>();

/** Whether a value is a primitive of `type` the walk finds nothing wrong with (checkPrimitiveValue without its issues); one test per type. */
function primitiveTest(type: string): Accept {
  let test = primitiveTests.get(type);
  if (!test) {
    const expected = type in fhirTypeToJsType ? fhirTypeToJsType[type as keyof typeof fhirTypeToJsType] : undefined;
    test = expected ? (value) => typeof value === expected && primitiveValueProblem(type, expected, value as string | number | boolean) === undefined : NEVER;
    primitiveTests.set(type, test);
  }
  return test;
}
