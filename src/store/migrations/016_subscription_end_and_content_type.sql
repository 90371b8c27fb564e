-- Backport IG SHALLs (issue 16.8), kept beside the stored Subscription so that the delivery path reads them
-- with the row it already has:
-- content_type: the MIME type the subscriber asked for (`application/json`, `application/fhir+json;
--   fhirVersion=4.0`), sent back as the Content-Type of its FHIR notifications; NULL = application/fhir+json.
-- ends_at: Subscription.end. When it has passed the subscription is switched off (the delivery worker's
--   sweep) and nothing more is sent to it.
ALTER TABLE subscription_state ADD COLUMN content_type text;
ALTER TABLE subscription_state ADD COLUMN ends_at timestamptz;
CREATE INDEX subscription_state_ends_idx ON subscription_state (ends_at) WHERE ends_at IS NOT NULL;
