-- Every request writes an audit row (reads in group commits, writes in their transaction), and its AuditEvent JSON
-- (about 2.2 kB) is over the size PostgreSQL compresses at, so each row was compressed with the default pglz; the
-- chain linker reads it back. lz4, as resources and resource_history have had since 008, made inserting audit rows
-- about a fifth cheaper for PostgreSQL and reading their content back about a quarter (bench figures in the
-- commit). Rows already stored keep pglz; both read the same. A server built without lz4 (PGlite) keeps pglz.
DO $$
BEGIN
  ALTER TABLE audit_events ALTER COLUMN content SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
  NULL;
END $$;
