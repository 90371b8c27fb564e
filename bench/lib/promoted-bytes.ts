/**
 * What V8's scavenges promoted, read off the lines a process prints under `--trace-gc-nvp` (one line per collection:
 * `gc=s` a scavenge, with `promoted=<bytes>`): bytes that survived the young generation twice and went to the old
 * one, which only a major collection frees again.
 */
export class PromotedBytes {
  bytes = 0;
  scavenges = 0;

  /** Takes one line of the process's output; others than a scavenge's are ignored. */
  line(text: string): void {
    if (!text.includes(' gc=s ')) return;
    const promoted = /\bpromoted=(\d+)/.exec(text)?.[1];
    if (promoted === undefined) return;
    this.bytes += Number(promoted);
    this.scavenges++;
  }

  /** The bytes and scavenges since `since` (an earlier `snapshot()`). */
  since(since: { bytes: number; scavenges: number }): { bytes: number; scavenges: number } {
    return { bytes: this.bytes - since.bytes, scavenges: this.scavenges - since.scavenges };
  }

  snapshot(): { bytes: number; scavenges: number } {
    return { bytes: this.bytes, scavenges: this.scavenges };
  }
}
