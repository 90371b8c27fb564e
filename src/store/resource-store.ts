import type { Resource } from '@medplum/fhirtypes';
import type { Queryable, Tx } from './database.ts';
import { lookupType, plannedOnce } from './token-lookup.ts';
import { runWrites, WriteBehindTx, type HeldWrite } from './write-behind.ts';
import { SharedReads } from './shared-reads.ts';
import { rowsByKey } from './key-lookup.ts';
import type { IndexValues } from '../fhir/search/index-values.ts';
import { copyNumberTexts, numberTextsOf, restoreNumberTexts } from '../fhir/number-text.ts';

/** One stored version of a resource. */
export interface StoredVersion {
  resourceType: string;
  id: string;
  versionId: string;
  lastUpdated: string;
  deleted: boolean;
  content: Resource;
  /** URAs of the organisations party to it (current versions only; history rows do not keep them). */
  parties?: string[];
}

/** A resources or resource_versions row as it comes from the database. */
export interface VersionRow {
  resource_type: string;
  id: string;
  version_id: string;
  last_updated: Date | string;
  deleted: boolean;
  content: Resource;
  /** The texts of numbers written differently from JavaScript's own (migration 015; src/fhir/number-text.ts). */
  number_texts?: Record<string, string> | null;
  parties?: string[];
}

/**
 * jsonb does not keep key order; FHIR readers expect resourceType, id and meta first. `numberTexts` (the row's
 * `number_texts`) gives numbers back the text they were sent with.
 */
export function orderedResource(content: Resource, numberTexts?: Record<string, string> | null): Resource {
  restoreNumberTexts(content, numberTexts);
  // One copy, not two (`{ resourceType, id, meta, ...rest }` made `rest` first): a search page orders 20 (issue 19).
  const from = content as unknown as Record<string, unknown>;
  const ordered: Record<string, unknown> = { resourceType: from.resourceType, id: from.id, meta: from.meta };
  // for-in, not Object.keys: no array of keys made per resource.
  for (const key in from) {
    if (key === 'resourceType' || key === 'id' || key === 'meta' || !Object.hasOwn(from, key)) continue;
    // Defined, as a spread defines it: assigning `__proto__` would set the prototype instead.
    if (key === '__proto__') Object.defineProperty(ordered, key, { value: from[key], enumerable: true, writable: true, configurable: true });
    else ordered[key] = from[key];
  }
  copyNumberTexts(content, ordered);
  return ordered as unknown as Resource;
}

function toVersion(row: VersionRow): StoredVersion {
  const lastUpdated = row.last_updated instanceof Date ? row.last_updated.toISOString() : new Date(row.last_updated).toISOString();
  const v: StoredVersion = { resourceType: row.resource_type, id: row.id, versionId: String(row.version_id), lastUpdated, deleted: row.deleted, content: orderedResource(row.content, row.number_texts) };
  if (row.parties) v.parties = row.parties;
  return v;
}

const COLUMNS = 'resource_type, id, version_id, last_updated, deleted, content, number_texts';
const CURRENT_COLUMNS = `${COLUMNS}, parties`;
// Made once, not per call: the same string each time keeps its hash, so finding its prepared statement's name
// (src/store/postgres.ts) does not hash and compare the whole text again on every read.
const CURRENT_SQL = `SELECT ${CURRENT_COLUMNS} FROM resources WHERE resource_type = $1 AND id = $2`;
const CURRENT_FOR_UPDATE_SQL = `${CURRENT_SQL} FOR UPDATE`;
// Several rows locked at once: each key looked up by itself and locked there, in (type, id) order.
const CURRENT_MANY_FOR_UPDATE_SQL = `SELECT r.* FROM ${rowsByKey('$1', '$2', CURRENT_COLUMNS, { locked: true })}`;
// The reads of several requests in one statement (src/store/shared-reads.ts): a row per key found, with its position.
const CURRENT_MANY_SQL = `SELECT k.n, r.* FROM ${rowsByKey('$1', '$2', CURRENT_COLUMNS, { numbered: true })}`;
const sharedReads = new WeakMap<Queryable, SharedReads<VersionRow>>();

