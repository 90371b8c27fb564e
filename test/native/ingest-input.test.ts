// Hostile and broken input on POST /native/{format}: each refused with an OperationOutcome, nothing stored, and the gateway keeps serving.
import request from 'supertest';
import type { TestGateway } from '../support/gateway.ts';
import { example, idFrom, refusal, setBsn, uniqueBsn, uniqueId, withNativeGateway, type Native } from '../support/native.ts';

let tg: TestGateway;
let native: Native;
withNativeGateway((g) => ({ tg, native } = g));

const U1 = 'nts-u1-pijn-op-de-borst-naar-ambulance.json';

function validText(): string {
  return JSON.stringify({ ...setBsn('nts', example(U1), uniqueBsn()), contactId: uniqueId('HAPV') });
}

async function counts(): Promise<number[]> {
  return Promise.all(['Task', 'Patient', 'Encounter', 'ServiceRequest', 'Provenance'].map((t) => native.count(t)));
}

const nest = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

const cases: [string, () => Promise<request.Response>, number, RegExp][] = [
  ['malformed JSON', () => native.send('nts', validText().slice(0, -5)), 400, /JSON/],
  ['a JSON array', () => native.send('nts', '[]'), 400, /object/],
  ['an empty body', () => native.send('nts', ''), 400, /empty/],
  ['a wrong content type', () => native.send('nts', validText(), undefined, 'text/plain'), 415, /Content-Type/],
  ['XML', () => native.send('nts', '<nts/>', undefined, 'application/xml'), 415, /Content-Type/],
  ['a body over the limit', () => native.send('nts', `{"advies":"${'x'.repeat(3 * 1024 * 1024)}"}`), 413, /larger/],
  ['a __proto__ key', () => native.send('nts', validText().replace('{', '{"__proto__":{"isAdmin":true},')), 400, /__proto__/],
  ['a nested __proto__ key', () => native.send('nts', validText().replace('"patient":{', '"patient":{"__proto__":{"x":1},')), 400, /__proto__/],
  ['a constructor key', () => native.send('nts', validText().replace('{', '{"constructor":{"prototype":{}},')), 400, /constructor|prototype/],
  ['deep nesting', () => native.send('nts', nest(1000)), 400, /nested/],
  ['very deep nesting', () => native.send('nts', nest(150_000)), 400, /nested/],
  ['invalid UTF-8', () => native.send('nts', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])), 400, /UTF-8/],
  ['a NUL character', () => native.send('nts', validText().replace('"Jong"', '"Jo\\u0000ng"')), 400, /NUL/],
  ['an unknown format', () => native.send('hl7v2' as 'nts', validText()), 404, /format/],
];

describe('bad input on POST /native/{format}', () => {
  it.each(cases)('refuses %s with an OperationOutcome and stores nothing', async (_what, send, status, says) => {
    const before = await counts();
    const { text } = refusal(await send(), [status]);
    expect(text).toMatch(says);
    expect(await counts()).toEqual(before);
  });

  it('refuses a request without a token (401)', async () => {
    const res = await request(tg.app).post('/native/nts').set('Content-Type', 'application/json').send(validText());
    refusal(res, [401]);
  });

  it('keeps serving after all of it', async () => {
    for (const [, send] of cases) await send();
    const res = await native.send('nts', validText());
    expect(res.status).toBe(201);
    expect(idFrom(res.headers.location, 'Task')).toBeTruthy();
  });
});
