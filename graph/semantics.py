"""A provider installation's overrides of the semantic layer: token rules and cloud terms."""

from __future__ import annotations

from skyloom.graph.pool import Database


async def mappings(db: Database, provider_uid: str) -> dict[str, str]:
    """token pattern -> kind, in the order they were set (oldest first)."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT token_pattern, kind FROM skyloom.semantic_mapping WHERE provider_uid = %s ORDER BY updated_at, token_pattern",
            (provider_uid,),
        )
        return {pattern: kind for pattern, kind in await cur.fetchall()}


async def set_mapping(db: Database, provider_uid: str, pattern: str, kind: str) -> None:
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO skyloom.semantic_mapping (provider_uid, token_pattern, kind) VALUES (%s, %s, %s) "
            "ON CONFLICT (provider_uid, token_pattern) DO UPDATE SET kind = EXCLUDED.kind, updated_at = now()",
            (provider_uid, pattern, kind),
        )


async def delete_mapping(db: Database, provider_uid: str, pattern: str) -> bool:
    async with db.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM skyloom.semantic_mapping WHERE provider_uid = %s AND token_pattern = %s", (provider_uid, pattern)
        )
        return cur.rowcount > 0


async def terms(db: Database, provider_uid: str) -> dict[tuple[str, str], str]:
    """(kind, cloud) -> the installation's own term."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT kind, cloud, term FROM skyloom.semantic_term WHERE provider_uid = %s", (provider_uid,)
        )
        return {(kind, cloud): term for kind, cloud, term in await cur.fetchall()}


async def set_term(db: Database, provider_uid: str, kind: str, cloud: str, term: str) -> None:
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO skyloom.semantic_term (provider_uid, kind, cloud, term) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (provider_uid, kind, cloud) DO UPDATE SET term = EXCLUDED.term, updated_at = now()",
            (provider_uid, kind, cloud, term),
        )


async def delete_term(db: Database, provider_uid: str, kind: str, cloud: str) -> bool:
    async with db.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM skyloom.semantic_term WHERE provider_uid = %s AND kind = %s AND cloud = %s", (provider_uid, kind, cloud)
        )
        return cur.rowcount > 0
