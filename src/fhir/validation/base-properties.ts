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

/**
 * Which properties of a plan a plain object can hold, by the JSON names they are read from: a walk then visits what
 * the object holds (and what it must hold) instead of every element of its type's schema (some 50 for a Task, read by
 * two lookups each where most are absent). Undefined where a name could also be found other than as an own enumerable
 * key (a name of Object.prototype) or two properties share a name: the plan is then walked whole.
 */
interface Presence {
  readonly byName: ReadonlyMap<string, number>;
  /** The properties visited whatever the object holds, in plan order: those read by Medplum's getter (no reader), and those required (min > 0), whose absence is an issue. */
  readonly always: readonly number[];
}

const presences = new WeakMap<readonly Property[], Presence | null>();

function presenceOf(properties: readonly Property[]): Presence | undefined {
  let presence = presences.get(properties);
  if (presence === undefined) {
    const byName = new Map<string, number>();
    const always: number[] = [];
    let usable = true;
    properties.forEach((property, i) => {
      const read = property.read;
      if (!read || property.element.min > 0) always.push(i);
      for (const name of read ? [...read.names, ...read.shadows] : []) {
        if (name in Object.prototype || (byName.has(name) && byName.get(name) !== i)) usable = false;
        byName.set(name, i);
      }
    });
    presence = usable ? { byName, always } : null;
    presences.set(properties, presence);
  }
  return presence ?? undefined;
}

/**
 * Writes into `out`, from its start, the indices into `properties` (ascending, each once) that a walk of `holder` must
 * visit, and returns how many: every property one of whose names `holder` has as a key, and those visited always.
 * Every other property reads as absent and is not required, which the walk skips without a word. -1 where the plan
 * must be walked whole (not a plain object, see Presence). `out` is the caller's, reused from object to object and
 * never shortened (setting an array's length to 0 gives up its storage): nothing is allocated per object.
 */
export function presentProperties(holder: unknown, properties: readonly Property[], out: number[]): number {
  if (typeof holder !== 'object' || holder === null || Object.getPrototypeOf(holder) !== Object.prototype) return -1;
  const presence = presenceOf(properties);
  if (!presence) return -1;
  const always = presence.always;
  let count = 0;
  for (; count < always.length; count++) out[count] = always[count] as number;
  // A plain object's keys through for-in: its own enumerable ones (an inherited one would be Object.prototype's,
  // whose names are none of a plan's). A property's value read by a name it does not hold is undefined: absent.
  for (const key in holder) {
    const i = presence.byName.get(key);
    if (i === undefined) continue;
    // Sorted insertion, each index once: an object holds a few of its type's elements.
    let at = count;
    while (at > 0 && (out[at - 1] as number) > i) at--;
    if (at > 0 && out[at - 1] === i) continue;
    for (let k = count; k > at; k--) out[k] = out[k - 1] as number;
    out[at] = i;
    count++;
  }
  return count;
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

/**
 * A value the walk read itself, typed as Medplum's getter types it. Its path (`Task.input[0].valueCoding`: the
 * parent's, the key, the index in an array) is written when something reads it, for an issue or by a Medplum function
 * given the value: a valid resource's values are never asked, and a string (two, in an array) for each was most of
 * what the walk allocated. The same text as Medplum's `withPath` makes.
 */
class WalkedValue implements TypedValueWithPath {
  readonly type: string;
  readonly value: unknown;
  private readonly parent: TypedValueWithPath;
  private readonly key: string;
  /** -1: not in an array. */
  private readonly index: number;

  constructor(type: string, value: unknown, parent: TypedValueWithPath, key: string, index: number) {
    this.type = type;
    this.value = value;
    this.parent = parent;
    this.key = key;
    this.index = index;
  }

  get path(): string {
    const path = `${this.parent.path}.${this.key}`;
    return this.index < 0 ? path : `${path}[${this.index}]`;
  }

  /** As JSON what Medplum's plain typed value was (an engine's error message may quote one): not the parent chain. */
  toJSON(): TypedValueWithPath {
    return { type: this.type, value: this.value, path: this.path };
  }
}

/** Medplum's `withPath` over the getter's answer for `key` of `parent`, each path written only when read. */
export function withPath(value: unknown, type: string, parent: TypedValueWithPath, key: string): TypedValueWithPath | TypedValueWithPath[] {
  if (!Array.isArray(value)) return new WalkedValue(typeOf(type, value), value, parent, key, -1);
  const values: TypedValueWithPath[] = new Array(value.length);
  for (let i = 0; i < value.length; i++) values[i] = new WalkedValue(typeOf(type, value[i]), value[i], parent, key, i);
  return values;
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
