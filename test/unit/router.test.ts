// The FHIR router alone, without a database: route metadata is required, the most specific route wins whatever
// the order of registration, the type and the scope are checked before a handler runs, and an operation
// registered once answers GET and POST (a Parameters body) alike.
import type { RequestContext } from '../../src/context.ts';
import { HttpError } from '../../src/fhir/outcomes.ts';
import type { FhirRequest, FhirResponse } from '../../src/fhir/rest-types.ts';
import { BY_SCOPE, FhirRouter, type RouteMeta } from '../../src/fhir/router.ts';

const ctx = (scopes: string[], roles: string[] = []): RequestContext => ({ organizationUra: '90001234', clientId: 'router-test', scopes, roles, requestId: 'r-1' });
const request = (method: FhirRequest['method'], path: string, scopes = ['system/*.cruds'], body?: unknown): FhirRequest => ({ method, path, query: {}, headers: {}, ctx: ctx(scopes), body });

function router(): FhirRouter {
  // No route here takes a repository or the auditor's reach: asking for one is a test failure.
  return new FhirRouter({
    repository: () => {
      throw new Error('no repository in this test');
    },
    auditorReach: async () => {
      throw new Error('no auditor in this test');
    },
  });
}

const answer =
  (name: string) =>
  async (req: FhirRequest): Promise<FhirResponse> => ({ status: 200, headers: { 'X-Route': name, 'X-Query': JSON.stringify(req.query) } });

async function status(r: FhirRouter, req: FhirRequest): Promise<number | string> {
  try {
    const res = await r.handle(req);
    return res.headers?.['X-Route'] ?? res.status;
  } catch (err) {
    if (err instanceof HttpError) return err.status;
    throw err;
  }
}

const read = { interaction: 'read', type: { param: 'type', check: () => undefined }, access: BY_SCOPE } as const;

describe('route metadata', () => {
  it('is required: a route without it is refused when registered, at compile time and at run time', () => {
    const r = router();
    // @ts-expect-error: the metadata argument is required by the type (typecheck fails when this line compiles).
    expect(() => r.add('GET', 'Thing', answer('x'))).toThrow(/GET Thing has no metadata/);
    expect(() => r.add('GET', 'Thing', { interaction: 'reading' } as unknown as RouteMeta, answer('x'))).toThrow(/no known interaction/);
    expect(() => r.add('GET', 'Thing', { interaction: 'operation', type: 'Task', access: {} }, answer('x'))).toThrow(/needs the scope letters/);
    expect(() => r.add('GET', 'Thing', { interaction: 'read', access: {} }, answer('x'))).toThrow(/declares no resource type/);
    expect(r.routes()).toEqual([]);
  });

  it('refuses the same method and pattern twice', () => {
    const r = router().add('GET', ':type/:id', read, answer('a'));
    expect(() => r.add('GET', ':type/:id', read, answer('b'))).toThrow(/registered twice/);
  });
});

describe('matching', () => {
  it('picks the most specific route whatever the order of registration', async () => {
    for (const order of [0, 1]) {
      const r = router();
      const generic = () => r.add('GET', ':type/:id', read, answer('generic'));
      const specific = () => r.add('GET', 'Location/:id', { interaction: 'read', type: 'Location', access: BY_SCOPE }, answer('location'));
      if (order === 0) {
        generic();
        specific();
      } else {
        specific();
        generic();
      }
      expect(await status(r, request('GET', 'Location/x'))).toBe('location');
      expect(await status(r, request('GET', 'Task/x'))).toBe('generic');
    }
  });

  it('answers 405 for a path served by another method and 404 for no path', async () => {
    const r = router().add('GET', ':type/:id', read, answer('generic'));
    expect(await status(r, request('DELETE', 'Task/x'))).toBe(405);
    expect(await status(r, request('GET', 'Task/x/y'))).toBe(404);
    // Operations and _history are never ids.
    expect(await status(r, request('GET', 'Task/$op'))).toBe(404);
  });
});

