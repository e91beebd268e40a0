"""Impersonation store: per-tenant settings, requests and their status moves, and the session switch.

Every move of a request is one conditional UPDATE on the status it leaves (and, for an approval,
on who approves), so of two approvers, or an approval racing a denial or a start, exactly one gets
a row back; the loser changes nothing. Starting and ending also switch the caller's session in the
same transaction, so a request is `active` exactly while its session acts as the target.

"The same person" across identity providers: people may hold one account per identity provider
(users are unique per IdP and subject), so two enabled user accounts with the same e-mail address
(case-insensitive) count as one person. It is used to let a re-authenticated account start what
its twin requested, and to stop a person approving their own request through a second account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

TARGET_MODES = ("subtenant-root", "mapped")
STATUSES = ("requested", "approved", "denied", "active", "ended", "expired")
MAX_MINUTES = 480


@dataclass(frozen=True, slots=True)
class Settings:
    """A tenant's rules. The defaults (no row yet) are the strict ones: both steps required."""

    tenant_id: str
    require_reauth: bool = True
    require_approval: bool = True
    max_minutes: int = 30
    target_mode: str = "subtenant-root"
    mapping: Mapping[str, str] = field(default_factory=dict)
    updated_by: str | None = None
    updated_at: datetime | None = None


_SETTINGS = "tenant_id, require_reauth, require_approval, max_minutes, target_mode, mapping, updated_by, updated_at"


@dataclass(frozen=True, slots=True)
class Request:
    id: UUID
    seq: int
    requester: str
    requester_idp: str | None
    provider_id: str | None
    tenant_id: str
    subtenant_id: str
    target_user: UUID
    reason: str
    minutes: int
    require_reauth: bool
    require_approval: bool
    status: str
    created_at: datetime
    approver: str | None
    decided_at: datetime | None
    started_by: str | None
    session_id: UUID | None
    started_at: datetime | None
    expires_at: datetime | None
    ended_at: datetime | None
    ended_by: str | None

    @property
    def target_actor(self) -> str:
        return f"user:{self.target_user}"


_REQUEST = (
    "id, seq, requester, requester_idp, provider_id, tenant_id, subtenant_id, target_user, reason, minutes, "
    "require_reauth, require_approval, status, created_at, approver, decided_at, started_by, session_id, "
    "started_at, expires_at, ended_at, ended_by"
)
_R = ", ".join(f"r.{c.strip()}" for c in _REQUEST.split(","))

# The users behind two actor ids ("user:<uuid>") are one person: the same account, or two enabled
# accounts with the same e-mail address. Parameters: a, b (actor ids).
_SAME_PERSON = """
    (%(a)s = %(b)s OR EXISTS (
        SELECT 1 FROM skyloom.identity_user x JOIN skyloom.identity_user y
          ON lower(x.email) = lower(y.email)
        WHERE 'user:' || x.id::text = %(a)s AND 'user:' || y.id::text = %(b)s
          AND x.email IS NOT NULL AND x.disabled_at IS NULL AND y.disabled_at IS NULL))
"""


# -- settings ---------------------------------------------------------------------------------------
async def get_settings(conn: AsyncConnection, tenant_id: str) -> Settings:
    cur = await conn.execute(f"SELECT {_SETTINGS} FROM skyloom.impersonation_settings WHERE tenant_id = %s", (tenant_id,))
    row = await cur.fetchone()
    return Settings(*row) if row else Settings(tenant_id)


async def set_settings(conn: AsyncConnection, s: Settings, updated_by: str) -> Settings:
    cur = await conn.execute(
        f"INSERT INTO skyloom.impersonation_settings ({_SETTINGS}) VALUES (%s, %s, %s, %s, %s, %s, %s, now()) "
        "ON CONFLICT (tenant_id) DO UPDATE SET require_reauth = excluded.require_reauth, "
        "require_approval = excluded.require_approval, max_minutes = excluded.max_minutes, "
        "target_mode = excluded.target_mode, mapping = excluded.mapping, updated_by = excluded.updated_by, "
        f"updated_at = now() RETURNING {_SETTINGS}",
        (s.tenant_id, s.require_reauth, s.require_approval, s.max_minutes, s.target_mode, Jsonb(dict(s.mapping)), updated_by),
    )
    return Settings(*await cur.fetchone())


