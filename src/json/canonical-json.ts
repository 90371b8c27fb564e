import { rawJsonAsNumber } from '../fhir/number-text.ts';

/**
 * RFC 8785 (JSON Canonicalization Scheme) text of a JSON value: object keys sorted by UTF-16 code units,
 * primitives as ECMAScript serialises them, no whitespace: the one way the gateway writes JSON whose text must
 * not depend on key order (the audit chain's hashes, a native record's content hash, "is this update a change?").
 * The output is the `canonicalize` package's (the tests hold the two to it), made faster for the audit chain, where canonicalising every audit row was the
 * largest single function in the ingest profile: a copy with its keys in order goes through the engine's
 * JSON.stringify once, instead of one JSON.stringify per value and a loop over every character of every string.
 */
export function canonicalJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(ordered(value, []));
  } catch (err) {
    if (err !== INDEX_KEY) throw err;
    return written(value, []);
  }
}

// An object's keys that are array indices ("0", "12") come first, in numeric order, whatever order they were
// added in, so JSON.stringify cannot write them sorted as text: such values take the slower way, value by value.
// So does a "__proto__" key (JSON.parse makes one), which on a plain object would set its prototype instead.
const ARRAY_INDEX = /^(?:0|[1-9]\d{0,9})$/;
const INDEX_KEY = Symbol('array-index or __proto__ key');

function primitive(value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(Number.isNaN(value) ? 'NaN is not allowed' : 'Infinity is not allowed');
  if (typeof value === 'string' && !value.isWellFormed()) throw new Error('Lone surrogate is not allowed');
  return value;
}

const skipped = (v: unknown): boolean => v === undefined || typeof v === 'symbol' || typeof v === 'function';

/** `path`: the objects being written, outermost first (a few deep; cheaper to search than a Set is to keep). */
function enter(value: object, path: object[]): void {
  if (path.includes(value)) throw new Error('Circular reference detected');
  path.push(value);
}

/** Whether `key` is an array index ("0", "12"): most keys do not start with a digit, and skip the pattern. */
function isIndexKey(key: string): boolean {
  const first = key.charCodeAt(0);
  return first >= 0x30 && first <= 0x39 && ARRAY_INDEX.test(key);
}

// Up to this many keys an object's are sorted in place by insertion: Array.prototype.sort allocates its own work
// arrays for every call, which for the many small objects of an audit row was a seventh of all a read allocated.
const INSERTION_SORT_MAX = 24;

/** `record`'s own enumerable keys in UTF-16 code unit order (the order `sort()` gives strings). */
function sortedKeys(record: object): string[] {
  const keys = Object.keys(record);
  if (keys.length > INSERTION_SORT_MAX) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    while (j >= 0 && (keys[j] as string) > key) {
      keys[j + 1] = keys[j] as string;
      j--;
    }
    keys[j + 1] = key;
  }
  return keys;
}

/** A copy with every object's keys inserted in sorted order, checked as it goes. */
function ordered(raw: unknown, seen: object[]): unknown {
  // A number written with its own text (src/fhir/number-text.ts) hashes as the number it is.
  const value = rawJsonAsNumber(raw);
  if (value === null || typeof value !== 'object') return primitive(value);
  enter(value, seen);
  let copy: unknown;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    copy = ordered((value as { toJSON(): unknown }).toJSON(), seen);
  } else if (Array.isArray(value)) {
    // Pushed, not preallocated: a packed array, which JSON.stringify writes on its fast path.
    const items: unknown[] = [];
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      items.push(skipped(v) ? null : ordered(v, seen));
    }
    copy = items;
  } else {
    const record = value as Record<string, unknown>;
    // A plain object, not Object.create(null) (which V8 keeps as a dictionary, written by JSON.stringify on its slow
    // path): copies with the same keys share one hidden class.
    const out: Record<string, unknown> = {};
    for (const key of sortedKeys(record)) {
      const v = record[key];
      if (skipped(v)) continue;
      if (isIndexKey(key) || key === '__proto__') throw INDEX_KEY;
      primitive(key);
      out[key] = ordered(v, seen);
    }
    copy = out;
  }
  seen.pop();
  return copy;
}

/** The same text written value by value: for objects with array-index keys. */
function written(raw: unknown, seen: object[]): string | undefined {
  const value = rawJsonAsNumber(raw);
  if (value === null || typeof value !== 'object') return JSON.stringify(primitive(value));
  enter(value, seen);
  let text: string | undefined;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    text = written((value as { toJSON(): unknown }).toJSON(), seen);
  } else if (Array.isArray(value)) {
    text = `[${value.map((v: unknown) => (skipped(v) ? 'null' : written(v, seen))).join(',')}]`;
  } else {
    const record = value as Record<string, unknown>;
    const parts: string[] = [];
    for (const key of Object.keys(record).sort()) {
      const v = record[key];
      if (skipped(v)) continue;
      parts.push(`${JSON.stringify(primitive(key))}:${written(v, seen)}`);
    }
    text = `{${parts.join(',')}}`;
  }
  seen.pop();
  return text;
}
