-- The patient of an audit row is always among its entities (src/audit/event.ts, toAuditRow, since the trail began),
-- so the GIN index on `entities` finds a patient's rows as well as the btree on `patient` did, and the btree goes:
-- every audited request (a read, a search) wrote one entry into it, and unlike the other indexes of the trail (the
-- ids, txid and recorded grow on their right edge; the GIN appends to its pending list) its key is whichever patient
-- the request was about: a random leaf page of a large index per row, dirtied (and after a checkpoint written whole
-- to the WAL) by every read of every patient. Queries by patient now ask `entities && ARRAY[patient]` and keep
-- `patient = …` as the condition it is (src/audit/search.ts, trail.ts).
--
-- What they rely on is checked for every new row (NOT VALID: no scan of the rows before, which the same code wrote).
-- Both statements change only the catalog (DROP INDEX unlinks the index's files at commit).
ALTER TABLE audit_events ADD CONSTRAINT audit_events_patient_in_entities CHECK (patient IS NULL OR entities @> ARRAY[patient]) NOT VALID;
DROP INDEX audit_events_patient_idx;
