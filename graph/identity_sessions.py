"""Sessions and API tokens: minting a credential once, and turning a presented one back into an Actor.

Only SHA-256 digests are stored, and a presented credential is looked up by its digest, so the
database never compares secrets itself; the one secret compared in Python (the CSRF token) is
compared in constant time. A credential resolves only while it is unexpired, unrevoked and its
user is enabled, checked on every request, so revocation and disabling take effect at once on
every replica. `last_seen_at` / `last_used_at` are written at most once a minute per credential,
keeping request reads from turning into writes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

from psycopg import AsyncConnection

from skyloom.graph.identity_access import actor_on
from skyloom.graph.identity_model import (
    TOKEN_COLUMNS,
    ApiTokenInfo,
    UnknownUser,
    digest,
    new_api_token,
    new_opaque_token,
    same_secret,
    token_info,
    well_formed_api_token,
)
from skyloom.graph.pool import Database
from skyloom.policy.actor import Actor, AuthStrength

_TOUCH_AFTER = timedelta(seconds=60)
# A bearer token proves possession of one secret: single-factor, like a password.
TOKEN_AUTH_STRENGTH = AuthStrength.PASSWORD


async def open_session(
    db: Database, user_id: UUID, auth_strength: AuthStrength, ttl: timedelta
) -> tuple[str, str]:
    """(session token, CSRF token) for a user who just logged in; the only time either is seen in clear."""
    if ttl <= timedelta(0):
        raise ValueError("a session needs a positive lifetime")
    token, csrf = new_opaque_token(), new_opaque_token()
    async with db.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO skyloom.user_session (token_hash, csrf_hash, user_id, auth_strength, expires_at) "
            "SELECT %s, %s, u.id, %s, now() + %s FROM skyloom.identity_user u "
            "WHERE u.id = %s AND u.kind = 'user' AND u.disabled_at IS NULL",
            (digest(token), digest(csrf), int(auth_strength), ttl, user_id),
        )
        if cur.rowcount != 1:
            raise UnknownUser(f"no enabled user {user_id} to open a session for")
    return token, csrf


async def resolve_session(db: Database, token: str) -> Actor | None:
    """The Actor a session token stands for, or None (unknown, expired, revoked, or its user disabled).

    While an impersonation is live the Actor is the impersonated user with the session's own user
    as `impersonator`; once it lapses the session is its own user's again.
    """
    if not isinstance(token, str) or not token:
        return None
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT s.id, s.user_id, s.auth_strength, s.last_seen_at < now() - %s, "
            "CASE WHEN s.impersonation_until > now() THEN s.impersonated_user_id END, s.proof_until "
            "FROM skyloom.user_session s JOIN skyloom.identity_user u ON u.id = s.user_id "
            "WHERE s.token_hash = %s AND s.revoked_at IS NULL AND s.expires_at > now() AND u.disabled_at IS NULL",
            (_TOUCH_AFTER, digest(token)),
            prepare=True,
        )
        row = await cur.fetchone()
        if row is None:
            return None
        session_id, user_id, strength, stale, impersonated, proof_until = row
        if stale:
            await conn.execute("UPDATE skyloom.user_session SET last_seen_at = now() WHERE id = %s", (session_id,))
        strength = AuthStrength(strength)
        actor = await actor_on(conn, user_id, auth_strength=strength, session_id=str(session_id))
        if actor is not None and proof_until is not None:
            # A step-up (`record_step_up`) is the session owner's: the proof stays with them, and
            # lapses by the clock (Actor.has_fresh_proof), so an old proof_until is harmless here.
            actor = replace(actor, proof_until=proof_until)
        if actor is not None and impersonated is not None:
            target = await actor_on(conn, impersonated, auth_strength=strength, session_id=str(session_id), impersonator=actor)
            return target if target is not None else actor
        return actor


async def record_step_up(conn: AsyncConnection, session_id: UUID, key_id: UUID, proof_until: datetime) -> bool:
    """Raise a live session to the hardware tier until `proof_until` (in the caller's transaction, so
    the step-up and its audit entry commit together); False when the session is no longer live."""
    cur = await conn.execute(
        "UPDATE skyloom.user_session SET proof_until = %s, proof_key = %s, auth_strength = %s "
        "WHERE id = %s AND revoked_at IS NULL AND expires_at > now()",
        (proof_until, key_id, int(AuthStrength.HARDWARE), session_id),
    )
    return cur.rowcount == 1


async def check_csrf(db: Database, token: str, csrf: str) -> bool:
    """Whether `csrf` is the CSRF token issued with this live session (compared in constant time)."""
    if not isinstance(token, str) or not isinstance(csrf, str) or not token or not csrf:
        return False
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT csrf_hash FROM skyloom.user_session WHERE token_hash = %s AND revoked_at IS NULL AND expires_at > now()",
            (digest(token),),
        )
        row = await cur.fetchone()
    return row is not None and same_secret(csrf, bytes(row[0]))


async def impersonate(db: Database, token: str, target_user_id: UUID | None, until: datetime | None) -> bool:
    """Start (target and until given) or end (both None) impersonation on a live session. Whether the
    caller may impersonate, with which approvals, is the policy's and the workflow's to decide first."""
    if (target_user_id is None) != (until is None):
        raise ValueError("give both a target and an end time, or neither")
    async with db.connection() as conn:
        cur = await conn.execute(
            "UPDATE skyloom.user_session SET impersonated_user_id = %s, impersonation_until = %s "
            "WHERE token_hash = %s AND revoked_at IS NULL AND expires_at > now()",
            (target_user_id, until, digest(token)),
        )
        return cur.rowcount == 1


async def revoke_session(db: Database, token: str) -> bool:
    """Log out: the token stops resolving at once; False if it was not a live session."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "UPDATE skyloom.user_session SET revoked_at = now() WHERE token_hash = %s AND revoked_at IS NULL",
            (digest(token),),
        )
        return cur.rowcount == 1


