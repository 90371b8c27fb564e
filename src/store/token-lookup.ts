/**
 * The type condition of a lookup by search tokens (`tokens && ...`): `<alias>.resource_type = <typeSql>`, written so
 * that no index can serve it, and the token GIN index (migration 009) is the lookup's only way in.
 *
 * Why: `resource_type = 'Observation'` also matches the leading column of the primary key and of
 * `resources_updated_idx` (type, last_updated, id). When the planner's statistics are older than the table (no
 * ANALYZE since the rows came: a new database, or autovacuum off as on the benchmark machine), it takes a type for a
 * few rows and scans every row of it through that btree, filtering by tokens; with `ORDER BY last_updated DESC LIMIT
 * n` it does so even with fresh statistics when nothing matches. Such a lookup grows with the table: the party
 * propagation of a native handover cost PostgreSQL 5.2 ms (2 clients, 400 handovers stored) instead of 0.3–0.5 ms
 * through the GIN index (bench/statement-counts.ts). The tokens name what they match (`encounter=Encounter/<id>`),
 * so the rows of other types the GIN index also finds are few and dropped by this condition as a filter.
 */
export function lookupType(alias: string, typeSql: string): string {
  return `(${alias}.resource_type || '') = ${typeSql}`;
}

/**
 * A parameter of a token lookup hidden from the planner (`(SELECT $n::text[])`, an init plan), so that the plan
 * made with its value is no cheaper than the generic one and the prepared statement keeps one plan. With the value
 * in view PostgreSQL estimated a few matches where the generic plan assumes a share of the table, found every plan
 * made with the value cheaper, and planned the statement again at each call: the party propagation's 0.62 ms of
 * planning per native handover beside 0.78 ms executing (bench/statement-counts.ts). The plan does not depend on
 * the value: with `lookupType`, the token GIN index is the only way in whatever the tokens are.
 */
export function plannedOnce(paramSql: string): string {
  return `(SELECT ${paramSql}::text[])`;
}
