import type { Queryable } from '../../store/database.ts';
import { orderedResource, resourceStore, type PartyScope, type StoredVersion } from '../../store/resource-store.ts';
import { badRequest } from '../outcomes.ts';
import { VERSIONED_REFERENCE_PATTERN } from '../resource-types.ts';
import type { Filter, SearchRequest } from './parse.ts';
import { buildWhere, chainQuery } from './sql.ts';

/** A match as a search answer carries it: what its Bundle entry is made of, and no more. */
type Match = Pick<StoredVersion, 'resourceType' | 'id' | 'content'>;

interface SearchPage<M extends Match> {
  resources: M[];
  included: StoredVersion[];
  total?: number;
  /** Whether matches follow this page: known without counting (one row more is read than the page holds). */
  more: boolean;
  unknown: string[];
}

/** The matches as stored versions (version, last update, parties): for the gateway's own searches. */
export type SearchResult = SearchPage<StoredVersion>;
/** The matches as a FHIR search answer carries them (src/fhir/rest.ts). */
export type SearchAnswer = SearchPage<Match>;

interface Row {
  resource_type: string;
  id: string;
  version_id: string;
  last_updated: Date | string;
  content: StoredVersion['content'];
  number_texts: Record<string, string> | null;
  parties: string[];
}

/** The columns of a match as an answer carries it: `content` ordered with `number_texts`, named by type and id. */
type AnswerRow = Pick<Row, 'resource_type' | 'id' | 'content' | 'number_texts'>;

const toMatch = (r: AnswerRow): Match => ({ resourceType: r.resource_type, id: r.id, content: orderedResource(r.content, r.number_texts) });

const toStored = (r: Row): StoredVersion => ({
  resourceType: r.resource_type,
  id: r.id,
  versionId: String(r.version_id),
  lastUpdated: (r.last_updated instanceof Date ? r.last_updated : new Date(r.last_updated)).toISOString(),
  deleted: false,
  content: orderedResource(r.content, r.number_texts),
  parties: r.parties,
});

/** More chained resources than this (`owner.name=a` matching half the directory) is refused rather than cut short. */
const MAX_CHAINED = 1000;

/**
 * A chain (`owner.identifier=…`) becomes the references it stands for, found first with the caller's scope: as a
 * subquery inside the page statement its values were unknown when the plan was made, and PostgreSQL read and sorted
 * every match (40 ms for 20,000) instead of the page (bench/search-plan.ts).
 */
export async function resolveChains(q: Queryable, req: SearchRequest, scope: PartyScope): Promise<SearchRequest> {
  if (!req.filters.some((f) => f.kind === 'chain')) return req;
  const filters: Filter[] = [];
  for (const f of req.filters) {
    if (f.kind !== 'chain') {
      filters.push(f);
      continue;
    }
    const { where: sql, params } = chainQuery(f, scope, MAX_CHAINED + 1);
    const found = (await q.query<{ token: string }>(sql, params, { prepare: !req.planPerCall })).rows.map((r) => r.token);
    if (found.length > MAX_CHAINED) throw badRequest(`The chain on '${f.param}' matches more than ${MAX_CHAINED} resources: narrow it`, [f.param]);
    filters.push({ kind: 'token', param: f.param, values: [...f.tokens, ...found], ...(f.prefixes ? { prefixes: f.prefixes } : {}), not: false });
  }
  return { ...req, filters };
}

const STORED_COLUMNS = 'r.resource_type, r.id, r.version_id, r.last_updated, r.content, r.number_texts, r.parties';
// An answer's entries need no version, last update or parties (the resource holds its meta): each of those is a
// value PostgreSQL writes as text (a timestamptz, an array) and the driver reads back into a Date or an array, per
// row of every page, for nothing. `last_updated` only where the accurate total's statement orders by it.
const ANSWER_COLUMNS = 'r.resource_type, r.id, r.content, r.number_texts';

interface Page<R> {
  rows: R[];
  total?: number;
  more: boolean;
}

async function readPage<R>(q: Queryable, req: SearchRequest, scope: PartyScope, columns: string): Promise<Page<R>> {
  const { where, params } = buildWhere(req, scope);
  // A client's search is planned for its values on every call, not prepared: the generic plan PostgreSQL may
  // switch a prepared statement to cannot know whether a filter matches 20 rows or 20,000, and for 20,000
  // matches it read and sorted every one of them (26 ms) where the plan for the values reads the page along the
  // (resource_type, last_updated, id) index (0.03 ms). Planning costs about 0.1 ms (bench/search-plan.ts), which
  // the gateway's own selective lookups (native ingest) do not pay.
  const how = { prepare: !req.planPerCall };
  const countAll = async (): Promise<number> =>
    Number((await q.query<{ n: string }>(`SELECT count(*) AS n FROM resources r WHERE ${where}`, params, how)).rows[0]?.n ?? 0);
  if (req.summaryCount) return { rows: [], total: await countAll(), more: false };

  const order = req.sort === 'asc' ? 'ASC' : 'DESC';
  const accurate = req.total === 'accurate';
  const selected = accurate && !columns.includes('r.last_updated') ? `${columns}, r.last_updated` : columns;
  const pageSql = `SELECT ${selected} FROM resources r WHERE ${where}
     ORDER BY r.last_updated ${order}, r.id ${order} LIMIT $${params.length + 1} OFFSET $${params.length + 2}`;
  const pageParams = [...params, req.count + 1, req.offset];
  const rows = await q.query<R & { total?: string | null }>(
    accurate ? withAccurateTotal(pageSql, where, order, params.length + 3) : pageSql,
    accurate ? [...pageParams, req.count] : pageParams,
    how,
  );
  const more = rows.rows.length > req.count;
  const page = more ? rows.rows.slice(0, req.count) : rows.rows;
  // The last page says the total itself (offset + its rows), unless it is past the end: most searches need no count.
  const shown = !more && (page.length > 0 || req.offset === 0) ? req.offset + page.length : undefined;
  const counted = rows.rows[0]?.total;
  const total = req.total === 'none' ? undefined : (shown ?? (accurate ? (counted == null ? await countAll() : Number(counted)) : undefined));
  return { rows: page, total, more };
}

