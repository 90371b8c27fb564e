-- Retention (src/store/retention.ts): what is pruned, found by an index so that pruning reads only what it deletes.
-- Audit rows are not pruned (NEN 7513), and nothing here indexes them.

-- Delivered notifications, by the time of delivery. Partial: the rows waiting or being sent are not in it.
CREATE INDEX subscription_events_delivered_idx ON subscription_events (delivered_at) WHERE state = 'delivered';
-- The events being sent to a subscription right now: the claim counts them per subscription (at most
-- HOOK_MAX_IN_FLIGHT_PER_SUBSCRIPTION), and a backlog of waiting events should not have to be read for that.
CREATE INDEX subscription_events_sending_idx ON subscription_events (subscription_id) WHERE state = 'sending';

-- The ledger of native records, by arrival: older rows than the window are pruned except each record's latest.
CREATE INDEX native_records_received_idx ON native_records (received_at);

-- Conditional-create keys are only a lock between concurrent creates with the same condition (the search
-- decides, not the key): when one was made tells when it can go. Existing keys count from this migration.
ALTER TABLE conditional_keys ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX conditional_keys_created_idx ON conditional_keys (created_at);
