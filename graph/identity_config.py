"""Identity provider configuration and IdP group -> role mappings: what an administrator sets up before anyone logs in.

Settings are the protocol layer's (issuer, client id, metadata URL, attribute names ...) and are
stored as given, except that a secret is refused: a client secret or signing key is named by the
environment variable that holds it (`client_secret_env`, `private_key_env`, ...), so a database dump
or a settings listing in the console never carries one. `secret_from_env` reads it at use time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from skyloom.graph.identity_model import (
    SCOPE_KINDS,
    AlreadyExists,
    GroupMapping,
    IdentityProvider,
    InvalidBinding,
    SecretInSettings,
    UnknownIdentityProvider,
)
from skyloom.graph.pool import Database

_IDP_COLUMNS = "id, kind, name, provider_id, tenant_id, settings, auto_create_users, auto_create_groups, enabled"
_SECRET_WORDS = ("secret", "password", "private_key", "signing_key", "passphrase", "credential")
_UPDATABLE = frozenset({"name", "settings", "auto_create_users", "auto_create_groups", "enabled"})


def check_settings(settings: Any, path: str = "settings") -> None:
    """Refuse any key that looks like it holds a secret, at any depth, unless it names an env var."""
    if isinstance(settings, Mapping):
        for key, value in settings.items():
            lowered = str(key).lower()
            if any(word in lowered for word in _SECRET_WORDS) and not lowered.endswith("_env"):
                raise SecretInSettings(f"{path}.{key}: store the name of an environment variable in {key}_env instead")
            check_settings(value, f"{path}.{key}")
    elif isinstance(settings, list):
        for index, value in enumerate(settings):
            check_settings(value, f"{path}[{index}]")


def secret_from_env(idp: IdentityProvider, key: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """The secret that `settings[key + '_env']` points at, or None when unset."""
    variable = idp.settings.get(f"{key}_env")
    return environ.get(variable) if variable else None


def _idp(row: tuple) -> IdentityProvider:
    return IdentityProvider(*row)


async def create_idp(db: Database, idp: IdentityProvider) -> IdentityProvider:
    async with db.connection() as conn:
        return await create_idp_on(conn, idp)


async def create_idp_on(conn: AsyncConnection, idp: IdentityProvider) -> IdentityProvider:
    """`create_idp` on the caller's connection (and transaction, for an audit entry beside it)."""
    check_settings(idp.settings)
    try:
        cur = await conn.execute(
            f"INSERT INTO skyloom.identity_provider ({_IDP_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            f"RETURNING {_IDP_COLUMNS}",
            (idp.id, idp.kind, idp.name, idp.provider_id, idp.tenant_id, Jsonb(idp.settings),
             idp.auto_create_users, idp.auto_create_groups, idp.enabled),
        )
    except psycopg.errors.UniqueViolation as exc:
        raise AlreadyExists(f"identity provider {idp.id!r} exists") from exc
    return _idp(await cur.fetchone())


async def get_idp(db: Database, idp_id: str) -> IdentityProvider | None:
    async with db.connection() as conn:
        cur = await conn.execute(f"SELECT {_IDP_COLUMNS} FROM skyloom.identity_provider WHERE id = %s", (idp_id,))
        row = await cur.fetchone()
    return _idp(row) if row else None


async def list_idps(db: Database, provider_id: str | None = None, tenant_id: str | None = None) -> list[IdentityProvider]:
    """IdPs of one provider and / or tenant (None: any), by id."""
    async with db.connection() as conn:
        cur = await conn.execute(
            f"SELECT {_IDP_COLUMNS} FROM skyloom.identity_provider "
            "WHERE (%(p)s::text IS NULL OR provider_id = %(p)s) AND (%(t)s::text IS NULL OR tenant_id = %(t)s) ORDER BY id",
            {"p": provider_id, "t": tenant_id},
        )
        return [_idp(row) for row in await cur.fetchall()]


async def update_idp(db: Database, idp_id: str, **changes: Any) -> IdentityProvider:
    """Change name, settings, the auto-create switches or `enabled` (disabling is how an IdP is retired:
    its users and their history stay)."""
    async with db.connection() as conn:
        return await update_idp_on(conn, idp_id, **changes)


