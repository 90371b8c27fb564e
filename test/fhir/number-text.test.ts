// The number codec (src/fhir/number-text.ts): the text a number was sent with survives parse, copies, storage
// as a side map and serialisation; values stay numbers; hashes see values.
import { canonicalJson } from '../../src/json/canonical-json.ts';
import {
  cloneKeepingNumberTexts,
  copyNumberTexts,
  numberText,
  numberTextsByValue,
  numberTextsOf,
  parseKeepingNumberTexts,
  restoreNumberTexts,
} from '../../src/fhir/number-text.ts';
import { parseJsonBody } from '../../src/http/json-body.ts';

const SENT = '{"a":37.0,"b":[1.00,1.000000000000000000E-245,5,0.5],"c":{"d":1E2,"e":-0.0,"f":12345678901234567890},"g":"37.0"}';

describe('number texts', () => {
  it('parses numbers as numbers and writes them back as sent', () => {
    const value = parseKeepingNumberTexts(SENT) as { a: number; b: number[]; c: { d: number; e: number; f: number } };
    expect(value.a).toBe(37);
    expect(value.b).toEqual([1, 1e-245, 5, 0.5]);
    expect(value.c.d).toBe(100);
    expect(typeof value.c.f).toBe('number');
    expect(JSON.stringify(value)).toBe(SENT);
    expect(Object.keys(value)).toEqual(['a', 'b', 'c', 'g']);
  });

  it('does the same through the request body parser', () => {
    expect(JSON.stringify(parseJsonBody(Buffer.from(SENT)))).toBe(SENT);
  });

  it('keeps the same texts whether or not the body parser needs its reviver (short plain integers only skip it)', () => {
    // Each of these has one number JavaScript writes otherwise, beside plain integers: the parser must see it.
    for (const text of ['{"a":8,"b":-0}', '{"a":[1,2,37.0]}', '{"a":1,"b":1E2}', '{"a":1,"b":1e+2}', '{"a":"x-0","b":1234567890123456}', '{"a":-12,"b":[0,5e-1]}']) {
      expect(JSON.stringify(parseJsonBody(Buffer.from(text)))).toBe(text);
    }
    // Only plain integers (and digits, minus signs and points inside strings): nothing to keep, the same value.
    const plain = '{"a":8,"b":[-12,0,123456789012345],"c":"-0.5e3 and 37.0","d":{"e":null,"f":true}}';
    const value = parseJsonBody(Buffer.from(plain));
    expect(value).toEqual(JSON.parse(plain));
    expect(numberTextsOf(value)).toBeUndefined();
  });

  it('remembers nothing for numbers written as JavaScript writes them', () => {
    const value = parseKeepingNumberTexts('{"a":37,"b":[0.5,1e-7,100],"c":{"d":-3}}');
    expect(numberTextsOf(value)).toBeUndefined();
    expect(Object.getOwnPropertyNames(value)).toEqual(['a', 'b', 'c']);
  });

  it('writes a number changed after parsing as its new value', () => {
    const value = parseKeepingNumberTexts('{"t":37.0,"u":[1.00]}') as { t: number; u: number[] };
    value.t = 38.5;
    value.u[0] = 2;
    expect(JSON.stringify(value)).toBe('{"t":38.5,"u":[2]}');
    expect(numberText(value, 't')).toBeUndefined();
  });

  it('keeps texts as JSON pointers for storage and gives them back to the value read again', () => {
    const value = parseKeepingNumberTexts('{"x/y":{"v":1.50},"list":[{"q":{"value":37.0}},{"q":{"value":36}}],"top":1e2}');
    const texts = numberTextsOf(value);
    expect(texts).toEqual({ '/x~1y/v': '1.50', '/list/0/q/value': '37.0', '/top': '1e2' });
    // As the database driver gives it back: plain numbers.
    const plain = JSON.parse('{"x/y":{"v":1.5},"list":[{"q":{"value":37}},{"q":{"value":36}}],"top":100}') as unknown;
    restoreNumberTexts(plain, texts);
    expect(JSON.stringify(plain)).toBe('{"x/y":{"v":1.50},"list":[{"q":{"value":37.0}},{"q":{"value":36}}],"top":1e2}');
  });

  it('skips a kept text whose pointer no longer leads to the same number', () => {
    const plain = JSON.parse('{"a":{"v":2},"b":"x"}') as unknown;
    restoreNumberTexts(plain, { '/a/v': '1.0', '/b': '1.0', '/missing/v': '3.0' });
    expect(JSON.stringify(plain)).toBe('{"a":{"v":2},"b":"x"}');
  });

  it('keeps texts through a deep copy and a top-level copy', () => {
    const value = parseKeepingNumberTexts('{"n":1.0,"o":{"p":[2.50]}}') as Record<string, unknown>;
    expect(JSON.stringify(cloneKeepingNumberTexts(value))).toBe('{"n":1.0,"o":{"p":[2.50]}}');
    expect(JSON.stringify(structuredClone(value))).toBe('{"n":1,"o":{"p":[2.5]}}');
    const spread = { id: 'x', ...value };
    copyNumberTexts(value, spread);
    expect(JSON.stringify(spread)).toBe('{"id":"x","n":1.0,"o":{"p":[2.50]}}');
  });

  it('finds texts by value wherever they are: in arrays of objects, in arrays of arrays, at the top, or nowhere', () => {
    const byValue = (text: string): [number, string][] => [...(numberTextsByValue(parseKeepingNumberTexts(text)) ?? new Map<number, string>())];
    expect(byValue('{"list":[{"a":1},{"q":{"value":37.0}}]}')).toEqual([[37, '37.0']]);
    expect(byValue('[[1],[[2.50]]]')).toEqual([[2.5, '2.50']]);
    expect(byValue('{"top":1e2,"s":"x"}')).toEqual([[100, '1e2']]);
    expect(numberTextsByValue(parseKeepingNumberTexts('{"list":[{"a":1},[2,{"b":3.5}]],"s":"37.0"}'))).toBeUndefined();
    expect(numberTextsByValue(JSON.parse('{"list":[{"q":{"value":37.0}}]}'))).toBeUndefined();
  });

  it('gives the pointers of texts at every depth and in arrays of arrays, and none for a value without them', () => {
    expect(numberTextsOf(parseKeepingNumberTexts('[[1.0],{"a":[{"b":[2.50,3]}]}]'))).toEqual({ '/0/0': '1.0', '/1/a/0/b/0': '2.50' });
    expect(numberTextsOf(parseKeepingNumberTexts('{"a":[{"b":[2,3]}],"c":"1.0"}'))).toBeUndefined();
    expect(numberTextsOf(37)).toBeUndefined();
    expect(numberTextsOf(null)).toBeUndefined();
  });

  it('leaves an object with a "toJSON" key as it is', () => {
    expect(JSON.stringify(parseKeepingNumberTexts('{"o":{"toJSON":1.0,"v":2.50}}'))).toBe('{"o":{"toJSON":1,"v":2.5}}');
  });

  it('hashes values, not texts: the audit chain verifies the same before and after a database round trip', () => {
    const value = parseKeepingNumberTexts('{"b":1.00,"a":[37.0,1E2]}');
    expect(canonicalJson(value)).toBe('{"a":[37,100],"b":1}');
    expect(canonicalJson({ wrapped: value })).toBe(canonicalJson(JSON.parse('{"wrapped":{"b":1,"a":[37,100]}}')));
  });
});
