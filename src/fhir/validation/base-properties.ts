// Part of the R4 base validation (base-validation.ts): Medplum's `validateResource` (@medplum/core 5.2,
// typeschema/validation.ts and crawler.ts, Apache-2.0), walked by the gateway so that it visits only what a resource holds.
//
// Which JSON names a schema element is read from, worked out once per schema and value type.

import { capitalize, getElementDefinition, isResource, tryGetDataType } from '@medplum/core';
import type { InternalSchemaElement, InternalTypeSchema, TypedValueWithPath } from '@medplum/core';


/**
 * Per schema element, what Medplum's property getter (`getTypedPropertyValueWithSchema`) reads: the JSON names it
 * tries, in its order (one for a plain element, one per type for a choice element `value[x]`), and the type each
 * gives. Undefined where the getter would not use a schema (it then guesses by name): Medplum's getter is called.
 */
export interface Property {
  readonly key: string;
  readonly element: InternalSchemaElement;
  readonly read: Reader | undefined;
}

export interface Reader {
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

export function plan(schema: InternalTypeSchema, valueType: string): readonly Property[] {
  let byType = plans.get(schema);
  if (!byType) plans.set(schema, (byType = new Map()));
  let properties = byType.get(valueType);
  if (!properties) {
    properties = Object.keys(schema.elements).map((key) => ({ key, element: schema.elements[key], read: readerOf(valueType, key) }));
    byType.set(valueType, properties);
  }
  return properties;
}

const readers = new Map<string, Map<string, Reader | undefined>>();

/** What the getter reads for `key` of a value of `valueType` (`getTypedPropertyValue(value, key)`), worked out once. */
export function readerFor(valueType: string, key: string): Reader | undefined {
  let byKey = readers.get(valueType);
  if (!byKey) readers.set(valueType, (byKey = new Map()));
  if (!byKey.has(key)) byKey.set(key, readerOf(valueType, key));
  return byKey.get(key);
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

const typeOf = (type: string, v: unknown): string => (type === 'Resource' && isResource(v) ? v.resourceType : type);

/** Medplum's `withPath` over the getter's answer (a closure only for an array: this runs for every value walked). */
export function withPath(value: unknown, type: string, path: string): TypedValueWithPath | TypedValueWithPath[] {
  if (Array.isArray(value)) return value.map((v: unknown, i) => ({ type: typeOf(type, v), value: v, path: `${path}[${i}]` }));
  return { type: typeOf(type, value), value, path };
}

export const ABSENT = -1;
const DELEGATE = -2;

/**
 * Which of the getter's names it settles on for this holder: the first, in its order, with a value or a `_` beside it.
 * ABSENT where it finds none; DELEGATE where that name has a primitive extension, which Medplum's getter merges.
 */
export function settle(holder: Record<string, unknown>, read: Reader): number {
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
