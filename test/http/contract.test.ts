// The contract check itself (test/support/contract.ts) finds what it is there to find: otherwise every suite
// would pass against it whatever the gateway answered.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { takeViolations } from '../support/contract.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { startReceiver } from '../support/receiver.ts';

let tg: TestGateway;
beforeAll(async () => {
  tg = await startTestGateway();
});
afterAll(() => tg.stop());

const fhir = { 'content-type': 'application/fhir+json; charset=utf-8', 'x-request-id': 'r1' };
const outcome = Buffer.from(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found', diagnostics: 'x' }] }));
const patient = { resourceType: 'Patient', id: 'p1', meta: { versionId: '1' } };
const versionHeaders = { ...fhir, etag: 'W/"1"', 'last-modified': 'Mon, 01 Jan 2026 00:00:00 GMT', 'content-location': 'http://gateway.test/fhir/Patient/p1/_history/1' };

test('a response that matches passes', () => {
  expect(tg.contract.check('GET', '/fhir/Patient/p1', 200, versionHeaders, Buffer.from(JSON.stringify(patient)))).toEqual([]);
  expect(tg.contract.check('GET', '/fhir/Patient/p1?_format=json', 410, fhir, outcome)).toEqual([]);
});

test('an undeclared status, a missing or malformed header, a wrong body or content type are found', () => {
  expect(tg.contract.check('GET', '/fhir/Patient/p1', 418, fhir, outcome)).toEqual([expect.stringMatching(/status 418 is not declared/)]);
  const { etag: _etag, ...withoutEtag } = versionHeaders;
  expect(tg.contract.check('GET', '/fhir/Patient/p1', 200, withoutEtag, Buffer.from(JSON.stringify(patient)))).toEqual([expect.stringMatching(/header ETag is required/)]);
  expect(tg.contract.check('GET', '/fhir/Patient/p1', 200, { ...versionHeaders, etag: '"1"' }, Buffer.from(JSON.stringify(patient)))).toEqual([expect.stringMatching(/header ETag/)]);
  const { 'x-request-id': _id, ...withoutRequestId } = fhir;
  expect(tg.contract.check('GET', '/fhir/Patient/p1', 404, withoutRequestId, outcome)).toEqual([expect.stringMatching(/header X-Request-Id is required/)]);
  expect(tg.contract.check('GET', '/fhir/Patient/p1', 404, fhir, Buffer.from('{"resourceType":"Bundle"}'))).toEqual([expect.stringMatching(/does not match the schema/)]);
  expect(tg.contract.check('GET', '/fhir/Patient/p1', 404, { ...fhir, 'content-type': 'text/html' }, Buffer.from('<p>no</p>'))).toEqual([expect.stringMatching(/Content-Type text\/html is not declared/)]);
  expect(tg.contract.check('GET', '/health/live', 200, { 'content-type': 'application/json', 'x-request-id': 'r' }, Buffer.from('{"status":"fine"}'))).toEqual([
    expect.stringMatching(/\/status must be equal to one of the allowed values/),
  ]);
});

test('an endpoint missing from the description is found; the refusal of a path that does not exist is not', () => {
  expect(tg.contract.check('GET', '/native/nts/x/y', 200, { 'content-type': 'application/json' }, Buffer.from('{}'))).toEqual([expect.stringMatching(/is not in the description/)]);
  expect(tg.contract.check('DELETE', '/health/live', 200, fhir, outcome)).toEqual([expect.stringMatching(/DELETE \/health\/live is not in the description/)]);
  expect(tg.contract.check('GET', '/nowhere', 404, fhir, outcome)).toEqual([]);
  expect(tg.contract.check('DELETE', '/fhir/metadata', 405, fhir, outcome)).toEqual([]);
});

test('the most specific path wins: $validate, _history and the terminology types are not read as ids', () => {
  expect(tg.contract.matchPath('/fhir/Task/$validate')).toBe('/fhir/{type}/$validate');
  expect(tg.contract.matchPath('/fhir/Task/_history')).toBe('/fhir/{type}/_history');
  expect(tg.contract.matchPath('/fhir/ConceptMap/$translate')).toBe('/fhir/ConceptMap/$translate');
  expect(tg.contract.matchPath('/fhir/metadata')).toBe('/fhir/metadata');
});

describe('request bodies the gateway accepts', () => {
  // A stand-in for the gateway that reads the body late (as express does after its middleware) and
  // answers $validate with `status`: what `recording` checks is the body the test sent.
  const answer = async (status: number, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    await sleep(10);
    for await (const _chunk of req); // read to the end
    res.statusCode = status;
    res.setHeader('content-type', 'application/fhir+json');
    res.setHeader('x-request-id', 'r1');
    res.end(outcome);
  };
  // A request listener returns nothing: a failure ends the exchange instead of floating as a rejected promise.
  const fakeValidate = (status: number) => (req: IncomingMessage, res: ServerResponse): void => {
    answer(status, req, res).catch((err: unknown) => res.destroy(err instanceof Error ? err : new Error(String(err))));
  };
  const post = (status: number, type: string, body: string) =>
    request(tg.contract.recording(fakeValidate(status))).post('/fhir/Patient/$validate').set('Content-Type', type).send(body);

  test('a body that does not match its schema, or in an undeclared content type, is found when answered 2xx', async () => {
    await post(200, 'application/fhir+json', JSON.stringify({ resourceType: 'Patient', id: 'p1' }));
    expect(takeViolations()).toEqual([]);
    await post(200, 'application/fhir+json', JSON.stringify({ id: 'p1' }));
    expect(takeViolations()).toEqual([{ request: 'POST /fhir/Patient/$validate → 200', problem: expect.stringMatching(/body of the request does not match the schema: \(root\) must have required property 'resourceType'/) }]);
    await post(200, 'text/plain', 'Patient p1');
    expect(takeViolations()).toEqual([{ request: 'POST /fhir/Patient/$validate → 200', problem: expect.stringMatching(/Content-Type text\/plain is not declared for the request/) }]);
  });

  test('a bad body the gateway refuses is not a violation (tests send them on purpose)', async () => {
    await post(400, 'application/fhir+json', JSON.stringify({ id: 'p1' }));
    await post(400, 'text/plain', 'Patient p1');
    expect(takeViolations()).toEqual([]);
  });

  test('form fields, a missing required body and a body an operation does not take are checked too', () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    expect(tg.contract.checkRequest('POST', '/oauth2/token', form, Buffer.from('grant_type=client_credentials&scope=system%2F*.rs'))).toEqual([]);
    expect(tg.contract.checkRequest('POST', '/oauth2/token', form, Buffer.from('grant_type=password'))).toEqual([expect.stringMatching(/\/grant_type must be equal to constant/)]);
    expect(tg.contract.checkRequest('POST', '/native/nts', {}, Buffer.alloc(0))).toEqual([expect.stringMatching(/requires a request body/)]);
    expect(tg.contract.checkRequest('DELETE', '/fhir/Patient/p1', { 'content-type': 'application/json' }, Buffer.from('{}'))).toEqual([expect.stringMatching(/declares no request body/)]);
  });
});

