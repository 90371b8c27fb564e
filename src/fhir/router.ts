import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import type { AuditorReach } from '../access/auditor.ts';
import { hasScope, requireScope, type Interaction as ScopeLetter } from '../auth/scopes.ts';
import type { RequestContext } from '../context.ts';
import { badRequest, methodNotAllowed, notFound } from './outcomes.ts';
import type { Repository } from './repository.ts';
import type { FhirRequest, FhirResponse } from './rest-types.ts';

/** The FHIR interactions (R4 http, plus `operation`) a route serves. */
export type RouteInteraction =
  | 'capabilities'
  | 'transaction'
  | 'read'
  | 'vread'
  | 'search-type'
  | 'history-system'
  | 'history-type'
  | 'history-instance'
  | 'create'
  | 'update'
  | 'patch'
  | 'delete'
  | 'operation';

/** The SMART permission each REST interaction needs on its type. */
const LETTER: Partial<Record<RouteInteraction, ScopeLetter>> = {
  read: 'r',
  vread: 'r',
  'history-system': 'r',
  'history-type': 'r',
  'history-instance': 'r',
  'search-type': 's',
  create: 'c',
  update: 'u',
  patch: 'u',
  delete: 'd',
};

/**
 * Who may call a route, checked by the router before its handler runs:
 * - `public`: anyone, no token (the CapabilityStatement);
 * - `authenticated`: any caller with a token, for routes that serve nothing of anyone's (the topic), refuse
 *   whatever is asked (AuditEvent writes), or authorize each part as it is routed (the entries of a Bundle);
 * - `auditor`: the auditor role; the handler gets what the auditor may read (`reach`);
 * - `scope`: the SMART scope for the route's interaction on its type (`any` of several letters for an
 *   operation that stands for either, e.g. `$validate` for a create or an update), and `also` on other types.
 */
export type Access = 'public' | 'authenticated' | 'auditor' | ScopeAccess;

export interface ScopeAccess {
  /** Any one of these letters on the route's type; omitted: the letter of the route's interaction. */
  any?: readonly ScopeLetter[];
  /** Needed as well, each on its own type. */
  also?: readonly { type: string; letter: ScopeLetter }[];
}

/** The scope of the route's own interaction on its type (`read` → `r`, `create` → `c`, ...). */
export const BY_SCOPE: ScopeAccess = {};

/** The `:type` of a pattern, checked (404, 405 or 400, as the route says) before any scope. */
interface TypeParam {
  param: string;
  check: (type: string) => void;
}

export interface RouteMeta<A extends Access = Access> {
  interaction: RouteInteraction;
  /** The resource type the route serves: a fixed one, `*` (every type), or a path parameter. */
  type?: string | TypeParam;
  access: A;
}

/** What the router hands a handler once the caller is authorized. */
interface Granted {
  params: Record<string, string>;
  /** The transaction's repository for the entry of a transaction Bundle, otherwise a fresh one bound to the caller. */
  repo: Repository;
}

interface AuditorGranted extends Granted {
  reach: AuditorReach;
}

type GrantOf<A extends Access> = A extends 'auditor' ? AuditorGranted : Granted;

export type RouteHandler<A extends Access> = (req: FhirRequest, granted: GrantOf<A>) => Promise<FhirResponse>;

export interface RouterDeps {
  repository: (ctx: RequestContext) => Repository;
  auditorReach: (ctx: RequestContext) => Promise<AuditorReach>;
}

/** A registered route as the route-metadata test lists it. */
export interface RouteListing {
  method: FhirRequest['method'];
  pattern: string;
  interaction: RouteInteraction;
  type: string;
  access: string;
}

interface Route {
  method: FhirRequest['method'];
  pattern: string;
  segments: string[];
  meta: RouteMeta;
  run: (req: FhirRequest, params: Record<string, string>, repoOf: () => Repository) => Promise<FhirResponse>;
}

const INTERACTIONS = new Set<string>([...Object.keys(LETTER), 'capabilities', 'transaction', 'operation']);

/**
 * A table of FHIR routes (`GET :type/:id`) matched against plain-data requests. Used by the HTTP
 * adapter and by transaction/batch processing alike, so an entry of a Bundle takes the same path
 * as the same request made on its own.
 *
 * The router owns authorization: every route declares its interaction, type and access when it is
 * registered, and the router checks them before the handler runs. Among the routes that match a path
 * and method the most specific wins (a literal segment beats a parameter, left to right), whatever the
 * order of registration.
 */
