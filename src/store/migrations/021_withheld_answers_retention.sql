-- Retention (src/store/retention.ts) of withheld native answers (migration 020): an invitation that never ends
-- neither selects nor drops its answer, so the answer goes with the native records' window, found by its arrival.
CREATE INDEX withheld_answers_received_idx ON withheld_answers (received);
