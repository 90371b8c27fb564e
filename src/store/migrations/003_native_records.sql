-- Every native record received, by its identity and sequence number: idempotent re-sends, superseded
-- sequence numbers, and the answer the first send got (the same Location on a re-send).
CREATE TABLE native_records (
  sender_ura    text        NOT NULL,
  format        text        NOT NULL,
  record_id     text        NOT NULL,
  sequence      integer     NOT NULL,
  content_hash  text        NOT NULL,
  status        integer     NOT NULL,
  location      text,
  response      jsonb       NOT NULL,
  received_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sender_ura, format, record_id, sequence)
);

-- One row per record identity: the highest sequence number applied, locked while a send is applied
-- so that two sends of one record never interleave.
CREATE TABLE native_record_heads (
  sender_ura    text    NOT NULL,
  format        text    NOT NULL,
  record_id     text    NOT NULL,
  last_sequence integer NOT NULL DEFAULT 0,
  PRIMARY KEY (sender_ura, format, record_id)
);
