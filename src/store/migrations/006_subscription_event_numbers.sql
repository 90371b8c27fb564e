-- Event numbers are given after commit, not in the writing transaction: a counter row updated there was
-- locked until commit and serialised every write that notified the same subscriber. The writing
-- transaction now only inserts its events (outbox, unnumbered, ordered by a sequence); right after
-- commit, and in a periodic sweep, subscription_number_events() numbers the visible unnumbered events
-- of each subscription under that subscription's row lock, in id order, gap-free.
-- For one handover, id order is commit order: a second writer takes its id only after the Task row
-- lock that the first held until its commit is released.
ALTER TABLE subscription_events DROP CONSTRAINT subscription_events_pkey;
ALTER TABLE subscription_events ADD COLUMN id bigserial;
ALTER TABLE subscription_events ADD PRIMARY KEY (id);
ALTER TABLE subscription_events ALTER COLUMN event_number DROP NOT NULL;
-- The handover's patient, for the audit of each notification (NEN 7513: whose data went where).
ALTER TABLE subscription_events ADD COLUMN patient text;
CREATE UNIQUE INDEX subscription_events_number_idx ON subscription_events (subscription_id, event_number);
CREATE INDEX subscription_events_unnumbered_idx ON subscription_events (subscription_id, id) WHERE event_number IS NULL;
GRANT USAGE, SELECT ON SEQUENCE subscription_events_id_seq TO gateway_app;

-- Returns how many events it numbered. Each statement of a (volatile) function sees what was committed
-- before that statement began, so the events read after the lock is granted include every event
-- committed before it. Subscriptions another caller is numbering right now are skipped: that caller
-- runs again for the commit that woke this one (every instance hears every NOTIFY), and the sweep
-- catches anything left.
CREATE FUNCTION subscription_number_events() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  locked text[];
  numbered bigint;
BEGIN
  SELECT array_agg(id) INTO locked FROM (
    SELECT s.id FROM subscription_state s
     WHERE s.id IN (SELECT DISTINCT subscription_id FROM subscription_events WHERE event_number IS NULL)
     ORDER BY s.id
     FOR UPDATE SKIP LOCKED
  ) l;
  IF locked IS NULL THEN
    RETURN 0;
  END IF;
  WITH todo AS (
    SELECT e.id, e.subscription_id, s.events_count + row_number() OVER (PARTITION BY e.subscription_id ORDER BY e.id) AS n
      FROM subscription_events e JOIN subscription_state s ON s.id = e.subscription_id
     WHERE e.event_number IS NULL AND e.subscription_id = ANY (locked)
  ), done AS (
    UPDATE subscription_events e SET event_number = todo.n FROM todo WHERE e.id = todo.id RETURNING todo.subscription_id, todo.n
  ), top AS (
    SELECT subscription_id, max(n) AS n, count(*) AS k FROM done GROUP BY subscription_id
  ), counted AS (
    UPDATE subscription_state s SET events_count = top.n FROM top WHERE s.id = top.subscription_id RETURNING top.k
  )
  SELECT coalesce(sum(k), 0) INTO numbered FROM counted;
  RETURN numbered;
END
$$;
