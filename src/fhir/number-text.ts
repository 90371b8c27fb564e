/**
 * The text a JSON number was written with, kept beside its value (issue 16.4). FHIR decimals carry their precision
 * in their text (`37.0` is a measurement to one decimal, `1.00` is not `1`, `1.000000000000000000E-245` is sent as
 * written), but a JavaScript number has one text of its own. So a number stays a `number` everywhere (validation,
 * FHIRPath, search and the audit compare values, as before) and, only where its text differs from the one
 * JavaScript would write, the text is remembered for the object holding it, by key:
 *
 * - `JSON.parse` with the source text of each number (`parseKeepingNumberTexts`, used by the request body parser);
 * - `JSON.stringify` writes the remembered text (a non-enumerable `toJSON` on the holding object, so every
 *   answer, notification and native rendering keeps it without each call site knowing); a number changed since
 *   is written as its new value;
 * - storage keeps the texts as a side map of JSON pointers (`numberTextsOf` / `restoreNumberTexts`), because
 *   `jsonb` keeps a numeric's scale but writes exponents out in full (`1e2` → `100`);
 * - copies that must keep them go through `cloneKeepingNumberTexts` (structuredClone and `{...spread}` do not).
 *
 * Nothing is remembered for numbers whose text is JavaScript's own (the common case): they cost a comparison at
 * parse time and nothing after.
 */

/** Node 24 has JSON.rawJSON/isRawJSON and the reviver's source text; TypeScript's es2024 lib does not know them yet. */
interface RawJson {
  readonly rawJSON: string;
}
const NativeJson = JSON as JSON & { rawJSON(text: string): RawJson; isRawJSON(value: unknown): value is RawJson };

type Holder = Record<string, unknown> | unknown[];

const TEXTS = new WeakMap<object, Map<string, string>>();

/** True when `text` is not the text JavaScript writes for `value` (`37.0`, `1.00`, `1e2`, `-0`). */
function distinct(text: string, value: number): boolean {
  // A short JSON integer (no leading zeros, no '+') is written back as it is: no number-to-text conversion needed.
  if (text.length < 16 && /^-?[1-9]\d*$|^0$/.test(text)) return false;
  return text !== String(value);
}

/** Writes the holder with its remembered texts: a shallow copy where such numbers are raw JSON text. */
function withTexts(this: Holder): unknown {
  const texts = TEXTS.get(this);
  const written = (key: string, value: unknown): unknown => {
    const text = texts?.get(key);
    // A value changed after parsing is written as it is now, not with a text that no longer denotes it.
    return text !== undefined && typeof value === 'number' && Number(text) === value ? NativeJson.rawJSON(text) : value;
  };
  if (Array.isArray(this)) return this.map((v, i) => written(String(i), v));
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(this)) out[key] = written(key, this[key]);
  return out;
}

/** Remembers that `holder[key]` was written as `text`. */
export function keepNumberText(holder: object, key: string, text: string): void {
  let texts = TEXTS.get(holder);
  if (!texts) {
    // An object with a key of that name (no FHIR element or native field has one) keeps its key, not the texts.
    if (Object.hasOwn(holder, 'toJSON')) return;
    texts = new Map();
    TEXTS.set(holder, texts);
    // Not enumerable: invisible to Object.keys, spreads, validators and FHIRPath; JSON.stringify calls it.
    Object.defineProperty(holder, 'toJSON', { value: withTexts, enumerable: false, configurable: true, writable: true });
  }
  texts.set(key, text);
}

/** The text remembered for `holder[key]`, if it still denotes the value there. */
export function numberText(holder: object, key: string): string | undefined {
  const text = TEXTS.get(holder)?.get(key);
  const value = (holder as Record<string, unknown>)[key];
  return text !== undefined && typeof value === 'number' && Number(text) === value ? text : undefined;
}

/** Context the reviver gets in Node 24 (the TC39 "JSON.parse source text access" proposal). */
interface ReviverContext {
  source?: string;
}

/**
 * A reviver step: remembers the text of a number that JavaScript would write differently. For use inside a
 * reviver (`this` is the holder), so that parsers with their own checks run one pass.
 */
