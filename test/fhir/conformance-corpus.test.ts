// The conformance corpus (issue 16): every FHIR R4 core example of a type the gateway serves (npm
// hl7.fhir.r4.examples, a devDependency) is posted as-is. Each is either accepted and read back equal to what was
// sent (only id, meta.versionId and meta.lastUpdated may differ; every other difference is listed), or refused with
// a message naming the element, by a rule of a served profile, of FHIR R4 itself, or of the gateway's access
// policy. test/fhir/conformance-corpus.expected.json lists every example and its outcome, so a change shows.
// After a deliberate change: UPDATE_CORPUS=1 npm test -- test/fhir/conformance-corpus.test.ts, and review the diff.
// Each example is sent as its file's text, byte for byte (a parse and re-serialise would already lose `1.0`).
// An example refused only because it refers to another example (`Patient/example`, which does not exist here) is
// sent again the way the field sends such material: one transaction with the examples it refers to, each with
// the absolute fullUrl `http://hl7.org/fhir/<type>/<id>` (R4 http.html#trules); it must then be accepted, its
// references rewritten to the ids the server assigned and nothing else changed.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { OperationOutcome, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { WRITABLE_TYPES } from '../../src/fhir/resource-types.ts';
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { FHIR_JSON, fhirClient, type Fhir } from './helpers.ts';

const EXAMPLES = dirname(createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'));
const EXPECTED_FILE = join(import.meta.dirname, 'conformance-corpus.expected.json');

export interface Outcome {
  status: number;
  outcome: 'accepted' | 'refused';
  /** Refused: which kind of rule — a served profile's, FHIR R4's own (base validation), or the access policy's. */
  rule?: 'profile' | 'r4' | 'policy';
  /** Refused: the first error's expression and message. */
  expression?: string;
  message?: string;
  /** Accepted in a transaction with these examples, which it refers to (absolute fullUrls). */
  with?: string[];
  /**
   * Accepted: what was read back differently from what was sent (references the server rewrote to the ids it
   * assigned excepted). Decimals and client meta must come back as sent (issue 16.3/16.4): any entry here is a loss.
   */
  differences?: string[];
}

let tg: TestGateway;
let fhir: Fhir;
let authorization: string;
const profileElements = new Map<string, Set<string>>();

beforeAll(async () => {
  tg = await startTestGateway();
  fhir = await fhirClient(tg);
  authorization = await tg.auth('hap-vechtdal');
  // The served profiles, as a client reads them: the rules a refusal may cite.
  for (const type of WRITABLE_TYPES) {
    const res = await fhir.get(`StructureDefinition?type=${type}`);
    const sd = (res.body as { entry?: { resource: StructureDefinition }[] }).entry?.[0]?.resource;
    if (sd) profileElements.set(type, new Set((sd.differential?.element ?? []).map((e) => e.path ?? '')));
  }
});
afterAll(async () => {
  await tg?.stop();
});

function examples(): Example[] {
  return readdirSync(EXAMPLES)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .flatMap((file) => {
      const type = file.split('-')[0] ?? '';
      if (!(WRITABLE_TYPES as readonly string[]).includes(type)) return [];
      const text = readFileSync(join(EXAMPLES, file), 'utf8');
      return (JSON.parse(text) as Resource).resourceType === type ? [{ file, type, text }] : [];
    });
}

/** The path of an element without indices and slices: `Task.owner[0].reference` → `Task.owner.reference`. */
function elementPath(expression: string): string {
  return expression.replace(/\[\d+\]/g, '').replace(/\.extension\('[^']*'\)/g, '.extension').replace(/\.where\([^)]*\)/g, '');
}

/** JSON paths where `got` differs from `sent`, after leaving out what the server owns (id, versionId, lastUpdated). */
function differences(sent: unknown, got: unknown, path: string, out: string[]): void {
  if (sent === got) return;
  if (Array.isArray(sent) && Array.isArray(got)) {
    if (sent.length !== got.length) out.push(`${path}: ${sent.length} items sent, ${got.length} read back`);
    for (let i = 0; i < Math.min(sent.length, got.length); i++) differences(sent[i], got[i], `${path}[${i}]`, out);
    return;
  }
  if (sent && got && typeof sent === 'object' && typeof got === 'object') {
    const s = sent as Record<string, unknown>;
    const g = got as Record<string, unknown>;
    for (const key of new Set([...Object.keys(s), ...Object.keys(g)])) {
      if (!(key in g)) out.push(`${path}.${key}: dropped`);
      else if (!(key in s)) out.push(`${path}.${key}: added`);
      else differences(s[key], g[key], `${path}.${key}`, out);
    }
    return;
  }
  out.push(`${path}: changed`);
}

function withoutServerMeta(resource: Record<string, unknown>): Record<string, unknown> {
  const { id: _id, meta, ...rest } = resource;
  const { versionId: _v, lastUpdated: _l, ...clientMeta } = (meta ?? {}) as Record<string, unknown>;
  return Object.keys(clientMeta).length ? { ...rest, meta: clientMeta } : rest;
}

/** Decimals whose text a JSON number loses (`37.0`, `1.000000000000000000E-245`): each must be read back as sent. */
function decimalsLost(sentText: string, gotText: string): string[] {
  const lost: string[] = [];
  for (const m of sentText.matchAll(/:\s*(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*[,}\]\n]/g)) {
    const literal = m[1] ?? '';
    if (String(Number(literal)) === literal) continue;
    if (!new RegExp(`:\\s*${literal.replace(/[.+-]/g, '\\$&')}\\s*[,}\\]\\n]`).test(gotText)) lost.push(`decimal ${literal}: precision lost`);
  }
  return [...new Set(lost)];
}

interface Example {
  file: string;
  type: string;
  text: string;
}

/** POSTs a body as the exact text given. */
function postText(path: string, text: string): request.Test {
  return request(tg.app).post(`/fhir/${path}`).set('Authorization', authorization).set('Accept', FHIR_JSON).set('Content-Type', FHIR_JSON).send(text);
}

const REFERS_TO = /refers to ([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}), which does not exist/;

/** The examples `example` refers to, and those they refer to (by `Type/id` in any `reference`), found in the corpus by id. */
function companions(example: Example, byKey: Map<string, Example>): Example[] {
  const found = new Map<string, Example>();
  const visit = (e: Example): void => {
    for (const m of e.text.matchAll(/"reference"\s*:\s*"([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})"/g)) {
      const target = byKey.get(m[1] ?? '');
      if (!target || target === example || found.has(target.file)) continue;
      found.set(target.file, target);
      visit(target);
    }
  };
  visit(example);
  return [...found.values()];
}

const keyOf = (e: Example): string => `${e.type}/${(JSON.parse(e.text) as Resource).id ?? ''}`;

/** `value` with every `reference` in `rewritten` replaced by what the server made of it. */
function rewriteReferences(value: unknown, rewritten: Map<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => rewriteReferences(v, rewritten));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, k === 'reference' && typeof v === 'string' ? (rewritten.get(v) ?? v) : rewriteReferences(v, rewritten)]),
    );
  }
  return value;
}

