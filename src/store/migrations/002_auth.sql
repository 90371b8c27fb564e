-- OAuth clients (SMART Backend Services). A client acts for exactly one organisation (URA).
CREATE TABLE oauth_clients (
  client_id         text        PRIMARY KEY,
  organization_ura  text        NOT NULL CHECK (organization_ura ~ '^[0-9]{8}$'),
  organization_name text        NOT NULL,
  roles             text[]      NOT NULL DEFAULT '{}',
  scopes            text[]      NOT NULL DEFAULT '{}',
  -- Public keys only (private_key_jwt); the registration code refuses private key material.
  jwks              jsonb,
  -- 'scrypt$N$r$p$salt$hash' (client_secret_basic); never the secret itself.
  secret_hash       text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CHECK (jwks IS NOT NULL OR secret_hash IS NOT NULL)
);

-- Replay protection: a client assertion's jti is inserted once; the primary key refuses a second use
-- atomically, also across gateway instances. Rows past expires_at can go: their assertion is expired anyway.
CREATE TABLE oauth_jti (
  client_id  text        NOT NULL,
  jti        text        NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (client_id, jti)
);
CREATE INDEX oauth_jti_expires_idx ON oauth_jti (expires_at);

-- The gateway's token signing keys, shared by every instance on this database. The newest signs;
-- every stored key still verifies, so tokens survive a rotation.
CREATE TABLE signing_keys (
  kid         text        PRIMARY KEY,
  private_jwk jsonb       NOT NULL,
  public_jwk  jsonb       NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signing_keys_created_idx ON signing_keys (created_at DESC);