# -- who to act as ----------------------------------------------------------------------------------
async def root_user(conn: AsyncConnection, subtenant_id: str) -> UUID | None:
    """The sub-tenant's root user: an enabled person bound subtenant-admin there, directly before
    through a group, the longest-standing first (so the answer does not flip between calls)."""
    cur = await conn.execute(
        """
        SELECT u.id FROM (
            SELECT rb.subject_id AS user_id, 0 AS via_group, rb.created_at FROM skyloom.role_binding rb
             WHERE rb.subject_kind = 'user' AND rb.role = 'subtenant-admin' AND rb.scope_kind = 'subtenant'
               AND rb.scope_id = %(s)s AND rb.revoked_at IS NULL
            UNION ALL
            SELECT m.user_id, 1, greatest(rb.created_at, m.added_at) FROM skyloom.role_binding rb
              JOIN skyloom.group_membership m ON m.group_id = rb.subject_id AND m.removed_at IS NULL
             WHERE rb.subject_kind = 'group' AND rb.role = 'subtenant-admin' AND rb.scope_kind = 'subtenant'
               AND rb.scope_id = %(s)s AND rb.revoked_at IS NULL
        ) c JOIN skyloom.identity_user u ON u.id = c.user_id AND u.kind = 'user' AND u.disabled_at IS NULL
        ORDER BY c.via_group, c.created_at, u.id LIMIT 1
        """,
        {"s": subtenant_id},
    )
    row = await cur.fetchone()
    return row[0] if row else None


async def belongs_to(conn: AsyncConnection, user_id: UUID, subtenant_id: str) -> bool:
    """Whether an enabled person lives in the sub-tenant (home) or holds a live role there: a mapping
    may only name such a user, so it cannot point an impersonation somewhere else."""
    cur = await conn.execute(
        """
        SELECT 1 FROM skyloom.identity_user u
         WHERE u.id = %(u)s AND u.kind = 'user' AND u.disabled_at IS NULL AND (
               u.home_subtenant = %(s)s
            OR EXISTS (SELECT 1 FROM skyloom.role_binding rb WHERE rb.subject_kind = 'user' AND rb.subject_id = u.id
                        AND rb.scope_kind = 'subtenant' AND rb.scope_id = %(s)s AND rb.revoked_at IS NULL)
            OR EXISTS (SELECT 1 FROM skyloom.role_binding rb JOIN skyloom.group_membership m
                         ON m.group_id = rb.subject_id AND m.removed_at IS NULL
                        WHERE rb.subject_kind = 'group' AND m.user_id = u.id AND rb.scope_kind = 'subtenant'
                          AND rb.scope_id = %(s)s AND rb.revoked_at IS NULL))
        """,
        {"u": user_id, "s": subtenant_id},
    )
    return await cur.fetchone() is not None


async def target_for(conn: AsyncConnection, settings: Settings, subtenant_id: str) -> UUID | None:
    if settings.target_mode == "mapped" and subtenant_id in settings.mapping:
        mapped = UUID(str(settings.mapping[subtenant_id]))
        return mapped if await belongs_to(conn, mapped, subtenant_id) else None
    return await root_user(conn, subtenant_id)


# -- facts about callers ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SessionFacts:
    user_id: UUID
    idp_id: str | None
    opened_at: datetime
    age_seconds: float


async def session_facts(conn: AsyncConnection, session_id: str) -> SessionFacts | None:
    """How a live session was opened: through which identity provider, and how long ago (database clock)."""
    cur = await conn.execute(
        "SELECT s.user_id, u.idp_id, s.created_at, extract(epoch FROM now() - s.created_at)::float8 "
        "FROM skyloom.user_session s JOIN skyloom.identity_user u ON u.id = s.user_id "
        "WHERE s.id = %s AND s.revoked_at IS NULL AND s.expires_at > now()",
        (session_id,),
    )
    row = await cur.fetchone()
    return SessionFacts(*row) if row else None


