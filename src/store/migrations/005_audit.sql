-- The audit trail (NEN 7513, IHE BALP) and the restricted role the gateway works as.

-- The gateway connects as an administrator, runs these migrations, then switches to this role
-- (SET ROLE) for everything else. Roles belong to the cluster, not the database: created once, and
-- concurrent first starts (or test databases) may race to create it.
DO $$
BEGIN
  CREATE ROLE gateway_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END
$$;
DO $$
BEGIN
  EXECUTE format('GRANT gateway_app TO %I', current_user);
EXCEPTION WHEN OTHERS THEN
  -- A superuser may SET ROLE to any role anyway; a CREATEROLE admin already holds it.
  NULL;
END
$$;

-- Everything else: the gateway's ordinary work, now and for tables later migrations create.
GRANT USAGE ON SCHEMA public TO gateway_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO gateway_app;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO gateway_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO gateway_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO gateway_app;

-- One row per audited event: the BALP AuditEvent as JSON, the NEN 7513 fields as columns beside it.
CREATE TABLE audit_events (
  id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- The writing transaction: the hash chain seals ranges of transaction ids (see src/audit/chain.ts).
  txid             xid8        NOT NULL DEFAULT pg_current_xact_id(),
  event_id         uuid        NOT NULL UNIQUE,
  recorded         timestamptz NOT NULL,
  organization_ura text        NOT NULL,
  client_id        text        NOT NULL,
  on_behalf_of     text,
  patient          text,
  action           text        NOT NULL CHECK (action IN ('C', 'R', 'U', 'D', 'E')),
  type_code        text        NOT NULL,
  subtype          text        NOT NULL,
  resource_type    text,
  resource_id      text,
  resource_version text,
  -- Every resource the event is about, as 'Type/id': trails and AuditEvent?entity= find them here.
  entities         text[]      NOT NULL DEFAULT '{}',
  -- BALP/FHIR AuditEvent.outcome: 0 success, 4 minor failure (refused), 8 serious failure, 12 major.
  outcome          text        NOT NULL,
  status           integer,
  request_id       text        NOT NULL,
  content          jsonb       NOT NULL
);
CREATE INDEX audit_events_txid_idx ON audit_events (txid);
CREATE INDEX audit_events_recorded_idx ON audit_events (recorded);
CREATE INDEX audit_events_patient_idx ON audit_events (patient);
CREATE INDEX audit_events_entities_idx ON audit_events USING gin (entities);

-- The hash chain, appended by one linker at a time: hash = SHA-256(prev_hash || RFC 8785 JSON of the record).
CREATE TABLE audit_chain (
  seq          bigint      PRIMARY KEY,
  event_id     bigint      NOT NULL UNIQUE,
  linked_at    timestamptz NOT NULL,
  -- The pass sealed every transaction id below this one: no later row may claim one of them.
  sealed_below xid8        NOT NULL,
  prev_hash    text        NOT NULL,
  hash         text        NOT NULL
);

-- Append-only: only INSERT and SELECT for the gateway, and a trigger refusing changes for anyone
-- who has not first switched it off (an administrator, whom $verify then catches).
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit trail is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_chain_append_only BEFORE UPDATE OR DELETE ON audit_chain FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- Nor can the gateway write a record into the past: not its id or transaction id (columns it may not
-- set), not its time (within two minutes of the database's clock; $verify allows five).
CREATE FUNCTION audit_recorded_now() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.recorded < clock_timestamp() - interval '2 minutes' OR NEW.recorded > clock_timestamp() + interval '2 minutes' THEN
    RAISE EXCEPTION 'an audit record is written when it happens: recorded % is not now', NEW.recorded
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER audit_events_recorded_now BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_recorded_now();

REVOKE ALL ON audit_events, audit_chain FROM gateway_app;
GRANT SELECT ON audit_events, audit_chain TO gateway_app;
GRANT INSERT (event_id, recorded, organization_ura, client_id, on_behalf_of, patient, action, type_code, subtype, resource_type,
  resource_id, resource_version, entities, outcome, status, request_id, content) ON audit_events TO gateway_app;
GRANT INSERT ON audit_chain TO gateway_app;