function refusal(res: request.Response, type: string): Outcome {
  const oo = res.body as OperationOutcome;
  const first = (oo.issue ?? []).find((i) => i.severity === 'error' || i.severity === 'fatal') ?? oo.issue?.[0];
  const expression = first?.expression?.[0] ?? '';
  const path = elementPath(expression);
  const rule = res.status === 403 || res.status === 405 || first?.code === 'forbidden' || first?.code === 'business-rule' ? 'policy' : profileElements.get(type)?.has(path) ? 'profile' : 'r4';
  return { status: res.status, outcome: 'refused', rule, expression, message: first?.diagnostics ?? '' };
}

async function readBack(example: Example, id: string, rewritten: Map<string, string>): Promise<string[]> {
  const sent = rewriteReferences(JSON.parse(example.text), rewritten) as Record<string, unknown>;
  const read = await fhir.get(`${example.type}/${id}`);
  const found: string[] = [];
  differences(withoutServerMeta(sent), withoutServerMeta(read.body as Record<string, unknown>), example.type, found);
  found.push(...decimalsLost(example.text, read.text));
  return found;
}

/** The example with the examples it refers to, in one transaction with absolute fullUrls. */
async function runInTransaction(example: Example, byKey: Map<string, Example>): Promise<Outcome | undefined> {
  const others = companions(example, byKey);
  if (others.length === 0) return undefined;
  const all = [example, ...others];
  const entry = (e: Example): string => `{"fullUrl":${JSON.stringify(`http://hl7.org/fhir/${keyOf(e)}`)},"resource":${e.text},"request":{"method":"POST","url":"${e.type}"}}`;
  const res = await postText('', `{"resourceType":"Bundle","type":"transaction","entry":[${all.map(entry).join(',')}]}`);
  const files = others.map((o) => o.file).sort();
  if (res.status !== 200) return { ...refusal(res, example.type), with: files };
  const locations = ((res.body as { entry?: { response?: { location?: string } }[] }).entry ?? []).map((e) => (e.response?.location ?? '').split('/_history/')[0]?.split('/').slice(-2).join('/') ?? '');
  const rewritten = new Map(all.map((e, i) => [keyOf(e), locations[i] ?? '']));
  const found = await readBack(example, (locations[0] ?? '').split('/')[1] ?? '', rewritten);
  return { status: 201, outcome: 'accepted', with: files, ...(found.length ? { differences: found } : {}) };
}

async function run(example: Example, byKey: Map<string, Example>): Promise<Outcome> {
  const res = await postText(example.type, example.text);
  if (res.status !== 201) {
    const refused = refusal(res, example.type);
    if (REFERS_TO.test(refused.message ?? '')) return (await runInTransaction(example, byKey)) ?? refused;
    return refused;
  }
  const found = await readBack(example, (res.body as Resource).id ?? '', new Map());
  return { status: 201, outcome: 'accepted', ...(found.length ? { differences: found } : {}) };
}

test('every R4 core example of a served type is accepted and read back as sent, or refused naming the element', async () => {
  const all = examples();
  expect(all.length).toBeGreaterThan(150);
  const byKey = new Map(all.map((e) => [keyOf(e), e]));
  const results: Record<string, Outcome> = {};
  for (const example of all) results[example.file] = await run(example, byKey);

  for (const [file, r] of Object.entries(results)) {
    if (r.outcome !== 'refused') continue;
    // A refusal names the element in its expression and in its message (or is the policy's: who may write what).
    if (r.rule !== 'policy') {
      expect([file, r.expression !== '']).toEqual([file, true]);
      expect([file, (r.message ?? '').includes(elementPath(r.expression ?? '').split('.').slice(0, 2).join('.'))]).toEqual([file, true]);
    }
  }
  if (process.env.UPDATE_CORPUS) writeFileSync(EXPECTED_FILE, JSON.stringify(results, null, 2) + '\n');
  const expected = JSON.parse(readFileSync(EXPECTED_FILE, 'utf8')) as Record<string, Outcome>;
  expect(results).toEqual(expected);
}, 300_000);
