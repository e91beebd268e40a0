"""Reading the audit trail: filtered pages for the API, the chain check, and streams for export.

The chain check recomputes every link in Python from the stored facts, independently of the
database function that sealed them, so a changed sealer cannot vouch for itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson
from psycopg.rows import dict_row

from skyloom.graph.audit import PRIORITIES
from skyloom.graph.pool import Database

_ROW = (
    "id, at, priority, type, actor, impersonator, tenant, subtenant, target, request_id, source, outcome,"
    " detail::text AS detail, position, prev_hash, hash"
)


@dataclass(frozen=True)
class AuditFilter:
    priorities: tuple[str, ...] = ()
    types: tuple[str, ...] = ()           # exact types, or a family with a trailing '*': 'login.*'
    actor: str | None = None
    target: str | None = None
    outcome: str | None = None
    tenant: str | None = None
    request_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditScope:
    """Which entries a reader may see: everything (the provider), or its tenants' own entries."""

    everything: bool = False
    tenants: frozenset[str] = frozenset()
    subtenants: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Broken:
    priority: str
    position: int
    entry_id: int | None
    reason: str


@dataclass(frozen=True)
class Verification:
    checked: int
    unsealed: int
    first_broken: Broken | None
    broken_chains: tuple[Broken, ...]

    @property
    def ok(self) -> bool:
        return self.first_broken is None