/** A lookup of `currentByTokens`: current resources of a type carrying one of `tokens` (and one of `andTokens`). */
export interface TokenLookup {
  resourceType: string;
  tokens: string[];
  andTokens?: string[];
  limit: number;
}

/**
 * A condition every lookup of `currentByTokens` also meets, as SQL without parameters (its text is part of the
 * prepared statement's): when it is false the lookups find nothing, unread. For a caller that sends its lookups before
 * it knows whether it will use them.
 */
export type LookupCondition = string;

/**
 * Who may see which rows, as SQL: rows of `open` types are visible to all; others only when they share a
 * party with `parties`. Undefined parties: no restriction. The repository decides; the store only applies it.
 */
export interface PartyScope {
  parties?: string[];
  open?: readonly string[];
  /** Types visible only when they share a party with `parties` here, even when `parties` above is undefined (every handover). */
  ownerOnly?: { types: readonly string[]; parties: string[] };
}

function scopeCondition(scope: PartyScope | undefined, params: unknown[], alias = ''): string {
  let condition = '';
  if (scope?.parties) {
    const open = `$${params.push(scope.open ?? [])}::text[]`;
    const parties = `$${params.push(scope.parties)}::text[]`;
    condition += ` AND (${alias}resource_type = ANY(${open}) OR ${alias}parties && ${parties})`;
  }
  if (scope?.ownerOnly) {
    const types = `$${params.push(scope.ownerOnly.types)}::text[]`;
    const owned = `$${params.push(scope.ownerOnly.parties)}::text[]`;
    condition += ` AND (${alias}resource_type <> ALL(${types}) OR ${alias}parties && ${owned})`;
  }
  return condition;
}

/**
 * Which of a version's index tables get rows: a statement's part that inserts none is left out of it (with its
 * parameters), since each part is a plan node set up at every execution whether or not it inserts anything (a Task
 * has no string index rows: its create's statement was 7 plan nodes, 2 of them its empty string INSERT). The shape
 * key names what is present, so a connection prepares at most four texts of each write where it prepared one.
 */
interface IndexPresent {
  strings: boolean;
  dates: boolean;
}

const presentOf = (index: IndexValues): IndexPresent => ({ strings: index.strings.length > 0, dates: index.dates.length > 0 });
const presentKey = (present: IndexPresent): string => `${present.strings ? 's' : '-'}${present.dates ? 'd' : '-'}`;

/**
 * The common table expressions that write a resource's string and date index (`p(1)` its type, `p(2)` its id, the
 * index arrays of `indexParams` from `p(from)` on: those of the tables `present` names), after deleting the rows it
 * had when `replace` (always both: an earlier version may have had rows of either). All parts see the statement's
 * snapshot, so the old rows are deleted and the new ones inserted without seeing each other.
 */
function indexWrites(p: (i: number) => string, prefix: string, from: number, replace: boolean, present: IndexPresent): string[] {
  const ctes: string[] = [];
  if (replace) {
    ctes.push(`${prefix}old_strings AS (DELETE FROM search_string WHERE resource_type = ${p(1)} AND id = ${p(2)})`);
    ctes.push(`${prefix}old_dates AS (DELETE FROM search_date WHERE resource_type = ${p(1)} AND id = ${p(2)})`);
  }
  let i = from;
  if (present.strings) {
    ctes.push(`${prefix}strings AS (INSERT INTO search_string (resource_type, id, param, value) SELECT ${p(1)}, ${p(2)}, p, v FROM unnest(${p(i++)}::text[], ${p(i++)}::text[]) AS t(p, v))`);
  }
  if (present.dates) {
    ctes.push(`${prefix}dates AS (INSERT INTO search_date (resource_type, id, param, low, high)
           SELECT ${p(1)}, ${p(2)}, p, l::timestamptz, h::timestamptz FROM unnest(${p(i++)}::text[], ${p(i++)}::text[], ${p(i++)}::text[]) AS t(p, l, h))`);
  }
  return ctes;
}

