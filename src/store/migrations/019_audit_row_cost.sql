-- The audit row of a search names every resource the page returned (a page of 20 Tasks: 21 entities), and it is
-- written before the answer: for a search it cost PostgreSQL more than the page statement (issue 19.1). Measured
-- per row of 20 entities (pg_stat_statements and log_statement_stats, the row as a search writes it):
-- - its entities went into the GIN index one by one (30 WAL records, 61 buffers a row). Nothing on a request's
--   path looks rows up by entity (only the auditor's AuditEvent search and trail), so a pending list is fine here,
--   unlike the resources' token index (008): inserts append to it (13 WAL records, 28 buffers) and it is merged in
--   bulk by autovacuum or by the insert that fills it; 256 kB (about 200 search rows) keeps that merge short and the
--   auditor's scan of the list small;
-- - the AuditEvent (about 8 kB of JSON) is compressed as a TOAST value: lz4 instead of pglz, as the resources'
--   content already is (008); a server built without lz4 (PGlite) keeps pglz.
-- Together about a third less CPU per row (430 → 280 µs on a busy two-core machine). The rows, their content, the
-- chain over them and when they are written are the same.
ALTER INDEX audit_events_entities_idx SET (fastupdate = on, gin_pending_list_limit = 256);
DO $$
BEGIN
  ALTER TABLE audit_events ALTER COLUMN content SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
  NULL;
END $$;
