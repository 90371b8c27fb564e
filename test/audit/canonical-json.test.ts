// The audit chain hashes canonical JSON: a different text for the same row would make $verify report
// an untouched trail as altered. canonicalJson must write exactly what the `canonicalize` package (the
// chain's canonicaliser until it was replaced for speed) writes, for every JSON value.
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { canonicalJson } from '../../src/json/canonical-json.ts';

describe('canonicalJson (RFC 8785)', () => {
  it('writes what the canonicalize package writes, for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ stringUnit: 'binary', maxDepth: 4 }), (value) => {
        expect(canonicalJson(value)).toBe(canonicalize(value));
      }),
      { numRuns: 500 },
    );
  });

  it('writes what the canonicalize package writes, for objects whose keys look like array indices', () => {
    const keys = fc.oneof(fc.nat({ max: 5000 }).map(String), fc.string({ unit: 'binary', maxLength: 4 }), fc.constantFrom('__proto__', '-1', '01', '4294967295'));
    fc.assert(
      fc.property(fc.dictionary(keys, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 8 }), (value) => {
        expect(canonicalJson(value)).toBe(canonicalize(value));
      }),
      { numRuns: 300 },
    );
  });

  it('writes what the canonicalize package writes, for objects with few keys and with many (sorted two ways)', () => {
    const key = fc.string({ unit: 'binary', maxLength: 3 });
    fc.assert(
      fc.property(fc.dictionary(key, fc.dictionary(key, fc.integer(), { maxKeys: 30 }), { minKeys: 20, maxKeys: 40 }), (value) => {
        expect(canonicalJson(value)).toBe(canonicalize(value));
      }),
      { numRuns: 200 },
    );
  });

  it('sorts keys by UTF-16 code units and writes numbers as ECMAScript does', () => {
    const value = JSON.parse('{"10":1,"9":[1e21,0.1,-0],"b":"\\u20ac","a\\ud83d\\ude00":true,"\\u00e9":null,"__proto__":{"z":1,"y":2}}') as unknown;
    expect(canonicalJson(value)).toBe('{"10":1,"9":[1e+21,0.1,0],"__proto__":{"y":2,"z":1},"a😀":true,"b":"€","é":null}');
    expect(canonicalJson(value)).toBe(canonicalize(value));
    const proto = JSON.parse('{"b":1,"__proto__":{"z":1}}') as unknown;
    expect(canonicalJson(proto)).toBe('{"__proto__":{"z":1},"b":1}');
  });

  it('leaves out undefined members, writes undefined array items as null, and uses toJSON', () => {
    const value = { b: undefined, a: [undefined, new Date('2026-11-23T05:00:00Z')] };
    expect(canonicalJson(value)).toBe('{"a":[null,"2026-11-23T05:00:00.000Z"]}');
    expect(canonicalJson(value)).toBe(canonicalize(value));
  });

  it('refuses what has no canonical form: lone surrogates, NaN, Infinity, cycles', () => {
    expect(() => canonicalJson({ text: 'a\ud800b' })).toThrow('Lone surrogate');
    expect(() => canonicalJson({ ['\udc00']: 1 })).toThrow('Lone surrogate');
    expect(() => canonicalJson([Number.NaN])).toThrow('NaN');
    expect(() => canonicalJson({ n: Number.POSITIVE_INFINITY })).toThrow('Infinity');
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => canonicalJson(cycle)).toThrow('Circular');
  });
});
