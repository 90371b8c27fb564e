// Issue 14, rows 4, 7, 8 and 9: input that asked for unbounded work or that the database could not take is
// refused with a 400 and an OperationOutcome, audited (an audit_events row of its request id with outcome 4
// and the status), stores nothing, and the gateway keeps serving.
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import type { OperationOutcome, Patient } from '@medplum/fhirtypes';
import request from 'supertest';
import { buildPatient } from '../support/fhir-builders.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { example, nativeClient, setBsn, uniqueBsn, uniqueId, uniqueRide, type Format, type Native } from '../support/native.ts';

const FHIR_JSON = 'application/fhir+json';

let tg: TestGateway;
let native: Native;
let patient: Patient;

beforeAll(async () => {
  tg = await startTestGateway();
  native = nativeClient(tg);
  const created = await send('post', '/fhir/Patient', JSON.stringify(buildPatient()));
  expect(created.status).toBe(201);
  patient = created.body as Patient;
});
afterAll(async () => {
  await tg?.stop();
});

/** Everything a request could have stored. */
async function stored(): Promise<Record<string, number>> {
  const { rows } = await tg.gateway.db.query<{ versions: number; records: number }>(
    `SELECT (SELECT count(*) FROM resource_versions)::int AS versions, (SELECT count(*) FROM native_records)::int AS records`,
  );
  return { ...rows[0] };
}