export function reviveNumberText(holder: object, key: string, value: unknown, context: ReviverContext | undefined): void {
  if (typeof value === 'number' && context?.source !== undefined && distinct(context.source, value)) keepNumberText(holder, key, context.source);
}

/** JSON.parse keeping the texts of numbers. */
export function parseKeepingNumberTexts(text: string): unknown {
  return JSON.parse(text, function (this: object, key: string, value: unknown, context?: ReviverContext) {
    reviveNumberText(this, key, value, context);
    return value;
  });
}

/** Escapes a key as a JSON pointer segment (RFC 6901). */
function segment(key: string): string {
  return key.includes('~') || key.includes('/') ? key.replaceAll('~', '~0').replaceAll('/', '~1') : key;
}

function unescapeSegment(s: string): string {
  return s.includes('~') ? s.replaceAll('~1', '/').replaceAll('~0', '~') : s;
}

/**
 * The remembered texts in `value`, as JSON pointer → text, for storage beside it; undefined when there are none
 * (what almost every resource gives, so that nothing more is stored).
 */
export function numberTextsOf(value: unknown): Record<string, string> | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  // The path as a stack of segments, joined only for a number that has a text: most walks find none.
  const walk: TextsWalk = { path: [], found: undefined };
  collectTexts(walk, value);
  return walk.found;
}

interface TextsWalk {
  readonly path: string[];
  found: Record<string, string> | undefined;
}

// A function of this module, not a closure made at each call: V8 keeps a function's optimised code only weakly
// where no live closure holds it, so a closure made per write lost it at every major collection and was compiled
// again (Maglev, then Turbofan) several times a minute under load (--trace-opt).
function collectTexts(walk: TextsWalk, node: object): void {
  const texts = TEXTS.get(node);
  if (texts) {
    for (const key of texts.keys()) {
      const text = numberText(node, key);
      if (text !== undefined) (walk.found ??= {})[`/${[...walk.path, key].map(segment).join('/')}`] = text;
    }
  }
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const v: unknown = node[i];
      if (v === null || typeof v !== 'object') continue;
      walk.path.push(String(i));
      collectTexts(walk, v);
      walk.path.pop();
    }
  } else {
    for (const key in node) {
      const v = (node as Record<string, unknown>)[key];
      if (v === null || typeof v !== 'object' || !Object.hasOwn(node, key)) continue;
      walk.path.push(key);
      collectTexts(walk, v);
      walk.path.pop();
    }
  }
}

/** Re-attaches texts kept by `numberTextsOf` to a value read back; pointers that no longer lead to such a number are skipped. */
export function restoreNumberTexts(value: unknown, texts: Record<string, string> | null | undefined): void {
  if (!texts) return;
  for (const [pointer, text] of Object.entries(texts)) {
    const parts = pointer.split('/').slice(1).map(unescapeSegment);
    const key = parts.pop();
    if (key === undefined) continue;
    let holder: unknown = value;
    for (const part of parts) holder = holder !== null && typeof holder === 'object' ? (holder as Record<string, unknown>)[part] : undefined;
    if (holder === null || typeof holder !== 'object') continue;
    const current = (holder as Record<string, unknown>)[key];
    if (typeof current === 'number' && Number(text) === current) keepNumberText(holder, key, text);
  }
}

/** Moves the texts of `from`'s own numbers to `to` (a top-level copy such as `{ ...resource, id }`). */
export function copyNumberTexts(from: object, to: object): void {
  const texts = TEXTS.get(from);
  if (!texts) return;
  for (const key of texts.keys()) {
    const text = numberText(from, key);
    if (text !== undefined && (to as Record<string, unknown>)[key] === (from as Record<string, unknown>)[key]) keepNumberText(to, key, text);
  }
}