def _where(f: AuditFilter, scope: AuditScope) -> tuple[list[str], dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if not scope.everything:
        clauses.append("(tenant = ANY(%(scope_tenants)s) OR subtenant = ANY(%(scope_subtenants)s))")
        params.update(scope_tenants=sorted(scope.tenants), scope_subtenants=sorted(scope.subtenants))
    if f.priorities:
        clauses.append("priority = ANY(%(priorities)s)")
        params["priorities"] = list(f.priorities)
    if f.types:
        exact = [t for t in f.types if not t.endswith("*")]
        families = [t[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%" for t in f.types if t.endswith("*")]
        clauses.append("(type = ANY(%(types)s) OR type LIKE ANY(%(families)s))")
        params.update(types=exact, families=families)
    for column in ("actor", "target", "outcome", "tenant", "request_id"):
        value = getattr(f, column)
        if value is not None:
            clauses.append(f"{column} = %({column})s")
            params[column] = value
    if f.since is not None:
        clauses.append("at >= %(since)s")
        params["since"] = f.since
    if f.until is not None:
        clauses.append("at < %(until)s")
        params["until"] = f.until
    return clauses, params


async def page(
    db: Database, f: AuditFilter, scope: AuditScope, first: int, after: tuple[datetime, int] | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """Newest first; `after` is the (time, id) of the last entry of the previous page."""
    clauses, params = _where(f, scope)
    if after is not None:
        clauses.append("(at, id) < (%(after_at)s, %(after_id)s)")
        params.update(after_at=after[0], after_id=after[1])
    where = " AND ".join(clauses) or "true"
    params["limit"] = first + 1
    async with db.connection() as conn:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"SELECT {_ROW} FROM skyloom.audit_entry WHERE {where} ORDER BY at DESC, id DESC LIMIT %(limit)s", params
            )
            rows = await cur.fetchall()
    return rows[:first], len(rows) > first


async def stream(db: Database, f: AuditFilter, scope: AuditScope, batch: int = 2000) -> AsyncIterator[dict[str, Any]]:
    """Every matching entry, oldest first, without holding more than `batch` rows (for export)."""
    clauses, params = _where(f, scope)
    where = " AND ".join(clauses) or "true"
    async with db.connection() as conn:
        async with conn.transaction():
            async with conn.cursor(name="audit_export", row_factory=dict_row) as cur:
                cur.itersize = batch
                await cur.execute(f"SELECT {_ROW} FROM skyloom.audit_entry WHERE {where} ORDER BY at, id", params)
                async for row in cur:
                    yield row


def _field(value: str | None) -> str:
    return "-" if value is None else f"{len(value.encode())}:{value}"


def canonical(row: dict[str, Any]) -> bytes:
    """The bytes a link's hash covers; mirrors `skyloom.audit_canonical` (length-prefixed fields)."""
    at: datetime = row["at"].astimezone(timezone.utc)
    parts = (
        "v1", str(row["position"]), str(row["id"]), at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        row["priority"], row["type"], _field(row["actor"]), _field(row["impersonator"]), _field(row["tenant"]),
        _field(row["subtenant"]), _field(row["target"]), _field(row["request_id"]), _field(row["source"]),
        row["outcome"], _field(row["detail"]),
    )
    return "|".join(parts).encode()


def link_hash(prev: bytes, row: dict[str, Any]) -> bytes:
    return hashlib.sha256(prev + canonical(row)).digest()


async def verify(db: Database, progress: Callable[[int], None] | None = None, batch: int = 5000) -> Verification:
    """Walk every chain from its latest anchor to its head; report each chain's first broken link."""
    checked = 0
    broken: list[tuple[datetime | None, Broken]] = []
    async with db.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM skyloom.audit_entry WHERE hash IS NULL")
        (unsealed,) = await cur.fetchone()
        for priority in PRIORITIES:
            cur = await conn.execute(
                "SELECT position, hash FROM skyloom.audit_anchor WHERE priority = %s ORDER BY position DESC LIMIT 1", (priority,)
            )
            anchor = await cur.fetchone()
            cur = await conn.execute("SELECT position, hash FROM skyloom.audit_head WHERE priority = %s", (priority,))
            head = await cur.fetchone()
            if anchor is None or head is None:
                broken.append((None, Broken(priority, 0, None, "the chain's anchor or head is missing")))
                continue
            expected_position, expected_prev = anchor[0] + 1, bytes(anchor[1])
            found: Broken | None = None
            found_at: datetime | None = None
            async with conn.transaction():
                async with conn.cursor(name=f"audit_verify_{priority}", row_factory=dict_row) as rows:
                    rows.itersize = batch
                    await rows.execute(
                        f"SELECT {_ROW} FROM skyloom.audit_entry WHERE priority = %s AND position > %s ORDER BY position",
                        (priority, anchor[0]),
                    )
                    async for row in rows:
                        checked += 1
                        if progress is not None and checked % batch == 0:
                            progress(checked)
                        if found is not None:
                            continue
                        reason = _check(row, expected_position, expected_prev)
                        if reason is not None:
                            found, found_at = Broken(priority, expected_position, row["id"], reason), row["at"]
                            continue
                        expected_position, expected_prev = row["position"] + 1, bytes(row["hash"])
            if found is None and (head[0] != expected_position - 1 or bytes(head[1]) != expected_prev):
                found = Broken(priority, expected_position, None,
                               f"entries after position {expected_position - 1} are missing (the head is at {head[0]})")
            if found is not None:
                broken.append((found_at, found))
    first = min(broken, key=lambda b: (b[0] is None, b[0] or datetime.max.replace(tzinfo=timezone.utc)))[1] if broken else None
    return Verification(checked, unsealed, first, tuple(b for _, b in broken))


def _check(row: dict[str, Any], position: int, prev: bytes) -> str | None:
    if row["position"] != position:
        return f"entry at position {position} is missing (the next one is at {row['position']})"
    if bytes(row["prev_hash"]) != prev:
        return "the link to the previous entry does not match"
    if link_hash(prev, row) != bytes(row["hash"]):
        return "the entry was changed after it was sealed"
    return None


async def forwarded(db: Database, destination: str) -> dict[str, int]:
    async with db.connection() as conn:
        cur = await conn.execute("SELECT priority, position FROM skyloom.audit_forward WHERE destination = %s", (destination,))
        return dict(await cur.fetchall())


async def sealed_after(db: Database, priority: str, position: int, limit: int) -> list[dict[str, Any]]:
    async with db.connection() as conn:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"SELECT {_ROW} FROM skyloom.audit_entry WHERE priority = %s AND position > %s ORDER BY position LIMIT %s",
                (priority, position, limit),
            )
            return await cur.fetchall()


async def mark_forwarded(db: Database, destination: str, priority: str, position: int) -> None:
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO skyloom.audit_forward (destination, priority, position) VALUES (%s, %s, %s) "
            "ON CONFLICT (destination, priority) DO UPDATE SET position = excluded.position, at = now()",
            (destination, priority, position),
        )


def detail_of(row: dict[str, Any]) -> Any:
    """The stored detail (read as text so that the chain check hashes exactly what was stored)."""
    return orjson.loads(row["detail"])


async def retention(db: Database) -> list[tuple[str, int]]:
    async with db.connection() as conn:
        cur = await conn.execute("SELECT priority, keep_days FROM skyloom.audit_retention")
        rows = dict(await cur.fetchall())
    return [(p, rows[p]) for p in PRIORITIES if p in rows]