/** A request as the HAP, the body sent as the bytes given. */
async function send(method: 'get' | 'post', path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<request.Response> {
  let t = request(tg.app)[method](path).set('Authorization', await tg.auth('hap-vechtdal')).set('Accept', FHIR_JSON);
  if (body !== undefined) t = t.set('Content-Type', path.startsWith('/native') ? 'application/json' : FHIR_JSON);
  for (const [k, v] of Object.entries(headers)) t = t.set(k, v);
  if (body === undefined) return t;
  return t.serialize((b: unknown) => b as string).send(body as string);
}

/** Sends the bad request under a fresh request id: 400, an OperationOutcome, nothing stored, audited, still serving. */
async function refused(bad: (headers: Record<string, string>) => Promise<request.Response>): Promise<string> {
  const requestId = uniqueId('bounded');
  const before = await stored();
  const res = await bad({ 'X-Request-Id': requestId });
  expect({ status: res.status, body: res.status === 400 ? '' : res.text }).toEqual({ status: 400, body: '' });
  expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
  const outcome = JSON.parse(res.text) as OperationOutcome;
  expect(outcome.resourceType).toBe('OperationOutcome');
  expect(outcome.issue?.[0]?.severity).toBe('error');
  expect(await stored()).toEqual(before);
  const audit = await tg.gateway.db.query<{ outcome: string; status: number }>('SELECT outcome, status FROM audit_events WHERE request_id = $1', [requestId]);
  expect(audit.rows).toContainEqual({ outcome: '4', status: 400 });
  const alive = await send('get', `/fhir/Patient/${patient.id}`);
  expect(alive.status).toBe(200);
  return (outcome.issue ?? []).map((i) => [...(i.expression ?? []), i.diagnostics ?? ''].join(' ')).join(' | ');
}

const record = (format: Format): Record<string, unknown> => {
  const r = setBsn(format, example(format === 'nts' ? 'nts-u1-pijn-op-de-borst-naar-ambulance' : format === 'vvt' ? 'vvt-aanvraag-van-zcc' : 'ambulance-niet-vervoerd-naar-vvt'), uniqueBsn());
  if (format === 'nts') r.contactId = uniqueId('HAPV');
  if (format === 'vvt') r.aanvraag_id = uniqueId('ZCC');
  if (format === 'ambulance') Object.assign(r, uniqueRide());
  return r;
};

describe('row 4: a cap on what one record fans out into', () => {
  it('an NTS record with 3,000 triage criteria is refused with 400 naming the field', async () => {
    const r = record('nts');
    const triage = r.triage as { criteria: unknown[] };
    triage.criteria = Array.from({ length: 3000 }, (_, i) => ({ code: `PT-${i}`, vraag: `Vraag ${i}?`, antwoord: 'nee' }));
    const said = await refused((h) => send('post', '/native/nts', JSON.stringify(r), h));
    expect(said).toContain('triage.criteria');
    expect(said).toContain('at most 50');
  });

  it('the cap itself is accepted: 50 criteria make a handover', async () => {
    const r = record('nts');
    (r.triage as { criteria: unknown[] }).criteria = Array.from({ length: 50 }, (_, i) => ({ code: `PT-${i}`, vraag: `Vraag ${i}?`, antwoord: 'nee' }));
    expect((await native.send('nts', r)).status).toBe(201);
  });

  it('over-long context factors, care needs and crews are refused with 400 naming the field', async () => {
    const nts = record('nts');
    (nts.triage as { contextfactoren: string[] }).contextfactoren = Array.from({ length: 21 }, (_, i) => `factor ${i}`);
    expect(await refused((h) => send('post', '/native/nts', JSON.stringify(nts), h))).toContain('triage.contextfactoren');
    const vvt = record('vvt');
    vvt.zorgvraag = Array.from({ length: 10 }, () => 'OVERIG');
    expect(await refused((h) => send('post', '/native/vvt', JSON.stringify(vvt), h))).toContain('zorgvraag');
    const ambulance = record('ambulance');
    ambulance.bemanning = Array.from({ length: 7 }, (_, i) => ({ naam: `Crew ${i}`, rol: 'ambulancechauffeur' }));
    expect(await refused((h) => send('post', '/native/ambulance', JSON.stringify(ambulance), h))).toContain('bemanning');
  });
});

describe('row 7: lone UTF-16 surrogates', () => {
  it('in a native field that fails validation, in a FHIR body and in a key: 400, audited', async () => {
    const nts = JSON.stringify(record('nts')).replace('"Jong"', '"Jong\\ud800"');
    expect(await refused((h) => send('post', '/native/nts', nts, h))).toContain('surrogate');
    const postcode = JSON.stringify(record('nts')).replace(/"postcode":"[^"]*"/, '"postcode":"8011\\udc00VM"');
    expect(await refused((h) => send('post', '/native/nts', postcode, h))).toContain('surrogate');
    const fhir = JSON.stringify({ ...buildPatient(), name: [{ family: 'Jong' }] }).replace('"Jong"', '"Jong\\uDBFF"');
    expect(await refused((h) => send('post', '/fhir/Patient', fhir, h))).toContain('surrogate');
    const key = JSON.stringify(record('vvt')).replace('"reden"', '"re\\ud800den"');
    expect(await refused((h) => send('post', '/native/vvt', key, h))).toContain('surrogate');
  });

  it('a refusal quoting a value cut in the middle of a surrogate pair is audited', async () => {
    // The schema's message quotes the first 60 characters of the value: here 59 letters and half an emoji.
    const r = record('nts');
    ((r.patient as { adres: { postcode: string } }).adres).postcode = `${'X'.repeat(59)}😀`;
    expect(await refused((h) => send('post', '/native/nts', JSON.stringify(r), h))).toContain('postcode');
  });
});

describe('row 8: sequence numbers beyond what the ledger holds', () => {
  it.each([
    ['nts', 'volgnummer'],
    ['ambulance', 'volgnummer'],
    ['vvt', 'mutatie_nr'],
  ] as const)('%s %s of 2^31 is refused with 400 naming the field; 2^31 - 1 is stored', async (format, field) => {
    const over = { ...record(format), [field]: 2 ** 31 };
    expect(await refused((h) => send('post', `/native/${format}`, JSON.stringify(over), h))).toContain(field);
    const atMost = { ...record(format), [field]: 2 ** 31 - 1 };
    expect((await native.send(format, atMost, format === 'nts' ? 'hap-vechtdal' : format === 'vvt' ? 'zcc-ijsselland' : 'rav-noordoost')).status).toBe(201);
  });

  it('a number beyond its column that gets past a schema (PostgreSQL 22003) is a 400, not a 500', async () => {
    const { toHttpError } = await import('../../src/http/errors.ts');
    expect(toHttpError(Object.assign(new Error('integer out of range'), { code: '22003' })).status).toBe(400);
  });
});

describe('row 9: a body that does not decompress as its Content-Encoding says', () => {
  const body = JSON.stringify({ ...buildPatient(), name: [{ family: 'Jong' }] });
  const cases: [string, Buffer][] = [
    ['gzip', Buffer.from('this is not gzip at all')],
    ['gzip', gzipSync(body).subarray(0, 20)],
    ['deflate', Buffer.from('this is not deflate')],
    ['deflate', deflateSync(body).subarray(0, 10)],
    ['br', Buffer.from('this is not brotli, not even close')],
    ['br', brotliCompressSync(body).subarray(0, 8)],
  ];
  it.each(cases.map(([encoding, bytes], i) => [encoding, i % 2 === 0 ? 'garbage' : 'truncated', bytes] as const))('%s, %s: 400 on FHIR and native', async (encoding, _kind, bytes) => {
    expect(await refused((h) => send('post', '/fhir/Patient', bytes, { ...h, 'Content-Encoding': encoding }))).toContain('Content-Encoding');
    expect(await refused((h) => send('post', '/native/nts', bytes, { ...h, 'Content-Encoding': encoding }))).toContain('Content-Encoding');
  });
});
