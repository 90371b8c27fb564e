-- Verified tokens are checked against a cached copy of their client's row (src/auth/client-directory.ts):
-- every change of a registration, by whichever path (the gateway, the CLI, an administrator's SQL), tells
-- every instance at commit, which then drops its copy. NOTIFY is delivered only when the change commits.
CREATE FUNCTION oauth_client_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify('oauth_client_changed', '');
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('oauth_client_changed', OLD.client_id);
  ELSE
    PERFORM pg_notify('oauth_client_changed', NEW.client_id);
    -- A renamed client: its old id must be forgotten too.
    IF TG_OP = 'UPDATE' AND OLD.client_id <> NEW.client_id THEN
      PERFORM pg_notify('oauth_client_changed', OLD.client_id);
    END IF;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER oauth_clients_changed AFTER INSERT OR UPDATE OR DELETE ON oauth_clients FOR EACH ROW EXECUTE FUNCTION oauth_client_changed();
CREATE TRIGGER oauth_clients_truncated AFTER TRUNCATE ON oauth_clients FOR EACH STATEMENT EXECUTE FUNCTION oauth_client_changed();
