"""Design store: a client's architecture designs as append-only versioned documents.

A save names the version it was made from (`expected`): it appends `expected + 1` and moves the
design's `latest` in one conditional UPDATE, so of two people saving over the same version one
wins and the other is told to reload, and no save is lost silently. Nothing is deleted: a design
is archived (its name becomes free again for a new design of the same client).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

CLOUDS = ("aws", "azure", "gcp", "oci")


class DesignNameTaken(Exception):
    """The client already has a live design of that name."""


class StaleVersion(Exception):
    """The design moved on since the version the save was made from."""

    def __init__(self, latest: int) -> None:
        super().__init__(f"the design is at version {latest}")
        self.latest = latest


@dataclass(frozen=True, slots=True)
class Design:
    id: UUID
    seq: int
    provider_id: str
    tenant_id: str
    name: str
    cloud: str
    latest: int
    copied_from: UUID | None
    copied_version: int | None
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    archived_at: datetime | None
    # The latest version's problem counts, where the query read them (lists do).
    errors: int | None = None
    warnings: int | None = None


@dataclass(frozen=True, slots=True)
class Version:
    design_id: UUID
    version: int
    document: dict[str, Any]
    errors: int
    warnings: int
    comment: str | None
    created_by: str
    created_at: datetime


_DESIGN = ("id, seq, provider_id, tenant_id, name, cloud, latest, copied_from, copied_version, created_by, created_at,"
           " updated_by, updated_at, archived_at")
_VERSION = "design_id, version, document, errors, warnings, comment, created_by, created_at"


async def create(conn: AsyncConnection, *, provider_id: str, tenant_id: str, name: str, cloud: str,
                 document: dict[str, Any], errors: int, warnings: int, comment: str | None, by: str,
                 copied_from: tuple[UUID, int] | None = None) -> Design:
    source, source_version = copied_from or (None, None)
    try:
        async with conn.transaction():
            cur = await conn.execute(
                f"INSERT INTO skyloom.design (provider_id, tenant_id, name, cloud, copied_from, copied_version,"
                f" created_by, updated_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_DESIGN}",
                (provider_id, tenant_id, name, cloud, source, source_version, by, by),
            )
            design = Design(*await cur.fetchone())
            await _append(conn, design.id, 1, document, errors, warnings, comment, by)
    except psycopg.errors.UniqueViolation:
        raise DesignNameTaken(f"the client already has a design named {name!r}") from None
    return design


async def save(conn: AsyncConnection, design_id: UUID, expected: int, document: dict[str, Any], errors: int,
               warnings: int, comment: str | None, by: str) -> Design:
    cur = await conn.execute(
        f"UPDATE skyloom.design SET latest = latest + 1, updated_by = %s, updated_at = now()"
        f" WHERE id = %s AND latest = %s AND archived_at IS NULL RETURNING {_DESIGN}",
        (by, design_id, expected),
    )
    row = await cur.fetchone()
    if row is None:
        current = await get(conn, design_id)
        raise StaleVersion(current.latest if current else 0)
    design = Design(*row)
    await _append(conn, design.id, design.latest, document, errors, warnings, comment, by)
    return design


async def _append(conn: AsyncConnection, design_id: UUID, version: int, document: dict[str, Any], errors: int,
                  warnings: int, comment: str | None, by: str) -> None:
    await conn.execute(
        "INSERT INTO skyloom.design_version (design_id, version, document, errors, warnings, comment, created_by)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (design_id, version, Jsonb(document), errors, warnings, comment, by),
    )


async def archive(conn: AsyncConnection, design_id: UUID, by: str) -> Design | None:
    cur = await conn.execute(
        f"UPDATE skyloom.design SET archived_at = now(), updated_by = %s, updated_at = now()"
        f" WHERE id = %s AND archived_at IS NULL RETURNING {_DESIGN}",
        (by, design_id),
    )
    row = await cur.fetchone()
    return Design(*row) if row else None


async def get(conn: AsyncConnection, design_id: UUID, *, lock: bool = False) -> Design | None:
    cur = await conn.execute(
        f"SELECT {_DESIGN} FROM skyloom.design WHERE id = %s" + (" FOR UPDATE" if lock else ""), (design_id,)
    )
    row = await cur.fetchone()
    return Design(*row) if row else None


async def version(conn: AsyncConnection, design_id: UUID, number: int) -> Version | None:
    cur = await conn.execute(f"SELECT {_VERSION} FROM skyloom.design_version WHERE design_id = %s AND version = %s",
                             (design_id, number))
    row = await cur.fetchone()
    return Version(*row) if row else None


async def versions(conn: AsyncConnection, design_id: UUID) -> list[Version]:
    """Every version, newest first, without their documents (a list shows who saved what when)."""
    cur = await conn.execute(
        "SELECT design_id, version, '{}'::jsonb, errors, warnings, comment, created_by, created_at"
        " FROM skyloom.design_version WHERE design_id = %s ORDER BY version DESC",
        (design_id,),
    )
    return [Version(*row) for row in await cur.fetchall()]


async def page(conn: AsyncConnection, *, tenants: list[str] | None, after_seq: int | None, limit: int,
               include_archived: bool = False) -> list[Design]:
    """Designs newest first, with their latest version's problem counts; `tenants` None means every
    client (the caller's filter allows all)."""
    columns = ", ".join(f"d.{c}" for c in _DESIGN.split(", "))
    cur = await conn.execute(
        f"SELECT {columns}, v.errors, v.warnings FROM skyloom.design d"
        " JOIN skyloom.design_version v ON v.design_id = d.id AND v.version = d.latest"
        " WHERE (%(tenants)s::text[] IS NULL OR d.tenant_id = ANY(%(tenants)s::text[]))"
        " AND (%(after)s::bigint IS NULL OR d.seq < %(after)s::bigint)"
        " AND (%(archived)s OR d.archived_at IS NULL)"
        " ORDER BY d.seq DESC LIMIT %(limit)s",
        {"tenants": tenants, "after": after_seq, "archived": include_archived, "limit": limit},
    )
    return [Design(*row) for row in await cur.fetchall()]