test('a notification that does not match the handover webhook is found by the receiver', async () => {
  const receiver = await startReceiver();
  const headers = {
    'X-Subscription-Id': 's1',
    'X-Subscription-Topic': 'http://gateway.test/fhir/SubscriptionTopic/handover',
    'X-Notification-Type': 'event-notification',
    'X-Event-Number': '1',
    'Idempotency-Key': 's1-1',
    'X-Signature-Timestamp': '1767225600',
    'X-Signature': 'v1=00',
  };
  const notify = (contentType: string, body: unknown, without?: string) =>
    fetch(receiver.url, { method: 'POST', headers: Object.fromEntries(Object.entries({ ...headers, 'Content-Type': contentType }).filter(([k]) => k !== without)), body: JSON.stringify(body) });
  try {
    await notify('application/fhir+json', { resourceType: 'Bundle', type: 'history' });
    expect(takeViolations()).toEqual([]);
    await notify('application/fhir+json', { resourceType: 'Patient', type: 'history' });
    expect(takeViolations()).toEqual([{ request: 'notification event-notification of Subscription/s1', problem: expect.stringMatching(/\/resourceType must be equal to constant/) }]);
    await notify('application/x-vvt+json', { status: 'INGEPLAND', onbekend_veld: 1 });
    expect(takeViolations()).toEqual([expect.objectContaining({ problem: expect.stringMatching(/must NOT have additional properties 'onbekend_veld'/) })]);
    // application/json is declared (a subscription may ask for it, Backport IG): an undeclared type is still found.
    await notify('text/plain', {});
    expect(takeViolations()).toEqual([expect.objectContaining({ problem: expect.stringMatching(/Content-Type text\/plain is not declared for the notification/) })]);
    await notify('application/fhir+json', { resourceType: 'Bundle', type: 'history' }, 'X-Signature');
    expect(takeViolations()).toEqual([expect.objectContaining({ problem: 'header X-Signature is required' })]);
  } finally {
    await receiver.close();
  }
});
