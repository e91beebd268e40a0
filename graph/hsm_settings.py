"""The installation's HSM settings row: what the step-up service reads at every challenge, and its one writer.

One row (migration 0010), read on each use rather than cached, so an operator's change applies at
once on every replica. Nothing here is secret: the PKCS#11 PIN never leaves the operator's signer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection

from skyloom.graph.pool import Database

_COLUMNS = "module_path, token_label, challenge_ttl_seconds, proof_validity_seconds, updated_by, updated_at"


@dataclass(frozen=True, slots=True)
class HsmSettings:
    module_path: str | None
    token_label: str | None
    challenge_ttl_seconds: int
    proof_validity_seconds: int
    updated_by: str
    updated_at: datetime


async def read(db: Database) -> HsmSettings:
    async with db.connection() as conn:
        return await read_on(conn)


async def read_on(conn: AsyncConnection, *, lock: bool = False) -> HsmSettings:
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM skyloom.hsm_settings WHERE id = 1" + (" FOR UPDATE" if lock else ""))
    return HsmSettings(*await cur.fetchone())


async def write_on(conn: AsyncConnection, module_path: str | None, token_label: str | None, challenge_ttl_seconds: int,
                   proof_validity_seconds: int, updated_by: str) -> HsmSettings:
    """Replace the settings (the table's CHECKs bound every value); in the caller's transaction."""
    cur = await conn.execute(
        "UPDATE skyloom.hsm_settings SET module_path = %s, token_label = %s, challenge_ttl_seconds = %s, "
        f"proof_validity_seconds = %s, updated_by = %s, updated_at = now() WHERE id = 1 RETURNING {_COLUMNS}",
        (module_path, token_label, challenge_ttl_seconds, proof_validity_seconds, updated_by),
    )
    return HsmSettings(*await cur.fetchone())
