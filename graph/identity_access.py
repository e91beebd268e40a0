"""Role bindings and the Actor they add up to: what a user, group or service account may do, and where.

`load_actor` is on every request's path (through sessions and tokens), so it is one statement:
the user row with its live groups and its direct plus group bindings aggregated in subqueries.
"""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

import psycopg
from psycopg import AsyncConnection

from skyloom.graph.identity_model import (
    BINDING_COLUMNS,
    SCOPE_KINDS,
    SUBJECT_KINDS,
    AlreadyExists,
    InvalidBinding,
    RoleBindingRecord,
)
from skyloom.graph.pool import Database
from skyloom.policy.actor import Actor, AuthStrength, Binding


async def create_binding(
    db: Database, subject_kind: str, subject_id: UUID, role: str, scope_kind: str, scope_id: str, created_by: str
) -> RoleBindingRecord:
    """Bind a role; refused unless the role exists, may be bound at this kind of scope, and the
    subject exists with that kind (checked in the same statement, so there is no window)."""
    async with db.connection() as conn:
        return await create_binding_on(conn, subject_kind, subject_id, role, scope_kind, scope_id, created_by)


async def create_binding_on(
    conn: AsyncConnection, subject_kind: str, subject_id: UUID, role: str, scope_kind: str, scope_id: str,
    created_by: str,
) -> RoleBindingRecord:
    """`create_binding` on the caller's connection (and transaction, for an audit entry beside it)."""
    if subject_kind not in SUBJECT_KINDS or scope_kind not in SCOPE_KINDS:
        raise InvalidBinding(f"unknown subject kind {subject_kind!r} or scope kind {scope_kind!r}")
    try:
        cur = await conn.execute(
            "INSERT INTO skyloom.role_binding (subject_kind, subject_id, role, scope_kind, scope_id, created_by) "
            "SELECT %(sk)s, %(sid)s, r.name, %(scope_kind)s, %(scope_id)s, %(by)s FROM skyloom.role r "
            "WHERE r.name = %(role)s AND %(scope_kind)s = ANY (r.scope_kinds) AND CASE %(sk)s "
            " WHEN 'group' THEN EXISTS (SELECT 1 FROM skyloom.identity_group g WHERE g.id = %(sid)s) "
            " ELSE EXISTS (SELECT 1 FROM skyloom.identity_user u WHERE u.id = %(sid)s AND u.kind = %(sk)s) END "
            f"RETURNING {BINDING_COLUMNS}",
            {"sk": subject_kind, "sid": subject_id, "role": role, "scope_kind": scope_kind,
             "scope_id": scope_id, "by": created_by},
        )
    except psycopg.errors.UniqueViolation as exc:
        raise AlreadyExists("this binding exists") from exc
    row = await cur.fetchone()
    if row is None:
        raise InvalidBinding(f"no such {subject_kind}, or role {role!r} does not exist or cannot be bound at a {scope_kind}")
    return RoleBindingRecord(*row)


async def list_bindings(
    db: Database, *, subject_kind: str | None = None, subject_id: UUID | None = None,
    scope_kind: str | None = None, scope_id: str | None = None,
) -> list[RoleBindingRecord]:
    """Live bindings matching every filter given (None: any)."""
    async with db.connection() as conn:
        cur = await conn.execute(
            f"SELECT {BINDING_COLUMNS} FROM skyloom.role_binding WHERE revoked_at IS NULL "
            "AND (%(sk)s::text IS NULL OR subject_kind = %(sk)s) AND (%(sid)s::uuid IS NULL OR subject_id = %(sid)s) "
            "AND (%(ck)s::text IS NULL OR scope_kind = %(ck)s) AND (%(cid)s::text IS NULL OR scope_id = %(cid)s) "
            "ORDER BY created_at, id",
            {"sk": subject_kind, "sid": subject_id, "ck": scope_kind, "cid": scope_id},
        )
        return [RoleBindingRecord(*row) for row in await cur.fetchall()]


