import fc from 'fast-check';
import pg from 'pg';
import { plainTimestamp } from '../../src/store/timestamp-text.ts';

// pg's own parser (postgres-date) is the reference: whatever the plain reader accepts, it must read to the same time.
const general = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ, 'text') as (text: string) => Date | number | null;
const pad = (n: number, width: number): string => String(n).padStart(width, '0');

describe('plainTimestamp', () => {
  it('reads what a UTC session writes as postgres-date does, to the millisecond', () => {
    fc.assert(
      fc.property(
        fc.record({
          year: fc.integer({ min: 1000, max: 9999 }),
          month: fc.integer({ min: 1, max: 12 }),
          day: fc.integer({ min: 1, max: 31 }),
          hour: fc.integer({ min: 0, max: 23 }),
          minute: fc.integer({ min: 0, max: 59 }),
          second: fc.integer({ min: 0, max: 59 }),
          fraction: fc.option(fc.stringMatching(/^[0-9]{1,6}$/), { nil: undefined }),
        }),
        (t) => {
          const text = `${pad(t.year, 4)}-${pad(t.month, 2)}-${pad(t.day, 2)} ${pad(t.hour, 2)}:${pad(t.minute, 2)}:${pad(t.second, 2)}${t.fraction === undefined ? '' : `.${t.fraction}`}+00`;
          const read = plainTimestamp(text);
          expect(read).toBeInstanceOf(Date);
          expect(read?.getTime()).toBe((general(text) as Date).getTime());
        },
      ),
      { numRuns: 2000 },
    );
    for (const text of ['2026-12-05 17:45:14.43002+00', '2026-12-05 17:45:14+00', '1999-12-31 23:59:59.999999+00', '2024-02-29 00:00:00.001+00', '2026-01-01 00:00:00.1+00']) {
      expect(plainTimestamp(text)?.getTime()).toBe((general(text) as Date).getTime());
    }
  });

  it('leaves other offsets, BC, infinity, early years and other forms to postgres-date', () => {
    for (const text of [
      '2026-12-05 17:45:14.43002+01',
      '2026-12-05 17:45:14-05',
      '2026-12-05 17:45:14+05:30',
      '2026-12-05 17:45:14+00 BC',
      'infinity',
      '-infinity',
      '0099-01-01 00:00:00+00',
      '2026-12-05',
      '2026-12-05T17:45:14+00',
      '2026-12-05 17:45:14.+00',
      '2026-12-05 17:45:14.1234567+00',
      '12026-12-05 17:45:14+00',
      '2026-1a-05 17:45:14+00',
    ]) {
      expect(plainTimestamp(text)).toBeUndefined();
    }
  });
});
