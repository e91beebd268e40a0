"""Cluster-wide "only one of us" locks: PostgreSQL session advisory locks held on one pooled connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from skyloom.graph.pool import Database


@asynccontextmanager
async def try_lock(db: Database, key: str) -> AsyncIterator[bool]:
    """Yields True while this process holds `key` (no other replica does), False if another holds it.
    The lock lives on one connection kept for the block, and is released when the block ends."""
    async with db.connection() as conn:
        cur = await conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,))
        (held,) = await cur.fetchone()
        try:
            yield held
        finally:
            if held:
                await conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))
