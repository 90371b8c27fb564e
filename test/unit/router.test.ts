// The FHIR router (src/fhir/router.ts) as a table matched against plain-data requests: parameters, the
// order of routes, operations and _history never taken for ids, 404 and 405 with an OperationOutcome.
import { systemContext } from '../../src/context.ts';
import { HttpError } from '../../src/fhir/outcomes.ts';
import type { FhirHandler, FhirRequest } from '../../src/fhir/rest-types.ts';
import { FhirRouter } from '../../src/fhir/router.ts';

// Each handler answers with its name and the parameters it was given, so a test sees which route was taken.
const named =
  (name: string): FhirHandler =>
  async (_req, params) => ({ status: 200, headers: { route: name, params: JSON.stringify(params) } });

// The one place these tests register routes (the registration's shape is the router's to change).
function router(routes: [FhirRequest['method'], string, string][]): FhirRouter {
  const r = new FhirRouter();
  for (const [method, pattern, name] of routes) r.add(method, pattern, named(name));
  return r;
}

const request = (method: FhirRequest['method'], path: string): FhirRequest => ({ method, path, query: {}, headers: {}, ctx: systemContext('unit') });

async function taken(r: FhirRouter, method: FhirRequest['method'], path: string): Promise<[string | undefined, Record<string, string>]> {
  const res = await r.handle(request(method, path));
  return [res.headers?.route, JSON.parse(res.headers?.params ?? '{}') as Record<string, string>];
}

async function refusal(r: FhirRouter, method: FhirRequest['method'], path: string): Promise<HttpError> {
  try {
    await r.handle(request(method, path));
  } catch (err) {
    if (err instanceof HttpError) return err;
    throw err;
  }
  throw new Error(`${method} /${path} was routed`);
}

const fhir = router([
  ['GET', 'metadata', 'capabilities'],
  ['GET', ':type/$candidates', 'type-operation'],
  ['GET', ':type/:id', 'read'],
  ['PUT', ':type/:id', 'update'],
  ['GET', ':type/:id/_history', 'history'],
  ['GET', ':type/:id/_history/:vid', 'vread'],
  ['GET', ':type', 'search'],
]);

test('a route matches segment by segment and hands over its parameters, decoded', async () => {
  expect(await taken(fhir, 'GET', 'Task/t-1')).toEqual(['read', { type: 'Task', id: 't-1' }]);
  expect(await taken(fhir, 'GET', 'Task/t-1/_history/3')).toEqual(['vread', { type: 'Task', id: 't-1', vid: '3' }]);
  expect(await taken(fhir, 'GET', 'Task/a%2Db')).toEqual(['read', { type: 'Task', id: 'a-b' }]);
  expect(await taken(fhir, 'GET', '/Patient/')).toEqual(['search', { type: 'Patient' }]);
  expect(await taken(fhir, 'GET', 'metadata')).toEqual(['capabilities', {}]);
});

test('the same path takes the route of the request’s method', async () => {
  expect((await taken(fhir, 'PUT', 'Task/t-1'))[0]).toBe('update');
  expect((await taken(fhir, 'GET', 'Task/t-1'))[0]).toBe('read');
});

test('an operation or _history is never taken for an id or a type', async () => {
  expect(await taken(fhir, 'GET', 'Task/$candidates')).toEqual(['type-operation', { type: 'Task' }]);
  expect((await refusal(fhir, 'GET', 'Task/$unknown')).status).toBe(404);
  expect((await refusal(fhir, 'GET', '_history')).status).toBe(404);
});

test('the first route that matches is taken', async () => {
  const first = router([
    ['GET', 'Task/special', 'literal'],
    ['GET', ':type/:id', 'read'],
  ]);
  expect((await taken(first, 'GET', 'Task/special'))[0]).toBe('literal');
  expect((await taken(first, 'GET', 'Task/other'))[0]).toBe('read');
});

test('a path no route has is 404, a path with routes for other methods only is 405, each with an outcome', async () => {
  const missing = await refusal(fhir, 'GET', 'Task/t-1/_history/3/extra');
  expect(missing.status).toBe(404);
  expect(missing.outcome.issue?.[0]).toMatchObject({ code: 'not-found', diagnostics: 'No FHIR endpoint at /Task/t-1/_history/3/extra' });
  const wrongMethod = await refusal(fhir, 'DELETE', 'Task/t-1');
  expect(wrongMethod.status).toBe(405);
  expect(wrongMethod.outcome.issue?.[0]).toMatchObject({ code: 'not-supported', diagnostics: 'DELETE is not allowed on /Task/t-1' });
});

test('a path segment that is not valid percent-encoding is 400, not a crash', async () => {
  const bad = await refusal(fhir, 'GET', 'Task/%E0%A4%A');
  expect(bad.status).toBe(400);
  expect(bad.outcome.issue?.[0]?.diagnostics).toBe("Malformed path segment '%E0%A4%A'");
});
