import type { HealthcareService, Organization, Resource } from '@medplum/fhirtypes';
import { HttpError, isAbsent, outcome } from '../fhir/outcomes.ts';
import type { Repository } from '../fhir/repository.ts';
import type { LookupCondition, StoredVersion, TokenLookup } from '../store/resource-store.ts';
import { URA_SYSTEM } from '../fhir/identifier-systems.ts';
import { REFERENCE_PATTERN } from '../fhir/resource-types.ts';
import { forEachReference } from '../fhir/references/walk.ts';

const CONDITIONAL_ORG = /^Organization\?identifier=http:\/\/fhir\.nl\/fhir\/NamingSystem\/ura\|(\d{8})$/;

type Identifier = { system?: string; value?: string };

const identifierToken = (identifier: Identifier): string => (identifier.system ? `${identifier.system}|${identifier.value}` : (identifier.value ?? ''));

/**
 * The current resources of `type` carrying any of `identifiers`, in one search. The filter is built here rather
 * than parsed from a query string: a comma in an identifier's value would split it into two values there.
 */
async function findByIdentifiers(repo: Repository, type: string, identifiers: readonly (Identifier | undefined)[]): Promise<StoredVersion[]> {
  const tokens = identifierTokens(identifiers);
  if (tokens.length === 0) return [];
  const req = repo.parseSearch(type, {});
  req.filters.push({ kind: 'token', param: 'identifier', values: tokens, not: false });
  const found = await repo.search({ ...req, count: identifiersLimit(tokens), total: 'none' });
  return found.resources;
}

/** The index tokens of the identifiers that have a value (`identifier=system|value`), each once. */
function identifierTokens(identifiers: readonly (Identifier | undefined)[]): string[] {
  return [...new Set(identifiers.filter((i): i is Identifier => Boolean(i?.value)).map((i) => `identifier=${identifierToken(i)}`))];
}

/** How many resources a search for several identifiers at once reads: a few per identifier, bounded. */
const identifiersLimit = (tokens: readonly string[]): number => Math.min(1000, tokens.length * 4);

/** `findByIdentifier` on `repo`, as an `IdentifierLookup`: what a lookup without prefetched answers does. */
export const lookupIn =
  (repo: Repository): IdentifierLookup =>
  async (type, identifier) =>
    findByIdentifier(repo, type, identifier);

/** Finds the one current resource of a type with an identifier, as `findByIdentifier` does. */
export type IdentifierLookup = (type: string, identifier: Identifier | undefined) => Promise<StoredVersion | undefined>;

/**
 * In one statement: `findByIdentifier` for each of `each` (a type and an identifier; each keeps a search of its own,
 * the most recent resource carrying it as `repo` may see it), answered afterwards by `find` (anything else it is asked
 * is looked up as before), `findByIdentifiers` for `together` (its type, and the identifiers searched at once), and
 * `also` (other lookups of what `repo` may see, answered in `also`'s order). `known`: what `each` and `together` found.
 * `onlyIf`: a condition of them all (LookupCondition); when it is false they find nothing, and their answers must not
 * be used.
 */
export async function prefetchIdentifiers(
  repo: Repository,
  each: { type: string; identifier: Identifier }[],
  together: { type: string; identifiers: readonly (Identifier | undefined)[] },
  also: readonly TokenLookup[] = [],
  onlyIf?: LookupCondition,
): Promise<{ find: IdentifierLookup; together: StoredVersion[]; also: StoredVersion[][]; known: StoredVersion[] }> {
  const single = each.filter((w) => Boolean(w.identifier.value)).map((w) => ({ key: `${w.type} ${identifierToken(w.identifier)}`, resourceType: w.type, tokens: [`identifier=${identifierToken(w.identifier)}`], limit: 1 }));
  const tokens = identifierTokens(together.identifiers);
  const all = tokens.length > 0 ? [{ resourceType: together.type, tokens, limit: identifiersLimit(tokens) }] : [];
  const found = await repo.currentByTokens([...single, ...all, ...also], onlyIf);
  const answers = new Map(single.map((l, k) => [l.key, found[k]?.[0]]));
  const find: IdentifierLookup = async (type, identifier) => {
    const key = `${type} ${identifier ? identifierToken(identifier) : ''}`;
    if (identifier?.value && answers.has(key)) return answers.get(key);
    return findByIdentifier(repo, type, identifier);
  };
  const first = single.length + all.length;
  const known = new Map(found.slice(0, first).flat().map((v) => [`${v.resourceType}/${v.id}`, v]));
  return { find, together: all.length > 0 ? (found[single.length] ?? []) : [], also: also.map((_, k) => found[first + k] ?? []), known: [...known.values()] };
}

