-- The AuditEvent of an audit row is kept as the JSON text the gateway sent (`json`) instead of PostgreSQL's binary
-- form (`jsonb`): no statement looks inside it (searches and trails select by the columns beside it, retention does
-- not touch the trail), yet as jsonb every row was parsed into a tree on insert (a native handover writes nine, ~25 KB
-- of JSON), written back as text by the chain linker to hash it (src/audit/chain.ts, CONTENT_SHA256) and again for
-- every read of it. As json PostgreSQL only checks that the text is JSON, and `content::text` is the stored text.
--
-- Without rewriting the trail: changing the column's type would rewrite every row under an exclusive lock, and while
-- it ran every audited request (all of them) of every instance would wait. So the jsonb column is renamed, kept for
-- the rows written before (its values untouched), and a new `content` column of type json takes the rows written from
-- now on; each row has exactly one of the two (checked for new rows; NOT VALID, so no scan). Readers take
-- `coalesce(content, content_jsonb::json)` (AUDIT_CONTENT in src/audit/store.ts): for an old row that is jsonb's
-- text, the very text its link's digest (migration 024) was taken of, so every link made before still verifies;
-- links made before 024 hash the AuditEvent parsed, the same object from either type. Every statement here only
-- changes the catalog. lz4 where the server has it (as migration 019 set for the old column); PGlite keeps pglz.
ALTER TABLE audit_events RENAME COLUMN content TO content_jsonb;
ALTER TABLE audit_events ALTER COLUMN content_jsonb DROP NOT NULL;
ALTER TABLE audit_events ADD COLUMN content json;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_one_content CHECK ((content IS NULL) <> (content_jsonb IS NULL)) NOT VALID;
-- The gateway's role appends to the trail through named columns only (migration 005): the new one, no longer the old.
REVOKE INSERT (content_jsonb) ON audit_events FROM gateway_app;
GRANT INSERT (content) ON audit_events TO gateway_app;
DO $$
BEGIN
  ALTER TABLE audit_events ALTER COLUMN content SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
  NULL;
END $$;
