/**
 * A FROM clause reading rows of `resources` by a list of keys, each key looked up by itself through the primary key:
 * `k` the keys (`k.resource_type`, `k.id`, and with `numbered` their 1-based position `k.n`), `r` the row found for
 * each (`columns` of `resources r`, only where `condition`, more of r's WHERE such as ` AND NOT r.deleted`, holds).
 * `types` and `ids` are SQL of two text arrays of the same length. With `locked`, each row found is locked (FOR
 * UPDATE) as it is looked up, the keys taken in (type, id) order, the order every writer locks rows in.
 *
 * Why a lateral subquery kept apart by OFFSET 0: as a join of the keys with `resources`, a pooled connection's generic
 * plan made while the table was small (a new database, not yet analyzed) joined them by a hash or merge join over a
 * scan of the whole table and kept that plan at every call as the table grew: 167 and 213 blocks per Task create for
 * the party propagation and the reference check in bench/statement-counts.ts, against 26 and 28 by key.
 *
 * Why the arrays go through `CASE WHEN random() >= 0 ... END` (a no-op PostgreSQL cannot evaluate ahead): planned for
 * its values, `unnest` knows the arrays' length (1 or 2 keys) and the plan looks cheaper than the generic one (10 keys
 * assumed), so PostgreSQL planned the statement again at every execution, for a plan that is the same by construction
 * (each key by itself). Hidden, both estimates are 10 and the generic plan is kept after the first five: the shared
 * reads of src/store/shared-reads.ts, outside any transaction, were planned at 3,541 of 3,874 calls in npm run bench.
 * (Write transactions plan generically anyway: src/store/begin-with-first-statement.ts.)
 */
export function rowsByKey(types: string, ids: string, columns: string, options: { condition?: string; numbered?: boolean; locked?: boolean } = {}): string {
  const { condition = '', numbered = false, locked = false } = options;
  const unnested = `unnest(${opaque(`${types}::text[]`)}, ${opaque(`${ids}::text[]`)}) ${numbered ? 'WITH ORDINALITY AS k(resource_type, id, n)' : 'AS k(resource_type, id)'}`;
  const keys = locked ? `(SELECT * FROM ${unnested} ORDER BY resource_type, id OFFSET 0) k` : unnested;
  return `${keys}
     CROSS JOIN LATERAL (SELECT ${columns} FROM resources r WHERE r.resource_type = k.resource_type AND r.id = k.id${condition} OFFSET 0${locked ? ' FOR UPDATE OF r' : ''}) r`;
}

/**
 * `sql` as an expression the planner cannot evaluate before execution: an array parameter unnested as the rows of a
 * statement prepared once, so that PostgreSQL keeps its generic plan (see rowsByKey).
 */
export const opaque = (sql: string): string => `CASE WHEN random() >= 0 THEN ${sql} END`;
