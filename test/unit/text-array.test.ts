import pg from 'pg';
import { plainTextArray } from '../../src/store/text-array.ts';

// pg's general parser is the reference: whatever the plain reader accepts, it must read the same.
const TEXT_ARRAY_OID = 1009 as unknown as Parameters<typeof pg.types.getTypeParser>[0];
const general = pg.types.getTypeParser(TEXT_ARRAY_OID, 'text') as (text: string) => unknown;

describe('plainTextArray', () => {
  it('reads unquoted elements as the general parser does', () => {
    for (const text of ['{}', '{a}', '{90001234,90004567}', '{Patient/1,Task/abc-def}', '{a.b:c|d}', '{ü,€}']) {
      expect(plainTextArray(text)).toEqual(general(text));
    }
  });

  it('leaves quotes, escapes, NULL, nesting and bounds to the general parser', () => {
    for (const text of ['{"a b",c}', '{"a\\\\"}', '{NULL}', '{a,null}', '{{a},{b}}', '[1:2]={a,b}', '{""}', '{"{"}']) {
      expect(plainTextArray(text)).toBeUndefined();
    }
  });
});
