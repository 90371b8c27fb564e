import { fetchAgain } from './fetch-again.ts';

/**
 * The gateway's garbage collection so far, from its own /metrics (prom-client's `nodejs_gc_duration_seconds`, the
 * pauses V8 reports to perf_hooks): milliseconds of the main thread spent collecting, so a benchmark can say how
 * much of an operation's CPU was GC. The young generation's scavenges are `minor`, the old generation's `major` and
 * `incremental` (marking steps).
 */
export interface GcTime {
  minorMs: number;
  majorMs: number;
}

export async function gcTime(gatewayUrl: string): Promise<GcTime> {
  const text = await (await fetchAgain(`${gatewayUrl}/metrics`)).text();
  const sum = (kinds: string[]): number =>
    [...text.matchAll(/^gateway_nodejs_gc_duration_seconds_sum\{kind="(\w+)"\} (\S+)/gm)]
      .filter((m) => kinds.includes(m[1] ?? ''))
      .reduce((total, m) => total + Number(m[2]) * 1000, 0);
  return { minorMs: sum(['minor']), majorMs: sum(['major', 'incremental', 'weakcb']) };
}

/** "GC per handover: 1.23 ms (young 0.80, old 0.43)" between two readings over `units` operations. */
export function gcLine(before: GcTime, after: GcTime, units: number, unit = 'handover'): string {
  const per = (ms: number): string => (units > 0 ? (ms / units).toFixed(2) : 'n/a');
  const minor = after.minorMs - before.minorMs;
  const major = after.majorMs - before.majorMs;
  return `GC per ${unit}: ${per(minor + major)} ms (young ${per(minor)}, old ${per(major)})`;
}