async def idp_of(conn: AsyncConnection, actor_id: str) -> str | None:
    cur = await conn.execute("SELECT idp_id FROM skyloom.identity_user WHERE 'user:' || id::text = %s", (actor_id,))
    row = await cur.fetchone()
    return row[0] if row else None


async def same_person(conn: AsyncConnection, a: str, b: str) -> bool:
    cur = await conn.execute(f"SELECT {_SAME_PERSON}", {"a": a, "b": b})
    return bool((await cur.fetchone())[0])


# -- requests ---------------------------------------------------------------------------------------
async def create_request(
    conn: AsyncConnection, *, requester: str, requester_idp: str | None, provider_id: str | None, tenant_id: str,
    subtenant_id: str, target_user: UUID, reason: str, minutes: int, settings: Settings,
) -> Request:
    cur = await conn.execute(
        "INSERT INTO skyloom.impersonation_request (requester, requester_idp, provider_id, tenant_id, subtenant_id, "
        "target_user, reason, minutes, require_reauth, require_approval) "
        f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_REQUEST}",
        (requester, requester_idp, provider_id, tenant_id, subtenant_id, target_user, reason, minutes,
         settings.require_reauth, settings.require_approval),
    )
    return Request(*await cur.fetchone())


async def get_request(conn: AsyncConnection, request_id: UUID) -> Request | None:
    cur = await conn.execute(f"SELECT {_REQUEST} FROM skyloom.impersonation_request WHERE id = %s", (request_id,))
    row = await cur.fetchone()
    return Request(*row) if row else None


@dataclass(frozen=True, slots=True)
class Scope:
    """Which requests a list may show: everything, or those in these providers / tenants / sub-tenants."""

    everything: bool = False
    providers: frozenset[str] = frozenset()
    tenants: frozenset[str] = frozenset()
    subtenants: frozenset[str] = frozenset()


async def list_requests(
    conn: AsyncConnection, scope: Scope, *, statuses: tuple[str, ...], not_by: str | None, by: str | None,
    first: int, after_seq: int | None,
) -> tuple[list[Request], bool]:
    """A page, newest first: in `scope`, with one of `statuses`, made by someone who is not the same
    person as `not_by` (the approval inbox), or only those `by` that actor (their own)."""
    cur = await conn.execute(
        f"SELECT {_R} FROM skyloom.impersonation_request r "
        "WHERE r.status = ANY(%(statuses)s) AND (%(after)s::bigint IS NULL OR r.seq < %(after)s) "
        "AND (%(all)s OR r.provider_id = ANY(%(providers)s) OR r.tenant_id = ANY(%(tenants)s) "
        "     OR r.subtenant_id = ANY(%(subtenants)s)) "
        "AND (%(by)s::text IS NULL OR r.requester = %(by)s) "
        "AND (%(not_by)s::text IS NULL OR NOT (r.requester = %(not_by)s OR EXISTS ("
        "     SELECT 1 FROM skyloom.identity_user x JOIN skyloom.identity_user y ON lower(x.email) = lower(y.email) "
        "     WHERE 'user:' || x.id::text = r.requester AND 'user:' || y.id::text = %(not_by)s AND x.email IS NOT NULL))) "
        "ORDER BY r.seq DESC LIMIT %(limit)s",
        {"statuses": list(statuses), "after": after_seq, "all": scope.everything, "providers": sorted(scope.providers),
         "tenants": sorted(scope.tenants), "subtenants": sorted(scope.subtenants), "by": by, "not_by": not_by,
         "limit": first + 1},
    )
    rows = [Request(*row) for row in await cur.fetchall()]
    return rows[:first], len(rows) > first


