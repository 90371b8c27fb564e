// RATE_LIMIT_PER_MINUTE: a token bucket per client (and per address at the token endpoint); beyond it a
// 429 with Retry-After and a `throttled` OperationOutcome, audited as a refusal. Other clients carry on.
import type { OperationOutcome } from '@medplum/fhirtypes';
import request from 'supertest';
import { loadConfig } from '../../src/config.ts';
import { RateLimiter } from '../../src/http/rate-limit.ts';
import { DEMO_SECRET, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { uniqueId } from '../support/native.ts';

const LIMIT = 5;
let tg: TestGateway;

beforeAll(async () => {
  tg = await startTestGateway({ RATE_LIMIT_PER_MINUTE: String(LIMIT) });
});
afterAll(async () => {
  await tg?.stop();
});

const search = (authorization: string, requestId = uniqueId('rl')) =>
  request(tg.app).get('/fhir/Organization').set('Authorization', authorization).set('Accept', 'application/fhir+json').set('X-Request-Id', requestId);

function expectThrottled(res: request.Response): void {
  expect(res.status).toBe(429);
  expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  const outcome = res.body as OperationOutcome;
  expect(outcome.resourceType).toBe('OperationOutcome');
  expect(outcome.issue?.[0]?.code).toBe('throttled');
}

describe('per client', () => {
  it('answers 429 with Retry-After once the bucket is empty, audits it, and leaves other clients alone', async () => {
    // One token request each (per address: 2 of 5).
    const hap = await tg.auth('hap-vechtdal');
    const rav = await tg.auth('rav-noordoost');
    for (let i = 0; i < LIMIT; i++) expect((await search(hap)).status).toBe(200);
    const requestId = uniqueId('throttled');
    expectThrottled(await search(hap, requestId));

    const rows = await tg.gateway.db.query<{ outcome: string; status: number; client_id: string }>('SELECT outcome, status, client_id FROM audit_events WHERE request_id = $1', [requestId]);
    expect(rows.rows).toEqual([{ outcome: '4', status: 429, client_id: 'hap-vechtdal' }]);

    // Native records count against the same bucket.
    expectThrottled(await request(tg.app).post('/native/nts').set('Authorization', hap).set('Content-Type', 'application/json').send('{}'));
    expect((await search(rav)).status).toBe(200);
  });
});

describe('per address at the token endpoint', () => {
  it('answers 429 before the client is authenticated', async () => {
    const requestId = uniqueId('token');
    const ask = () => request(tg.app).post('/oauth2/token').set('X-Request-Id', requestId).auth('vvt-ijsseldelta', DEMO_SECRET).type('form').send({ grant_type: 'client_credentials' });
    let res = await ask();
    for (let i = 0; i < LIMIT && res.status === 200; i++) res = await ask();
    expectThrottled(res);
    const rows = await tg.gateway.db.query<{ outcome: string }>('SELECT outcome FROM audit_events WHERE request_id = $1 AND status = 429', [requestId]);
    expect(rows.rows).toEqual([{ outcome: '4' }]);
  });
});

describe('the bucket', () => {
  it('refills at the configured rate and says how long to wait', () => {
    let now = 0;
    const limiter = new RateLimiter(60, () => now);
    for (let i = 0; i < 60; i++) expect(limiter.take('a')).toBeUndefined();
    expect(limiter.take('a')).toBe(1);
    expect(limiter.take('b')).toBeUndefined();
    now += 1000;
    expect(limiter.take('a')).toBeUndefined();
    expect(limiter.take('a')).toBe(1);
    now += 30_000;
    for (let i = 0; i < 30; i++) expect(limiter.take('a')).toBeUndefined();
    expect(limiter.take('a')).toBeGreaterThanOrEqual(1);
  });

  it('RATE_LIMIT_PER_MINUTE: 6000 by default, 0 is off, nonsense stops the start', () => {
    expect(loadConfig({}).rateLimitPerMinute).toBe(6000);
    expect(loadConfig({ RATE_LIMIT_PER_MINUTE: '0' }).rateLimitPerMinute).toBe(0);
    expect(() => loadConfig({ RATE_LIMIT_PER_MINUTE: '-1' })).toThrow(/RATE_LIMIT_PER_MINUTE/);
    expect(() => loadConfig({ RATE_LIMIT_PER_MINUTE: 'lots' })).toThrow(/RATE_LIMIT_PER_MINUTE/);
  });
});
