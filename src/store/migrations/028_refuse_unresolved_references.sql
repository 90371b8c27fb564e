-- A write's literal references that do not resolve to a resource its writer may read (src/fhir/references/hooks.ts)
-- are refused by the statement that checks them, the transaction's last (its commit batch, src/fhir/write-phases.ts),
-- not in JavaScript after it: so COMMIT can go in the same round trip (src/store/commit-with-last-statement.ts)
-- and a refused write still stores nothing. `unresolved`: the 1-based positions, in the check's list, of the
-- references that do not resolve, handed back in DETAIL (comma-separated) so that the gateway names each one in its
-- 422. SQLSTATE GW422 is the gateway's own: no PostgreSQL error has it.
CREATE FUNCTION refuse_unresolved_references(unresolved bigint[]) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'literal references that do not resolve' USING ERRCODE = 'GW422', DETAIL = array_to_string(unresolved, ',');
END
$$;
