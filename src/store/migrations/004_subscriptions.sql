-- Subscriptions (R4 Subscriptions Backport): the Subscription resource itself is stored with the
-- other resources; this row holds what the gateway must keep beside it and never show.
CREATE TABLE subscription_state (
  id               text        PRIMARY KEY,
  owner_ura        text        NOT NULL,
  status           text        NOT NULL,   -- requested | active | error | off
  secret           text        NOT NULL,   -- HMAC key for notification signatures
  filters          jsonb       NOT NULL,   -- [[param, [values]]]
  endpoint         text        NOT NULL,
  payload          text        NOT NULL,   -- empty | id-only | full-resource | application/x-*+json
  heartbeat_period integer,
  timeout_seconds  integer     NOT NULL,
  -- Gap-free event numbers: incremented in the transaction that writes the event.
  events_count     bigint      NOT NULL DEFAULT 0,
  handshake_at     timestamptz,
  heartbeat_at     timestamptz,
  error_count      bigint      NOT NULL DEFAULT 0,
  last_error       text,
  last_error_at    timestamptz,
  -- The subscriber reads every handover of the region (the ZCC), not only those it is party to.
  reads_all        boolean     NOT NULL DEFAULT false
);
CREATE INDEX subscription_state_active_idx ON subscription_state (status);

-- The outbox: one row per event per subscription, written in the transaction of the change.
CREATE TABLE subscription_events (
  subscription_id text        NOT NULL REFERENCES subscription_state (id) ON DELETE CASCADE,
  event_number    bigint      NOT NULL,
  handover_id     text        NOT NULL,
  focus_version   bigint      NOT NULL,
  task_status     text        NOT NULL,
  occurred        timestamptz NOT NULL,
  state           text        NOT NULL DEFAULT 'pending',  -- pending | sending | delivered | dead
  attempts        integer     NOT NULL DEFAULT 0,
  next_attempt    timestamptz NOT NULL,
  claimed_by      text,
  claimed_until   timestamptz,
  last_error      text,
  -- The first failed attempt since the subscription was (re-)activated: the retry horizon counts from here.
  first_failed_at timestamptz,
  delivered_at    timestamptz,
  PRIMARY KEY (subscription_id, event_number)
);
CREATE INDEX subscription_events_due_idx ON subscription_events (next_attempt) WHERE state IN ('pending', 'sending');
CREATE INDEX subscription_events_handover_idx ON subscription_events (subscription_id, handover_id, event_number) WHERE state <> 'delivered';
