"""Webhook deliveries: recorded once by id, claimed by one worker at a time, finished with a status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from skyloom.graph import audit
from skyloom.graph.pool import Database


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    kind: str
    payload: dict[str, Any]
    attempts: int


async def record(db: Database, delivery_id: str, kind: str, body_sha256: str, payload: Any, status: str) -> str:
    """'new' when first seen, 'duplicate' for the same body again, 'conflict' for another body under the id."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO skyloom.webhook_delivery (delivery_id, kind, body_sha256, payload, status) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (delivery_id) DO NOTHING",
            (delivery_id, kind, body_sha256, Jsonb(payload), status),
        )
        if cur.rowcount == 1:
            return "new"
        cur = await conn.execute("SELECT body_sha256 FROM skyloom.webhook_delivery WHERE delivery_id = %s", (delivery_id,))
        (stored,) = await cur.fetchone()
    return "duplicate" if stored == body_sha256 else "conflict"


async def reject(db: Database, delivery_id: str | None, kind: str | None, reason: str, source: str | None) -> None:
    """Remember a refused delivery, and audit it: forged or replayed webhooks are security events."""
    entry = audit.Entry(
        type="webhook.rejected", actor="pulumi-webhook:unverified", priority="warn", outcome="denied",
        target=f"delivery:{delivery_id}" if delivery_id else None, source=source,
        detail={"reason": reason, **({"kind": kind[:64]} if kind else {})},
    )
    async with db.connection() as conn:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO skyloom.webhook_rejection (delivery_id, kind, reason, source) VALUES (%s, %s, %s, %s)",
                (delivery_id, kind, reason, source),
            )
            await audit.record(conn, [entry])


async def claim(db: Database, limit: int = 10, max_attempts: int = 5) -> list[Delivery]:
    """Pending deliveries, oldest first; SKIP LOCKED lets every replica's worker take different ones."""
    async with db.connection() as conn:
        async with conn.transaction():
            cur = await conn.execute(
                "UPDATE skyloom.webhook_delivery SET attempts = attempts + 1 WHERE delivery_id IN ("
                " SELECT delivery_id FROM skyloom.webhook_delivery WHERE status = 'pending' AND attempts < %s"
                " ORDER BY received_at LIMIT %s FOR UPDATE SKIP LOCKED"
                ") RETURNING delivery_id, kind, payload, attempts",
                (max_attempts, limit),
            )
            return [Delivery(*row) for row in await cur.fetchall()]


async def finish(db: Database, delivery_id: str, status: str, detail: str | None = None) -> None:
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE skyloom.webhook_delivery SET status = %s, detail = %s, finished_at = now() WHERE delivery_id = %s",
            (status, detail, delivery_id),
        )