/** The index arrays `indexWrites` reads, of the tables `present` names. */
function indexParams(index: IndexValues, present: IndexPresent): unknown[] {
  const params: unknown[] = [];
  if (present.strings) params.push(index.strings.map((s) => s.param), index.strings.map((s) => s.value));
  if (present.dates) params.push(index.dates.map((d) => d.param), index.dates.map((d) => d.low), index.dates.map((d) => d.high));
  return params;
}

/** One version's parameters, as `versionUpdate` and a create alone number them: its row's columns, then its index rows. */
function versionParams(version: StoredVersion, index: IndexValues, parties: string[], present: IndexPresent): unknown[] {
  const { resourceType, id, versionId, lastUpdated, deleted, content } = version;
  const texts = numberTextsOf(content);
  return [resourceType, id, versionId, lastUpdated, deleted, content, index.tokens, parties, texts === undefined ? null : JSON.stringify(texts), ...indexParams(index, present)];
}

/**
 * The write of a replacing version: the current row and its search index, as common table expressions that may share a
 * statement with other writes (src/store/write-behind.ts). The current version lives only in `resources`
 * (migration 026): an update or delete first copies the row it replaces into `resource_history`. Every part reads
 * the statement's snapshot, so `replaced` is the row as it was before the UPDATE beside it, which the repository
 * holds locked (FOR UPDATE) since it read it; were it not, the history's primary key would still refuse a second
 * writer replacing the same version (a forked history).
 */
function versionUpdate(version: StoredVersion, index: IndexValues, parties: string[]): HeldWrite {
  const present = presentOf(index);
  return {
    keys: [`${version.resourceType}/${version.id}`],
    shape: `version:update ${presentKey(present)}`,
    params: versionParams(version, index, parties, present),
    ctes: (p, prefix) => [
      `${prefix}replaced AS (INSERT INTO resource_history (${COLUMNS})
           SELECT ${COLUMNS} FROM resources WHERE resource_type = ${p(1)} AND id = ${p(2)})`,
      `${prefix}cur AS (UPDATE resources SET version_id = ${p(3)}, last_updated = ${p(4)}, deleted = ${p(5)}, content = ${p(6)}, tokens = ${p(7)}, parties = ${p(8)}, number_texts = ${p(9)}
           WHERE resource_type = ${p(1)} AND id = ${p(2)})`,
      ...indexWrites(p, prefix, 10, true, present),
    ].join(',\n       '),
  };
}

/** A new resource's row as the INSERT of `NewVersionsWrite` reads it (the columns of `resources`). */
interface NewRow {
  resource_type: string;
  id: string;
  version_id: string;
  last_updated: string;
  deleted: boolean;
  content: Resource;
  tokens: string[];
  parties: string[];
  number_texts: Record<string, string> | null;
}

/** The rows of new resources as ONE jsonb parameter: pg and PGlite both write an object parameter with JSON.stringify. */
class RowsParameter {
  private readonly rows: readonly NewRow[];
  constructor(rows: readonly NewRow[]) {
    this.rows = rows;
  }
  toJSON(): readonly NewRow[] {
    return this.rows;
  }
}

/**
 * The writes of new resources that follow each other, as one part of a statement. Two or more: their rows in one
 * INSERT each into `resources`, `search_string` and `search_date`, whatever their number. A native record's eight
 * creates were 24 INSERTs of one statement, each a plan node set up (its relation and indexes opened, its projection
 * built) at every execution: that statement cost its backend 1.79–2.22 ms of CPU, 1.55–1.76 ms as rows of three
 * INSERTs (pgbench, the same rows, five alternating runs, each less). One alone keeps its own VALUES: as a row of the
 * shared form it cost more (0.39 against 0.36 ms, medians of five alternating runs, worse in 4 of 5), the JSON of rows
 * read back column by column.
 * The same rows, columns and values either way; a duplicate id is refused by the primary key, by the statement that
 * carries it.
 */
class NewVersionsWrite implements HeldWrite {
  readonly keys: string[] = [];
  private readonly versions: { version: StoredVersion; index: IndexValues; parties: string[] }[] = [];
  private built: unknown[] | undefined;

