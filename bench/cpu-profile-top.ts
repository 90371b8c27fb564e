// The functions with the most self time in a V8 .cpuprofile (node --cpu-prof), grouped by function and file.
// Run: node bench/cpu-profile-top.ts <file.cpuprofile> [how many, default 25] [filter: only inclusive time of frames whose file contains it, e.g. src/]
// Options: --timeline prints the busy share of each second of the profile; --window=FROM-TO (seconds from the profile's
// start) counts only those samples, e.g. the seconds of the load without the gateway's start-up (which --cpu-prof
// records too, and which otherwise outweighs a few seconds of reads).
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  children?: number[];
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith('--'));
const [file, top = '25', filter] = args.filter((a) => !a.startsWith('--'));
if (!file) {
  console.error('usage: node bench/cpu-profile-top.ts <file.cpuprofile> [n] [filter] [--timeline] [--window=FROM-TO]');
  process.exit(2);
}
const windowFlag = flags.find((f) => f.startsWith('--window='))?.slice('--window='.length);
const [fromS, toS] = windowFlag ? windowFlag.split('-').map(Number) : [0, Number.POSITIVE_INFINITY];
if (fromS === undefined || toS === undefined || Number.isNaN(fromS) || Number.isNaN(toS)) {
  console.error(`--window=${windowFlag}: expected FROM-TO in seconds, e.g. --window=11-17`);
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const inclusive = new Map<string, number>();
const self = new Map<string, number>();
let total = 0;
let elapsed = 0;
/** Per second of the profile: [sampled, busy] µs. */
const seconds = new Map<number, [number, number]>();
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  elapsed += dt;
  const second = Math.floor(elapsed / 1e6);
  const s = seconds.get(second) ?? [0, 0];
  s[0] += dt;
  if (byId.get(id)!.callFrame.functionName !== '(idle)') s[1] += dt;
  seconds.set(second, s);
  if (elapsed / 1e6 < fromS || elapsed / 1e6 >= toS) return;
  total += dt;
  const frame = byId.get(id)!.callFrame;
  const where = frame.url.replace(/^file:\/\/.*?\/(node_modules|src)\//, '$1/').replace(/^node:/, 'node:');
  const key = `${frame.functionName || '(anonymous)'}  ${where}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
  self.set(key, (self.get(key) ?? 0) + dt);
  if (filter) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      if (!f.url.includes(filter)) continue;
      const k = `${f.functionName || '(anonymous)'}  ${f.url.replace(/^file:\/\/.*?\/(node_modules|src)\//, '$1/')}:${f.lineNumber + 1}`;
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
  }
});
if (flags.includes('--timeline')) {
  console.log('second  busy');
  for (const [second, [sampled, busy]] of seconds) console.log(`${String(second).padStart(6)}  ${((100 * busy) / sampled).toFixed(0).padStart(3)}%`);
}
console.log(`total sampled: ${(total / 1000).toFixed(0)} ms${windowFlag ? ` (seconds ${fromS} to ${toS} of the profile)` : ''}`);
const shown = filter ? inclusive : self;
console.log(filter ? `inclusive time of frames in files matching '${filter}':` : 'self time:');
for (const [key, us] of [...shown.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) {
  console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${key}`);
}
