"""The identity and access store: one import for IdP configuration, just-in-time provisioning,
role bindings, sessions, API tokens and the Actor they resolve to.

Every function takes the app's `Database` first and is async; expected refusals raise a subclass
of `IdentityError` with a machine-readable `code`. The pieces live in `identity_*` modules:

- `identity_config`: `create_idp`, `get_idp`, `list_idps`, `update_idp`, `secret_from_env`,
  `add_group_mapping`, `list_group_mappings`, `remove_group_mapping`
- `identity_provision`: `provision`, `get_user`, `find_user`, `set_user_disabled`,
  `create_service_account`, `create_local_group`, `add_member`, `remove_member`
- `identity_access`: `create_binding`, `list_bindings`, `revoke_binding`, `load_actor`
- `identity_sessions`: `open_session`, `resolve_session`, `check_csrf`, `impersonate`,
  `revoke_session`, `revoke_session_by_id`, `revoke_all_sessions`, `create_api_token`,
  `resolve_api_token`, `revoke_api_token`, `list_api_tokens`

The tables come from migration 0007; `identity_grants.GRANTS` gives the API's role exactly
what these functions use (applied by `migrate.grant_app_role`).
"""

from __future__ import annotations

from skyloom.graph.identity_access import create_binding, list_bindings, load_actor, revoke_binding
from skyloom.graph.identity_config import (
    add_group_mapping,
    create_idp,
    get_idp,
    list_group_mappings,
    list_idps,
    remove_group_mapping,
    secret_from_env,
    update_idp,
)
from skyloom.graph.identity_grants import IDENTITY_TABLES
from skyloom.graph.identity_model import (
    AlreadyExists,
    ApiTokenInfo,
    GroupMapping,
    IdentityError,
    IdentityProvider,
    IdentityProviderDisabled,
    InvalidBinding,
    ProvisioningRefused,
    ProvisionRequest,
    RoleBindingRecord,
    SecretInSettings,
    UnknownIdentityProvider,
    UnknownUser,
    User,
    UserDisabled,
)
from skyloom.graph.identity_provision import (
    add_member,
    create_local_group,
    create_service_account,
    find_service_account,
    find_user,
    get_user,
    provision,
    remove_member,
    set_user_disabled,
)
from skyloom.graph.identity_sessions import (
    check_csrf,
    create_api_token,
    impersonate,
    list_api_tokens,
    open_session,
    resolve_api_token,
    resolve_session,
    revoke_all_sessions,
    revoke_api_token,
    revoke_session,
    revoke_session_by_id,
)

__all__ = [
    "AlreadyExists", "ApiTokenInfo", "GroupMapping", "IDENTITY_TABLES", "IdentityError", "IdentityProvider",
    "IdentityProviderDisabled", "InvalidBinding", "ProvisionRequest", "ProvisioningRefused", "RoleBindingRecord",
    "SecretInSettings", "UnknownIdentityProvider", "UnknownUser", "User", "UserDisabled",
    "add_group_mapping", "add_member", "check_csrf", "create_api_token", "create_binding", "create_idp",
    "create_local_group", "create_service_account", "find_service_account", "find_user", "get_idp", "get_user",
    "impersonate", "list_api_tokens", "list_bindings", "list_group_mappings", "list_idps", "load_actor",
    "open_session", "provision", "remove_group_mapping", "remove_member", "resolve_api_token",
    "resolve_session", "revoke_all_sessions", "revoke_api_token", "revoke_binding", "revoke_session",
    "revoke_session_by_id", "secret_from_env", "set_user_disabled", "update_idp",
]
