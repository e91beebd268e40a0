"""GraphQL types of identity administration: users, groups, role bindings, identity providers, API tokens."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from skyloom.schema.access import ScopeKind
from skyloom.schema.common import JSON, PageInfo
from skyloom.schema.errors import Conflict, Forbidden, NotFound, ValidationProblem


@strawberry.enum
class UserKind(Enum):
    USER = "user"
    SERVICE = "service"


@strawberry.enum
class SubjectKind(Enum):
    USER = "user"
    GROUP = "group"
    SERVICE = "service"


@strawberry.enum
class IdpKind(Enum):
    OIDC = "oidc"
    SAML = "saml"


@strawberry.type(description="A person (from an identity provider) or a service account (made in the panel).")
class User:
    id: strawberry.ID
    kind: UserKind
    display_name: str
    email: str | None
    idp_id: str | None
    subject: str | None
    home_provider_id: str | None
    home_tenant_id: str | None
    home_sub_tenant_id: str | None
    created_at: datetime
    last_login_at: datetime | None
    disabled: bool
    disabled_at: datetime | None


@strawberry.type
class UserEdge:
    cursor: str
    node: User


@strawberry.type
class UserConnection:
    edges: list[UserEdge]
    page_info: PageInfo


@strawberry.input
class UserFilter:
    text: str | None = strawberry.field(default=None, description="Substring of the name, e-mail or IdP subject.")
    kind: UserKind | None = None
    tenant_id: str | None = None
    sub_tenant_id: str | None = None
    include_disabled: bool = False


@strawberry.type(description="A group named by an identity provider (synced at login) or made in the panel.")
class Group:
    id: strawberry.ID
    name: str
    idp_id: str | None
    home_provider_id: str | None
    home_tenant_id: str | None
    home_sub_tenant_id: str | None
    created_at: datetime
    member_count: int


@strawberry.type
class GroupEdge:
    cursor: str
    node: Group


@strawberry.type
class GroupConnection:
    edges: list[GroupEdge]
    page_info: PageInfo


@strawberry.type
class GroupMember:
    user: User
    source: str = strawberry.field(description="`idp`: follows the login's claims; `manual`: added in the panel.")


@strawberry.type
class UserGroup:
    group: Group
    source: str = strawberry.field(description="`idp`: follows the login's claims; `manual`: added in the panel.")


@strawberry.type(description="A role granted to a subject at a scope (TenantRoleBinding, or RoleBinding at a compartment).")
class RoleBinding:
    id: strawberry.ID
    subject_kind: SubjectKind
    subject_id: strawberry.ID
    role: str
    scope_kind: ScopeKind
    scope_id: str
    created_by: str
    created_at: datetime
    mapping_id: strawberry.ID | None = strawberry.field(description="The IdP group mapping that made it, if any.")


@strawberry.type
class RoleBindingEdge:
    cursor: str
    node: RoleBinding


@strawberry.type
class RoleBindingConnection:
    edges: list[RoleBindingEdge]
    page_info: PageInfo


@strawberry.input
class RoleBindingFilter:
    scope_kind: ScopeKind | None = None
    scope_id: str | None = None
    subject_id: strawberry.ID | None = None


@strawberry.input
class RoleBindingCreateInput:
    subject_kind: SubjectKind
    subject_id: strawberry.ID
    role: str
    scope_kind: ScopeKind
    scope_id: str = strawberry.field(description="A provider, tenant, sub-tenant or compartment id; `*` for INSTALLATION.")


@strawberry.type
class GroupRoleMapping:
    id: strawberry.ID
    idp_id: str
    group_name: str
    role: str
    scope_kind: ScopeKind
    scope_id: str


@strawberry.type(description="An OIDC or SAML identity provider. Settings never hold secrets, only `*_env` names.")
class IdentityProvider:
    id: str
    kind: IdpKind
    name: str
    provider_id: str
    tenant_id: str | None
    settings: JSON
    auto_create_users: bool
    auto_create_groups: bool
    enabled: bool
    group_mappings: list[GroupRoleMapping]


@strawberry.input
class IdentityProviderCreateInput:
    id: str = strawberry.field(description="Lower-case letters, digits and dashes; it appears in login URLs.")
    kind: IdpKind
    name: str
    provider_id: str
    tenant_id: str | None = None
    settings: JSON = strawberry.field(description="OIDC: issuer, client_id, client_secret_env, scopes, algorithms, "
                                                  "use_userinfo, claims. SAML: idp_metadata_xml, idp_entity_id, "
                                                  "sp_entity_id, sp_key_file_env, sp_cert_file_env, "
                                                  "want_response_signed, claims.")
    auto_create_users: bool = False
    auto_create_groups: bool = False
    enabled: bool = True


@strawberry.input
class IdentityProviderUpdateInput:
    id: str
    name: str | None = None
    settings: JSON | None = None
    auto_create_users: bool | None = None
    auto_create_groups: bool | None = None
    enabled: bool | None = None


@strawberry.input
class GroupRoleMappingAddInput:
    idp_id: str
    group_name: str
    role: str
    scope_kind: ScopeKind
    scope_id: str


@strawberry.input(description="Where a new service account or local group belongs: a provider, tenant or sub-tenant.")
class HomeInput:
    scope_kind: ScopeKind
    scope_id: str


@strawberry.type(description="An API token's listing: everything but the secret, which is not stored.")
class ApiToken:
    id: strawberry.ID
    name: str
    user_id: strawberry.ID
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@strawberry.type(description="The one answer that carries the token itself: store it now, it is never shown again.")
class ApiTokenCreated:
    token: str
    api_token: ApiToken


@strawberry.type
class GroupMembership:
    group_id: strawberry.ID
    user_id: strawberry.ID
    member: bool


_P = ValidationProblem | NotFound | Conflict | Forbidden
UserResult = Annotated[User | _P, strawberry.union("UserResult")]
GroupResult = Annotated[Group | _P, strawberry.union("GroupResult")]
GroupMembershipResult = Annotated[GroupMembership | _P, strawberry.union("GroupMembershipResult")]
RoleBindingResult = Annotated[RoleBinding | _P, strawberry.union("RoleBindingResult")]
IdentityProviderResult = Annotated[IdentityProvider | _P, strawberry.union("IdentityProviderResult")]
GroupRoleMappingResult = Annotated[GroupRoleMapping | _P, strawberry.union("GroupRoleMappingResult")]
ApiTokenCreateResult = Annotated[ApiTokenCreated | _P, strawberry.union("ApiTokenCreateResult")]
ApiTokenResult = Annotated[ApiToken | _P, strawberry.union("ApiTokenResult")]