/** The page of `request` and what it includes, each match made by `toEntry` of the row it read (`columns`). */
async function searchWith<R, M extends Match>(q: Queryable, request: SearchRequest, scope: PartyScope, columns: string, toEntry: (row: R) => M): Promise<SearchPage<M>> {
  const req = await resolveChains(q, request, scope);
  const page = await readPage<R>(q, req, scope, columns);
  const resources = page.rows.map(toEntry);
  const included = await includes(q, req, resources, scope);
  return { resources, included, total: page.total, more: page.more, unknown: req.unknown };
}

/** A search for the gateway's own use: every match as a stored version (version, last update, parties). */
export function runSearch(q: Queryable, request: SearchRequest, scope: PartyScope = {}): Promise<SearchResult> {
  return searchWith(q, request, scope, STORED_COLUMNS, toStored);
}

/** runSearch for a FHIR answer: the same statement, rows and scope, reading only the columns the answer is made of. */
export function searchAnswer(q: Queryable, request: SearchRequest, scope: PartyScope = {}): Promise<SearchAnswer> {
  return searchWith(q, request, scope, ANSWER_COLUMNS, toMatch);
}

/**
 * The page with its accurate total in one statement: a second round trip cost the gateway about as much CPU as
 * the page's own statement (waking PostgreSQL's backend: writev was a quarter of the gateway's profile of a
 * search). The count is a sub-select in a CASE, which PostgreSQL evaluates only when used (an InitPlan): only
 * when the page is full, that is when matches follow it; a page that is not says the total itself, and one past
 * the end (no rows, so no total column) is counted by the caller.
 */
function withAccurateTotal(pageSql: string, where: string, order: string, pageSizeParam: number): string {
  return `WITH page AS MATERIALIZED (${pageSql})
     SELECT page.*, CASE WHEN (SELECT count(*) FROM page) > $${pageSizeParam}::int8 THEN (SELECT count(*) FROM resources r WHERE ${where}) END AS total
     FROM page ORDER BY page.last_updated ${order}, page.id ${order}`;
}

/** A reference to the gateway's own base given absolutely is its relative one; anything else stays as it is. */
function ownRelative(ref: string | undefined, baseUrl: string | undefined): string | undefined {
  return ref && baseUrl && ref.startsWith(`${baseUrl}/`) ? ref.slice(baseUrl.length + 1) : ref;
}

async function includes(q: Queryable, req: SearchRequest, matches: Match[], scope: PartyScope): Promise<StoredVersion[]> {
  if (matches.length === 0 || (req.includes.length === 0 && req.revIncludes.length === 0)) return [];
  const seen = new Set(matches.map((m) => `${m.resourceType}/${m.id}`));
  const wanted: { resourceType: string; id: string }[] = [];
  for (const inc of req.includes) {
    for (const m of matches) {
      for (const value of inc.parameter.evaluate(m.content)) {
        const ref = ownRelative((value as { reference?: string }).reference, req.baseUrl);
        const match = ref ? VERSIONED_REFERENCE_PATTERN.exec(ref) : null;
        if (!match || (inc.targetType !== undefined && match[1] !== inc.targetType)) continue;
        const key = `${match[1]}/${match[2]}`;
        if (seen.has(key)) continue;
        seen.add(key);
        wanted.push({ resourceType: match[1], id: match[2] });
      }
    }
  }
  // Included resources are filtered like matches: an _include never reaches what a read would not.
  const found = await resourceStore.currentMany(q, wanted, scope);
  for (const rev of req.revIncludes) {
    const targets = matches.map((m) => `${rev.param}=${m.resourceType}/${m.id}`);
    const params: unknown[] = [rev.sourceType, targets];
    const partyClause = scope.parties && !(scope.open ?? []).includes(rev.sourceType) ? ` AND r.parties && $${params.push(scope.parties)}::text[]` : '';
    const ownerClause = scope.ownerOnly?.types.includes(rev.sourceType) ? ` AND r.parties && $${params.push(scope.ownerOnly.parties)}::text[]` : '';
    const rows = await q.query<Row>(
      `SELECT ${STORED_COLUMNS} FROM resources r
       WHERE r.resource_type = $1 AND NOT r.deleted AND r.tokens && $2::text[]${partyClause}${ownerClause} LIMIT 1000`,
      params,
    );
    for (const row of rows.rows) {
      const key = `${row.resource_type}/${row.id}`;
      if (!seen.has(key)) {
        seen.add(key);
        found.push(toStored(row));
      }
    }
  }
  return found;
}
