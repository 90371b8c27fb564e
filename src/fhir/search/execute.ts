import type { Queryable } from '../../store/database.ts';
import { orderedResource, resourceStore, type PartyScope, type StoredVersion } from '../../store/resource-store.ts';
import type { SearchRequest } from './parse.ts';
import { buildWhere } from './sql.ts';
import { REFERENCE_PATTERN } from '../resource-types.ts';

export interface SearchResult {
  resources: StoredVersion[];
  included: StoredVersion[];
  total?: number;
  unknown: string[];
}

interface Row {
  resource_type: string;
  id: string;
  version_id: string;
  last_updated: Date | string;
  content: StoredVersion['content'];
  parties: string[];
}

const toStored = (r: Row): StoredVersion => ({
  resourceType: r.resource_type,
  id: r.id,
  versionId: String(r.version_id),
  lastUpdated: new Date(r.last_updated).toISOString(),
  deleted: false,
  content: orderedResource(r.content),
  parties: r.parties,
});

export async function runSearch(q: Queryable, req: SearchRequest, scope: PartyScope = {}): Promise<SearchResult> {
  const { where, params } = buildWhere(req, scope);
  const countAll = async (): Promise<number> => Number((await q.query<{ n: string }>(`SELECT count(*) AS n FROM resources r WHERE ${where}`, params)).rows[0]?.n ?? 0);
  if (req.summaryCount) return { resources: [], included: [], total: await countAll(), unknown: req.unknown };

  const order = req.sort === 'asc' ? 'ASC' : 'DESC';
  // The page is a parameter too: the statement's text then depends only on which filters a search uses, and is
  // prepared once (src/store/postgres.ts) instead of once per page size and offset.
  const rows = await q.query<Row>(
    `SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.content, r.parties FROM resources r WHERE ${where}
     ORDER BY r.last_updated ${order}, r.id ${order} LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, req.count, req.offset],
  );
  // A page that is not full is the last one, and says the total itself: most searches need no count.
  let total: number | undefined;
  if (req.total === 'accurate') total = rows.rows.length < req.count && (rows.rows.length > 0 || req.offset === 0) ? req.offset + rows.rows.length : await countAll();
  const resources = rows.rows.map(toStored);
  const included = await includes(q, req, resources, scope);
  return { resources, included, total, unknown: req.unknown };
}

async function includes(q: Queryable, req: SearchRequest, matches: StoredVersion[], scope: PartyScope): Promise<StoredVersion[]> {
  if (matches.length === 0) return [];
  const seen = new Set(matches.map((m) => `${m.resourceType}/${m.id}`));
  const wanted: { resourceType: string; id: string }[] = [];
  for (const inc of req.includes) {
    for (const m of matches) {
      for (const value of inc.parameter.evaluate(m.content)) {
        const ref = (value as { reference?: string }).reference;
        const match = ref ? REFERENCE_PATTERN.exec(ref) : null;
        if (!match) continue;
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
      `SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.content, r.parties FROM resources r
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
