"""Reads of the configuration console: pages of users, groups and role bindings narrowed to a caller's scopes in SQL.

The policy says which scopes a caller may read (`resolvers.access_views` turns its filter into an
`AccessScope`); here that becomes a WHERE clause on the home columns of users and groups and on the
scope of bindings, so a page never carries what the caller may not see. Pages are keyset pages on
(created_at, id): stable while rows are added, and cheap at any depth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from skyloom.graph.identity_model import (
    BINDING_COLUMNS,
    TOKEN_COLUMNS,
    USER_COLUMNS,
    ApiTokenInfo,
    RoleBindingRecord,
    User,
    token_info,
)
from skyloom.graph.pool import Database

ALL = "*"   # the installation: the provider id of objects that belong to no one provider

Position = tuple[datetime, UUID]


@dataclass(frozen=True, slots=True)
class AccessScope:
    """What a caller may read: everything, or objects homed at these providers, tenants, sub-tenants
    (and, for bindings, at compartments when `compartments` is set; the caller checks which)."""

    everything: bool = False
    providers: frozenset[str] = frozenset()
    tenants: frozenset[str] = frozenset()
    subtenants: frozenset[str] = frozenset()
    compartments: bool = False

    @property
    def is_nothing(self) -> bool:
        return not (self.everything or self.providers or self.tenants or self.subtenants or self.compartments)


@dataclass(frozen=True, slots=True)
class GroupRecord:
    id: UUID
    idp_id: str | None
    name: str
    home_provider: str | None
    home_tenant: str | None
    home_subtenant: str | None
    created_by: str
    created_at: datetime
    members: int


_GROUP_COLUMNS = (
    "g.id, g.idp_id, g.name, g.home_provider, g.home_tenant, g.home_subtenant, g.created_by, g.created_at, "
    "(SELECT count(*) FROM skyloom.group_membership m WHERE m.group_id = g.id AND m.removed_at IS NULL)"
)


def _home_scope(scope: AccessScope, alias: str, params: dict[str, Any]) -> str:
    """Users and groups: homed in a readable provider (no home at all counts as the installation's),
    tenant or sub-tenant."""
    if scope.everything or ALL in scope.providers:
        return "TRUE"
    params.update(providers=sorted(scope.providers), tenants=sorted(scope.tenants), subtenants=sorted(scope.subtenants))
    return (f"(coalesce({alias}.home_provider, '{ALL}') = ANY(%(providers)s) OR {alias}.home_tenant = ANY(%(tenants)s)"
            f" OR {alias}.home_subtenant = ANY(%(subtenants)s))")


def _after(position: Position | None, alias: str, params: dict[str, Any]) -> str:
    if position is None:
        return "TRUE"
    params.update(after_at=position[0], after_id=position[1])
    return f"({alias}.created_at, {alias}.id) > (%(after_at)s, %(after_id)s)"


async def page_users(
    db: Database, scope: AccessScope, first: int, after: Position | None, *, text: str | None = None,
    kind: str | None = None, tenant: str | None = None, subtenant: str | None = None, include_disabled: bool = False,
) -> tuple[list[User], bool]:
    """Users and service accounts the scope admits, oldest first; `text` matches name, e-mail or subject."""
    if scope.is_nothing:
        return [], False
    params: dict[str, Any] = {"text": f"%{text}%" if text else None, "kind": kind, "tenant": tenant,
                              "subtenant": subtenant, "all": include_disabled, "limit": first + 1}
    where = " AND ".join((
        _home_scope(scope, "u", params), _after(after, "u", params),
        "(%(text)s::text IS NULL OR u.display_name ILIKE %(text)s OR u.email ILIKE %(text)s OR u.subject ILIKE %(text)s)",
        "(%(kind)s::text IS NULL OR u.kind = %(kind)s)",
        "(%(tenant)s::text IS NULL OR u.home_tenant = %(tenant)s)",
        "(%(subtenant)s::text IS NULL OR u.home_subtenant = %(subtenant)s)",
        "(%(all)s OR u.disabled_at IS NULL)",
    ))
    columns = ", ".join(f"u.{c.strip()}" for c in USER_COLUMNS.split(","))
    async with db.connection() as conn:
        cur = await conn.execute(
            f"SELECT {columns} FROM skyloom.identity_user u WHERE {where} ORDER BY u.created_at, u.id LIMIT %(limit)s",
            params,
        )
        rows = [User(*row) for row in await cur.fetchall()]
    return rows[:first], len(rows) > first


async def page_groups(
    db: Database, scope: AccessScope, first: int, after: Position | None, *, tenant: str | None = None,
) -> tuple[list[GroupRecord], bool]:
    if scope.is_nothing:
        return [], False
    params: dict[str, Any] = {"tenant": tenant, "limit": first + 1}
    where = " AND ".join((_home_scope(scope, "g", params), _after(after, "g", params),
                          "(%(tenant)s::text IS NULL OR g.home_tenant = %(tenant)s)"))
    async with db.connection() as conn:
        cur = await conn.execute(
            f"SELECT {_GROUP_COLUMNS} FROM skyloom.identity_group g WHERE {where} ORDER BY g.created_at, g.id "
            "LIMIT %(limit)s",
            params,
        )
        rows = [GroupRecord(*row) for row in await cur.fetchall()]
    return rows[:first], len(rows) > first


async def page_bindings(
    db: Database, scope: AccessScope, first: int, after: Position | None, *, scope_kind: str | None = None,
    scope_id: str | None = None, subject_id: UUID | None = None,
) -> tuple[list[RoleBindingRecord], bool]:
    """Live bindings whose scope the caller may read (compartment bindings come back when allowed at
    all; the caller matches each against the compartment's place)."""
    if scope.is_nothing:
        return [], False
    params: dict[str, Any] = {"ck": scope_kind, "cid": scope_id, "sid": subject_id, "limit": first + 1}
    if scope.everything:
        place = "TRUE"
    else:
        params.update(providers=sorted(scope.providers), tenants=sorted(scope.tenants),
                      subtenants=sorted(scope.subtenants), compartments=scope.compartments, anywhere=ALL in scope.providers)
        place = ("(%(anywhere)s"
                 " OR (b.scope_kind = 'provider' AND b.scope_id = ANY(%(providers)s))"
                 " OR (b.scope_kind = 'tenant' AND b.scope_id = ANY(%(tenants)s))"
                 " OR (b.scope_kind = 'subtenant' AND b.scope_id = ANY(%(subtenants)s))"
                 " OR (b.scope_kind = 'compartment' AND %(compartments)s))")
    where = " AND ".join((
        "b.revoked_at IS NULL", place, _after(after, "b", params),
        "(%(ck)s::text IS NULL OR b.scope_kind = %(ck)s)", "(%(cid)s::text IS NULL OR b.scope_id = %(cid)s)",
        "(%(sid)s::uuid IS NULL OR b.subject_id = %(sid)s)",
    ))
    columns = ", ".join(f"b.{c.strip()}" for c in BINDING_COLUMNS.split(","))
    async with db.connection() as conn:
        cur = await conn.execute(
            f"SELECT {columns} FROM skyloom.role_binding b WHERE {where} ORDER BY b.created_at, b.id LIMIT %(limit)s",
            params,
        )
        rows = [RoleBindingRecord(*row) for row in await cur.fetchall()]
    return rows[:first], len(rows) > first


# -- single rows, on the caller's connection (a mutation's transaction) ----------------------------
async def user_on(conn: AsyncConnection, user_id: UUID, *, lock: bool = False) -> User | None:
    cur = await conn.execute(
        f"SELECT {USER_COLUMNS} FROM skyloom.identity_user WHERE id = %s" + (" FOR UPDATE" if lock else ""), (user_id,)
    )
    row = await cur.fetchone()
    return User(*row) if row else None


async def group_on(conn: AsyncConnection, group_id: UUID) -> GroupRecord | None:
    """Groups are immutable rows (the API's role may not UPDATE them, so not lock them either)."""
    cur = await conn.execute(f"SELECT {_GROUP_COLUMNS} FROM skyloom.identity_group g WHERE g.id = %s", (group_id,))
    row = await cur.fetchone()
    return GroupRecord(*row) if row else None


async def binding_on(conn: AsyncConnection, binding_id: UUID, *, lock: bool = False) -> RoleBindingRecord | None:
    cur = await conn.execute(
        f"SELECT {BINDING_COLUMNS} FROM skyloom.role_binding WHERE id = %s AND revoked_at IS NULL"
        + (" FOR UPDATE" if lock else ""),
        (binding_id,),
    )
    row = await cur.fetchone()
    return RoleBindingRecord(*row) if row else None


async def held_bindings(conn: AsyncConnection, subject_kind: str, subject_id: UUID) -> list[tuple[str, str, str]]:
    """(role, scope kind, scope id) a subject holds: a group's own, or a user's direct and through groups.
    Disabled users included: whoever may re-enable one must outrank what it would get back."""
    cur = await conn.execute(
        "SELECT DISTINCT rb.role, rb.scope_kind, rb.scope_id FROM skyloom.role_binding rb "
        "WHERE rb.revoked_at IS NULL AND ((rb.subject_kind = %(k)s AND rb.subject_id = %(id)s) "
        " OR (%(k)s <> 'group' AND rb.subject_kind = 'group' AND rb.subject_id IN ("
        "   SELECT m.group_id FROM skyloom.group_membership m WHERE m.user_id = %(id)s AND m.removed_at IS NULL))) "
        "ORDER BY 1, 2, 3",
        {"k": subject_kind, "id": subject_id},
    )
    return [tuple(row) for row in await cur.fetchall()]


async def group_members(db: Database, group_id: UUID) -> list[tuple[User, str]]:
    """A group's live members with how each joined ('idp' or 'manual')."""
    columns = ", ".join(f"u.{c.strip()}" for c in USER_COLUMNS.split(","))
    async with db.connection() as conn:
        cur = await conn.execute(
            f"SELECT {columns}, m.source FROM skyloom.group_membership m JOIN skyloom.identity_user u ON u.id = m.user_id "
            "WHERE m.group_id = %s AND m.removed_at IS NULL ORDER BY u.display_name, u.id",
            (group_id,),
        )
        return [(User(*row[:-1]), row[-1]) for row in await cur.fetchall()]


async def user_groups(db: Database, user_id: UUID) -> list[tuple[GroupRecord, str]]:
    """The groups a user is a live member of, with how they joined ('idp' or 'manual')."""
    async with db.connection() as conn:
        cur = await conn.execute(
            f"SELECT {_GROUP_COLUMNS}, m.source FROM skyloom.group_membership m JOIN skyloom.identity_group g ON g.id = m.group_id "
            "WHERE m.user_id = %s AND m.removed_at IS NULL ORDER BY g.name, g.id",
            (user_id,),
        )
        return [(GroupRecord(*row[:-1]), row[-1]) for row in await cur.fetchall()]


async def mapping_on(conn: AsyncConnection, mapping_id: UUID) -> tuple[str, str, str, str] | None:
    """(idp id, role, scope kind, scope id) of a live group -> role mapping."""
    cur = await conn.execute(
        "SELECT idp_id, role, scope_kind, scope_id FROM skyloom.group_role_mapping WHERE id = %s AND removed_at IS NULL",
        (mapping_id,),
    )
    row = await cur.fetchone()
    return tuple(row) if row else None


async def token_on(conn: AsyncConnection, token_id: UUID) -> ApiTokenInfo | None:
    """A token's listing (never its secret, which is not stored), as this transaction sees it."""
    cur = await conn.execute(f"SELECT {TOKEN_COLUMNS} FROM skyloom.api_token WHERE id = %s", (token_id,))
    row = await cur.fetchone()
    return token_info(row) if row else None


async def roles(db: Database) -> list[tuple[str, str, list[str]]]:
    """(name, description, scope kinds) of every role, by name."""
    async with db.connection() as conn:
        cur = await conn.execute("SELECT name, description, scope_kinds FROM skyloom.role ORDER BY name")
        return [(name, description, list(kinds)) for name, description, kinds in await cur.fetchall()]
