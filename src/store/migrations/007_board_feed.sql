-- The coordination board's feed: one row per change of a handover (its Task, or the receiver's encounter
-- with ride times or a planned visit), inserted in the writing transaction like the subscription outbox,
-- and numbered after commit (board_number_events) in one region-wide, gap-free sequence, so that a board
-- that lost its connection asks for "everything after number N" and misses nothing. For one handover, id
-- order is commit order (the Task row lock); numbering in id order under the counter's row lock gives each
-- committed event the next number once it is visible, as 006 does per subscription.
CREATE TABLE board_events (
  id bigserial PRIMARY KEY,
  number bigint UNIQUE,
  handover_id text NOT NULL,
  occurred timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX board_events_unnumbered_idx ON board_events (id) WHERE number IS NULL;

CREATE TABLE board_feed (
  id int PRIMARY KEY CHECK (id = 1),
  last_number bigint NOT NULL
);
INSERT INTO board_feed VALUES (1, 0);

GRANT SELECT, INSERT, UPDATE, DELETE ON board_events, board_feed TO gateway_app;
GRANT USAGE, SELECT ON SEQUENCE board_events_id_seq TO gateway_app;

-- Returns the feed's head (the highest number given). A caller that finds the counter locked waits: the
-- holder numbers everything committed before it, and this call then numbers anything committed since.
CREATE FUNCTION board_number_events() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  head bigint;
BEGIN
  SELECT last_number INTO head FROM board_feed WHERE id = 1 FOR UPDATE;
  WITH todo AS (
    SELECT id, head + row_number() OVER (ORDER BY id) AS n FROM board_events WHERE number IS NULL
  ), done AS (
    UPDATE board_events e SET number = todo.n FROM todo WHERE e.id = todo.id RETURNING todo.n
  )
  SELECT coalesce(max(n), head) INTO head FROM done;
  UPDATE board_feed SET last_number = head WHERE id = 1;
  RETURN head;
END
$$;
