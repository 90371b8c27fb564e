// How much V8 keeps compiling while the gateway takes native NTS handovers: optimisations and deoptimisations per
// 1,000 handovers over the second half of the run (after the first half's warm-up), from --trace-opt --trace-deopt.
// Counts that the machine's load moves little, unlike CPU time: a function optimised again and again in steady state
// (a closure made at every call whose optimised code nothing holds between calls, or a deoptimisation loop) shows here.
// Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_churn node bench/compile-churn.ts   (a database it may fill)
// Options: BENCH_GATEWAY_ROOT (another checkout, e.g. the code before a change), BENCH_SLICES (12), BENCH_SECONDS per
// slice (5), BENCH_CLIENTS (8), BENCH_TOP (10: the functions optimised most often in the measured half).
// The trace goes to .scratch/compile-churn-<pid>.txt; the "took" times in it are wall time, not CPU.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/support/free-port.ts';
import { nativeIngest } from './lib/ingest.ts';
import { startCommand } from './lib/gateway-process.ts';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL must name a PostgreSQL database the benchmark may fill');
  process.exit(2);
}
const root = process.env.BENCH_GATEWAY_ROOT ?? join(import.meta.dirname, '..');
const slices = Number(process.env.BENCH_SLICES ?? 12);
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const clients = Number(process.env.BENCH_CLIENTS ?? 8);
const top = Number(process.env.BENCH_TOP ?? 10);
const example = JSON.parse(readFileSync(join(import.meta.dirname, '../test/fixtures/native-examples/nts-u1-pijn-op-de-borst-naar-ambulance.json'), 'utf8')) as Record<string, unknown>;

const scratch = join(import.meta.dirname, '..', '.scratch');
mkdirSync(scratch, { recursive: true });
const traceFile = join(scratch, `compile-churn-${process.pid}.txt`);
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
// `npm start`'s own environment and options of that checkout, then the traces (their lines go to stdout, here a file).
const start = startCommand(root);
const gateway = spawn(process.execPath, [...start.options, '--trace-opt', '--trace-deopt', 'src/main.ts'], {
  cwd: root,
  env: { ...process.env, ...start.env, DATABASE_URL: databaseUrl, PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: url, LOG_LEVEL: 'error', RATE_LIMIT_PER_MINUTE: '0', DEMO: '1' },
  stdio: ['ignore', openSync(traceFile, 'w'), 'inherit'],
});

interface Trace {
  optimisations: string[];
  deopts: number;
}
/** The functions optimised so far (one name per completed Maglev or Turbofan job) and the deoptimisations. */
function readTrace(): Trace {
  const text = readFileSync(traceFile, 'utf8');
  // `<JSFunction name (sfi = …)>`, or `<JSFunction (sfi = …)>` for an anonymous one.
  const optimisations = [...text.matchAll(/\[completed (?:optimizing|compiling) [^<]*<JSFunction (?:([^ (]\S*) )?\(sfi/g)].map((m) => m[1] ?? '(anonymous)');
  return { optimisations, deopts: (text.match(/\[bailout \(kind/g) ?? []).length };
}

try {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (gateway.exitCode !== null) throw new Error(`the gateway exited with ${gateway.exitCode} before it was ready`);
    const ready = await fetch(`${url}/health/ready`).then((r) => r.ok).catch(() => false);
    if (ready) break;
    if (Date.now() > deadline) throw new Error('the gateway did not become ready within 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  const warmUp = Math.floor(slices / 2);
  let from: Trace = readTrace();
  let handovers = 0;
  for (let i = 0; i < slices; i++) {
    const r = await nativeIngest(url, clients, seconds, example);
    if (i < warmUp) from = readTrace();
    else handovers += r.ok;
  }
  const to = readTrace();
  const measured = to.optimisations.slice(from.optimisations.length);
  const byName = new Map<string, number>();
  for (const name of measured) byName.set(name, (byName.get(name) ?? 0) + 1);
  console.log(`compile churn, native ingest: ${root}, ${clients} clients, ${slices - warmUp} of ${slices} slices of ${seconds} s measured; load average ${loadavg()[0]?.toFixed(1)}`);
  console.log(`  handovers           ${handovers}`);
  console.log(`  optimisations       ${((1000 * measured.length) / handovers).toFixed(1)} per 1,000 handovers`);
  console.log(`  deoptimisations     ${((1000 * (to.deopts - from.deopts)) / handovers).toFixed(1)} per 1,000 handovers`);
  console.log(`  optimised most often: ${[...byName].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, n]) => `${name} ${n}`).join(', ')}`);
} finally {
  gateway.kill('SIGTERM');
}