async def revoke_binding(db: Database, binding_id: UUID, revoked_by: str) -> bool:
    """End a binding (kept, with who ended it and when); False if it was not live."""
    async with db.connection() as conn:
        return await revoke_binding_on(conn, binding_id, revoked_by)


async def revoke_binding_on(conn: AsyncConnection, binding_id: UUID, revoked_by: str) -> bool:
    """`revoke_binding` on the caller's connection."""
    cur = await conn.execute(
        "UPDATE skyloom.role_binding SET revoked_at = now(), revoked_by = %s WHERE id = %s AND revoked_at IS NULL",
        (revoked_by, binding_id),
    )
    return cur.rowcount == 1


_ACTOR_QUERY = """
SELECT u.kind, u.display_name, u.email, u.home_provider, u.home_tenant, u.home_subtenant,
       (SELECT coalesce(array_agg(g.name ORDER BY g.name), '{}')
          FROM (SELECT DISTINCT g.name FROM skyloom.group_membership m
                JOIN skyloom.identity_group g ON g.id = m.group_id
                WHERE m.user_id = u.id AND m.removed_at IS NULL) g),
       (SELECT coalesce(jsonb_agg(jsonb_build_array(b.role, b.scope_kind, b.scope_id, b.via)
                                  ORDER BY b.scope_kind, b.scope_id, b.role, b.via NULLS FIRST), '[]'::jsonb)
          FROM (SELECT DISTINCT rb.role, rb.scope_kind, rb.scope_id, NULL::text AS via
                  FROM skyloom.role_binding rb
                 WHERE rb.subject_kind = u.kind AND rb.subject_id = u.id AND rb.revoked_at IS NULL
                UNION
                SELECT rb.role, rb.scope_kind, rb.scope_id, g.name
                  FROM skyloom.group_membership m
                  JOIN skyloom.identity_group g ON g.id = m.group_id
                  JOIN skyloom.role_binding rb ON rb.subject_kind = 'group' AND rb.subject_id = g.id AND rb.revoked_at IS NULL
                 WHERE m.user_id = u.id AND m.removed_at IS NULL) b)
  FROM skyloom.identity_user u
 WHERE u.id = %s AND u.disabled_at IS NULL
"""


async def actor_on(
    conn: AsyncConnection, user_id: UUID, *, auth_strength: AuthStrength = AuthStrength.NONE,
    session_id: str | None = None, attributes: Mapping[str, str] | None = None, impersonator: Actor | None = None,
) -> Actor | None:
    """`load_actor` on a connection the caller already holds."""
    cur = await conn.execute(_ACTOR_QUERY, (user_id,), prepare=True)
    row = await cur.fetchone()
    if row is None:
        return None
    kind, display_name, email, home_provider, home_tenant, home_subtenant, groups, bindings = row
    facts = {"email": email} if email else {}
    return Actor(
        id=f"{kind}:{user_id}",
        kind=kind,
        name=display_name or email or "",
        home_provider=home_provider,
        home_tenant=home_tenant,
        home_subtenant=home_subtenant,
        groups=frozenset(groups),
        bindings=tuple(Binding(role, scope_kind, scope_id, via) for role, scope_kind, scope_id, via in bindings),
        attributes={**facts, **(attributes or {})},
        auth_strength=auth_strength,
        impersonator=impersonator,
        session_id=session_id,
    )


async def load_actor(
    db: Database, user_id: UUID, *, auth_strength: AuthStrength = AuthStrength.NONE,
    session_id: str | None = None, attributes: Mapping[str, str] | None = None, impersonator: Actor | None = None,
) -> Actor | None:
    """The Actor for a user or service account with its direct and group bindings (`via_group` set to
    the group's name) and home scope; None when the user does not exist or is disabled."""
    async with db.connection() as conn:
        return await actor_on(
            conn, user_id, auth_strength=auth_strength, session_id=session_id,
            attributes=attributes, impersonator=impersonator,
        )