  constructor(version: StoredVersion, index: IndexValues, parties: string[]) {
    this.versions.push({ version, index, parties });
    this.keys.push(`${version.resourceType}/${version.id}`);
  }

  get shape(): string {
    return `${this.versions.length === 1 ? 'version:new' : 'versions:new'} ${presentKey(this.present())}`;
  }

  /** Which index tables any of its versions has rows for (the others' INSERTs are left out). */
  private present(): IndexPresent {
    let strings = false;
    let dates = false;
    for (const { index } of this.versions) {
      strings ||= index.strings.length > 0;
      dates ||= index.dates.length > 0;
    }
    return { strings, dates };
  }

  /**
   * Built once, when first read (the statement's shape, its parameters and its text all read them; each build walks
   * every version for its number texts); another create joining afterwards would make them anew.
   */
  get params(): unknown[] {
    return (this.built ??= this.buildParams());
  }

  private buildParams(): unknown[] {
    // The same tables as the shape and the text name (`present`), so that parameters and parts always agree.
    const present = this.present();
    if (this.versions.length === 1) {
      const [{ version, index, parties }] = this.versions as [(typeof this.versions)[number]];
      return versionParams(version, index, parties, present);
    }
    const rows = this.versions.map(({ version: v, index, parties }): NewRow => ({
      resource_type: v.resourceType,
      id: v.id,
      version_id: v.versionId,
      last_updated: v.lastUpdated,
      deleted: v.deleted,
      content: v.content,
      tokens: index.tokens,
      parties,
      number_texts: numberTextsOf(v.content) ?? null,
    }));
    // The string and date index rows of every version, one array per column.
    const strings = this.versions.flatMap(({ version: v, index }) => index.strings.map((s) => [v.resourceType, v.id, s.param, s.value]));
    const dates = this.versions.flatMap(({ version: v, index }) => index.dates.map((d) => [v.resourceType, v.id, d.param, d.low, d.high]));
    const params: unknown[] = [new RowsParameter(rows)];
    if (present.strings) params.push(...[0, 1, 2, 3].map((c) => strings.map((s) => s[c])));
    if (present.dates) params.push(...[0, 1, 2, 3, 4].map((c) => dates.map((d) => d[c])));
    return params;
  }

  ctes(p: (i: number) => string, prefix: string): string {
    const present = this.present();
    if (this.versions.length === 1) {
      return [
        `${prefix}cur AS (INSERT INTO resources (resource_type, id, version_id, last_updated, deleted, content, tokens, parties, number_texts)
           VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}, ${p(7)}, ${p(8)}, ${p(9)}))`,
        ...indexWrites(p, prefix, 10, false, present),
      ].join(',\n       ');
    }
    const ctes = [
      `${prefix}cur AS (INSERT INTO resources (resource_type, id, version_id, last_updated, deleted, content, tokens, parties, number_texts)
           SELECT * FROM jsonb_to_recordset(${p(1)}::jsonb) AS r(resource_type text, id text, version_id bigint, last_updated timestamptz, deleted boolean,
             content jsonb, tokens text[], parties text[], number_texts jsonb))`,
    ];
    let i = 2;
    if (present.strings) {
      ctes.push(`${prefix}strings AS (INSERT INTO search_string (resource_type, id, param, value)
           SELECT * FROM unnest(${p(i++)}::text[], ${p(i++)}::text[], ${p(i++)}::text[], ${p(i++)}::text[]))`);
    }
    if (present.dates) {
      ctes.push(`${prefix}dates AS (INSERT INTO search_date (resource_type, id, param, low, high)
           SELECT t, i, p, l::timestamptz, h::timestamptz FROM unnest(${p(i++)}::text[], ${p(i++)}::text[], ${p(i++)}::text[], ${p(i++)}::text[], ${p(i++)}::text[]) AS x(t, i, p, l, h))`);
    }
    return ctes.join(',\n       ');
  }

  /** Another create held right after this one joins its rows (an update or delete does not). */
  absorb(next: HeldWrite): boolean {
    if (!(next instanceof NewVersionsWrite)) return false;
    this.versions.push(...next.versions);
    this.keys.push(...next.keys);
    this.built = undefined;
    return true;
  }
}

