"""Step-up proof storage: registered hardware keys and their one-time challenges.

Every function takes an open connection, so a caller can put several steps in one transaction
(a WebAuthn registration stores the key and spends its challenge together, or neither). Time
comes from the database clock only (`now()`), so replicas with drifting clocks agree on what
has expired. A challenge is spent by one conditional UPDATE: of two requests racing with the
same proof, exactly one gets a row back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection, errors
from psycopg.types.json import Jsonb

KeyKind = Literal["pkcs11", "webauthn"]
Ceremony = Literal["pkcs11", "webauthn-register", "webauthn-authenticate"]

# What `graph/migrate.py:grant_app_role` must grant the API role for these tables (same
# `{role}` formatting as its list): no DELETE, and UPDATE only on the columns that change.
APP_GRANTS = (
    "GRANT SELECT, INSERT ON skyloom.proof_key, skyloom.proof_challenge TO {role}",
    "GRANT UPDATE (revoked_at, sign_count) ON skyloom.proof_key TO {role}",
    "GRANT UPDATE (used_at, used_key) ON skyloom.proof_challenge TO {role}",
)


class DuplicateKey(Exception):
    """The key is already registered and not revoked (by this actor or another)."""


@dataclass(frozen=True)
class KeyRecord:
    id: str
    owner: str
    kind: KeyKind
    label: str
    fingerprint: bytes
    public_key: bytes | None
    credential_id: bytes | None
    aaguid: bytes | None
    cose_key: bytes | None
    sign_count: int | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class ChallengeRecord:
    id: str
    actor_id: str
    ceremony: Ceremony
    purpose: str
    payload_digest: bytes
    nonce: bytes
    webauthn_state: dict[str, Any] | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    used_key: str | None
    live: bool    # expires_at > now() on the database clock when read


_KEY_COLUMNS = (
    "id::text, owner, kind, label, fingerprint, public_key, credential_id, aaguid, cose_key, sign_count, "
    "created_at, revoked_at"
)
_CHALLENGE_COLUMNS = (
    "id::text, actor_id, ceremony, purpose, payload_digest, nonce, webauthn_state, created_at, expires_at, "
    "used_at, used_key::text, expires_at > now()"
)


def _key(row: tuple) -> KeyRecord:
    fields = list(row)
    for i in (4, 5, 6, 7, 8):
        fields[i] = bytes(fields[i]) if fields[i] is not None else None
    return KeyRecord(*fields)


def _challenge(row: tuple) -> ChallengeRecord:
    fields = list(row)
    fields[4], fields[5] = bytes(fields[4]), bytes(fields[5])
    return ChallengeRecord(*fields)


async def insert_key(
    conn: AsyncConnection,
    owner: str,
    kind: KeyKind,
    label: str,
    fingerprint: bytes,
    *,
    public_key: bytes | None = None,
    credential_id: bytes | None = None,
    aaguid: bytes | None = None,
    cose_key: bytes | None = None,
    sign_count: int | None = None,
) -> KeyRecord:
    try:
        cur = await conn.execute(
            "INSERT INTO skyloom.proof_key (owner, kind, label, fingerprint, public_key, credential_id, aaguid, "
            f"cose_key, sign_count) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_KEY_COLUMNS}",
            (owner, kind, label, fingerprint, public_key, credential_id, aaguid, cose_key, sign_count),
        )
    except errors.UniqueViolation:
        raise DuplicateKey("this key is already registered") from None
    return _key(await cur.fetchone())


async def list_keys(
    conn: AsyncConnection, owner: str, kind: KeyKind | None = None, include_revoked: bool = False
) -> list[KeyRecord]:
    cur = await conn.execute(
        f"SELECT {_KEY_COLUMNS} FROM skyloom.proof_key WHERE owner = %s AND (%s::text IS NULL OR kind = %s) "
        "AND (%s OR revoked_at IS NULL) ORDER BY created_at, id",
        (owner, kind, kind, include_revoked),
    )
    return [_key(row) for row in await cur.fetchall()]


async def get_key(conn: AsyncConnection, key_id: str) -> KeyRecord | None:
    cur = await conn.execute(f"SELECT {_KEY_COLUMNS} FROM skyloom.proof_key WHERE id = %s", (uuid.UUID(key_id),))
    row = await cur.fetchone()
    return _key(row) if row else None


async def keys_by_fingerprint(conn: AsyncConnection, fingerprint: bytes) -> list[KeyRecord]:
    """Every registration of one key, the live one (if any) first."""
    cur = await conn.execute(
        f"SELECT {_KEY_COLUMNS} FROM skyloom.proof_key WHERE fingerprint = %s "
        "ORDER BY revoked_at IS NOT NULL, revoked_at DESC",
        (fingerprint,),
    )
    return [_key(row) for row in await cur.fetchall()]


async def revoke_key(conn: AsyncConnection, key_id: str, owner: str) -> KeyRecord | None:
    """Revokes a live key of `owner`; None when there is no such live key (nothing changes)."""
    cur = await conn.execute(
        f"UPDATE skyloom.proof_key SET revoked_at = now() WHERE id = %s AND owner = %s AND revoked_at IS NULL "
        f"RETURNING {_KEY_COLUMNS}",
        (uuid.UUID(key_id), owner),
    )
    row = await cur.fetchone()
    return _key(row) if row else None


async def insert_challenge(
    conn: AsyncConnection,
    challenge_id: str,
    actor_id: str,
    ceremony: Ceremony,
    purpose: str,
    payload_digest: bytes,
    nonce: bytes,
    ttl_seconds: int,
    webauthn_state: dict[str, Any] | None = None,
) -> ChallengeRecord:
    """Expiry is whole seconds on the database clock, so the signed expiry needs no sub-second field."""
    cur = await conn.execute(
        "INSERT INTO skyloom.proof_challenge (id, actor_id, ceremony, purpose, payload_digest, nonce, "
        "webauthn_state, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, "
        "date_trunc('second', now()) + make_interval(secs => %s)) "
        f"RETURNING {_CHALLENGE_COLUMNS}",
        (
            uuid.UUID(challenge_id), actor_id, ceremony, purpose, payload_digest, nonce,
            Jsonb(webauthn_state) if webauthn_state is not None else None, ttl_seconds,
        ),
    )
    return _challenge(await cur.fetchone())


async def get_challenge(conn: AsyncConnection, challenge_id: str) -> ChallengeRecord | None:
    cur = await conn.execute(
        f"SELECT {_CHALLENGE_COLUMNS} FROM skyloom.proof_challenge WHERE id = %s", (uuid.UUID(challenge_id),)
    )
    row = await cur.fetchone()
    return _challenge(row) if row else None


async def consume_challenge(conn: AsyncConnection, challenge_id: str, actor_id: str, key_id: str) -> datetime | None:
    """Spends the challenge with the key, if both are still good at this instant.

    One statement decides: the challenge is unspent and unexpired, belongs to the actor, and the
    key is the actor's and not revoked. Returns when it was spent, or None (then nothing changed).
    """
    cur = await conn.execute(
        "UPDATE skyloom.proof_challenge SET used_at = now(), used_key = %s "
        "WHERE id = %s AND actor_id = %s AND used_at IS NULL AND expires_at > now() "
        "AND EXISTS (SELECT 1 FROM skyloom.proof_key k WHERE k.id = %s AND k.owner = %s AND k.revoked_at IS NULL) "
        "RETURNING used_at",
        (uuid.UUID(key_id), uuid.UUID(challenge_id), actor_id, uuid.UUID(key_id), actor_id),
    )
    row = await cur.fetchone()
    return row[0] if row else None


async def advance_sign_count(conn: AsyncConnection, key_id: str, new_count: int) -> bool:
    """Stores a WebAuthn signature counter if it moved forward (or the authenticator keeps none).

    WebAuthn: a counter that does not grow means two authenticators share the credential, so
    the update is refused in the same statement that checks it (no read-then-write race).
    """
    cur = await conn.execute(
        "UPDATE skyloom.proof_key SET sign_count = %s WHERE id = %s AND kind = 'webauthn' AND revoked_at IS NULL "
        "AND (sign_count < %s OR (sign_count = 0 AND %s = 0)) RETURNING id",
        (new_count, uuid.UUID(key_id), new_count, new_count),
    )
    return await cur.fetchone() is not None


async def live_keys_locked(conn: AsyncConnection, owner: str) -> int:
    """How many live keys `owner` has, with the owner's registrations serialised until the caller's
    transaction ends (an advisory lock), so two concurrent "first key" registrations cannot both
    see zero."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"proof_key:{owner}",))
    cur = await conn.execute("SELECT count(*) FROM skyloom.proof_key WHERE owner = %s AND revoked_at IS NULL", (owner,))
    return (await cur.fetchone())[0]
