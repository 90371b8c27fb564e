import { isIndexBelow, unpackPrimitiveElement } from '../../src/fhir/validation/base-checks.ts';
import type { TypedValue } from '@medplum/core';

// The form before: a Set of the primitive's own keys, and every own entry of the boxed value filtered by it.
function unpackedBefore(v: TypedValue): [TypedValue | undefined, TypedValue | undefined] {
  if (typeof v.value !== 'object' || !v.value) return [v, undefined];
  const primitiveValue = (v.value as object).valueOf();
  if (primitiveValue === v.value) return [undefined, { type: 'Element', value: v.value }];
  const primitiveKeys = new Set(Object.keys(primitiveValue));
  const entries = Object.entries(v.value as object).filter(([key]) => !primitiveKeys.has(key));
  return [
    { type: v.type, value: primitiveValue },
    { type: 'Element', value: entries.length > 0 ? Object.fromEntries(entries) : undefined },
  ];
}

const boxed = (primitive: string | number | boolean, sidecar: object): TypedValue => ({ type: typeof primitive === 'string' ? 'string' : typeof primitive === 'number' ? 'decimal' : 'boolean', value: Object.assign(Object(primitive) as object, sidecar) });

describe('unpackPrimitiveElement', () => {
  it('gives what the Set of the primitive keys gave, in the same order', () => {
    const extension = [{ url: 'http://example.org/x', valueString: 'y' }];
    const cases: TypedValue[] = [
      boxed('Jansen', { id: 'a', extension }),
      boxed('', { extension }),
      boxed('0123456789ab', { extension, id: 'b' }),
      boxed(37.5, { extension }),
      boxed(0, { id: 'c' }),
      boxed(true, { extension }),
      boxed('abc', {}),
      boxed(12, { 0: 'zero', 1: 'one', extension }),
      boxed('ab', { 5: 'beyond the string', extension }),
      boxed('ab', JSON.parse('{"__proto__": {"x": 1}, "01": "not an index", "-1": "nor this"}') as object),
      { type: 'Element', value: { extension } },
      { type: 'string', value: 'plain' },
      { type: 'string', value: null },
    ];
    for (const v of cases) {
      const now = unpackPrimitiveElement(v);
      expect(now).toEqual(unpackedBefore(v));
      expect(now[1]?.value === undefined ? undefined : Object.keys(now[1].value as object)).toEqual(unpackedBefore(v)[1]?.value === undefined ? undefined : Object.keys(unpackedBefore(v)[1]?.value as object));
    }
  });

  it('takes as an index below the count exactly what a string of that length holds as its own key', () => {
    for (const count of [0, 1, 2, 10, 11, 123]) {
      const own = new Set(Object.keys('x'.repeat(count)));
      for (const key of ['0', '1', '9', '10', '11', '99', '122', '123', '00', '01', '-1', '1.5', '1e1', ' 1', '', 'id', 'extension', '99999999999999999999']) {
        expect([count, key, isIndexBelow(key, count)]).toEqual([count, key, own.has(key)]);
      }
    }
  });
});
