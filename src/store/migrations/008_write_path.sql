-- Measured on the ingest path (bench/native-ingest.ts), where PostgreSQL spent more time than the gateway:
-- GIN indexes without a pending list: every handover searches tokens (identifiers, groups, parties) right
-- after writing them, and a pending list made each search scan every recent insert.
ALTER INDEX resources_tokens_idx SET (fastupdate = off);
ALTER INDEX audit_events_entities_idx SET (fastupdate = off);
-- Room on each page for updated rows: a Task's parties reach the rest of its handover by UPDATE, and with
-- space left on the page that update is HOT (no new entries in the token index).
ALTER TABLE resources SET (fillfactor = 80);
-- lz4 compresses and decompresses FHIR JSON faster than the default pglz; a server built without lz4
-- (PGlite) keeps pglz.
DO $$
BEGIN
  ALTER TABLE resources ALTER COLUMN content SET COMPRESSION lz4;
  ALTER TABLE resource_history ALTER COLUMN content SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
  NULL;
END $$;