/** The most open Tasks of a group `openTasksLookup` reads. */
export const GROUP_LOOKUP_LIMIT = 100;

/**
 * The lookup of the open Tasks carrying a group identifier (at most 100, most recently updated first), as the search
 * `Task?group-identifier=<token>&status=<open statuses>` finds them: its index tokens built as `identifier=` is above.
 */
export function openTasksLookup(group: Identifier, openStatuses: readonly string[]): TokenLookup {
  return { resourceType: 'Task', tokens: [`group-identifier=${identifierToken(group)}`], andTokens: openStatuses.map((s) => `status=${s}`), limit: GROUP_LOOKUP_LIMIT };
}

/** Whether `resource` carries `identifier` (the same system and value; no system matches any). */
export function hasIdentifier(resource: StoredVersion, identifier: Identifier): boolean {
  const own = (resource.content as { identifier?: Identifier[] }).identifier ?? [];
  return own.some((i) => i.value === identifier.value && (identifier.system === undefined || i.system === identifier.system));
}

/**
 * The resource a relative reference (`Type/id`) points at, read through `repo` (so only what its organisation may
 * see), or undefined when it is no such reference or the resource is not there. A database fault is thrown: it is
 * not "no such resource".
 */
export async function readReference<T>(repo: Repository, reference: string | undefined): Promise<T | undefined> {
  const m = REFERENCE_PATTERN.exec(reference ?? '');
  if (!m) return undefined;
  try {
    return (await repo.read(m[1], m[2])).content as T;
  } catch (err) {
    if (isAbsent(err)) return undefined;
    throw err;
  }
}

/**
 * The Organization a party reference stands for, read as `repo`'s reader: itself, or the one providing the
 * HealthcareService it names (a Twiin owner, stored as sent).
 */
export async function readOrganizationOf(repo: Repository, reference: string | undefined): Promise<Organization | undefined> {
  if (!reference?.startsWith('HealthcareService/')) return readReference<Organization>(repo, reference);
  const service = await readReference<HealthcareService>(repo, reference);
  const provider = service?.providedBy?.reference;
  return provider?.startsWith('Organization/') ? readReference<Organization>(repo, provider) : undefined;
}

/** Finds the one current resource with `identifier` (system|value), if any. */
export async function findByIdentifier(repo: Repository, type: string, identifier: Identifier | undefined): Promise<StoredVersion | undefined> {
  return (await findByIdentifiers(repo, type, [identifier]))[0];
}

export async function organizationByUra(repo: Repository, ura: string): Promise<StoredVersion | undefined> {
  return findByIdentifier(repo, 'Organization', { system: URA_SYSTEM, value: ura });
}

/**
 * Replaces the mapping's symbolic references — `urn:uuid:` of the record's own resources and
 * conditional `Organization?identifier=<URA>` — with stored ones. An unknown URA is refused with
 * 422 naming it, before anything is stored.
 */
export async function resolveReferences(
  repo: Repository,
  resources: (Resource | undefined)[],
  local: Map<string, string>,
  lookup: (ura: string) => Promise<StoredVersion | undefined> = (ura) => organizationByUra(repo, ura),
): Promise<void> {
  const uras = new Set<string>();
  for (const r of resources) forEachReference(r, addConditionalUra, uras);
  const orgs = new Map<string, string>();
  for (const ura of uras) {
    const org = await lookup(ura);
    if (!org) throw new HttpError(422, outcome('not-found', `No organisation with URA ${ura} is known to the gateway; nothing was stored`, [`URA ${ura}`]));
    orgs.set(ura, `Organization/${org.id}`);
  }
  const replacements: Replacements = { orgs, local };
  for (const r of resources) forEachReference(r, replaceSymbolic, replacements);
}

// The visits of resolveReferences as functions of this module, their state passed in (see forEachReference).
function addConditionalUra(ref: { reference?: string }, uras: Set<string>): void {
  const m = CONDITIONAL_ORG.exec(ref.reference ?? '');
  if (m) uras.add(m[1]);
}

interface Replacements {
  /** `Organization/<id>` by URA. */
  readonly orgs: ReadonlyMap<string, string>;
  /** A stored reference by the record's own symbolic one. */
  readonly local: ReadonlyMap<string, string>;
}

function replaceSymbolic(ref: { reference?: string }, { orgs, local }: Replacements): void {
  const m = CONDITIONAL_ORG.exec(ref.reference ?? '');
  if (m) ref.reference = orgs.get(m[1]);
  else if (ref.reference && local.has(ref.reference)) ref.reference = local.get(ref.reference);
}