export class FhirRouter {
  private readonly table: Route[] = [];
  private readonly deps: RouterDeps;

  constructor(deps: RouterDeps) {
    this.deps = deps;
  }

  add<A extends Access>(method: FhirRequest['method'], pattern: string, meta: RouteMeta<A>, handler: RouteHandler<A>): this {
    // Also at run time: a route registered from untyped code without its metadata would otherwise run unchecked.
    checkMeta(method, pattern, meta);
    const segments = pattern.split('/').filter(Boolean);
    if (this.table.some((r) => r.method === method && r.segments.join('/') === segments.join('/'))) {
      throw new Error(`FHIR route ${method} ${pattern} is registered twice`);
    }
    const run = async (req: FhirRequest, params: Record<string, string>, repoOf: () => Repository): Promise<FhirResponse> => {
      const granted = await this.authorize(req, params, meta);
      let repo: Repository | undefined;
      // Made when the handler takes it: the CapabilityStatement and the auditor's routes need none.
      const withRepo = Object.defineProperty({ ...granted, params }, 'repo', { get: () => (repo ??= repoOf()), enumerable: true });
      return handler(req, withRepo as GrantOf<A>);
    };
    this.table.push({ method, pattern, segments, meta, run });
    return this;
  }

  /**
   * An operation that changes nothing: by `GET` with its parameters in the query and by `POST` with a
   * `Parameters` body, whose primitive parameters join the query (FHIR R4 §operations: both forms).
   */
  operation<A extends Access>(pattern: string, meta: RouteMeta<A> & { interaction: 'operation' }, handler: RouteHandler<A>): this {
    this.add('GET', pattern, meta, handler);
    return this.add('POST', pattern, meta, (req, granted) => handler({ ...req, method: 'GET', query: withParameters(req), body: undefined }, granted));
  }

  /** Every registered route with its metadata. */
  routes(): RouteListing[] {
    return this.table.map((r) => ({
      method: r.method,
      pattern: r.pattern,
      interaction: r.meta.interaction,
      type: typeof r.meta.type === 'object' ? `:${r.meta.type.param}` : (r.meta.type ?? ''),
      access: describeAccess(r.meta),
    }));
  }

  /**
   * The scope check of one interaction on a type, for a transaction's entry processed without a route of its own
   * (a create with an id assigned in advance, a conditional update): the same rule the routes are checked by.
   */
  authorizeInteraction(req: FhirRequest, type: string, interaction: RouteInteraction): void {
    const letter = LETTER[interaction];
    if (!letter) throw new Error(`No scope is defined for the interaction ${interaction}`);
    requireScope(req.ctx, type, letter);
  }

  /** Routes a request; `within` is the repository of the transaction the request is an entry of. */
  async handle(req: FhirRequest, within?: Repository): Promise<FhirResponse> {
    const parts = req.path.split('/').filter(Boolean);
    let pathMatched = false;
    let best: Route | undefined;
    for (const route of this.table) {
      if (!matches(route.segments, parts)) continue;
      pathMatched = true;
      if (route.method !== req.method) continue;
      if (!best || moreSpecific(route.segments, best.segments)) best = route;
    }
    if (best) return best.run(req, paramsOf(best.segments, parts), () => within ?? this.deps.repository(req.ctx));
    if (pathMatched) throw methodNotAllowed(`${req.method} is not allowed on /${req.path}`);
    throw notFound(`No FHIR endpoint at /${req.path}`);
  }

  private async authorize(req: FhirRequest, params: Record<string, string>, meta: RouteMeta): Promise<{ reach?: AuditorReach }> {
    const { access } = meta;
    if (access === 'public' || access === 'authenticated') return {};
    if (access === 'auditor') return { reach: await this.deps.auditorReach(req.ctx) };
    let type: string;
    if (typeof meta.type === 'object') {
      type = params[meta.type.param] ?? '';
      meta.type.check(type);
    } else {
      type = meta.type ?? '*';
    }
    const derived = LETTER[meta.interaction];
    const any = access.any ?? (derived ? [derived] : []);
    // The first letter names what is missing: `$validate` without create or update asks for create.
    if (!any.some((letter) => hasScope(req.ctx, type, letter))) requireScope(req.ctx, type, any[0] ?? 'r');
    for (const also of access.also ?? []) requireScope(req.ctx, also.type, also.letter);
    return {};
  }
}

