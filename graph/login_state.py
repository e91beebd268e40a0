"""Server-side login state: logins in flight (taken once) and the SAML assertions already used.

The protocol layer (`skyloom.identity`) stores nothing; it relies on its caller to hand each
pending login back at most once and to refuse a second sighting of a SAML assertion. Both are
single statements here, so two replicas racing on the same callback cannot both win: the
`DELETE ... RETURNING` gives the row to one of them, and the assertion cache's primary key
refuses the second insert. Tables: migration 0009.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from psycopg.types.json import Jsonb

from skyloom.graph.pool import Database

Protocol = Literal["oidc", "saml"]
MAX_KEY_LENGTH = 128   # the column's limit; a longer presented key cannot exist, so is not looked up


@dataclass(frozen=True, slots=True)
class TakenLogin:
    """A pending login as it was stored, now deleted. `expired` logins must be refused: the row is
    gone either way, so an expired key cannot be retried."""

    idp_id: str
    protocol: Protocol
    state: dict[str, Any]
    return_to: str
    expired: bool


async def put_pending(
    db: Database, key: str, idp_id: str, protocol: Protocol, state: Mapping[str, Any], return_to: str, ttl: timedelta
) -> None:
    """Store a started login under `key` until `ttl` from now; expired leftovers are purged on the way."""
    async with db.connection() as conn:
        await conn.execute("SELECT skyloom.login_state_purge()")
        await conn.execute(
            "INSERT INTO skyloom.pending_login (id, idp_id, protocol, state, return_to, expires_at) "
            "VALUES (%s, %s, %s, %s, %s, now() + %s)",
            (key, idp_id, protocol, Jsonb(dict(state)), return_to, ttl),
        )


async def take_pending(db: Database, key: str | None) -> TakenLogin | None:
    """The login stored under `key`, deleted in the same statement; None when there is none (never
    stored, already taken, or purged). Whether it belongs to the IdP that is asked is the protocol
    layer's check, so a key presented at the wrong IdP is spent and refused there."""
    if not key or len(key) > MAX_KEY_LENGTH:
        return None
    async with db.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM skyloom.pending_login WHERE id = %s "
            "RETURNING idp_id, protocol, state, return_to, expires_at <= now()",
            (key,),
        )
        row = await cur.fetchone()
    return TakenLogin(*row) if row else None


async def first_sighting(db: Database, idp_id: str, assertion_id: str, not_on_or_after: datetime) -> bool:
    """Record a verified SAML assertion; False when this IdP's assertion id was seen before."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO skyloom.saml_assertion_seen (idp_id, assertion_id, not_on_or_after) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (idp_id, assertion_id, not_on_or_after),
        )
        return cur.rowcount == 1


async def purge_expired(db: Database, batch: int = 1000) -> int:
    """Remove up to `batch` expired rows of each table (also done on every `put_pending`)."""
    async with db.connection() as conn:
        cur = await conn.execute("SELECT skyloom.login_state_purge(%s)", (batch,))
        return (await cur.fetchone())[0]
