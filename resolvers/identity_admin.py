"""Identity providers through the API: OIDC / SAML settings as the login routes read them, and IdP group -> role mappings.

IdentityProvider is provider configuration (a provider operator with a fresh proof changes it).
Settings are checked here against what `skyloom.auth_providers` reads, key by key, so a typo is
refused instead of silently ignored at the next login; secrets are refused outright: a secret is
named by the environment variable that holds it (`*_env`, which must look like a variable name,
so a pasted secret there is refused too), and values that look like keys or tokens are refused
anywhere. A group mapping hands a role to every member of an IdP group, so it is held to the
same escalation rule as a binding.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import strawberry
from psycopg import AsyncConnection

from skyloom.graph import audit, identity, identity_lists
from skyloom.graph.identity_config import check_settings as refuse_secret_keys
from skyloom.graph.identity_config import (
    add_group_mapping_on,
    create_idp_on,
    remove_group_mapping_on,
    update_idp_on,
)
from skyloom.resolvers.access_views import (
    config_view,
    entry,
    guard_config,
    in_transaction,
    parse_uuid,
    place_of,
    readable,
    require_outranks,
)
from skyloom.resolvers.mutations.kit import Refused, guard_view
from skyloom.schema.access import ScopeKind
from skyloom.schema.identity_admin import (
    GroupRoleMapping,
    GroupRoleMappingAddInput,
    GroupRoleMappingResult,
    IdentityProvider,
    IdentityProviderCreateInput,
    IdentityProviderResult,
    IdentityProviderUpdateInput,
    IdpKind,
)
from skyloom.schema.errors import invalid, not_found

_IDP_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
_CLAIMS = frozenset({"groups", "email", "display_name", "multi_factor_contexts"})
_KEYS = {
    "oidc": {"issuer": str, "client_id": str, "client_secret_env": str, "scopes": list, "algorithms": list,
             "use_userinfo": bool, "claims": dict},
    "saml": {"idp_metadata_xml": str, "idp_entity_id": str, "sp_entity_id": str, "sp_key_file_env": str,
             "sp_cert_file_env": str, "want_response_signed": bool, "claims": dict},
}
_REQUIRED = {"oidc": ("issuer", "client_id"), "saml": ("idp_metadata_xml",)}
_SECRET_SHAPES = (re.compile(r"PRIVATE KEY"), re.compile(r"^sky_[A-Za-z0-9]{40,}$"), re.compile(r"^eyJ[\w-]+\.[\w-]+\."))


def _bad(message: str) -> Refused:
    return Refused(invalid("settings", message))


def check_settings(kind: str, settings: Any) -> dict[str, Any]:
    """Refuse settings the login routes would not read as given, and anything secret."""
    if not isinstance(settings, dict):
        raise _bad("settings must be an object")
    try:
        refuse_secret_keys(settings)
    except identity.SecretInSettings as exc:
        raise _bad(str(exc)) from None
    allowed = _KEYS[kind]
    for key, value in settings.items():
        if key not in allowed:
            raise _bad(f"settings.{key} is not a {kind} setting (known: {', '.join(sorted(allowed))})")
        if not isinstance(value, allowed[key]):
            raise _bad(f"settings.{key} must be a {allowed[key].__name__}")
        if key.endswith("_env") and not _ENV_NAME.fullmatch(value):
            raise _bad(f"settings.{key} names an environment variable (A-Z, 0-9, _), never the secret itself")
        if isinstance(value, list) and not all(isinstance(v, str) and v for v in value):
            raise _bad(f"settings.{key} must be a list of non-empty strings")
    for key in _REQUIRED[kind]:
        if not settings.get(key):
            raise _bad(f"settings.{key} is required for {kind}")
    if kind == "oidc" and not re.fullmatch(r"https?://[^\s]+", settings["issuer"]):
        raise _bad("settings.issuer must be an http(s) URL")
    claims = settings.get("claims", {})
    for key, value in claims.items():
        if key not in _CLAIMS or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _bad(f"settings.claims.{key}: claims maps {', '.join(sorted(_CLAIMS))} to lists of names")
    for key, value in settings.items():
        if key != "idp_metadata_xml" and isinstance(value, str) and any(s.search(value) for s in _SECRET_SHAPES):
            raise _bad(f"settings.{key} looks like a secret; store it in an environment variable and name that")
    if "idp_metadata_xml" in settings and _SECRET_SHAPES[0].search(settings["idp_metadata_xml"]):
        raise _bad("settings.idp_metadata_xml holds a private key")
    return settings


def idp_view(record: Any, obj_id: str | None = None) -> Any:
    return config_view("IdentityProvider", obj_id or record.id, record.provider_id, record.tenant_id)


def mapping_type(m: Any) -> GroupRoleMapping:
    return GroupRoleMapping(id=strawberry.ID(str(m.id)), idp_id=m.idp_id, group_name=m.group_name, role=m.role,
                            scope_kind=ScopeKind(m.scope_kind), scope_id=m.scope_id)


def idp_type(record: Any, mappings: list[Any]) -> IdentityProvider:
    return IdentityProvider(
        id=record.id, kind=IdpKind(record.kind), name=record.name, provider_id=record.provider_id,
        tenant_id=record.tenant_id, settings=dict(record.settings), auto_create_users=record.auto_create_users,
        auto_create_groups=record.auto_create_groups, enabled=record.enabled,
        group_mappings=[mapping_type(m) for m in mappings],
    )


def _name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise Refused(invalid("name", "name must be 1 to 200 characters"))
    return name


async def create(ctx: Any, value: IdentityProviderCreateInput) -> Any:
    async def work(conn: AsyncConnection) -> IdentityProvider:
        if not _IDP_ID.fullmatch(value.id):
            raise Refused(invalid("id", "id is 2 to 63 lower-case letters, digits and dashes"))
        provider = await place_of(ctx, "provider", value.provider_id, "providerId")
        tenant_id = None
        if value.tenant_id is not None:
            tenant = await place_of(ctx, "tenant", value.tenant_id, "tenantId")
            if tenant.place.provider_id != provider.scope_id:
                raise Refused(invalid("tenantId", "the tenant belongs to another provider"))
            tenant_id = tenant.scope_id
        settings = check_settings(value.kind.value, value.settings)
        record = identity.IdentityProvider(
            id=value.id, kind=value.kind.value, name=_name(value.name), provider_id=provider.scope_id, tenant_id=tenant_id,
            settings=settings, auto_create_users=value.auto_create_users, auto_create_groups=value.auto_create_groups,
            enabled=value.enabled,
        )
        await guard_view(ctx, "create", idp_view(record, "new"))
        created = await create_idp_on(conn, record)
        await audit.record(conn, [entry(
            ctx, "idp.created", target=f"idp:{created.id}", tenant=tenant_id,
            detail={"idp": created.id, "kind": created.kind, "settings": sorted(settings),
                    "autoCreateUsers": created.auto_create_users, "autoCreateGroups": created.auto_create_groups},
        )])
        return idp_type(created, [])

    return await in_transaction(ctx, work)


async def _idp_for_change(ctx: Any, idp_id: str, action: str) -> Any:
    record = await identity.get_idp(ctx.services.db, idp_id) if _IDP_ID.fullmatch(idp_id or "") else None
    if record is None:
        raise Refused(not_found(idp_id, "identity provider"))
    await guard_config(ctx, action, idp_view(record), idp_id, "identity provider")
    return record


async def update(ctx: Any, value: IdentityProviderUpdateInput) -> Any:
    async def work(conn: AsyncConnection) -> IdentityProvider:
        record = await _idp_for_change(ctx, value.id, "update")
        changes: dict[str, Any] = {}
        if value.name is not None:
            changes["name"] = _name(value.name)
        if value.settings is not None:
            changes["settings"] = check_settings(record.kind, value.settings)
        for field in ("auto_create_users", "auto_create_groups", "enabled"):
            if getattr(value, field) is not None:
                changes[field] = getattr(value, field)
        updated = await update_idp_on(conn, record.id, **changes)
        detail = {"idp": record.id, "changed": sorted(changes)}
        if "settings" in changes:
            detail["settingsKeys"] = sorted(changes["settings"])
        await audit.record(conn, [entry(ctx, "idp.updated", target=f"idp:{record.id}", tenant=record.tenant_id,
                                        priority="warn" if "enabled" in changes else "notice", detail=detail)])
        return idp_type(updated, await identity.list_group_mappings(ctx.services.db, record.id))

    return await in_transaction(ctx, work)


async def mapping_add(ctx: Any, value: GroupRoleMappingAddInput) -> Any:
    async def work(conn: AsyncConnection) -> GroupRoleMapping:
        record = await _idp_for_change(ctx, value.idp_id, "update")
        place = await place_of(ctx, value.scope_kind.value, value.scope_id)
        group = value.group_name.strip()
        if not 1 <= len(group) <= 200:
            raise Refused(invalid("groupName", "groupName must be 1 to 200 characters"))
        require_outranks(ctx, [(value.role, place.place, place.label)], f"map {value.role} to IdP group {group}",
                         f"idp:{record.id}")
        mapping = await add_group_mapping_on(conn, record.id, group, value.role, place.scope_kind, place.scope_id,
                                             ctx.actor.id)
        await audit.record(conn, [entry(
            ctx, "idp.mapping_added", target=f"idp:{record.id}", tenant=place.place.tenant_id,
            detail={"mappingId": str(mapping.id), "group": group, "role": value.role, "scopeKind": place.scope_kind,
                    "scopeId": place.scope_id},
        )])
        return mapping_type(mapping)

    return await in_transaction(ctx, work)


async def mapping_remove(ctx: Any, mapping_id: Any) -> Any:
    async def work(conn: AsyncConnection) -> GroupRoleMapping:
        uid = parse_uuid("id", mapping_id)
        found = await identity_lists.mapping_on(conn, uid)
        if found is None:
            raise Refused(not_found(str(uid), "group mapping"))
        idp_id, role, scope_kind, scope_id = found
        record = await _idp_for_change(ctx, idp_id, "update")
        place = await place_of(ctx, scope_kind, scope_id)
        require_outranks(ctx, [(role, place.place, place.label)], f"remove a mapping to {role}", f"idp:{idp_id}")
        mappings = {str(m.id): m for m in await identity.list_group_mappings(ctx.services.db, idp_id)}
        await remove_group_mapping_on(conn, UUID(str(uid)), ctx.actor.id)
        await audit.record(conn, [entry(ctx, "idp.mapping_removed", target=f"idp:{record.id}", tenant=place.place.tenant_id,
                                        detail={"mappingId": str(uid), "role": role, "scopeKind": scope_kind,
                                                "scopeId": scope_id})])
        return mapping_type(mappings[str(uid)])

    return await in_transaction(ctx, work)


@strawberry.type
class IdentityProviderQuery:
    @strawberry.field(description="The identity providers the caller may read, with their group -> role mappings.")
    async def identity_providers(self, info: strawberry.Info) -> list[IdentityProvider]:
        ctx = info.context
        records = [r for r in await identity.list_idps(ctx.services.db) if readable(ctx, idp_view(r))]
        return [idp_type(r, await identity.list_group_mappings(ctx.services.db, r.id)) for r in records]


@strawberry.type
class IdentityProviderMutation:
    @strawberry.mutation(description="Configure a new OIDC or SAML identity provider (provider tier, needs a step-up).")
    async def identity_provider_create(self, info: strawberry.Info, input: IdentityProviderCreateInput) -> IdentityProviderResult:
        return await create(info.context, input)

    @strawberry.mutation(description="Change an identity provider's name, settings, auto-create switches or `enabled`.")
    async def identity_provider_update(self, info: strawberry.Info, input: IdentityProviderUpdateInput) -> IdentityProviderResult:
        return await update(info.context, input)

    @strawberry.mutation(description="Members of an IdP group get a role at a scope from their next login on.")
    async def group_role_mapping_add(self, info: strawberry.Info, input: GroupRoleMappingAddInput) -> GroupRoleMappingResult:
        return await mapping_add(info.context, input)

    @strawberry.mutation(description="End a group mapping and the bindings it made.")
    async def group_role_mapping_remove(self, info: strawberry.Info, id: strawberry.ID) -> GroupRoleMappingResult:
        return await mapping_remove(info.context, id)
