-- Impersonation: a root-tenancy root user (a provider operator) acting inside a sub-tenancy as
-- its root user. Per tenant settings say what it takes (re-authentication, a second person's
-- approval) and for how long; every request to impersonate is kept with its whole life.
--
-- Nothing is deleted. A request moves forward only (requested -> approved | denied,
-- approved -> active | expired, active -> ended | expired, requested -> expired), each move one
-- conditional UPDATE on the row's current status, so two approvers or a racing start cannot both
-- win. The API's role may update only the columns a move writes.

CREATE TABLE skyloom.impersonation_settings (
    tenant_id        text PRIMARY KEY,
    require_reauth   boolean NOT NULL DEFAULT true,
    require_approval boolean NOT NULL DEFAULT true,
    max_minutes      integer NOT NULL DEFAULT 30 CHECK (max_minutes BETWEEN 1 AND 480),
    target_mode      text NOT NULL DEFAULT 'subtenant-root' CHECK (target_mode IN ('subtenant-root', 'mapped')),
    -- 'mapped': sub-tenant id -> the user id to act as there (a sub-tenant missing from the
    -- map falls back to its root user).
    mapping          jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(mapping) = 'object'),
    updated_by       text NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE skyloom.impersonation_request (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,   -- page order (newest first)
    requester        text NOT NULL,                 -- actor id, "user:<uuid>"
    requester_idp    text,                          -- the identity provider behind the requesting session
    provider_id      text,
    tenant_id        text NOT NULL,
    subtenant_id     text NOT NULL,
    target_user      uuid NOT NULL REFERENCES skyloom.identity_user (id),
    reason           text NOT NULL CHECK (length(reason) BETWEEN 3 AND 1000),
    minutes          integer NOT NULL CHECK (minutes BETWEEN 1 AND 480),
    -- the settings as they were when the request was made: a later change of settings does not
    -- loosen (or tighten) a request already in flight
    require_reauth   boolean NOT NULL,
    require_approval boolean NOT NULL,
    status           text NOT NULL DEFAULT 'requested'
                         CHECK (status IN ('requested', 'approved', 'denied', 'active', 'ended', 'expired')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    approver         text,
    decided_at       timestamptz,
    started_by       text,                          -- the identity that started it (after re-authentication)
    session_id       uuid REFERENCES skyloom.user_session (id),
    started_at       timestamptz,
    expires_at       timestamptz,
    ended_at         timestamptz,
    ended_by         text,
    CHECK ((approver IS NULL) = (decided_at IS NULL)),
    CHECK ((started_at IS NULL) = (expires_at IS NULL) AND (started_at IS NULL) = (session_id IS NULL)),
    CHECK (approver IS DISTINCT FROM requester)
);
CREATE INDEX impersonation_request_open ON skyloom.impersonation_request (tenant_id, created_at)
    WHERE status IN ('requested', 'approved', 'active');
CREATE INDEX impersonation_request_session ON skyloom.impersonation_request (session_id) WHERE status = 'active';
