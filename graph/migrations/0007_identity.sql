-- Identity and access: the identity providers people log in through, the users and groups they
-- bring (created just in time), the roles bound to them, and the sessions and API tokens that
-- carry them into requests.
--
-- Nothing secret is stored in clear. Session and API tokens are kept only as SHA-256 digests of
-- the random value handed out once; an identity provider's client secret or signing key is never
-- in `settings`: the settings name the environment variable that holds it (`*_env` keys), and a
-- CHECK refuses the usual secret keys outright.
--
-- Nothing is deleted: memberships, bindings, mappings, sessions and tokens end by a timestamp
-- (`removed_at` / `revoked_at`), which keeps who-had-what-when for the audit trail and lets the
-- API's role live without DELETE. Panel objects (provider, tenant, sub-tenant, compartment) are
-- referenced by their text ids, with no foreign key into the AGE label tables.

CREATE TABLE skyloom.identity_provider (
    id                 text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    kind               text NOT NULL CHECK (kind IN ('oidc', 'saml')),
    name               text NOT NULL CHECK (name <> ''),
    provider_id        text NOT NULL,          -- the panel provider this IdP belongs to
    tenant_id          text,                   -- the tenant it serves; NULL: the provider's own staff
    settings           jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (
                           jsonb_typeof(settings) = 'object'
                           AND NOT settings ?| ARRAY['client_secret', 'secret', 'password', 'private_key', 'signing_key']),
    auto_create_users  boolean NOT NULL DEFAULT false,
    auto_create_groups boolean NOT NULL DEFAULT false,
    enabled            boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- People (kind 'user', always from an IdP) and service accounts (kind 'service', made in the panel).
CREATE TABLE skyloom.identity_user (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind           text NOT NULL CHECK (kind IN ('user', 'service')),
    idp_id         text REFERENCES skyloom.identity_provider (id),
    subject        text,
    email          text,
    display_name   text NOT NULL DEFAULT '',
    home_provider  text,
    home_tenant    text,
    home_subtenant text,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_login_at  timestamptz,
    disabled_at    timestamptz,
    UNIQUE (idp_id, subject),
    CHECK (kind = 'service' OR (idp_id IS NOT NULL AND subject IS NOT NULL)),
    CHECK (kind = 'user' OR (idp_id IS NULL AND subject IS NULL))
);

-- Groups named by an IdP (idp_id set, synced at login) or made in the panel (idp_id NULL).
CREATE TABLE skyloom.identity_group (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    idp_id         text REFERENCES skyloom.identity_provider (id),
    name           text NOT NULL CHECK (name <> ''),
    home_provider  text,
    home_tenant    text,
    home_subtenant text,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX identity_group_idp_name ON skyloom.identity_group (idp_id, name) WHERE idp_id IS NOT NULL;
CREATE UNIQUE INDEX identity_group_local_name ON skyloom.identity_group (home_provider, home_tenant, home_subtenant, name)
    NULLS NOT DISTINCT WHERE idp_id IS NULL;

-- 'idp' memberships follow the login's claims (added and removed at each login); 'manual' ones
-- are an administrator's and provisioning never touches them.
CREATE TABLE skyloom.group_membership (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES skyloom.identity_user (id),
    group_id   uuid NOT NULL REFERENCES skyloom.identity_group (id),
    source     text NOT NULL CHECK (source IN ('idp', 'manual')),
    added_by   text NOT NULL,
    added_at   timestamptz NOT NULL DEFAULT now(),
    removed_by text,
    removed_at timestamptz
);
CREATE UNIQUE INDEX group_membership_live ON skyloom.group_membership (user_id, group_id, source) WHERE removed_at IS NULL;
CREATE INDEX group_membership_group ON skyloom.group_membership (group_id) WHERE removed_at IS NULL;

-- Roles name a set of permissions that the Polar policy defines; `scope_kinds` says where a role
-- may be bound (a TenantRole at provider / tenant / sub-tenant scope, a Role at a compartment).
CREATE TABLE skyloom.role (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9-]{1,62}$'),
    scope_kinds text[] NOT NULL CHECK (
                    cardinality(scope_kinds) > 0
                    AND scope_kinds <@ ARRAY['installation', 'provider', 'tenant', 'subtenant', 'compartment']),
    description text NOT NULL,
    builtin     boolean NOT NULL DEFAULT false
);
INSERT INTO skyloom.role (name, scope_kinds, description, builtin) VALUES
    ('provider-operator', ARRAY['installation', 'provider'], 'Runs the provider: every tenant, backend and setting (provider-tier actions need a hardware-key proof)', true),
    ('tenant-admin', ARRAY['tenant'], 'Administers one tenant, its sub-tenants, users, groups and bindings', true),
    ('subtenant-admin', ARRAY['subtenant'], 'Administers one sub-tenant and what it owns', true),
    ('editor', ARRAY['tenant', 'subtenant', 'compartment'], 'Changes configuration items within the scope', true),
    ('viewer', ARRAY['provider', 'tenant', 'subtenant', 'compartment'], 'Reads configuration items within the scope', true),
    ('auditor', ARRAY['installation', 'provider', 'tenant', 'subtenant', 'compartment'], 'Reads everything within the scope, including history and the audit trail; changes nothing', true);

-- IdP group name -> role at a scope, applied at login as a binding on the synced group, so that
-- losing the group at the IdP (deprovisioning) also takes the role away.
CREATE TABLE skyloom.group_role_mapping (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    idp_id     text NOT NULL REFERENCES skyloom.identity_provider (id),
    group_name text NOT NULL CHECK (group_name <> ''),
    role       text NOT NULL REFERENCES skyloom.role (name),
    scope_kind text NOT NULL CHECK (scope_kind IN ('installation', 'provider', 'tenant', 'subtenant', 'compartment')),
    scope_id   text NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    removed_by text,
    removed_at timestamptz
);
CREATE UNIQUE INDEX group_role_mapping_live ON skyloom.group_role_mapping (idp_id, group_name, role, scope_kind, scope_id)
    WHERE removed_at IS NULL;

-- RoleBinding / TenantRoleBinding: a role granted to a user, group or service account at a scope.
CREATE TABLE skyloom.role_binding (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    subject_kind text NOT NULL CHECK (subject_kind IN ('user', 'group', 'service')),
    subject_id   uuid NOT NULL,
    role         text NOT NULL REFERENCES skyloom.role (name),
    scope_kind   text NOT NULL CHECK (scope_kind IN ('installation', 'provider', 'tenant', 'subtenant', 'compartment')),
    scope_id     text NOT NULL,
    mapping_id   uuid REFERENCES skyloom.group_role_mapping (id),   -- set when a group mapping made it
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_by   text,
    revoked_at   timestamptz
);
CREATE UNIQUE INDEX role_binding_live ON skyloom.role_binding (subject_kind, subject_id, role, scope_kind, scope_id)
    WHERE revoked_at IS NULL;
CREATE INDEX role_binding_scope ON skyloom.role_binding (scope_kind, scope_id) WHERE revoked_at IS NULL;

-- Browser sessions. `id` is a handle for listings and the audit trail, not a secret; the cookie's
-- token and the CSRF token exist here only as SHA-256 digests. An impersonating session acts as
-- `impersonated_user_id` until `impersonation_until`, and every request carries both identities.
CREATE TABLE skyloom.user_session (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash           bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    csrf_hash            bytea NOT NULL CHECK (octet_length(csrf_hash) = 32),
    user_id              uuid NOT NULL REFERENCES skyloom.identity_user (id),
    auth_strength        smallint NOT NULL CHECK (auth_strength BETWEEN 0 AND 3),
    created_at           timestamptz NOT NULL DEFAULT now(),
    expires_at           timestamptz NOT NULL,
    last_seen_at         timestamptz NOT NULL DEFAULT now(),
    revoked_at           timestamptz,
    impersonated_user_id uuid REFERENCES skyloom.identity_user (id),
    impersonation_until  timestamptz,
    CHECK ((impersonated_user_id IS NULL) = (impersonation_until IS NULL))
);
CREATE INDEX user_session_user ON skyloom.user_session (user_id) WHERE revoked_at IS NULL;

-- Bearer tokens for API clients ("sky_..."), kept as SHA-256 digests; `scopes` narrow what a
-- token may do below what its user or service account may do.
CREATE TABLE skyloom.api_token (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash   bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    name         text NOT NULL CHECK (name <> ''),
    user_id      uuid NOT NULL REFERENCES skyloom.identity_user (id),
    scopes       text[] NOT NULL DEFAULT '{}',
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_token_user ON skyloom.api_token (user_id);
