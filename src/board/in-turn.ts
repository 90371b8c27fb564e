/**
 * `work` of every item, at most `atOnce` under way at a time, the results in the items' order. The first failure
 * rejects; work already under way runs to its end, and nothing further starts. Once `stopped()` is true nothing
 * further starts either (the board connection that asked went away): the items not started have no result.
 */
export async function inTurn<T, R>(items: readonly T[], atOnce: number, work: (item: T) => Promise<R>, stopped: () => boolean = () => false): Promise<(R | undefined)[]> {
  const results: (R | undefined)[] = new Array<R | undefined>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failed && !stopped()) {
      const i = next++;
      try {
        results[i] = await work(items[i] as T);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(atOnce, items.length)) }, worker));
  return results;
}
