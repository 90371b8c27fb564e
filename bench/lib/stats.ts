/** Percentile of an ascending list (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

export interface LoadResult {
  ok: number;
  errors: Record<string, number>;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  /** Every call's latency (ms), ascending: for combining runs (not written to the results file). */
  latencies?: number[];
}

/** Several runs of one measurement as one: calls and seconds added up, percentiles over every call. */
export function combineLoads(parts: LoadResult[]): LoadResult {
  const latencies = parts.flatMap((p) => p.latencies ?? []).sort((a, b) => a - b);
  const ok = parts.reduce((n, p) => n + p.ok, 0);
  const seconds = parts.reduce((n, p) => n + p.seconds, 0);
  const errors: Record<string, number> = {};
  for (const p of parts) for (const [k, v] of Object.entries(p.errors)) errors[k] = (errors[k] ?? 0) + v;
  return { ok, errors, seconds, perSecond: ok / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), latencies };
}

/**
 * Runs `call` from `concurrency` workers for `seconds`; each call resolves true when the answer was
 * the one expected. Latencies of every call (ms), failures counted by kind.
 */
export async function load(concurrency: number, seconds: number, call: (worker: number) => Promise<boolean | string>): Promise<LoadResult> {
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let ok = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < until) {
        const t = performance.now();
        let outcome: boolean | string;
        try {
          outcome = await call(worker);
        } catch (err) {
          outcome = (err as Error).message.slice(0, 80);
        }
        latencies.push(performance.now() - t);
        if (outcome === true) ok++;
        else {
          const kind = outcome === false ? 'unexpected answer' : outcome;
          errors[kind] = (errors[kind] ?? 0) + 1;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { ok, errors, seconds: elapsed, perSecond: ok / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), latencies };
}