/** A deep copy of JSON data that keeps the texts of its numbers (structuredClone drops them). */
export function cloneKeepingNumberTexts<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  let copy: Holder;
  // Arrays by index, not `map` with a callback made at each call: such a closure loses its optimised code (and the
  // copy inlined into it) whenever no live one holds it, and was compiled again several times a minute (--trace-opt).
  if (Array.isArray(value)) {
    const items: unknown[] = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) items[i] = cloneKeepingNumberTexts(value[i] as unknown);
    copy = items;
  } else {
    const record = value as Record<string, unknown>;
    const fields: Record<string, unknown> = {};
    // `for in` reads the keys from the object's shape (JSON data inherits no enumerable key) without the array
    // `Object.keys` makes for every object copied.
    for (const key in record) if (Object.hasOwn(record, key)) fields[key] = cloneKeepingNumberTexts(record[key]);
    copy = fields;
  }
  copyNumberTexts(value, copy);
  return copy as T;
}

/**
 * After a JSON Patch is applied: the numbers that `add` and `replace` operations wrote get the texts the patch body
 * gave them (the patch library copies values, so they would be lost). An append (`/-`) is the array's last item.
 */
export function keepPatchedNumberTexts(patched: unknown, operations: readonly object[]): void {
  for (const operation of operations) {
    const { op, path, value } = operation as { op?: unknown; path?: unknown; value?: unknown };
    if ((op !== 'add' && op !== 'replace') || typeof path !== 'string') continue;
    let target = path;
    if (path.endsWith('/-')) {
      const parts = path.slice(0, -2).split('/').slice(1).map(unescapeSegment);
      let list: unknown = patched;
      for (const part of parts) list = list !== null && typeof list === 'object' ? (list as Record<string, unknown>)[part] : undefined;
      if (!Array.isArray(list) || list.length === 0) continue;
      target = `${path.slice(0, -2)}/${list.length - 1}`;
    }
    const own = numberText(operation, 'value');
    const inner = typeof value === 'object' ? numberTextsOf(value) : undefined;
    const texts: Record<string, string> = {};
    if (own !== undefined) texts[target] = own;
    for (const [pointer, text] of Object.entries(inner ?? {})) texts[`${target}${pointer}`] = text;
    restoreNumberTexts(patched, texts);
  }
}

/**
 * The texts of the numbers in `value`, by value, for a mapping that copies numbers into new objects (native records
 * to FHIR and back, src/native/mapping): a copied number gets the text its source had. A value that occurs with two
 * texts (`37.0` and `37`) is left out, so no number gains a text another one had. Undefined when there is none.
 */
export function numberTextsByValue(value: unknown): ReadonlyMap<number, string> | undefined {
  // Almost every input has no texts: one walk over its objects finds that, without looking at its numbers.
  if (!hasNumberTexts(value)) return undefined;
  const byValue = new Map<number, string | null>();
  const walk = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    const texts = TEXTS.get(node);
    for (const key of Object.keys(node)) {
      const v = (node as Record<string, unknown>)[key];
      if (typeof v !== 'number') {
        walk(v);
        continue;
      }
      const text = (texts && numberText(node, key)) ?? String(v);
      const seen = byValue.get(v);
      if (seen === undefined) byValue.set(v, text);
      else if (seen !== text) byValue.set(v, null);
    }
  };
  walk(value);
  const out = new Map<number, string>();
  for (const [n, text] of byValue) if (text !== null && distinct(text, n)) out.set(n, text);
  return out.size > 0 ? out : undefined;
}

/** Whether any object in `value` has a remembered text. */
function hasNumberTexts(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (TEXTS.has(value)) return true;
  // Arrays by index, objects by for-in: one for-in over both kinds was deoptimised ("wrong map") and compiled again
  // every few handovers under load (--trace-deopt), the request body's arrays and objects taking turns.
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (hasNumberTexts(value[i])) return true;
    return false;
  }
  for (const key in value) {
    if (Object.hasOwn(value, key) && hasNumberTexts((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

/**
 * A number as it goes into a hash: raw JSON text (what a holder's `toJSON` gives) as the number it denotes, so a
 * hash over data with remembered texts is the hash over the same values read back from the database.
 */
export function rawJsonAsNumber(value: unknown): unknown {
  return NativeJson.isRawJSON(value) ? Number(value.rawJSON) : value;
}
