// The contract check itself (test/support/contract.ts) finds what it is there to find: otherwise every suite
// would pass against it whatever the gateway answered.
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

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
