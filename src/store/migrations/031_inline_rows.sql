-- A native handover's Encounter (about 3 kB of JSON), its Provenance with its tokens, and its audit row (an AuditEvent
-- naming nine versions, about 5 kB) passed the 2 kB at which PostgreSQL compresses a row's largest values and, when it
-- is still too long, moves them out of line into the table's TOAST relation: per handover two more heap rows and two
-- more btree entries (the TOAST index), and a compression of values that then sat there, to be found through that
-- index and decompressed at every read (issue 19: 4 % of PostgreSQL's CPU per native handover, `perf` of the backends).
-- With the threshold at 4 kB such rows stay in the table's own page as they are; longer ones (the audit row of a
-- handover) are still compressed first, and now fit inline too. What it costs: room, not time: 37.6 → 40.7 kB per
-- native handover in all tables with their indexes (+8 %; the two tables' heap and TOAST pages a fifth more). The
-- versions an update replaces (resource_history) are moved as they are. Only rows written from now on are stored
-- this way.
ALTER TABLE resources SET (toast_tuple_target = 4096);
ALTER TABLE resource_history SET (toast_tuple_target = 4096);
ALTER TABLE audit_events SET (toast_tuple_target = 4096);
