/**
 * Statement texts built once per shape. A statement composed per call (the write-behind's resource writes, the
 * commit batch, the party propagation) is a new string each time: built, then hashed again by the prepared-statement
 * lookup (src/store/postgres.ts `statement()`), a few KB each. Kept here by a key naming what decides the text (its
 * parts' shapes and parameter counts, never a value), the same string object comes back, its hash already computed.
 * A statement of three resource writes: 6.8 -> 1.1 µs to build and look up (hot loop, against /work/before-r2's
 * runWrites); a few tens of µs per native handover, below what bench/native-ingest-ab.ts can tell apart.
 * Bounded: shapes are few (a native handover uses a handful); past the limit a text is built and not kept.
 */
const TEXT_LIMIT = 500;
const texts = new Map<string, string>();

/** The text of shape `key`, built by `build` the first time. `build` must depend on nothing but what `key` names. */
export function textOfShape(key: string, build: () => string): string {
  let text = texts.get(key);
  if (text === undefined) {
    text = build();
    if (texts.size < TEXT_LIMIT) texts.set(key, text);
  }
  return text;
}

/**
 * The texts of parts that each number their parameters from 1, renumbered into one statement: part n's i-th
 * parameter is `$(k + i)`, k the parameters of the parts before it (their `params` go in that order) plus `from`
 * (parameters of the statement that come before all of these).
 */
export function numberedParts<T extends { params: readonly unknown[] }>(
  parts: readonly T[],
  render: (part: T, p: (i: number) => string, n: number) => string,
  from = 0,
): string[] {
  let base = from;
  return parts.map((part, n) => {
    const from = base;
    base += part.params.length;
    return render(part, (i) => `$${from + i}`, n);
  });
}
