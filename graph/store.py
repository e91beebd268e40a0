"""Writes: vertices and edges straight into label tables, a change-log row per version, one NOTIFY per commit.

Every write of a vertex appends its before / after images to `skyloom.change_log` in the same
transaction, so history can never disagree with the graph, and the transaction ends with a
single `pg_notify` naming itself: each API replica's listener then reads exactly the rows that
transaction wrote (see `changefeed`). Nothing is ever physically deleted: a deletion sets
`deleted` / `deletedAt` and is a version like any other.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from skyloom.graph import audit, labels
from skyloom.graph.agtype import Agtype
from skyloom.graph.pool import Database
from skyloom.graph.records import Vertex, by_uids_sql, now_iso, table, vertex_parent

CHANNEL = "skyloom_change"

# Properties the writer owns; callers cannot set them through `changes`. `tenantUid` is the tenant
# stamp of a CI (and of its outgoing edges): the database's isolation guards key on it, so only the
# writer derives it (from the tenancy's owner) and only `skyloom.restamp_tenancy` changes it.
MANAGED_PROPERTIES = frozenset({"uid", "version", "createdAt", "updatedAt", "deleted", "deletedAt", "tenantUid"})
TENANT = "tenantUid"


class DuplicateName(Exception):
    """A live sibling already has this name (enforced by a unique index, so replicas cannot race)."""


class GraphWriter:
    def __init__(self, conn: AsyncConnection, graph: str, actor: str, label_of: Callable[[int], str]) -> None:
        self.conn = conn
        self.graph = graph
        self.actor = actor
        self.label_of = label_of
        self.changed = False
        self.inserted: set[str] = set()  # CI and edge labels written to: `settle` places their rows
        self.stamped: set[str] = set()   # tenants whose rows were written: `settle` gives them a role
        self._tenants: dict[str, str | None] = {}  # tenancy uid -> its tenant stamp, for this transaction

    async def create(self, label: str, props: dict[str, Any], *, uid: str | None = None) -> Vertex:
        stamp = now_iso()
        row = {k: v for k, v in props.items() if k not in MANAGED_PROPERTIES}
        row.update(
            uid=uid or str(uuid.uuid4()), version=1, createdAt=stamp, updatedAt=stamp, deleted=False, deletedAt=None
        )
        if labels.label_role(label) != "panel":
            row[TENANT] = await self._tenant_for(label, row)
            self.inserted.add(label)
            if row[TENANT] is not None:
                self.stamped.add(row[TENANT])
        try:
            cur = await self.conn.execute(
                f"INSERT INTO {table(self.graph, label)} (properties) VALUES (%s) RETURNING id::text::bigint",
                (Agtype(row),),
            )
        except psycopg.errors.UniqueViolation as exc:
            raise DuplicateName(row.get("name")) from exc
        (graphid,) = await cur.fetchone()
        await self._log(label, row, "create", None, row)
        return Vertex(graphid, label, row)

    async def _tenant_for(self, label: str, props: dict[str, Any]) -> str | None:
        """The tenant a new CI belongs to: its tenancy owner's tenant (None: the provider's own)."""
        if label == "Tenancy":
            return await self.owner_tenant(props.get("ownerUid"))
        tenancy_uid = props.get("tenancyUid")
        if tenancy_uid is None:
            return None
        if tenancy_uid not in self._tenants:
            cur = await self.conn.execute(
                f"SELECT properties ->> 'tenantUid'::text FROM {table(self.graph, 'Tenancy')} WHERE (properties ->> 'uid'::text) = %s",
                (tenancy_uid,),
            )
            row = await cur.fetchone()
            self._tenants[tenancy_uid] = row[0] if row else None
        return self._tenants[tenancy_uid]

    async def owner_tenant(self, owner_uid: str | None) -> str | None:
        """The tenant of a tenancy owner: a tenant itself, or the tenant a sub-tenant sits under."""
        while owner_uid is not None:
            owner = await self.find_for_update(owner_uid)
            if owner is None or owner.label == "Tenant":
                return owner.uid if owner else None
            if owner.label != "SubTenant":
                return None
            owner_uid = owner.props.get("parentUid")
        return None

    async def get_for_update(self, label: str, uid: str) -> Vertex | None:
        cur = await self.conn.execute(
            f"SELECT id::text::bigint, properties FROM {table(self.graph, label)} "
            "WHERE (properties ->> 'uid'::text) = %s FOR UPDATE",
            (uid,),
        )
        row = await cur.fetchone()
        return Vertex(row[0], label, row[1]) if row else None

    async def find_for_update(self, uid: str) -> Vertex | None:
        """Any vertex by uid, locked until the transaction ends (so it cannot vanish under a child).

        First found without a lock where it lives (`records.by_uids_sql`), then locked in that one
        table: FOR UPDATE through `_ag_label_vertex` would read every label table of every tenant.
        """
        cur = await self.conn.execute(by_uids_sql(self.graph), {"uids": [uid]})
        found = await cur.fetchone()
        if found is None:
            return None
        gid, _, graph, label, _ = found
        source = f"ONLY {table(self.graph, self.label_of(gid))}" if gid is not None else table(graph, label)
        cur = await self.conn.execute(
            f"SELECT id::text::bigint, properties FROM {source} WHERE (properties ->> 'uid'::text) = %s FOR UPDATE", (uid,)
        )
        row = await cur.fetchone()
        return Vertex(row[0], self.label_of(row[0]), row[1]) if row else None

    async def find(self, label: str | None, match: dict[str, Any], *, live_only: bool = True) -> list[Vertex]:
        """Vertices (of `label`, or of any label) whose properties contain `match`, locked for this transaction."""
        wanted = {**match, "deleted": False} if live_only else match
        source = table(self.graph, label) if label else vertex_parent(self.graph)
        cur = await self.conn.execute(
            f"SELECT id::text::bigint, properties FROM {source} WHERE properties @> %s ORDER BY id FOR UPDATE",
            (Agtype(wanted),),
        )
        return [Vertex(gid, self.label_of(gid), props) for gid, props in await cur.fetchall()]

    async def count_live(self, label: str, match: dict[str, Any]) -> int:
        """How many live vertices of `label` contain `match` (quotas), counted inside this transaction."""
        cur = await self.conn.execute(
            f"SELECT count(*) FROM {table(self.graph, label)} WHERE properties @> %s", (Agtype({**match, "deleted": False}),)
        )
        (found,) = await cur.fetchone()
        return found

    async def has_live(self, label: str | None, match: dict[str, Any]) -> bool:
        """Is there a live vertex (of `label`, or of any label) whose properties contain `match`?"""
        source = table(self.graph, label) if label else vertex_parent(self.graph)
        cur = await self.conn.execute(
            f"SELECT 1 FROM {source} WHERE properties @> %s LIMIT 1", (Agtype({**match, "deleted": False}),)
        )
        return await cur.fetchone() is not None

    async def update(self, label: str, uid: str, changes: dict[str, Any]) -> Vertex | None:
        """Apply `changes` (None removes nothing: it stores null); returns None if there is no such vertex."""
        current = await self.get_for_update(label, uid)
        if current is None:
            return None
        changes = {k: v for k, v in changes.items() if k not in MANAGED_PROPERTIES}
        if all(current.props.get(k) == v for k, v in changes.items()):
            return current
        if label == "Tenancy" and "ownerUid" in changes:
            current = await self._restamp(current, await self.owner_tenant(changes["ownerUid"]))
        after = {**current.props, **changes, "version": current.props["version"] + 1, "updatedAt": now_iso()}
        return await self._replace(current, after, "update")

    async def _restamp(self, tenancy: Vertex, tenant: str | None) -> Vertex:
        """A tenancy changing tenant takes everything in it along (in the graph modes, to the new tenant's graph)."""
        if tenancy.props.get(TENANT) == tenant:
            return tenancy
        await self.conn.execute("SELECT skyloom.restamp_tenancy(%s, %s)", (tenancy.uid, tenant))
        self._tenants.pop(tenancy.uid, None)
        moved = await self.get_for_update("Tenancy", tenancy.uid)
        assert moved is not None, "a tenancy vanished while being restamped"
        return moved

    async def soft_delete(self, label: str, uid: str) -> Vertex | None:
        current = await self.get_for_update(label, uid)
        if current is None:
            return None
        if current.props.get("deleted"):
            return current
        stamp = now_iso()
        after = {**current.props, "deleted": True, "deletedAt": stamp, "version": current.props["version"] + 1, "updatedAt": stamp}
        return await self._replace(current, after, "delete")

    async def _replace(self, current: Vertex, after: dict[str, Any], operation: str) -> Vertex:
        try:
            await self._store(current, after)
        except psycopg.errors.UniqueViolation as exc:
            raise DuplicateName(after.get("name")) from exc
        await self._log(current.label, after, operation, current.props, after)
        return Vertex(current.id, current.label, after)

    async def _store(self, vertex: Vertex, properties: dict[str, Any]) -> None:
        await self.conn.execute(
            f"UPDATE {table(self.graph, vertex.label)} SET properties = %s WHERE id = %s::text::graphid",
            (Agtype(properties), str(vertex.id)),
        )

    async def touch(self, vertex: Vertex, changes: dict[str, Any]) -> Vertex:
        """Update observation bookkeeping (e.g. `lastSeen`) without making a new version.

        Seeing a CI again in the next export is not a change of the CI: it must not add a version
        to its history or an event to the feeds.
        """
        after = {**vertex.props, **{k: v for k, v in changes.items() if k not in MANAGED_PROPERTIES}}
        await self._store(vertex, after)
        return Vertex(vertex.id, vertex.label, after)

    async def set_out_edges(self, relation: str, start: Vertex, ends: list[Vertex]) -> None:
        """Make `start`'s outgoing `relation` edges exactly `ends`: add the missing, drop the stale."""
        labels.check_label(relation)
        await self.conn.execute(
            f"DELETE FROM {table(self.graph, relation)} WHERE start_id = %s::text::graphid "
            "AND NOT (end_id = ANY(%s::text[]::graphid[]))",
            (str(start.id), [str(e.id) for e in ends]),
        )
        for end in ends:
            await self.relate(relation, start, end)

    async def relate(self, relation: str, start: Vertex, end: Vertex, props: dict[str, Any] | None = None) -> bool:
        """Create the edge start -[relation]-> end unless it exists; True when it was created."""
        labels.check_label(relation)
        stamped = {**(props or {})}
        if start.props.get(TENANT) is not None:
            # A tenant's edge may live in the tenant's graph, out of sight of the parent table's
            # unique index that ON CONFLICT consults: look through the parent first.
            if await self._edge_exists(relation, start, end):
                return False
            stamped[TENANT] = start.props[TENANT]
            self.inserted.add(relation)
        cur = await self.conn.execute(
            f"INSERT INTO {table(self.graph, relation)} (start_id, end_id, properties) "
            "VALUES (%s::text::graphid, %s::text::graphid, %s) ON CONFLICT (start_id, end_id) DO NOTHING",
            (str(start.id), str(end.id), Agtype(stamped)),
        )
        return cur.rowcount == 1

    async def _edge_exists(self, relation: str, start: Vertex, end: Vertex) -> bool:
        cur = await self.conn.execute(
            f"SELECT 1 FROM {table(self.graph, relation)} WHERE start_id = %s::text::graphid AND end_id = %s::text::graphid",
            (str(start.id), str(end.id)),
        )
        return await cur.fetchone() is not None

    async def unrelate(self, relation: str, start: Vertex, end: Vertex) -> bool:
        labels.check_label(relation)
        cur = await self.conn.execute(
            f"DELETE FROM {table(self.graph, relation)} WHERE start_id = %s::text::graphid AND end_id = %s::text::graphid",
            (str(start.id), str(end.id)),
        )
        return cur.rowcount > 0

    async def save_checkpoint(self, source: str, position: Any) -> None:
        """Record progress in the batch's own transaction: it commits with the batch or not at all."""
        await self.conn.execute(
            "INSERT INTO skyloom.ingest_checkpoint (source, position) VALUES (%s, %s) "
            "ON CONFLICT (source) DO UPDATE SET position = EXCLUDED.position, updated_at = now()",
            (source, Jsonb(position)),
        )

    async def checkpoint(self, source: str) -> Any:
        """A source's position as this transaction sees it (read under `lock` to decide what is new)."""
        cur = await self.conn.execute("SELECT position FROM skyloom.ingest_checkpoint WHERE source = %s", (source,))
        row = await cur.fetchone()
        return row[0] if row else None

    async def lock(self, key: str) -> None:
        """Serialise writers on one key (a stack, a parent) until this transaction ends."""
        await self.conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))

    async def _log(self, label: str, props: dict[str, Any], operation: str, before: Any, after: Any) -> None:
        tenancy = props["uid"] if label == "Tenancy" else props.get("tenancyUid")
        await self.conn.execute(
            "INSERT INTO skyloom.change_log (graph, topic, uid, label, tenancy_uid, version, operation, actor, before, after) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                self.graph,
                labels.topic_of(label),
                props["uid"],
                label,
                tenancy,
                props["version"],
                operation,
                self.actor,
                Jsonb(before) if before is not None else None,
                Jsonb(after) if after is not None else None,
            ),
        )
        self.changed = True

    async def settle(self) -> None:
        if self.inserted:
            await settle(self.conn, self.inserted, self.stamped)
            self.inserted.clear()
            self.stamped.clear()

    async def _notify(self) -> None:
        if self.changed:
            await self.conn.execute("SELECT pg_notify(%s, %s || ':' || pg_current_xact_id()::text)", (CHANNEL, self.graph))


async def settle(conn: AsyncConnection, written: Iterable[str], tenants: Iterable[str]) -> None:
    """Before commit, for every writer: the tenants whose rows were written get their role (and
    graph), and in the graph isolation modes the stamped rows of the `written` labels move into
    their tenant's graph (`skyloom.settle`)."""
    await conn.execute("SELECT skyloom.settle(%s, %s::uuid[])", (sorted(written), sorted(set(tenants))))


@asynccontextmanager
async def writing(
    db: Database, actor: str, *, cause: dict[str, Any] | None = None, request_id: str | None = None
) -> AsyncIterator[GraphWriter]:
    """One transaction of writes; it commits (and notifies) only if the block finishes.

    Every version it wrote gets an audit entry in the same transaction, naming `actor` and
    `cause` (for ingest: the Pulumi stack, update and user where known; for the API: the request).
    """
    async with db.connection() as conn:
        async with conn.transaction():
            writer = GraphWriter(conn, db.graph, actor, db.label_of)
            yield writer
            await writer.settle()
            if writer.changed:
                await audit.record_changes(conn, db.graph, cause, request_id)
            await writer._notify()
