-- The current version of a resource is kept once, in `resources`; `resource_history` keeps the versions an update
-- or delete replaced (src/store/resource-store.ts moves the replaced row there in the statement that replaces it).
-- Every version was written twice before: its content, a history row and two more btree entries for each create,
-- which was most of a native handover's WAL (bench/statement-counts.ts). Every reader of versions (vread,
-- `_history`, `$trail`, full-resource notifications) reads `resource_versions`: the superseded versions and the
-- current ones, each (type, id, version) once.
--
-- The history rows that repeat the current version go. Both rows were written by one statement with the same
-- values, and nothing changes a stored version's content afterwards (party propagation and reindex change only
-- `parties` and `tokens` of the current row, which history rows never had), so no version is lost. A second run
-- finds nothing to delete.
DELETE FROM resource_history h
 USING resources r
 WHERE h.resource_type = r.resource_type AND h.id = r.id AND h.version_id = r.version_id;

CREATE VIEW resource_versions AS
  SELECT resource_type, id, version_id, last_updated, deleted, content, number_texts FROM resource_history
  UNION ALL
  SELECT resource_type, id, version_id, last_updated, deleted, content, number_texts FROM resources;
