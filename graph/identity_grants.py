"""What the API's database role may do to the identity tables: read and add, end by timestamp, never delete.

Kept apart from the store so that `migrate.grant_app_role` (which applies them) does not import the store.
"""

from __future__ import annotations

IDENTITY_TABLES = (
    "identity_provider", "identity_user", "identity_group", "group_membership", "role",
    "group_role_mapping", "role_binding", "user_session", "api_token",
)

# What the API's role may do. No DELETE or TRUNCATE anywhere: things end by timestamp. UPDATE is
# granted per column where rows are otherwise immutable, so the role cannot rewrite a digest,
# move a binding to another subject, or re-home a membership.
GRANTS = (
    "GRANT SELECT, INSERT, UPDATE ON skyloom.identity_provider TO {role}",
    "GRANT SELECT, INSERT ON skyloom.identity_user TO {role}",
    "GRANT UPDATE (email, display_name, home_subtenant, last_login_at, disabled_at) ON skyloom.identity_user TO {role}",
    "GRANT SELECT, INSERT ON skyloom.identity_group TO {role}",
    "GRANT SELECT, INSERT ON skyloom.group_membership TO {role}",
    "GRANT UPDATE (removed_at, removed_by) ON skyloom.group_membership TO {role}",
    "GRANT SELECT ON skyloom.role TO {role}",
    "GRANT SELECT, INSERT ON skyloom.group_role_mapping TO {role}",
    "GRANT UPDATE (removed_at, removed_by) ON skyloom.group_role_mapping TO {role}",
    "GRANT SELECT, INSERT ON skyloom.role_binding TO {role}",
    "GRANT UPDATE (revoked_at, revoked_by) ON skyloom.role_binding TO {role}",
    "GRANT SELECT, INSERT ON skyloom.user_session TO {role}",
    "GRANT UPDATE (last_seen_at, revoked_at, impersonated_user_id, impersonation_until) ON skyloom.user_session TO {role}",
    "GRANT SELECT, INSERT ON skyloom.api_token TO {role}",
    "GRANT UPDATE (last_used_at, revoked_at) ON skyloom.api_token TO {role}",
    "REVOKE DELETE, TRUNCATE ON skyloom.identity_provider, skyloom.identity_user, skyloom.identity_group, "
    "skyloom.group_membership, skyloom.role, skyloom.group_role_mapping, skyloom.role_binding, "
    "skyloom.user_session, skyloom.api_token FROM {role}",
)

