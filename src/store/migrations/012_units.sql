-- Responders on the road (issue 20): the current state of each unit (one row, replaced by every newer fix)
-- and its position history, kept only UNIT_HISTORY_HOURS (pruned). Positions are personal data of the staff:
-- they are not FHIR resources in `resources` (whose history is kept for ever and whose Locations are a
-- directory everyone reads); src/units serves them as Location resources to the ZCC and the unit's own
-- organisation only. A fix is one statement: cheap at 100 fixes a second.
CREATE TABLE units (
  id text PRIMARY KEY,
  organization_ura text NOT NULL,
  call_sign text NOT NULL,
  kind text NOT NULL,
  status text NOT NULL,
  own_status text NOT NULL,
  handover_id text,
  lat double precision NOT NULL,
  lon double precision NOT NULL,
  accuracy_m double precision,
  fix_time timestamptz NOT NULL,
  received timestamptz NOT NULL DEFAULT now(),
  version bigint NOT NULL DEFAULT 1,
  UNIQUE (organization_ura, call_sign)
);
CREATE INDEX units_fix_time_idx ON units (fix_time);

-- Idempotent by (unit, time): a re-sent fix is one row. No foreign key: written in the same statement as its unit.
CREATE TABLE unit_positions (
  unit_id text NOT NULL,
  fix_time timestamptz NOT NULL,
  lat double precision NOT NULL,
  lon double precision NOT NULL,
  accuracy_m double precision,
  status text NOT NULL,
  PRIMARY KEY (unit_id, fix_time)
);
CREATE INDEX unit_positions_fix_time_idx ON unit_positions (fix_time);

GRANT SELECT, INSERT, UPDATE, DELETE ON units, unit_positions TO gateway_app;
