-- A Task that joins a group of candidates another requester's Task already carries (src/handover/workflow.ts) is
-- refused by the statement that checks it, the transaction's last (its commit batch, src/fhir/write-phases.ts), not by
-- a round trip of its own before the Task's write: so COMMIT goes with the check, as with migration 028's, and a
-- refused write still stores nothing. `task_id`: the Task checked, handed back in DETAIL so that the gateway tells
-- which of a transaction's checks refused. SQLSTATE GW42G is the gateway's own: no PostgreSQL error has it.
CREATE FUNCTION refuse_foreign_group(task_id text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'a groupIdentifier of another requester''s group of candidates' USING ERRCODE = 'GW42G', DETAIL = task_id;
END
$$;