function checkMeta(method: string, pattern: string, meta: RouteMeta | undefined): void {
  const where = `FHIR route ${method} ${pattern}`;
  if (!meta || typeof meta !== 'object') throw new Error(`${where} has no metadata: every route declares its interaction, type and access`);
  if (!INTERACTIONS.has(meta.interaction)) throw new Error(`${where} declares no known interaction`);
  const { access } = meta;
  if (access === 'public' || access === 'authenticated' || access === 'auditor') return;
  if (!access || typeof access !== 'object') throw new Error(`${where} declares no access`);
  if (meta.type === undefined) throw new Error(`${where} needs a scope but declares no resource type`);
  if (!access.any?.length && !LETTER[meta.interaction]) throw new Error(`${where}: an ${meta.interaction} needs the scope letters it requires`);
}

function describeAccess(meta: RouteMeta): string {
  const { access } = meta;
  if (typeof access === 'string') return access;
  const letters = (access.any ?? [LETTER[meta.interaction] ?? '?']).join('|');
  return ['scope ' + letters, ...(access.also ?? []).map((a) => `${a.type}.${a.letter}`)].join(' + ');
}

/** Whether `a` is more specific than `b` (same length): at the first difference, a literal beats a parameter. */
function moreSpecific(a: string[], b: string[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const aParam = a[i].startsWith(':');
    const bParam = b[i]?.startsWith(':') ?? true;
    if (aParam !== bParam) return !aParam;
  }
  return false;
}

/** A primitive `value[x]` as the text it would have in a query string; undefined for complex values. */
function primitiveText(p: ParametersParameter): string | undefined {
  for (const [key, value] of Object.entries(p)) {
    if (!key.startsWith('value')) continue;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  }
  return undefined;
}

/** The query of an operation invoked by POST: the URL's parameters and the body's primitive ones. */
function withParameters(req: FhirRequest): FhirRequest['query'] {
  const body = req.body as Parameters | undefined;
  if (body === undefined || body === null || (typeof body === 'object' && Object.keys(body).length === 0)) return req.query;
  if (typeof body !== 'object' || Array.isArray(body) || body.resourceType !== 'Parameters') {
    throw badRequest('An operation invoked by POST takes a Parameters resource', ['resourceType']);
  }
  const query: FhirRequest['query'] = { ...req.query };
  for (const [i, p] of (body.parameter ?? []).entries()) {
    if (typeof p.name !== 'string' || p.name === '' || p.name === '__proto__') throw badRequest(`Parameters.parameter[${i}] has no name`, [`Parameters.parameter[${i}].name`]);
    const text = primitiveText(p);
    // A Coding (ConceptMap/$translate's `coding`) stands for its system and code.
    if (text === undefined && p.valueCoding) {
      if (p.valueCoding.system) append(query, 'system', p.valueCoding.system);
      if (p.valueCoding.code !== undefined) append(query, 'code', p.valueCoding.code);
      continue;
    }
    if (text === undefined) throw badRequest(`Parameters.parameter[${i}] (${p.name}) must have a primitive value`, [`Parameters.parameter[${i}]`]);
    append(query, p.name, text);
  }
  return query;
}

function append(query: FhirRequest['query'], name: string, value: string): void {
  query[name] = [...(Object.hasOwn(query, name) ? query[name] : []), value];
}

/**
 * Whether `parts` match `pattern`; a malformed segment where a parameter is (`%E0%A4%A`) is a 400. Nothing is made
 * for a route that does not match: every request is matched against every route of its length (issue 19: building
 * each one's parameters cost a read 3.2 KB of its 74 KB allocated).
 */
function matches(pattern: string[], parts: string[]): boolean {
  if (pattern.length !== parts.length) return false;
  for (let i = 0; i < pattern.length; i++) {
    const seg = pattern[i];
    const part = parts[i];
    if (seg.startsWith(':')) {
      try {
        // Only `%` escapes change a segment when decoded, and only they can be malformed.
        if (part.includes('%')) decodeURIComponent(part);
      } catch {
        throw badRequest(`Malformed path segment '${part}'`);
      }
      // Operations ($x) and _history are never ids or types.
      if (part.startsWith('$') || part.startsWith('_')) return false;
    } else if (seg !== part) {
      return false;
    }
  }
  return true;
}

/** The parameters of a route `parts` matched (`matches`), decoded. */
function paramsOf(pattern: string[], parts: string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const seg = pattern[i];
    const part = parts[i];
    if (seg.startsWith(':')) params[seg.slice(1)] = part.includes('%') ? decodeURIComponent(part) : part;
  }
  return params;
}
