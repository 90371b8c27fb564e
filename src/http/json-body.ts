import { badRequest } from '../fhir/outcomes.ts';
import { reviveNumberText } from '../fhir/number-text.ts';

const MAX_JSON_DEPTH = 100;
/** FHIR R4: a string SHALL NOT exceed 1 MB; no native field comes near it. */
const MAX_JSON_STRING_LENGTH = 1024 * 1024;
/** Far more than any record or Bundle of this region holds; a bound on the work one request can ask for. */
const MAX_JSON_ARRAY_LENGTH = 10_000;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * One pass over a JSON text, without parsing it: whether it nests deeper than `max` (so a hostile depth cannot exhaust
 * the stack), and whether its numbers are all short plain integers (`8`, `-12`, `0`; not `-0`, `37.0`, `1e3` or 16
 * digits and more), which JavaScript writes back as they were sent: then no number needs its text kept (number-text.ts).
 */
function scanText(text: string, max: number): { tooDeep: boolean; onlyPlainIntegers: boolean } {
  let depth = 0;
  let inString = false;
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) return { tooDeep: true, onlyPlainIntegers: false };
    } else if (c === 125 || c === 93) depth--;
    else if (plain && (c === 45 /* - */ || (c >= 48 && c <= 57))) {
      let end = i + 1;
      for (let d = text.charCodeAt(end); (d >= 48 && d <= 57) || d === 46 || d === 101 || d === 69 || d === 43 || d === 45; d = text.charCodeAt(++end)) {
        if (d === 46 || d === 101 || d === 69) plain = false;
      }
      if (end - i >= 16 || (end - i === 2 && c === 45 && text.charCodeAt(i + 1) === 48)) plain = false;
      i = end - 1;
    }
  }
  return { tooDeep: false, onlyPlainIntegers: plain };
}

/**
 * Whether the checks of the reviver below cannot find anything in this text, so that it is parsed without one (a
 * call into JavaScript for every value was most of what parsing a record cost): no `\u` escape (the only way to a lone
 * surrogate after strict UTF-8 decoding, or to a forbidden key spelt otherwise), no forbidden key's name anywhere,
 * too short for a string or an array over the limits (an array of n values takes 2n + 1 characters), and only
 * numbers JavaScript writes as they were sent.
 */
function nothingToRevive(text: string, onlyPlainIntegers: boolean): boolean {
  if (!onlyPlainIntegers || text.length > 2 * MAX_JSON_ARRAY_LENGTH || text.includes('\\u')) return false;
  for (const key of FORBIDDEN_KEYS) if (text.includes(key)) return false;
  return true;
}

/**
 * Parses a request body as JSON with the guards every entry point needs: valid UTF-8, no NUL
 * characters (PostgreSQL cannot store them), no lone UTF-16 surrogates (`"\ud800"` is valid JSON but no
 * Unicode text: jsonb refuses it, so it could neither be stored nor quoted in the audit of its refusal),
 * bounded depth, string and array lengths, no prototype-polluting keys. The text of each number is kept where
 * JavaScript would write it differently (`37.0`, `1.00`, `1e-245`: src/fhir/number-text.ts), in the same pass.
 */
export function parseJsonBody(raw: Buffer): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw badRequest('The request body is not valid UTF-8');
  }
  if (text.trim() === '') throw badRequest('The request body is empty');
  if (text.includes('\u0000') || /\\u0000/i.test(text)) throw badRequest('The request body contains a NUL character');
  const scanned = scanText(text, MAX_JSON_DEPTH);
  if (scanned.tooDeep) throw badRequest(`JSON nested deeper than ${MAX_JSON_DEPTH} levels is refused`);
  let forbidden: string | undefined;
  let tooLong: string | undefined;
  let loneSurrogate = false;
  let value: unknown;
  if (nothingToRevive(text, scanned.onlyPlainIntegers)) {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw badRequest(`The request body is not valid JSON: ${(err as Error).message}`);
    }
  }
  try {
    value = JSON.parse(text, function (this: object, key: string, v: unknown, context?: { source?: string }) {
      if (FORBIDDEN_KEYS.has(key)) forbidden = key;
      if (typeof v === 'number') reviveNumberText(this, key, v, context);
      if (!key.isWellFormed() || (typeof v === 'string' && !v.isWellFormed())) loneSurrogate = true;
      if (typeof v === 'string' && v.length > MAX_JSON_STRING_LENGTH) tooLong = `A string longer than ${MAX_JSON_STRING_LENGTH} characters is refused`;
      else if (Array.isArray(v) && v.length > MAX_JSON_ARRAY_LENGTH) tooLong = `An array of more than ${MAX_JSON_ARRAY_LENGTH} elements is refused`;
      return v;
    });
  } catch (err) {
    throw badRequest(`The request body is not valid JSON: ${(err as Error).message}`);
  }
  if (forbidden) throw badRequest(`The key '${forbidden}' is not allowed in a request body`, [forbidden]);
  // The value itself is not quoted: it is not text that could be shown or stored.
  if (loneSurrogate) throw badRequest('The request body holds a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape without its pair), which is not Unicode text');
  if (tooLong) throw badRequest(tooLong);
  return value;
}

export function assertSafeKey(key: string, where: string): void {
  if (FORBIDDEN_KEYS.has(key)) throw badRequest(`The key '${key}' is not allowed in ${where}`, [key]);
}
