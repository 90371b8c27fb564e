-- Token searches always name a resource type (Encounter?based-on=..., the identity lookups of a native record,
-- the party propagation). With tokens alone in the GIN index, the planner intersected it with the primary key's
-- `resource_type = ...` range: a scan of every row of that type, so each lookup grew with the table (18 ms per
-- propagation at 40,000 resources, measured with pg_stat_statements). One GIN index over both columns answers
-- the whole condition; btree_gin gives GIN its text operator class (a trusted extension since PostgreSQL 13, so
-- the database owner may create it; PGlite loads it at start).
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE INDEX resources_type_tokens_idx ON resources USING gin (resource_type, tokens) WITH (fastupdate = off);
DROP INDEX resources_tokens_idx;