describe('authorization before the handler', () => {
  it('checks the type first, then the scope of the interaction, and never runs the handler when either fails', async () => {
    let ran = 0;
    const r = router().add('GET', ':type/:id', { interaction: 'read', type: { param: 'type', check: (t) => { if (t !== 'Task') throw new HttpError(404, { resourceType: 'OperationOutcome', issue: [] }); } }, access: BY_SCOPE }, async () => {
      ran++;
      return { status: 200 };
    });
    expect(await status(r, request('GET', 'Nope/1', []))).toBe(404);
    expect(await status(r, request('GET', 'Task/1', ['system/Task.c']))).toBe(403);
    expect(await status(r, request('GET', 'Task/1', ['system/Patient.r']))).toBe(403);
    expect(ran).toBe(0);
    expect(await status(r, request('GET', 'Task/1', ['system/Task.r']))).toBe(200);
    expect(ran).toBe(1);
  });

  it('takes any one of several letters, and every scope listed as also needed', async () => {
    const r = router()
      .add('POST', ':type/$validate', { interaction: 'operation', type: { param: 'type', check: () => undefined }, access: { any: ['c', 'u'] } }, answer('validate'))
      .add('GET', 'Task/:id/$candidates', { interaction: 'operation', type: 'Task', access: { any: ['r'], also: [{ type: 'Location', letter: 's' }] } }, answer('candidates'));
    expect(await status(r, request('POST', 'Task/$validate', ['system/Task.u']))).toBe('validate');
    expect(await status(r, request('POST', 'Task/$validate', ['system/Task.rs']))).toBe(403);
    expect(await status(r, request('GET', 'Task/1/$candidates', ['system/Task.r']))).toBe(403);
    expect(await status(r, request('GET', 'Task/1/$candidates', ['system/Task.r', 'system/Location.s']))).toBe('candidates');
  });

  it('lets the auditor role alone through an auditor route', async () => {
    const r = new FhirRouter({
      repository: () => {
        throw new Error('no repository in this test');
      },
      auditorReach: async (c) => {
        if (!c.roles.includes('auditor')) throw new HttpError(403, { resourceType: 'OperationOutcome', issue: [] });
        return { all: true };
      },
    }).add('GET', 'AuditEvent', { interaction: 'search-type', type: 'AuditEvent', access: 'auditor' }, async (_req, { reach }) => ({ status: 200, headers: { 'X-Route': `reach ${String(reach.all)}` } }));
    expect(await status(r, request('GET', 'AuditEvent'))).toBe(403);
    expect(await status(r, { ...request('GET', 'AuditEvent'), ctx: ctx([], ['auditor']) })).toBe('reach true');
  });
});

describe('operations', () => {
  it('answer GET and POST, the Parameters body joining the query', async () => {
    const r = router().operation('ConceptMap/$translate', { interaction: 'operation', type: 'ConceptMap', access: { any: ['r'] } }, answer('translate'));
    const viaGet = await r.handle({ ...request('GET', 'ConceptMap/$translate'), query: { system: ['s'], code: ['c'] } });
    const parameters = { resourceType: 'Parameters', parameter: [{ name: 'coding', valueCoding: { system: 's', code: 'c' } }, { name: 'reverse', valueBoolean: false }] };
    const viaPost = await r.handle(request('POST', 'ConceptMap/$translate', ['system/*.r'], parameters));
    expect(JSON.parse(viaGet.headers?.['X-Query'] ?? '')).toEqual({ system: ['s'], code: ['c'] });
    expect(JSON.parse(viaPost.headers?.['X-Query'] ?? '')).toEqual({ system: ['s'], code: ['c'], reverse: ['false'] });
    expect(await status(r, request('POST', 'ConceptMap/$translate', ['system/*.r'], { resourceType: 'Patient' }))).toBe(400);
    expect(await status(r, request('POST', 'ConceptMap/$translate', ['system/*.r'], { resourceType: 'Parameters', parameter: [{ name: 'x', valueQuantity: { value: 1 } }] }))).toBe(400);
    expect(await status(r, request('POST', 'ConceptMap/$translate', ['system/Task.r'], parameters))).toBe(403);
  });
});
