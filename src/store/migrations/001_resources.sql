-- FHIR resources: the current version of each resource, and every version ever written.
CREATE TABLE resources (
  resource_type text        NOT NULL,
  id            text        NOT NULL,
  version_id    bigint      NOT NULL,
  last_updated  timestamptz NOT NULL,
  deleted       boolean     NOT NULL DEFAULT false,
  content       jsonb       NOT NULL,
  -- Token and reference search values as 'param=system|code', 'param=code' and 'param=Type/id' (GIN-indexed).
  tokens        text[]      NOT NULL DEFAULT '{}',
  -- URAs of the organisations party to this resource (requester, owner, candidates): authorization.
  parties       text[]      NOT NULL DEFAULT '{}',
  PRIMARY KEY (resource_type, id)
);
CREATE INDEX resources_tokens_idx ON resources USING gin (tokens);
CREATE INDEX resources_updated_idx ON resources (resource_type, last_updated, id);

-- The primary key makes a forked history impossible: two writers cannot both create version n.
CREATE TABLE resource_history (
  resource_type text        NOT NULL,
  id            text        NOT NULL,
  version_id    bigint      NOT NULL,
  last_updated  timestamptz NOT NULL,
  deleted       boolean     NOT NULL DEFAULT false,
  content       jsonb       NOT NULL,
  PRIMARY KEY (resource_type, id, version_id)
);
CREATE INDEX resource_history_updated_idx ON resource_history (resource_type, last_updated);

-- String search values (lower-cased, accents folded), matched by prefix.
CREATE TABLE search_string (
  resource_type text NOT NULL,
  id            text NOT NULL,
  param         text NOT NULL,
  value         text NOT NULL
);
CREATE INDEX search_string_lookup_idx ON search_string (resource_type, param, value text_pattern_ops);
CREATE INDEX search_string_owner_idx ON search_string (resource_type, id);

-- Date search values as the period each value covers.
CREATE TABLE search_date (
  resource_type text        NOT NULL,
  id            text        NOT NULL,
  param         text        NOT NULL,
  low           timestamptz NOT NULL,
  high          timestamptz NOT NULL
);
CREATE INDEX search_date_lookup_idx ON search_date (resource_type, param, low, high);
CREATE INDEX search_date_owner_idx ON search_date (resource_type, id);

-- Conditional create (If-None-Exist): the unique key makes concurrent identical creates race-safe.
CREATE TABLE conditional_keys (
  resource_type text NOT NULL,
  key           text NOT NULL,
  id            text NOT NULL,
  PRIMARY KEY (resource_type, key)
);