async def revoke_session_by_id(db: Database, session_id: UUID) -> bool:
    """End a session from a listing or an admin action, where the token itself is not at hand."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "UPDATE skyloom.user_session SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL", (session_id,)
        )
        return cur.rowcount == 1


async def revoke_all_sessions(db: Database, user_id: UUID) -> int:
    """Log a user out everywhere (e.g. after a password or device loss); returns how many ended."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "UPDATE skyloom.user_session SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL", (user_id,)
        )
        return cur.rowcount


# -- API tokens -----------------------------------------------------------------------------------
async def create_api_token(
    db: Database, user_id: UUID, name: str, created_by: str, *,
    scopes: tuple[str, ...] = (), expires_in: timedelta | None = None,
) -> tuple[str, ApiTokenInfo]:
    """(raw token, its listing) for a user or service account; the raw token is never retrievable again."""
    async with db.connection() as conn:
        return await create_api_token_on(conn, user_id, name, created_by, scopes=scopes, expires_in=expires_in)


async def create_api_token_on(
    conn: AsyncConnection, user_id: UUID, name: str, created_by: str, *,
    scopes: tuple[str, ...] = (), expires_in: timedelta | None = None,
) -> tuple[str, ApiTokenInfo]:
    """`create_api_token` on the caller's connection."""
    token = new_api_token()
    cur = await conn.execute(
        "INSERT INTO skyloom.api_token (token_hash, name, user_id, scopes, created_by, expires_at) "
        "SELECT %s, %s, u.id, %s, %s, now() + %s FROM skyloom.identity_user u "
        f"WHERE u.id = %s AND u.disabled_at IS NULL RETURNING {TOKEN_COLUMNS}",
        (digest(token), name, list(scopes), created_by, expires_in, user_id),
    )
    row = await cur.fetchone()
    if row is None:
        raise UnknownUser(f"no enabled user or service account {user_id}")
    return token, token_info(row)


async def resolve_api_token(db: Database, token: str) -> Actor | None:
    """The Actor a bearer token stands for, or None; a malformed token is refused before any query.

    The Actor's attributes carry `credential` ("token:<id>") and `token_scopes` (space-separated,
    empty for unrestricted) for the policy to narrow on.
    """
    if not well_formed_api_token(token):
        return None
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT t.id, t.user_id, t.scopes, t.last_used_at IS NULL OR t.last_used_at < now() - %s "
            "FROM skyloom.api_token t JOIN skyloom.identity_user u ON u.id = t.user_id "
            "WHERE t.token_hash = %s AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now()) "
            "AND u.disabled_at IS NULL",
            (_TOUCH_AFTER, digest(token)),
            prepare=True,
        )
        row = await cur.fetchone()
        if row is None:
            return None
        token_id, user_id, scopes, stale = row
        if stale:
            await conn.execute("UPDATE skyloom.api_token SET last_used_at = now() WHERE id = %s", (token_id,))
        return await actor_on(
            conn, user_id, auth_strength=TOKEN_AUTH_STRENGTH,
            attributes={"credential": f"token:{token_id}", "token_scopes": " ".join(scopes)},
        )


async def revoke_api_token(db: Database, token_id: UUID) -> bool:
    async with db.connection() as conn:
        return await revoke_api_token_on(conn, token_id)


async def revoke_api_token_on(conn: AsyncConnection, token_id: UUID) -> bool:
    """`revoke_api_token` on the caller's connection: the token stops resolving at once."""
    cur = await conn.execute(
        "UPDATE skyloom.api_token SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL", (token_id,)
    )
    return cur.rowcount == 1


async def list_api_tokens(db: Database, user_id: UUID, *, include_revoked: bool = False) -> list[ApiTokenInfo]:
    """A user's tokens, newest first, without secrets (none are stored)."""
    async with db.connection() as conn:
        cur = await conn.execute(
            f"SELECT {TOKEN_COLUMNS} FROM skyloom.api_token WHERE user_id = %s AND (%s OR revoked_at IS NULL) "
            "ORDER BY created_at DESC, id",
            (user_id, include_revoked),
        )
        return [token_info(row) for row in await cur.fetchall()]
