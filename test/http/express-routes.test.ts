// Every Express route outside the FHIR router, as the FHIR routes are listed in test/fhir/routes.test.ts. A route that
// needs a token declares its access when it is registered (src/http/secure-routes.ts) and is listed here with it; every
// other route is listed as needing no SMART token. A route added anywhere in the app, or a change of who may call one,
// fails here until this list says so.
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { refusal } from '../support/native.ts';

const NATIVE_POST = 'scope Task.c + Task.u + ServiceRequest.c + ServiceRequest.u + Encounter.c + Encounter.u + Patient.c + Patient.u + Observation.c + Observation.u';
const NATIVE_GET = 'scope Task.r + ServiceRequest.r + Encounter.r + Patient.r + Observation.r';

/** method, path, access: the Express routes that need a token. */
const EXPECTED: [string, string, string][] = [
  ['GET', '/board/events', 'scope Task.s'],
  ['GET', '/board/handovers/:id', 'scope Task.r'],
  ['POST', '/native/eenheid', 'scope Location.c + Location.u'],
  ['POST', '/native/:format', NATIVE_POST],
  ['GET', '/native/:format/:handoverId', NATIVE_GET],
];

/** The Express routes that need no SMART token: health, metrics (METRICS_TOKEN when set), docs, the board's page, OAuth. */
const OPEN = [
  'GET /health/live',
  'GET /health/ready',
  'GET /openapi.json',
  'GET /docs',
  'GET /docs/init.js',
  'GET /metrics',
  'GET /board',
  'GET /board/',
  'GET /board/board.js',
  'GET /board/board.css',
  'GET /board/map.js',
  'GET /board/map.css',
  'GET /board/region.geojson',
  'GET /.well-known/smart-configuration',
  'GET /fhir/.well-known/smart-configuration',
  'GET /.well-known/jwks.json',
  'POST /oauth2/token',
  // The CapabilityStatement: checks Accept, then goes on to the FHIR router (listed in test/fhir/routes.test.ts).
  'GET /fhir/metadata',
];

/** The operator endpoints: behind ADMIN_TOKEN, checked for every path under /admin before any of them (src/http/admin-routes.ts). */
const OPERATOR = [
  'POST /admin/clients',
  'GET /admin/clients',
  'DELETE /admin/clients/:clientId',
  'GET /admin/subscriptions',
  'POST /admin/subscriptions/:id/reactivate',
  'GET /admin/audit/head',
  'POST /admin/reindex',
];

interface LayerShape {
  rawPath?: unknown;
  route?: { path?: unknown; methods?: Record<string, boolean> };
  handle?: unknown;
}

/** Every route of an Express app as `METHOD /path`, routers followed into with their mount path (router 2's layers). */
function routesOf(stack: unknown, prefix = ''): string[] {
  if (!Array.isArray(stack)) return [];
  return stack.flatMap((layer: LayerShape) => {
    if (layer.route) {
      const paths = [layer.route.path].flat().filter((p): p is string => typeof p === 'string');
      const methods = Object.entries(layer.route.methods ?? {}).filter(([m, on]) => on && m !== '_all');
      return paths.flatMap((p) => methods.map(([m]) => `${m.toUpperCase()} ${prefix}${p === '/' && prefix ? '' : p}`));
    }
    const inner = typeof layer.handle === 'function' && 'stack' in layer.handle ? layer.handle.stack : undefined;
    const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
    return routesOf(inner, `${prefix}${mount}`);
  });
}

let tg: TestGateway;
beforeAll(async () => {
  tg = await startTestGateway({ ADMIN_TOKEN: 'operator-secret-for-the-route-list' });
});
afterAll(async () => {
  await tg.stop();
});

it('lists every Express route that needs a token with its declared access', () => {
  const actual = tg.gateway.expressRoutes().map((r) => [r.method, r.path, r.access].join(' '));
  const expected = EXPECTED.map((r) => r.join(' '));
  expect({ added: actual.filter((r) => !expected.includes(r)), missing: expected.filter((r) => !actual.includes(r)) }).toEqual({ added: [], missing: [] });
  expect(actual).toHaveLength(expected.length);
});

it('has no Express route that is neither declared with its access nor listed as open or for operators', () => {
  const mounted = routesOf((tg.gateway.app as unknown as { router: { stack: unknown } }).router.stack);
  const declared = tg.gateway.expressRoutes().map((r) => `${r.method} ${r.path}`);
  const known = [...declared, ...OPEN, ...OPERATOR];
  expect({ undeclared: mounted.filter((r) => !known.includes(r)), unmounted: known.filter((r) => !mounted.includes(r)) }).toEqual({ undeclared: [], unmounted: [] });
});

it.each(EXPECTED)('%s %s: a token without the declared scopes is refused 403 before the handler, naming the first one missing', async (method, path, access) => {
  const concrete = path.replace(':format', 'nts').replace(/:\w+/g, 'no-such-handover');
  const auth = await tg.auth('hap-vechtdal', 'system/Organization.rs');
  const res = method === 'GET' ? await request(tg.app).get(concrete).set('Authorization', auth) : await request(tg.app).post(concrete).set('Authorization', auth).set('Content-Type', 'application/json').send('{}');
  const [first] = access.replace('scope ', '').split(' + ');
  const [type, letter] = first.split('.');
  expect(refusal(res, [403]).text).toMatch(new RegExp(`needs system/${type}\\.${letter}\\)$`));
});

it('checks the native format before the scopes, as the FHIR router checks a type before its scope: 404', async () => {
  const auth = await tg.auth('hap-vechtdal', 'system/Organization.rs');
  refusal(await request(tg.app).post('/native/no-such-format').set('Authorization', auth).set('Content-Type', 'application/json').send('{}'), [404]);
  refusal(await request(tg.app).get('/native/no-such-format/x').set('Authorization', auth), [404]);
});

it('routes a native record to its router before the routers mounted at the root (health, docs, metrics, admin, board, OAuth), which it would walk layer by layer', () => {
  const stack = (tg.gateway.app as unknown as { router: { stack: LayerShape[] } }).router.stack;
  const isRouter = (layer: LayerShape): boolean => typeof layer.handle === 'function' && 'stack' in layer.handle;
  const atRoot = (layer: LayerShape): boolean => layer.rawPath === undefined || layer.rawPath === '/' || layer.rawPath === '';
  const firstNative = stack.findIndex((layer) => layer.rawPath === '/native/eenheid' || layer.rawPath === '/native');
  expect(firstNative).toBeGreaterThan(0);
  expect(stack.slice(0, firstNative).filter((layer) => isRouter(layer) && atRoot(layer))).toEqual([]);
  // The routers at the root are still there, after the native ones.
  expect(stack.slice(firstNative).filter((layer) => isRouter(layer) && atRoot(layer)).length).toBeGreaterThanOrEqual(5);
});
