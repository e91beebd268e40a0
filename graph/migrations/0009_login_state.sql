-- Browser logins in flight, and SAML assertions already used: the server-side halves of single sign-on.
--
-- A pending login holds what the protocol layer must get back at the callback, including the
-- OIDC PKCE verifier, so it never goes to the browser. It is keyed by a random value the browser
-- carries (a cookie for OIDC, the RelayState for SAML, whose POST is cross-site and brings no
-- SameSite cookie) and is taken with one DELETE ... RETURNING: a callback finds it at most once,
-- which is what makes a replayed callback fail on our side. Unlike the identity tables, rows here
-- are one-time tokens with no history worth keeping, so the API's role may DELETE them.
--
-- The assertion cache backs that up for SAML: an assertion id is kept until its NotOnOrAfter
-- (plus a margin for clock skew) and a second sighting is refused by the primary key.
-- Expired rows of both tables go through `skyloom.login_state_purge`, so the API's role needs no
-- DELETE on the assertion cache and cannot forget an assertion that is still acceptable.

CREATE TABLE skyloom.pending_login (
    id         text PRIMARY KEY CHECK (length(id) BETWEEN 32 AND 128),
    idp_id     text NOT NULL REFERENCES skyloom.identity_provider (id),
    protocol   text NOT NULL CHECK (protocol IN ('oidc', 'saml')),
    state      jsonb NOT NULL CHECK (jsonb_typeof(state) = 'object'),
    return_to  text NOT NULL CHECK (left(return_to, 1) = '/' AND length(return_to) <= 2048),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CHECK (expires_at > created_at)
);
CREATE INDEX pending_login_expires ON skyloom.pending_login (expires_at);

CREATE TABLE skyloom.saml_assertion_seen (
    idp_id          text NOT NULL REFERENCES skyloom.identity_provider (id),
    assertion_id    text NOT NULL CHECK (length(assertion_id) BETWEEN 1 AND 256),
    not_on_or_after timestamptz NOT NULL,
    seen_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (idp_id, assertion_id)
);
CREATE INDEX saml_assertion_seen_expiry ON skyloom.saml_assertion_seen (not_on_or_after);

-- Removes at most `batch` expired rows of each table; returns how many went. The hour of margin
-- on assertions outlasts any clock skew an SP accepts after NotOnOrAfter.
CREATE FUNCTION skyloom.login_state_purge(batch integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, skyloom AS $fn$
DECLARE
    logins integer;
    assertions integer;
BEGIN
    DELETE FROM skyloom.pending_login
     WHERE id IN (SELECT id FROM skyloom.pending_login WHERE expires_at < now() LIMIT batch);
    GET DIAGNOSTICS logins = ROW_COUNT;
    DELETE FROM skyloom.saml_assertion_seen
     WHERE (idp_id, assertion_id) IN (
         SELECT idp_id, assertion_id FROM skyloom.saml_assertion_seen
          WHERE not_on_or_after < now() - interval '1 hour' LIMIT batch);
    GET DIAGNOSTICS assertions = ROW_COUNT;
    RETURN logins + assertions;
END
$fn$;
REVOKE EXECUTE ON FUNCTION skyloom.login_state_purge(integer) FROM PUBLIC;