/** Plain SQL for resources and their history: no FHIR rules, no authorization (the repository does those). */
export const resourceStore = {
  async current(q: Queryable, resourceType: string, id: string, lock = false): Promise<StoredVersion | undefined> {
    // It reads (and locks) this one row: a write transaction's held writes of other rows may go after it.
    const r = await q.query<VersionRow>(lock ? CURRENT_FOR_UPDATE_SQL : CURRENT_SQL, [resourceType, id], { reads: [`${resourceType}/${id}`] });
    return r.rows[0] ? toVersion(r.rows[0]) : undefined;
  },

  /** `current(…, lock = true)` of several rows in one statement, locked in (type, id) order; absent ones are left out. */
  async currentLocked(q: Queryable, refs: readonly { resourceType: string; id: string }[]): Promise<StoredVersion[]> {
    if (refs.length === 0) return [];
    const r = await q.query<VersionRow>(CURRENT_MANY_FOR_UPDATE_SQL, [refs.map((x) => x.resourceType), refs.map((x) => x.id)], { reads: refs.map((x) => `${x.resourceType}/${x.id}`) });
    return r.rows.map(toVersion);
  },

  /**
   * The current version, read outside any transaction (`db` is the database, never a transaction's connection): the
   * same row as `current`, read together with the reads of other requests arriving meanwhile.
   */
  async currentShared(db: Queryable, resourceType: string, id: string): Promise<StoredVersion | undefined> {
    let reads = sharedReads.get(db);
    if (!reads) sharedReads.set(db, (reads = new SharedReads<VersionRow>(db, CURRENT_SQL, CURRENT_MANY_SQL)));
    const row = await reads.read(resourceType, id);
    return row ? toVersion(row) : undefined;
  },

  async currentMany(q: Queryable, refs: { resourceType: string; id: string }[], scope?: PartyScope): Promise<StoredVersion[]> {
    if (refs.length === 0) return [];
    const params: unknown[] = [refs.map((x) => x.resourceType), refs.map((x) => x.id)];
    const r = await q.query<VersionRow>(
      `SELECT ${CURRENT_COLUMNS} FROM resources WHERE (resource_type, id) IN (SELECT * FROM unnest($1::text[], $2::text[])) AND NOT deleted${scopeCondition(scope, params)}`,
      params,
    );
    return r.rows.map(toVersion);
  },

  /**
   * For each lookup, the current resources of its type carrying one of its tokens (and, with `andTokens`, one of
   * those too), most recently updated first, at most `limit`: several token lookups (a native record's patient and
   * encounter identifiers, its group's open Tasks) in one statement. `onlyIf`: a condition they all meet (see
   * LookupCondition), checked once per lookup before its rows are read.
   */
  async currentByTokens(q: Queryable, lookups: TokenLookup[], scope?: PartyScope, onlyIf?: LookupCondition): Promise<StoredVersion[][]> {
    if (lookups.length === 0) return [];
    const params: unknown[] = [];
    const visible = scopeCondition(scope, params, 'r.');
    // The condition once, for every lookup (each reads it as a one-time filter, skipping its scan when it is false).
    const prefix = onlyIf ? `WITH only_if AS MATERIALIZED (SELECT (${onlyIf}) AS ok) ` : '';
    const condition = onlyIf ? ' AND (SELECT ok FROM only_if)' : '';
    const parts = lookups.map(
      (l, k) => `(SELECT ${k} AS lookup, ${CURRENT_COLUMNS} FROM resources r WHERE ${lookupType('r', `$${params.push(l.resourceType)}`)} AND NOT r.deleted AND r.tokens && ${plannedOnce(`$${params.push(l.tokens)}`)}${l.andTokens ? ` AND r.tokens && $${params.push(l.andTokens)}::text[]` : ''}${visible}${condition}
               ORDER BY r.last_updated DESC, r.id DESC LIMIT $${params.push(l.limit)})`,
    );
    const r = await q.query<VersionRow & { lookup: number }>(prefix + parts.join(' UNION ALL '), params);
    const found = lookups.map((): StoredVersion[] => []);
    for (const row of r.rows) found[row.lookup]?.push(toVersion(row));
    return found;
  },

  async version(q: Queryable, resourceType: string, id: string, versionId: string): Promise<StoredVersion | undefined> {
    if (!/^\d{1,15}$/.test(versionId)) return undefined;
    const r = await q.query<VersionRow>(
      `SELECT ${COLUMNS} FROM resource_versions WHERE resource_type = $1 AND id = $2 AND version_id = $3`,
      [resourceType, id, versionId],
    );
    return r.rows[0] ? toVersion(r.rows[0]) : undefined;
  },

  /**
   * Writes a version: the current row (the one it replaces kept as history) and its search index, in the caller's transaction. One
   * statement (data-modifying CTEs) instead of up to six; in a write transaction (a `WriteBehindTx`) it is held
   * back and goes with the writes after it in one statement, sent before the transaction's next statement.
   */
  async write(tx: Tx, version: StoredVersion, index: IndexValues, parties: string[], isNew: boolean): Promise<void> {
    const write = isNew ? new NewVersionsWrite(version, index, parties) : versionUpdate(version, index, parties);
    if (tx instanceof WriteBehindTx) await tx.hold(write);
    else await runWrites(tx, [write]);
  },

  /**
   * Rewrites the search index of a current version in place (tokens, strings, dates), without a new version:
   * the index is derived from the content, and an earlier version of the gateway may have derived less.
   */
  async writeIndex(tx: Tx, resourceType: string, id: string, index: IndexValues): Promise<void> {
    const p = (i: number): string => `$${i}`;
    const present = presentOf(index);
    await tx.query(`WITH cur AS (UPDATE resources SET tokens = $3 WHERE resource_type = $1 AND id = $2), ${indexWrites(p, '', 4, true, present).join(', ')} SELECT 1`, [
      resourceType,
      id,
      index.tokens,
      ...indexParams(index, present),
    ]);
  },

  async history(
    q: Queryable,
    filter: { resourceType?: string; id?: string; since?: string; types?: string[] },
    count: number,
    offset: number,
    scope?: PartyScope,
  ): Promise<{ versions: StoredVersion[]; total: number }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.resourceType) where.push(`resource_type = $${params.push(filter.resourceType)}`);
    if (filter.types) where.push(`resource_type = ANY($${params.push(filter.types)}::text[])`);
    if (filter.id) where.push(`id = $${params.push(filter.id)}`);
    if (filter.since) where.push(`last_updated >= $${params.push(filter.since)}`);
    // History rows keep no parties: a version is visible when its resource (the current row) is.
    const visible = scopeCondition(scope, params, 'c.');
    if (visible) where.push(`EXISTS (SELECT 1 FROM resources c WHERE c.resource_type = resource_versions.resource_type AND c.id = resource_versions.id${visible})`);
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = await q.query<{ n: string }>(`SELECT count(*) AS n FROM resource_versions ${clause}`, params);
    const rows = await q.query<VersionRow>(
      `SELECT ${COLUMNS} FROM resource_versions ${clause} ORDER BY last_updated DESC, version_id DESC LIMIT $${params.push(count)} OFFSET $${params.push(offset)}`,
      params,
    );
    return { versions: rows.rows.map(toVersion), total: Number(total.rows[0]?.n ?? 0) };
  },

  /** Claims a conditional-create key; returns the id already holding it, if another create got there first. */
  async claimConditionalKey(tx: Tx, resourceType: string, key: string, id: string): Promise<string | undefined> {
    const r = await tx.query<{ id: string }>(
      `INSERT INTO conditional_keys (resource_type, key, id) VALUES ($1, $2, $3) ON CONFLICT (resource_type, key) DO NOTHING RETURNING id`,
      [resourceType, key, id],
    );
    if (r.rowCount > 0) return undefined;
    const existing = await tx.query<{ id: string }>('SELECT id FROM conditional_keys WHERE resource_type = $1 AND key = $2', [resourceType, key]);
    return existing.rows[0]?.id;
  },
};
