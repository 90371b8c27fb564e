-- The numbering of 010, its lock on each subscription's row taken FOR NO KEY UPDATE instead of FOR UPDATE.
-- Every writer's outbox row checks its foreign key to subscription_state, which takes FOR KEY SHARE on the
-- subscription's row until the writer commits; FOR UPDATE conflicts with that lock, FOR NO KEY UPDATE does not.
-- With FOR UPDATE, at 100 writes/s to one subscriber some writer was nearly always between its outbox row and
-- its commit: the numbering skipped the subscription (SKIP LOCKED) cycle after cycle, and a writer whose foreign
-- key check came while the numbering held the lock waited for it (up to 157 ms seen). Two numberings still
-- exclude each other (NO KEY UPDATE conflicts with itself), so numbers stay gap-free; each call numbers only
-- committed events, in id order, so a handover's events (id order is its commit order, see 006) keep their order.
CREATE OR REPLACE FUNCTION subscription_number_events() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  locked text[];
  numbered bigint;
BEGIN
  SELECT array_agg(id) INTO locked FROM (
    SELECT s.id FROM subscription_state s
     WHERE s.id IN (SELECT DISTINCT subscription_id FROM subscription_events WHERE event_number IS NULL)
     ORDER BY s.id
     FOR NO KEY UPDATE SKIP LOCKED
  ) l;
  IF locked IS NULL THEN
    RETURN 0;
  END IF;
  WITH todo AS (
    SELECT e.id, e.subscription_id, s.events_count + row_number() OVER (PARTITION BY e.subscription_id ORDER BY e.id) AS n
      FROM subscription_events e JOIN subscription_state s ON s.id = e.subscription_id
     WHERE e.event_number IS NULL AND e.subscription_id = ANY (locked)
  ), done AS (
    UPDATE subscription_events e SET event_number = todo.n FROM todo WHERE e.id = todo.id AND e.event_number IS NULL RETURNING todo.subscription_id, todo.n
  ), top AS (
    SELECT subscription_id, max(n) AS n, count(*) AS k FROM done GROUP BY subscription_id
  ), counted AS (
    UPDATE subscription_state s SET events_count = top.n FROM top WHERE s.id = top.subscription_id RETURNING top.k
  )
  SELECT coalesce(sum(k), 0) INTO numbered FROM counted;
  RETURN numbered;
END
$$;
