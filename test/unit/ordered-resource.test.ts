import fc from 'fast-check';
import type { Resource } from '@medplum/fhirtypes';
import { orderedResource } from '../../src/store/resource-store.ts';
import { keepNumberText, numberText } from '../../src/fhir/number-text.ts';

// The form it had: resourceType, id and meta first, the rest as a spread copies it.
function spreadOrdered(content: Resource): Resource {
  const { resourceType, id, meta, ...rest } = content as Resource & { meta?: unknown };
  return { resourceType, id, meta, ...rest } as Resource;
}

describe('orderedResource', () => {
  it('puts resourceType, id and meta first and copies the rest as a spread does, __proto__ and integer-like keys too', () => {
    const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('resourceType', 'id', 'meta', '__proto__', '1', '10', 'toJSON'));
    fc.assert(
      fc.property(fc.dictionary(key, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 10 }), (value) => {
        const text = JSON.stringify(value);
        const ordered = orderedResource(JSON.parse(text) as Resource);
        const reference = spreadOrdered(JSON.parse(text) as Resource);
        expect(Object.getPrototypeOf(ordered)).toBe(Object.prototype);
        expect(Object.keys(ordered)).toEqual(Object.keys(reference));
        expect(JSON.stringify(ordered)).toBe(JSON.stringify(reference));
      }),
      { numRuns: 500 },
    );
  });

  it('keeps the texts of its own numbers and gives back the stored ones', () => {
    const content = { resourceType: 'Basic', id: 'b', version: 1 } as unknown as Resource;
    keepNumberText(content, 'version', '1.0');
    const ordered = orderedResource(content, { '/id2': '5.0' });
    expect(numberText(ordered, 'version')).toBe('1.0');
    expect(JSON.stringify(ordered)).toBe('{"resourceType":"Basic","id":"b","version":1.0}');
  });
});