async def update_idp_on(conn: AsyncConnection, idp_id: str, **changes: Any) -> IdentityProvider:
    """`update_idp` on the caller's connection."""
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    if "settings" in changes:
        check_settings(changes["settings"])
        changes["settings"] = Jsonb(changes["settings"])
    # Column names come from the closed set above; values are bound.
    assignments = ", ".join(f"{column} = %({column})s" for column in sorted(changes))
    cur = await conn.execute(
        f"UPDATE skyloom.identity_provider SET {assignments}{', ' if assignments else ''}updated_at = now() "
        f"WHERE id = %(id)s RETURNING {_IDP_COLUMNS}",
        {**changes, "id": idp_id},
    )
    row = await cur.fetchone()
    if row is None:
        raise UnknownIdentityProvider(idp_id)
    return _idp(row)


# -- group -> role mappings -----------------------------------------------------------------------
async def add_group_mapping(
    db: Database, idp_id: str, group_name: str, role: str, scope_kind: str, scope_id: str, created_by: str
) -> GroupMapping:
    """Members of `group_name` at this IdP get `role` at the scope, from their next login on."""
    async with db.connection() as conn:
        return await add_group_mapping_on(conn, idp_id, group_name, role, scope_kind, scope_id, created_by)


async def add_group_mapping_on(
    conn: AsyncConnection, idp_id: str, group_name: str, role: str, scope_kind: str, scope_id: str, created_by: str
) -> GroupMapping:
    """`add_group_mapping` on the caller's connection."""
    if scope_kind not in SCOPE_KINDS:
        raise InvalidBinding(f"unknown scope kind {scope_kind!r}")
    try:
        cur = await conn.execute(
            "INSERT INTO skyloom.group_role_mapping (idp_id, group_name, role, scope_kind, scope_id, created_by) "
            "SELECT %s, %s, r.name, %s, %s, %s FROM skyloom.role r WHERE r.name = %s AND %s = ANY (r.scope_kinds) "
            "RETURNING id, idp_id, group_name, role, scope_kind, scope_id",
            (idp_id, group_name, scope_kind, scope_id, created_by, role, scope_kind),
        )
    except psycopg.errors.ForeignKeyViolation as exc:
        raise UnknownIdentityProvider(idp_id) from exc
    except psycopg.errors.UniqueViolation as exc:
        raise AlreadyExists("this mapping exists") from exc
    row = await cur.fetchone()
    if row is None:
        raise InvalidBinding(f"role {role!r} does not exist or cannot be bound at a {scope_kind}")
    return GroupMapping(*row)


async def list_group_mappings(db: Database, idp_id: str) -> list[GroupMapping]:
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT id, idp_id, group_name, role, scope_kind, scope_id FROM skyloom.group_role_mapping "
            "WHERE idp_id = %s AND removed_at IS NULL ORDER BY group_name, role, scope_kind, scope_id",
            (idp_id,),
        )
        return [GroupMapping(*row) for row in await cur.fetchall()]


async def remove_group_mapping(db: Database, mapping_id: UUID, removed_by: str) -> bool:
    """End a mapping and the group bindings it made, together; False if it was not live."""
    async with db.connection() as conn:
        return await remove_group_mapping_on(conn, mapping_id, removed_by)


async def remove_group_mapping_on(conn: AsyncConnection, mapping_id: UUID, removed_by: str) -> bool:
    """`remove_group_mapping` on the caller's connection (a savepoint inside its transaction)."""
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE skyloom.group_role_mapping SET removed_at = now(), removed_by = %s "
            "WHERE id = %s AND removed_at IS NULL",
            (removed_by, mapping_id),
        )
        if cur.rowcount == 0:
            return False
        await conn.execute(
            "UPDATE skyloom.role_binding SET revoked_at = now(), revoked_by = %s WHERE mapping_id = %s AND revoked_at IS NULL",
            (removed_by, mapping_id),
        )
    return True
