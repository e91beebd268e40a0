"""Writing the audit trail: entries inside a caller's transaction, group commits for API calls, sealing.

Entries are facts: the database stamps the time and the sealer (`skyloom.audit_seal`) chains
them, so no writer can backdate an entry or forge its place in the chain (the API's role has
INSERT on the fact columns only, and no UPDATE or DELETE at all).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from skyloom.graph.pool import Database, DatabaseUnavailable
from skyloom.graph.records import table
from skyloom.graph.tasks import stop_task

log = logging.getLogger(__name__)

Priority = Literal["debug", "info", "notice", "warn", "error", "critical"]
Outcome = Literal["success", "failure", "denied", "error"]
PRIORITIES: tuple[Priority, ...] = ("debug", "info", "notice", "warn", "error", "critical")
OUTCOMES: tuple[Outcome, ...] = ("success", "failure", "denied", "error")

_COLUMNS = "priority, type, actor, impersonator, tenant, subtenant, target, request_id, source, outcome, detail"


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing that happened. `actor` is always set: who caused it (a user, a service, a Pulumi
    update, or the system itself); `impersonator` is the root user acting as `actor`, if any."""

    type: str
    actor: str
    outcome: Outcome = "success"
    priority: Priority = "info"
    target: str | None = None
    tenant: str | None = None
    subtenant: str | None = None
    impersonator: str | None = None
    request_id: str | None = None
    source: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def row(self) -> tuple[Any, ...]:
        return (
            self.priority, self.type, self.actor[:512], _cut(self.impersonator, 512), self.tenant, self.subtenant,
            _cut(self.target, 1024), _cut(self.request_id, 128), _cut(self.source, 256), self.outcome, Jsonb(dict(self.detail)),
        )


def _cut(value: str | None, limit: int) -> str | None:
    return value if value is None or len(value) <= limit else value[: limit - 1] + "…"


def _insert(entries: Iterable[Entry]) -> tuple[str, list[Any], int]:
    rows = [e.row() for e in entries]
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    return f"INSERT INTO skyloom.audit_entry ({_COLUMNS}) VALUES {values}", [v for row in rows for v in row], len(rows)


async def record(conn: AsyncConnection, entries: Iterable[Entry]) -> int:
    """Append entries in the caller's transaction (or, on an autocommit connection, as one atomic
    statement): they exist exactly when what they describe does. One INSERT for all of them, so a
    batch costs one round trip."""
    statement, params, count = _insert(entries)
    if count:
        await conn.execute(statement, params)
    return count


def record_sync(conn: psycopg.Connection, entries: Iterable[Entry]) -> int:
    """`record` for the command line's synchronous connections (the setup assistant)."""
    statement, params, count = _insert(entries)
    if count:
        conn.execute(statement, params)
    return count


async def record_changes(conn: AsyncConnection, graph: str, cause: Mapping[str, Any] | None, request_id: str | None) -> None:
    """One entry per vertex version this transaction wrote, taken from its change-log rows.

    The tenant is derived in the same statement: a CI's tenancy is owned by a tenant or a
    sub-tenant; a tenant or sub-tenant is its own. `cause` names what caused the change (the
    Pulumi stack, update and user, or the API request) and lands in every entry's detail; an
    impersonator named there also fills the entry's `impersonator`, like the API call's entry.
    """
    tenancy, subtenant, tenant = table(graph, "Tenancy"), table(graph, "SubTenant"), table(graph, "Tenant")
    await conn.execute(
        f"""
        WITH c AS (
            SELECT c.*, CASE WHEN c.label IN ('Tenant', 'SubTenant') THEN c.uid::text
                             WHEN c.label = 'Stack' THEN coalesce(c.after, c.before) ->> 'parentUid'
                             ELSE t.properties ->> 'ownerUid'::text END AS owner
            FROM skyloom.change_log c
            LEFT JOIN {tenancy} t ON c.tenancy_uid IS NOT NULL AND (t.properties ->> 'uid'::text) = c.tenancy_uid::text
            WHERE c.tx = pg_current_xact_id()
        )
        INSERT INTO skyloom.audit_entry (priority, type, actor, impersonator, tenant, subtenant, target, request_id, outcome, detail)
        SELECT CASE WHEN c.operation = 'delete' THEN 'notice' ELSE 'info' END,
               lower(c.topic) || '.' || c.operation, c.actor, %(cause)s::jsonb ->> 'impersonator',
               coalesce(s.properties ->> 'parentUid'::text, n.properties ->> 'uid'::text),
               s.properties ->> 'uid'::text,
               c.label || ':' || c.uid, %(request)s, 'success',
               jsonb_strip_nulls(jsonb_build_object(
                   'changeId', c.id, 'version', c.version, 'name', coalesce(c.after, c.before) ->> 'name',
                   'cause', %(cause)s::jsonb))
        FROM c
        LEFT JOIN {subtenant} s ON (s.properties ->> 'uid'::text) = c.owner
        LEFT JOIN {tenant} n ON (n.properties ->> 'uid'::text) = c.owner
        ORDER BY c.id
        """,
        {"request": request_id, "cause": Jsonb(dict(cause)) if cause else None},
    )


