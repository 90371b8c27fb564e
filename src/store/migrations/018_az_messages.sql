-- Received AZ-IG messages (issue 17): one row per message, keyed by its sender and message id (Bundle.identifier,
-- else MessageHeader.id), so that a re-send gets the first answer and makes no second handover (FHIR messaging:
-- the receiver recognises a message it has processed by its id). `stored` maps each entry's fullUrl to the
-- resource the gateway made of it, so that the message can be rendered back with every element it came with.
CREATE TABLE az_messages (
  sender_ura text NOT NULL,
  message_id text NOT NULL,
  content_hash text NOT NULL,
  task_id text NOT NULL,
  stored jsonb NOT NULL,
  response jsonb NOT NULL,
  received timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sender_ura, message_id)
);
CREATE INDEX az_messages_task ON az_messages (task_id);
GRANT SELECT, INSERT ON az_messages TO gateway_app;