async def decide(conn: AsyncConnection, request_id: UUID, approver: str, approve: bool) -> Request | None:
    """requested -> approved | denied, only by someone who is not the requester under any account."""
    cur = await conn.execute(
        f"UPDATE skyloom.impersonation_request r SET status = %(status)s, approver = %(b)s, decided_at = now() "
        f"WHERE r.id = %(id)s AND r.status = 'requested' AND NOT {_SAME_PERSON.replace('%(a)s', 'r.requester')} "
        f"RETURNING {_R}",
        {"status": "approved" if approve else "denied", "b": approver, "id": request_id},
    )
    row = await cur.fetchone()
    return Request(*row) if row else None


async def start(
    conn: AsyncConnection, request_id: UUID, *, started_by: str, session_id: str, user_id: UUID, minutes: int,
) -> Request | None:
    """approved (or requested, when the request needs no approval) -> active, and the caller's own
    session switched to the target until the request expires; None when either step finds nothing."""
    cur = await conn.execute(
        "UPDATE skyloom.impersonation_request SET status = 'active', started_by = %(by)s, session_id = %(sid)s, "
        "started_at = now(), expires_at = now() + make_interval(mins => %(minutes)s) "
        "WHERE id = %(id)s AND (status = 'approved' OR (status = 'requested' AND NOT require_approval)) "
        f"RETURNING {_REQUEST}",
        {"by": started_by, "sid": session_id, "minutes": minutes, "id": request_id},
    )
    row = await cur.fetchone()
    if row is None:
        return None
    started = Request(*row)
    cur = await conn.execute(
        "UPDATE skyloom.user_session SET impersonated_user_id = %s, impersonation_until = %s "
        "WHERE id = %s AND user_id = %s AND revoked_at IS NULL AND expires_at > now()",
        (started.target_user, started.expires_at, session_id, user_id),
    )
    if cur.rowcount != 1:
        raise RuntimeError("the session to switch vanished while starting an impersonation")
    return started


async def end(conn: AsyncConnection, session_id: str, ended_by: str) -> Request | None:
    """active -> ended for this session's impersonation, and the session is its own user's again."""
    cur = await conn.execute(
        "UPDATE skyloom.impersonation_request SET status = 'ended', ended_at = now(), ended_by = %s "
        f"WHERE session_id = %s AND status = 'active' RETURNING {_REQUEST}",
        (ended_by, session_id),
    )
    row = await cur.fetchone()
    await conn.execute(
        "UPDATE skyloom.user_session SET impersonated_user_id = NULL, impersonation_until = NULL WHERE id = %s",
        (session_id,),
    )
    return Request(*row) if row else None


async def expire_due(conn: AsyncConnection, approval_hours: int = 1, pending_hours: int = 24) -> list[Request]:
    """Mark what lapsed: active ones past `expires_at` (their sessions already act as themselves
    again, see `identity_sessions.resolve_session`), approvals unused for `approval_hours`, and
    requests undecided for `pending_hours`. Returns them for the audit trail."""
    cur = await conn.execute(
        "UPDATE skyloom.impersonation_request SET status = 'expired', ended_at = now(), ended_by = 'system' "
        "WHERE (status = 'active' AND expires_at <= now()) "
        "OR (status = 'approved' AND decided_at <= now() - make_interval(hours => %s)) "
        "OR (status = 'requested' AND created_at <= now() - make_interval(hours => %s)) "
        f"RETURNING {_REQUEST}",
        (approval_hours, pending_hours),
    )
    lapsed = [Request(*row) for row in await cur.fetchall()]
    sessions = [r.session_id for r in lapsed if r.session_id is not None]
    if sessions:
        await conn.execute(
            "UPDATE skyloom.user_session SET impersonated_user_id = NULL, impersonation_until = NULL "
            "WHERE id = ANY(%s) AND impersonation_until <= now()",
            (sessions,),
        )
    return lapsed


def detail(r: Request, **extra: Any) -> dict[str, Any]:
    """What every audit entry of a request repeats, so each entry stands on its own."""
    return {"request": str(r.id), "requester": r.requester, "targetUser": r.target_actor, "subTenant": r.subtenant_id,
            "minutes": r.minutes, **extra}
