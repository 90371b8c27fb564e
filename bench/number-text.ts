// What keeping the text of numbers (issue 16.4, src/fhir/number-text.ts) costs per handover on the ingest path:
// the request body parse with and without the source-text step, the walk that collects texts for storage, the
// walk that maps a record's texts by value for the mapping, and serialising with and without remembered texts.
// Run: node bench/number-text.ts   (Node 24 from node_modules/.bin; BENCH_ROUNDS, 8: more rounds on a busy machine)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseJsonBody } from '../src/http/json-body.ts';
import { numberTextsByValue, numberTextsOf } from '../src/fhir/number-text.ts';

const examples = join(import.meta.dirname, '../test/fixtures/native-examples');
const ambulance = readFileSync(join(examples, 'ambulance-niet-vervoerd-naar-hap.json'), 'utf8');
const nts = readFileSync(join(examples, 'nts-u1-pijn-op-de-borst-naar-ambulance.json'), 'utf8');
// The same record with decimals written as a client measures them: every number then has a text to keep.
const withDecimals = ambulance.replace(/"hartfrequentie": 88/, '"hartfrequentie": 88, "temperatuur": 37.0, "glucose": 5.50').replace(/"lat": 52.5126/, '"lat": 52.51260');
if (withDecimals === ambulance) throw new Error('the example changed: no decimals spliced in');

/** The request body parse as it was before issue 16.4: the same guards, no source text. */
function parseBefore(raw: Buffer): unknown {
  const text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  if (text.includes('\u0000') || /\\u0000/i.test(text)) throw new Error('NUL');
  let forbidden = false;
  const value: unknown = JSON.parse(text, function (key, v: unknown) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') forbidden = true;
    if (!key.isWellFormed() || (typeof v === 'string' && !v.isWellFormed())) forbidden = true;
    if (typeof v === 'string' && v.length > 1024 * 1024) forbidden = true;
    else if (Array.isArray(v) && v.length > 10_000) forbidden = true;
    return v;
  });
  if (forbidden) throw new Error('refused');
  return value;
}

/** Best of several short rounds, the contenders alternated: the machine is shared, the best round is the least disturbed. */
function microseconds(work: () => unknown, seconds: number): number {
  let n = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 50; i++) work();
    n += 50;
  }
  return ((performance.now() - started) * 1000) / n;
}

function compare(label: string, contenders: Record<string, () => unknown>, rounds = Number(process.env.BENCH_ROUNDS ?? 8)): void {
  const best: Record<string, number> = {};
  for (const work of Object.values(contenders)) microseconds(work, 0.2);
  for (let r = 0; r < rounds; r++) {
    for (const [name, work] of Object.entries(contenders)) best[name] = Math.min(best[name] ?? Infinity, microseconds(work, 0.25));
  }
  console.log(label);
  for (const [name, us] of Object.entries(best)) console.log(`  ${name.padEnd(44)} ${us.toFixed(2).padStart(8)} µs`);
}

for (const [label, text] of [
  ['nts U1 (the ingest benchmark\'s record; no decimals)', nts],
  ['ambulance record, numbers as JavaScript writes them', ambulance],
  ['ambulance record with 37.0, 5.50, 52.51260', withDecimals],
] as const) {
  const raw = Buffer.from(text);
  const parsed = parseJsonBody(raw);
  const plain = parseBefore(raw);
  compare(`${label}: ${raw.length} bytes`, {
    'parse before (guards only)': () => parseBefore(raw),
    'parse now (guards + number texts)': () => parseJsonBody(raw),
    'numberTextsOf (storage walk)': () => numberTextsOf(parsed),
    'numberTextsByValue (mapping walk)': () => numberTextsByValue(parsed),
    'JSON.stringify, plain value': () => JSON.stringify(plain),
    'JSON.stringify, value with texts': () => JSON.stringify(parsed),
  });
}
