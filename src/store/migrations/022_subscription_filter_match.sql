-- Whether a subscription's filters (`[[param, [values]]]`) all hold for a Task, given the values each parameter of
-- that Task matches (`{"owner": [...], "status": [...]}`, src/subscriptions/outbox.ts): every filter needs one of its
-- values among the Task's for that parameter; a parameter the Task has no values for never holds.
-- A function of its own (plpgsql, so never inlined) because the outbox statement that asks it is planned with
-- PostgreSQL's default guesses for set-returning functions (100 rows each): written inline, those guesses multiplied
-- into an estimate over jit_above_cost, and compiling the statement took seconds. Here it costs one call per row.
CREATE FUNCTION subscription_filters_match(filters jsonb, matched jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  RETURN NOT EXISTS (
    SELECT 1 FROM jsonb_array_elements(filters) f
     WHERE NOT coalesce((f->1) ?| ARRAY(SELECT jsonb_array_elements_text(coalesce(matched->(f->>0), '[]'::jsonb))), false));
END
$$;
