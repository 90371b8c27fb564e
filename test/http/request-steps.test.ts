// The fixed steps every request takes before its handler (issue 19: what a read costs the gateway): helmet's headers
// worked out once instead of per request, and no body parsing for a request that has no body; each response
// exactly as before.
import express from 'express';
import helmet from 'helmet';
import request from 'supertest';
import { readBodyWithin } from '../../src/http/body.ts';
import { securityHeaders } from '../../src/http/security-headers.ts';
import { startTestGateway } from '../support/gateway.ts';

/** The calls a middleware makes on a response, in order. */
function callsOn(run: (res: express.Response) => void): string[] {
  const calls: string[] = [];
  const res = {
    setHeader: (name: string, value: string) => calls.push(`set ${name}: ${value}`),
    removeHeader: (name: string) => calls.push(`remove ${name}`),
  } as unknown as express.Response;
  run(res);
  return calls;
}

test('every response gets the very headers helmet sets, in its order, and helmet runs once, not per request', () => {
  const fromHelmet = callsOn((res) => helmet()({} as express.Request, res, () => undefined));
  expect(fromHelmet.length).toBeGreaterThan(10);
  const real = helmet();
  let runs = 0;
  const apply = securityHeaders((req, res, next) => {
    runs++;
    real(req, res, next);
  });
  for (let i = 0; i < 5; i++) expect(callsOn(apply)).toEqual(fromHelmet);
  expect(runs).toBe(1);
  // The default is helmet's defaults.
  expect(callsOn(securityHeaders())).toEqual(fromHelmet);
});

test('a request without a body is not handed to the body parser: no timer, req.body undefined', () => {
  const setTimeoutAsIs = globalThis.setTimeout;
  let timers = 0;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    timers++;
    return setTimeoutAsIs(...args);
  }) as typeof setTimeout;
  try {
    const req = { headers: {} } as express.Request;
    const nexts: unknown[][] = [];
    readBodyWithin(1024, 30_000)(req, {} as express.Response, (...args: unknown[]) => nexts.push(args));
    expect(nexts).toEqual([[]]);
    expect(timers).toBe(0);
    expect('body' in req && req.body === undefined).toBe(true);
  } finally {
    globalThis.setTimeout = setTimeoutAsIs;
  }
});

test('through the gateway: a read, a refusal and the CapabilityStatement carry helmet\'s headers; a body is still read', async () => {
  const tg = await startTestGateway();
  try {
    const expected = Object.fromEntries(
      callsOn((res) => helmet()({} as express.Request, res, () => undefined))
        .filter((c) => c.startsWith('set '))
        .map((c) => {
          const [name = '', value = ''] = c.slice(4).split(/: (.*)/s);
          return [name.toLowerCase(), value];
        }),
    );
    const auth = await tg.auth('hap-vechtdal');
    const created = await request(tg.app).post('/fhir/Patient').set('Authorization', auth).set('Content-Type', 'application/fhir+json').send({ resourceType: 'Patient', name: [{ family: 'Steps' }] }).expect(201);
    const read = await request(tg.app).get(`/fhir/Patient/${(created.body as { id: string }).id}`).set('Authorization', auth).expect(200);
    const refused = await request(tg.app).get('/fhir/Patient').expect(401);
    const metadata = await request(tg.app).get('/fhir/metadata').expect(200);
    for (const res of [created, read, refused, metadata]) {
      expect(res.headers).toMatchObject(expected);
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
  } finally {
    await tg.stop();
  }
});
