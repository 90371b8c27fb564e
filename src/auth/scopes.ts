import type { RequestContext } from '../context.ts';
import { forbidden } from '../fhir/outcomes.ts';

/** A SMART interaction letter, in the order SMART v2 writes them. */
export type Interaction = 'c' | 'r' | 'u' | 'd' | 's';

const ORDER: readonly Interaction[] = ['c', 'r', 'u', 'd', 's'];
// SMART v2 §"Scopes for requesting FHIR resources": how v1 suffixes map to v2 permissions.
const V1: Record<string, Interaction[]> = { read: ['r', 's'], write: ['c', 'u', 'd'], '*': ['c', 'r', 'u', 'd', 's'] };
const SCOPE = /^system\/(\*|[A-Z][A-Za-z]{0,63})\.([a-z*]{1,5})$/;

interface SystemScope {
  /** A FHIR resource type, or `*` for all. */
  resourceType: string;
  permissions: ReadonlySet<Interaction>;
}

/**
 * Parses one `system/` scope, v2 (`system/Task.cruds`) or v1 (`system/Task.read`). Returns undefined
 * for anything else: other contexts (`patient/`, `user/`), query-qualified v2 scopes, and letters out
 * of order or repeated, which SMART v2 does not allow.
 */
function parseScope(scope: string): SystemScope | undefined {
  const m = SCOPE.exec(scope);
  if (!m) return undefined;
  const [, resourceType, suffix] = m;
  const v1 = Object.hasOwn(V1, suffix) ? V1[suffix] : undefined;
  if (v1) return { resourceType, permissions: new Set(v1) };
  let at = 0;
  const permissions = new Set<Interaction>();
  for (const ch of suffix) {
    const i = ORDER.indexOf(ch as Interaction, at);
    if (i < 0) return undefined;
    permissions.add(ORDER[i]);
    at = i + 1;
  }
  return { resourceType, permissions };
}

function formatScope(scope: SystemScope): string {
  return `system/${scope.resourceType}.${ORDER.filter((p) => scope.permissions.has(p)).join('')}`;
}

/** The canonical v2 form of a scope (`system/Task.read` → `system/Task.rs`), or undefined if unsupported. */
export function normaliseScope(scope: string): string | undefined {
  const parsed = parseScope(scope);
  return parsed && formatScope(parsed);
}

/** Whether `scope` grants `interaction` on `resourceType` (its own type or the wildcard). */
function grants(scope: SystemScope, resourceType: string, interaction: Interaction): boolean {
  return (scope.resourceType === '*' || scope.resourceType === resourceType) && scope.permissions.has(interaction);
}

function allows(scopes: Iterable<SystemScope>, resourceType: string, interaction: Interaction): boolean {
  for (const s of scopes) if (grants(s, resourceType, interaction)) return true;
  return false;
}

/**
 * Whether every permission of `wanted` is granted by some scope in `held` (wildcards included). Asked for every
 * scope of the token at every request (authenticate.ts, against the client's registration): the scopes parsed once
 * (parsedScope), not a match, a Set and an object per scope and request.
 */
export function covers(held: readonly string[], wanted: string): boolean {
  const w = parsedScope(wanted);
  if (!w) return false;
  const parsed = held.map(parsedScope).filter((s): s is SystemScope => s !== undefined);
  if (w.resourceType === '*') {
    // Only a wildcard can cover a wildcard: per-type scopes never add up to "every type".
    return [...w.permissions].every((p) => parsed.some((s) => s.resourceType === '*' && s.permissions.has(p)));
  }
  return [...w.permissions].every((p) => allows(parsed, w.resourceType, p));
}

/**
 * Each scope text parsed once: a native record's route asks ten permissions of the same token, and parsing its
 * scopes for each (the match, a Set and an object per scope) was a few KB of garbage per request. What a token holds
 * was granted from its client's registration (grantScopes), so the texts are few; the map is still emptied when it
 * reaches SCOPES_KEPT, so that no input can grow it without bound. A parsed scope is never changed.
 */
const parsedScopes = new Map<string, SystemScope | null>();
const SCOPES_KEPT = 1000;

function parsedScope(scope: string): SystemScope | undefined {
  let parsed = parsedScopes.get(scope);
  if (parsed === undefined) {
    parsed = parseScope(scope) ?? null;
    if (parsedScopes.size >= SCOPES_KEPT) parsedScopes.clear();
    parsedScopes.set(scope, parsed);
  }
  return parsed ?? undefined;
}

export function hasScope(ctx: Pick<RequestContext, 'scopes'>, resourceType: string, interaction: Interaction): boolean {
  // As `allows` over the parsed scopes, without the lists made for them at each call.
  for (let i = 0; i < ctx.scopes.length; i++) {
    const s = parsedScope(ctx.scopes[i] as string);
    if (s && grants(s, resourceType, interaction)) return true;
  }
  return false;
}

const VERB: Record<Interaction, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

export function requireScope(ctx: Pick<RequestContext, 'scopes'>, resourceType: string, interaction: Interaction): void {
  if (!hasScope(ctx, resourceType, interaction)) {
    throw forbidden(`The access token's scopes do not allow ${VERB[interaction]} on ${resourceType} (needs system/${resourceType}.${interaction})`);
  }
}

export type ScopeGrant = { ok: true; scopes: string[] } | { ok: false; reason: string };

/**
 * What a token request gets: everything registered when nothing is asked, otherwise exactly what was
 * asked, provided the registration covers it. Asking for more is refused rather than silently cut,
 * so a misconfigured client finds out at once instead of at its first 403.
 */
export function grantScopes(registered: readonly string[], requested: string | undefined): ScopeGrant {
  const asked = (requested ?? '').split(' ').filter((s) => s.length > 0);
  if (asked.length === 0) return { ok: true, scopes: [...registered] };
  const granted: string[] = [];
  for (const scope of asked) {
    const normal = normaliseScope(scope);
    if (!normal) return { ok: false, reason: `Unsupported scope '${scope.slice(0, 100)}': only system/<Type>.<cruds> scopes are supported` };
    if (!covers(registered, normal)) return { ok: false, reason: `Scope '${scope.slice(0, 100)}' is not registered for this client` };
    if (!granted.includes(normal)) granted.push(normal);
  }
  return { ok: true, scopes: granted };
}

/** One SMART permission on one resource type, as an Express route declares it (src/http/secure-routes.ts): `Task.s`. */
export type Permission = `${string}.${Interaction}`;

/**
 * The native endpoints in SMART terms: a record may create or update a handover and everything it carries,
 * so `POST /native/{format}` needs create and update on each of these types (`system/*.cu` or per type);
 * `GET /native/{format}/{id}` renders them, so it needs read on each (`system/*.r`).
 */
const NATIVE_TYPES = ['Task', 'ServiceRequest', 'Encounter', 'Patient', 'Observation'] as const;

export function nativePermissions(method: 'POST' | 'GET'): Permission[] {
  const needed: Interaction[] = method === 'POST' ? ['c', 'u'] : ['r'];
  return NATIVE_TYPES.flatMap((type) => needed.map((letter): Permission => `${type}.${letter}`));
}
