// The embedded demo's memory (PGlite, no DATABASE_URL, as `npm start` runs it): RSS idle after start, and peak RSS
// under native ingest and Task searches. `npm run bench` runs this as part (g).
// Run: node bench/pglite-memory.ts   (Node 24 from node_modules/.bin)
// Options: BENCH_SECONDS per load phase (10), BENCH_CLIENTS (32), BENCH_SETTLE_SECONDS (idle wait after start, 10), BENCH_NODE_ARGS.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchNodeArgs } from './lib/gateway-process.ts';
import { pgliteMemory, pgliteMemoryLines } from './lib/pglite-memory.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const clients = Number(process.env.BENCH_CLIENTS ?? 32);
const settleSeconds = Number(process.env.BENCH_SETTLE_SECONDS ?? 10);
const example = JSON.parse(readFileSync(join(import.meta.dirname, '../test/fixtures/native-examples/nts-u1-pijn-op-de-borst-naar-ambulance.json'), 'utf8')) as Record<string, unknown>;

// BENCH_NODE_ARGS: Node options added after those of `npm start` (they win), e.g. another young generation size.
const r = await pgliteMemory(clients, seconds, example, settleSeconds, benchNodeArgs());
console.log(`embedded demo (PGlite): ${clients} clients, ${seconds} s ingest then ${seconds} s Task search`);
for (const l of pgliteMemoryLines(r)) console.log(l);
console.log(`    errors ${JSON.stringify({ ingest: r.ingest.errors, search: r.search.errors })}`);
console.log(`    ingest p50 ${r.ingest.p50.toFixed(0)} ms p99 ${r.ingest.p99.toFixed(0)} ms; search p50 ${r.search.p50.toFixed(0)} ms p99 ${r.search.p99.toFixed(0)} ms`);