class GroupWriter:
    """Audit entries of API calls, written in small batches: a request waits until its entry is
    stored (so an answered call is always audited) but shares the round trip with every call
    that finished meanwhile, which keeps the trail's cost flat under concurrency."""

    def __init__(self, db: Database, max_batch: int = 500) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: list[tuple[Entry, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def stop(self) -> None:
        if self._task is not None:
            await self._flush_all()
            await stop_task(self._task)
            self._task = None

    async def write(self, entry: Entry) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((entry, future))
        self._wake.set()
        await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush_all()

    async def _flush_all(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            try:
                async with self.db.connection() as conn:   # autocommit: one statement, one round trip
                    await record(conn, (entry for entry, _ in batch))
            except Exception as exc:  # noqa: BLE001 - every waiter learns the same failure
                if not isinstance(exc, DatabaseUnavailable):
                    log.exception("audit batch of %d entries failed", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)


async def seal(db: Database, batch: int = 10_000) -> int:
    """Chain what committed since the last seal; 0 when another replica is sealing right now."""
    async with db.connection() as conn:
        cur = await conn.execute("SELECT skyloom.audit_seal(%s::integer)", (batch,))
        (count,) = await cur.fetchone()
    return count


async def seal_all(db: Database) -> int:
    total = 0
    while (count := await seal(db)) > 0:
        total += count
    return total


async def maintain(db: Database, months_ahead: int = 3) -> int:
    """Create the coming months' partitions (the API does this at start; so does `audit maintain`)."""
    async with db.connection() as conn:
        cur = await conn.execute("SELECT skyloom.audit_maintain(%s::integer)", (months_ahead,))
        (count,) = await cur.fetchone()
    return count


async def expire(db: Database, actor: str) -> int:
    async with db.connection() as conn:
        cur = await conn.execute("SELECT skyloom.audit_expire(%s)", (actor,))
        (count,) = await cur.fetchone()
    return count


async def set_retention(conn: AsyncConnection, priority: Priority, keep_days: int, entry: Entry) -> None:
    """Change one priority's retention; the change and its audit entry commit together."""
    await conn.execute("UPDATE skyloom.audit_retention SET keep_days = %s WHERE priority = %s", (keep_days, priority))
    await record(conn, [entry])


class Sealer:
    """Seals in the background of an API process, every `interval` seconds and on demand."""

    def __init__(self, db: Database, interval: float = 0.5) -> None:
        self.db = db
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-sealer")

    async def stop(self) -> None:
        if self._task is not None:
            await stop_task(self._task)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await seal_all(self.db)
            except DatabaseUnavailable:
                pass
            except Exception:  # noqa: BLE001 - the sealer must outlive a bad moment; verify reports gaps
                log.exception("sealing the audit trail failed")
            await asyncio.sleep(self.interval)
