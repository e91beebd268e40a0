"""Design runs: one row per apply of a design version to a client's stack, and the stack's lock.

`begin` is called while the caller holds the stack's advisory lock (`graph.locks.try_lock` on
`stack_key`): a `running` row it finds then belongs to a runner that is gone, so it is closed as
interrupted before the new run's row goes in. The partial unique index on running rows is the
second guard: whatever happens to the locks, two rows never run one stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg import AsyncConnection

_RUN = ("id, seq, design_id, version, tenant_id, project, stack, plan_digest, engine, status, resources, error,"
        " requested_by, started_at, finished_at")
MAX_ERROR = 2000


class StackBusy(Exception):
    """Another run holds the client's stack."""


@dataclass(frozen=True, slots=True)
class Run:
    id: UUID
    seq: int
    design_id: UUID
    version: int
    tenant_id: str
    project: str
    stack: str
    plan_digest: str
    engine: str
    status: str
    resources: int
    error: str | None
    requested_by: str
    started_at: datetime
    finished_at: datetime | None


def stack_key(project: str, stack: str) -> str:
    return f"design-run:{project}/{stack}"


async def begin(conn: AsyncConnection, *, design_id: UUID, version: int, tenant_id: str, project: str, stack: str,
                plan_digest: str, engine: str, by: str) -> tuple[Run, list[Run]]:
    """The new run, and the runs it found orphaned (and closed as interrupted)."""
    cur = await conn.execute(
        f"UPDATE skyloom.design_run SET status = 'failed', finished_at = now(),"
        f" error = 'interrupted: the replica running it stopped' WHERE project = %s AND stack = %s"
        f" AND status = 'running' RETURNING {_RUN}",
        (project, stack),
    )
    orphans = [Run(*row) for row in await cur.fetchall()]
    try:
        async with conn.transaction():
            cur = await conn.execute(
                f"INSERT INTO skyloom.design_run (design_id, version, tenant_id, project, stack, plan_digest, engine,"
                f" requested_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_RUN}",
                (design_id, version, tenant_id, project, stack, plan_digest, engine, by),
            )
            return Run(*await cur.fetchone()), orphans
    except psycopg.errors.UniqueViolation:
        raise StackBusy(f"{project}/{stack} is being applied by another run") from None


async def finish(conn: AsyncConnection, run_id: UUID, resources: int, error: str | None) -> Run | None:
    cur = await conn.execute(
        f"UPDATE skyloom.design_run SET status = %s, resources = %s, error = %s, finished_at = now()"
        f" WHERE id = %s AND status = 'running' RETURNING {_RUN}",
        ("failed" if error else "succeeded", resources, error[:MAX_ERROR] if error else None, run_id),
    )
    row = await cur.fetchone()
    return Run(*row) if row else None


async def get(conn: AsyncConnection, run_id: UUID) -> Run | None:
    cur = await conn.execute(f"SELECT {_RUN} FROM skyloom.design_run WHERE id = %s", (run_id,))
    row = await cur.fetchone()
    return Run(*row) if row else None


async def of_design(conn: AsyncConnection, design_id: UUID, limit: int = 50) -> list[Run]:
    cur = await conn.execute(
        f"SELECT {_RUN} FROM skyloom.design_run WHERE design_id = %s ORDER BY seq DESC LIMIT %s", (design_id, limit)
    )
    return [Run(*row) for row in await cur.fetchall()]
