-- The AuditEvent of an audit row is kept as the JSON text the gateway sent (`json`) instead of PostgreSQL's binary
-- form (`jsonb`): no statement looks inside it (searches and trails select by the columns beside it, retention does
-- not touch the trail), yet as jsonb every row was parsed into a tree on insert (a native handover writes nine, ~25 KB
-- of JSON), written back as text by the chain linker to hash it (src/audit/chain.ts, CONTENT_SHA256) and again for
-- every read of it. As json PostgreSQL only checks that the text is JSON, and `content::text` is the stored text.
--
-- Links already made keep verifying: `json` keeps its text verbatim, and each existing row's text becomes the jsonb
-- text its link's digest (migration 024) was taken of; links made before 024 hash the AuditEvent parsed, which is
-- the same object from either type. The rewrite of the table does not fire the append-only row triggers (they are
-- for UPDATE and DELETE). A change of type resets the column's compression, so lz4 (migration 019) is set again in
-- the same statement, where the server has it (the rewrite then compresses with it); PGlite keeps pglz.
DO $$
BEGIN
  ALTER TABLE audit_events ALTER COLUMN content TYPE json USING content::text::json, ALTER COLUMN content SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
  ALTER TABLE audit_events ALTER COLUMN content TYPE json USING content::text::json;
END $$;
