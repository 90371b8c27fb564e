/**
 * A `timestamptz` as PostgreSQL writes it in a session whose time zone is UTC: `2026-12-05 17:45:14.43002+00` (a
 * fraction of 1 to 6 digits only when not zero). Every row of a search page has one (`last_updated`), and pg's parser
 * (postgres-date) reads it with regular expressions whose match arrays made 9.5 KB of a search page's 196 KB allocated
 * (issue 19). Read here to the same Date: the same `Date.UTC` call with the same numbers, the milliseconds computed
 * as postgres-date computes them (1000 × the fraction, cut by `Date.UTC`). Undefined for anything else (another
 * offset, BC, infinity, a year below 1000, which postgres-date treats apart): postgres-date reads that.
 */
export function plainTimestamp(text: string): Date | undefined {
  const n = text.length;
  // `YYYY-MM-DD HH:MM:SS` (19 characters), the fraction, `+00`.
  if (n < 22 || n > 29 || n === 23 || !text.endsWith('+00')) return undefined;
  if (text.charCodeAt(4) !== 0x2d || text.charCodeAt(7) !== 0x2d || text.charCodeAt(10) !== 0x20 || text.charCodeAt(13) !== 0x3a || text.charCodeAt(16) !== 0x3a) return undefined;
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 7);
  const day = digits(text, 8, 10);
  const hour = digits(text, 11, 13);
  const minute = digits(text, 14, 16);
  const second = digits(text, 17, 19);
  if (year < 1000 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return undefined;
  let ms = 0;
  if (n > 22) {
    if (text.charCodeAt(19) !== 0x2e || digits(text, 20, n - 3) < 0) return undefined;
    ms = 1000 * parseFloat(text.slice(19, n - 3));
  }
  return new Date(Date.UTC(year, month - 1, day, hour, minute, second, ms));
}

/** The number written by the decimal digits from `from` to `to`; -1 when one is not a digit. */
function digits(text: string, from: number, to: number): number {
  let value = 0;
  for (let i = from; i < to; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}
