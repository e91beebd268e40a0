"""Bulk loading: configuration items and edges COPYed straight into AGE label tables, with history, in one transaction.

The graph writer (`store.GraphWriter`) inserts one row per statement, which is right for API
mutations and far too slow for an import of a whole estate or for the benchmarks: DESIGN.md
section 3 measured Cypher batches at ~32k rows/s against ~255k rows/s for a plain COPY. This
module writes the same rows the writer would, but with COPY:

* vertex ids are taken from each label's own sequence (the one AGE's column default uses), a
  block per label and chunk, so concurrent writers can never be handed the same id; the graphid
  is then computed here as ``(label_id << 48) | sequence value``, exactly as AGE's default does;
* each vertex gets the property map `GraphWriter.create` would give it (uid, version 1,
  createdAt / updatedAt, deleted / deletedAt) and its 'create' row in `skyloom.change_log`, so
  history, search and the change feed cannot tell a bulk-loaded CI from one made by a mutation;
* everything happens in ONE transaction that ends with the writer's single NOTIFY: a failed load
  (an unknown label, an edge to a uid that exists nowhere, a duplicate) leaves nothing behind
  but gaps in the label sequences, which are not transactional and need not be dense.

Input is streamed in chunks, so memory stays bounded by the chunk size plus the uid -> graphid
map that edges are resolved against. Values travel only as COPY data or bound parameters;
label and graph names come from `labels` and reach SQL only through `records.table()`.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg import AsyncConnection

from skyloom.graph import labels
from skyloom.graph.pool import Database
from skyloom.graph.records import now_iso, table, vertex_parent
from skyloom.graph.store import CHANNEL, MANAGED_PROPERTIES, settle

CHUNK_SIZE = 50_000

# Canonical (lower-case, hyphenated) UUIDs only: the API parses ids into this form before any
# lookup, so a vertex stored under another spelling could never be found again.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

_T = TypeVar("_T")


class BulkLoadError(ValueError):
    """The input cannot be loaded as given; nothing was written."""


@dataclass(frozen=True, slots=True)
class BulkVertex:
    """A vertex to create: its label, its own properties, and the uid edges refer to it by."""

    label: str
    props: dict[str, Any]
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True, slots=True)
class BulkEdge:
    """An edge `start -[relation]-> end` between two uids, from this load or already stored."""

    relation: str
    start: str
    end: str
    props: dict[str, Any] | None = None


@dataclass
class BulkResult:
    vertices: dict[str, int] = field(default_factory=dict)  # label -> rows written
    edges: dict[str, int] = field(default_factory=dict)  # relation -> rows written
    graphids: dict[str, int] = field(default_factory=dict)  # uid -> graphid of every vertex loaded
    seconds: dict[str, float] = field(default_factory=dict)  # time per phase, for benchmarks

    @property
    def vertex_count(self) -> int:
        return sum(self.vertices.values())

    @property
    def edge_count(self) -> int:
        return sum(self.edges.values())


Progress = Callable[[str], None]


async def load(
    db: Database,
    actor: str,
    vertices: Iterable[BulkVertex],
    edges: Iterable[BulkEdge] = (),
    progress: Progress | None = None,
    *,
    chunk_size: int = CHUNK_SIZE,
) -> BulkResult:
    """Create `vertices`, then `edges`, in one transaction; raises BulkLoadError (writing nothing) on bad input.

    Edges may name vertices of this load or vertices already in the graph (looked up by uid).
    """
    loader = _Loader(db, actor, progress or (lambda _m: None))
    started = time.perf_counter()
    try:
        async with db.connection() as conn:
            async with conn.transaction():
                for chunk in _chunks(vertices, chunk_size):
                    await loader.vertices(conn, chunk)
                for chunk in _chunks(edges, chunk_size):
                    await loader.edges(conn, chunk)
                if loader.written:
                    await settle(conn, loader.written, loader.stamps.values())
                if loader.result.vertices:
                    # The writer's one NOTIFY per transaction: replicas read this transaction's rows.
                    await conn.execute(
                        "SELECT pg_notify(%s, %s || ':' || pg_current_xact_id()::text)", (CHANNEL, db.graph)
                    )
                commit_from = time.perf_counter()
            loader.clock("commit", commit_from)
    except psycopg.errors.UniqueViolation as exc:
        raise BulkLoadError(f"duplicate (already stored, or twice in the input): {_detail(exc)}") from exc
    except (psycopg.errors.DataException, psycopg.errors.IntegrityConstraintViolation) as exc:
        raise BulkLoadError(f"rejected by the database: {_detail(exc)}") from exc
    loader.result.seconds["total"] = time.perf_counter() - started
    return loader.result


class _Loader:
    """The state of one load: label ids, the uid -> graphid map, counts and phase timings."""

    def __init__(self, db: Database, actor: str, progress: Progress) -> None:
        self.db = db
        self.graph = db.graph
        self.actor = actor
        self.progress = progress
        self.stamp = now_iso()  # one instant for the whole load, as one transaction makes it
        self.result = BulkResult()
        self.gids = self.result.graphids
        self._vertex_labels = frozenset(labels.vertex_labels())
        self._ci_labels = frozenset(labels.ci_labels())
        self._edge_labels = frozenset(labels.EDGE_LABELS)
        # Tenant stamps, as the writer derives them: owner (tenant / sub-tenant) -> tenant, tenancy
        # -> tenant, and every stamped vertex of this load (its outgoing edges carry its stamp).
        self._owners: dict[str, str | None] = {}
        self._tenancies: dict[str, str | None] = {}
        self.stamps: dict[str, str] = {}
        self.written: set[str] = set()
        self.rls: bool | None = None  # row-level security on the label tables (COPY goes through a temp table)

    def clock(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        self.result.seconds[phase] = self.result.seconds.get(phase, 0.0) + now - since
        return now

    # -- vertices -----------------------------------------------------------------------------
    async def vertices(self, conn: AsyncConnection, chunk: list[BulkVertex]) -> None:
        t = time.perf_counter()
        by_label: dict[str, list[BulkVertex]] = defaultdict(list)
        for v in chunk:
            self._check_vertex(v)
            by_label[v.label].append(v)
        t = self.clock("check", t)
        history: list[tuple[str, str, str | None, bytes]] = []
        await self._learn_stored(conn, chunk)
        for label, items in by_label.items():
            ids = await self._reserve(conn, label, len(items))
            t = self.clock("reserve ids", t)
            async with self._copy_rows(conn, label, "id, properties") as out:
                for v, gid in zip(items, ids):
                    if v.uid in self.gids:
                        raise BulkLoadError(f"uid {v.uid} appears twice in the input")
                    self.gids[v.uid] = gid
                    text = orjson.dumps(self._stored(v))
                    if label in self._ci_labels:
                        self.written.add(label)
                    await out.add(b"%d\t%s\n" % (gid, _escape(text)))
                    tenancy = v.uid if label == "Tenancy" else v.props.get("tenancyUid")
                    history.append((v.uid, label, tenancy, text))
            self.result.vertices[label] = self.result.vertices.get(label, 0) + len(items)
            t = self.clock("vertices", t)
        await self._history(conn, history)
        self.clock("change log", t)
        self.progress(f"vertices: {self.result.vertex_count} written")

    def _check_vertex(self, v: BulkVertex) -> None:
        if v.label not in self._vertex_labels:
            raise BulkLoadError(f"{v.label!r} is not a Skyloom vertex label (uid {v.uid})")
        if not isinstance(v.uid, str) or not _UUID.fullmatch(v.uid):
            raise BulkLoadError(f"uid {v.uid!r} ({v.label}) is not a lower-case UUID")
        if not isinstance(v.props.get("name"), str):
            raise BulkLoadError(f"{v.label} {v.uid} has no name")
        if v.label in self._ci_labels and v.props.get("kind", v.label) != v.label:
            raise BulkLoadError(f"{v.label} {v.uid} says kind {v.props['kind']!r}: the label is the kind")
        tenancy = v.props.get("tenancyUid")
        if tenancy is not None and not (isinstance(tenancy, str) and _UUID.fullmatch(tenancy)):
            raise BulkLoadError(f"{v.label} {v.uid} has tenancyUid {tenancy!r}, not a lower-case UUID")

    def _stored(self, v: BulkVertex) -> dict[str, Any]:
        """The property map `GraphWriter.create` would store for the same input, tenant stamp
        included (tenants, sub-tenants and tenancies of the load are remembered for what follows)."""
        row = {k: value for k, value in v.props.items() if k not in MANAGED_PROPERTIES}
        if v.label in self._ci_labels:
            row["kind"] = v.label
        row.update(
            uid=v.uid, version=1, createdAt=self.stamp, updatedAt=self.stamp, deleted=False, deletedAt=None
        )
        if v.label == "Tenant":
            self._owners[v.uid] = v.uid
        elif v.label == "SubTenant":
            self._owners[v.uid] = self._owners.get(v.props.get("parentUid"))
        elif v.label in self._ci_labels:
            if v.label == "Tenancy":
                tenant = self._tenancies[v.uid] = self._owners.get(v.props.get("ownerUid"))
            else:
                tenant = self._tenancies.get(v.props.get("tenancyUid"))
            row["tenantUid"] = tenant
            if tenant is not None:
                self.stamps[v.uid] = tenant
        return row

    async def _learn_stored(self, conn: AsyncConnection, chunk: list[BulkVertex]) -> None:
        """Stamps of the owners and tenancies this chunk names that are stored already, not loaded here."""
        owners = {v.props.get("ownerUid") for v in chunk if v.label == "Tenancy"} | {
            v.props.get("parentUid") for v in chunk if v.label == "SubTenant"}
        tenancies = {v.props.get("tenancyUid") for v in chunk if v.label in self._ci_labels and v.label != "Tenancy"}
        owners = {u for u in owners if isinstance(u, str) and u not in self._owners}
        tenancies = {u for u in tenancies if isinstance(u, str) and u not in self._tenancies}
        if owners:
            cur = await conn.execute(
                f"SELECT properties ->> 'uid'::text, properties ->> 'uid'::text FROM {table(self.graph, 'Tenant')}"
                " WHERE (properties ->> 'uid'::text) = ANY(%(uids)s) UNION ALL"
                f" SELECT properties ->> 'uid'::text, properties ->> 'parentUid'::text FROM {table(self.graph, 'SubTenant')}"
                " WHERE (properties ->> 'uid'::text) = ANY(%(uids)s)",
                {"uids": sorted(owners)},
            )
            self._owners.update({uid: tenant for uid, tenant in await cur.fetchall()})
        if tenancies:
            cur = await conn.execute(
                f"SELECT properties ->> 'uid'::text, properties ->> 'tenantUid'::text FROM {table(self.graph, 'Tenancy')}"
                " WHERE (properties ->> 'uid'::text) = ANY(%s)",
                (sorted(tenancies),),
            )
            self._tenancies.update({uid: tenant for uid, tenant in await cur.fetchall()})

    async def _history(self, conn: AsyncConnection, rows: list[tuple[str, str, str | None, bytes]]) -> None:
        """One 'create' version per vertex, as `GraphWriter._log` writes it (at / tx take their defaults)."""
        graph = self.graph.encode()
        actor = _escape(self.actor.encode())
        async with _CopyBuffer(
            conn, "COPY skyloom.change_log (graph, topic, uid, label, tenancy_uid, version, operation, actor, after) FROM STDIN"
        ) as out:
            for uid, label, tenancy, text in rows:
                await out.add(
                    b"%s\t%s\t%s\t%s\t%s\t1\tcreate\t%s\t%s\n"
                    % (
                        graph,
                        labels.topic_of(label).encode(),
                        uid.encode(),
                        label.encode(),
                        tenancy.encode() if tenancy else b"\\N",
                        actor,
                        _escape(text),
                    )
                )

    # -- edges --------------------------------------------------------------------------------
    async def edges(self, conn: AsyncConnection, chunk: list[BulkEdge]) -> None:
        t = time.perf_counter()
        by_relation: dict[str, list[BulkEdge]] = defaultdict(list)
        for e in chunk:
            if e.relation not in self._edge_labels:
                raise BulkLoadError(f"{e.relation!r} is not a Skyloom edge label ({e.start} -> {e.end})")
            by_relation[e.relation].append(e)
        await self._resolve_stored(conn, chunk)
        t = self.clock("check", t)
        for relation, items in by_relation.items():
            ids = await self._reserve(conn, relation, len(items))
            t = self.clock("reserve ids", t)
            gids = self.gids
            async with self._copy_rows(conn, relation, "id, start_id, end_id, properties") as out:
                for e, gid in zip(items, ids):
                    stamp = self.stamps.get(e.start)
                    stored = {**(e.props or {}), "tenantUid": stamp} if stamp else e.props
                    props = _escape(orjson.dumps(stored)) if stored else b"{}"
                    await out.add(b"%d\t%d\t%d\t%s\n" % (gid, gids[e.start], gids[e.end], props))
            self.result.edges[relation] = self.result.edges.get(relation, 0) + len(items)
            self.written.add(relation)
            t = self.clock("edges", t)
        self.progress(f"edges: {self.result.edge_count} written")

    async def _resolve_stored(self, conn: AsyncConnection, chunk: list[BulkEdge]) -> None:
        """Find the graphids of endpoints not loaded here; any uid found nowhere fails the load."""
        unknown = {uid for e in chunk for uid in (e.start, e.end) if uid not in self.gids}
        if not unknown:
            return
        cur = await conn.execute(
            f"SELECT properties ->> 'uid'::text, id::text::bigint, properties ->> 'tenantUid'::text FROM {vertex_parent(self.graph)} "
            "WHERE (properties ->> 'uid'::text) = ANY(%s)",
            (sorted(unknown),),
        )
        for uid, gid, stamp in await cur.fetchall():
            self.gids[uid] = gid
            if stamp is not None:
                self.stamps[uid] = stamp
        missing = sorted(unknown - self.gids.keys())
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise BulkLoadError(f"edges refer to {len(missing)} uid(s) found neither in this load nor in the graph: {shown}")

    @asynccontextmanager
    async def _copy_rows(self, conn: AsyncConnection, label: str, columns: str) -> AsyncIterator["_CopyBuffer"]:
        """COPY into a label table; under row-level security (which refuses COPY) through a temporary table."""
        if self.rls is None:
            cur = await conn.execute(
                "SELECT mode IN ('rls', 'graph_rls') AND NOT (SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user)"
                " FROM skyloom.isolation"
            )
            self.rls = bool((await cur.fetchone())[0])
        if not self.rls:
            async with _CopyBuffer(conn, f"COPY {table(self.graph, label)} ({columns}) FROM STDIN") as out:
                yield out
            return
        scratch = "bulk_edge" if label in self._edge_labels else "bulk_vertex"
        await conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {scratch} ON COMMIT DROP AS SELECT {columns} FROM {table(self.graph, label)} WITH NO DATA"
        )
        async with _CopyBuffer(conn, f"COPY {scratch} ({columns}) FROM STDIN") as out:
            yield out
        await conn.execute(f"INSERT INTO {table(self.graph, label)} ({columns}) SELECT {columns} FROM {scratch}")
        await conn.execute(f"TRUNCATE {scratch}")

    # -- ids ----------------------------------------------------------------------------------
    async def _reserve(self, conn: AsyncConnection, label: str, count: int) -> list[int]:
        """`count` graphids of `label`, drawn from the sequence AGE's own column default uses.

        nextval() hands each value to one caller only, so this is safe beside concurrent writers
        without any lock; the values are fetched as contiguous runs (usually one), not one by one.
        The sequence is found through AGE's catalog with the names as bound values.
        """
        cur = await conn.execute(
            "WITH s AS ("
            " SELECT l.id AS label_id, format('%%I.%%I', g.name, l.seq_name)::regclass AS seq"
            " FROM ag_catalog.ag_label l JOIN ag_catalog.ag_graph g ON g.graphid = l.graph"
            " WHERE g.name = %s AND l.name = %s),"
            " v AS (SELECT s.label_id, nextval(s.seq) AS n FROM s, generate_series(1, %s))"
            " SELECT label_id, min(n), max(n) FROM ("
            "  SELECT label_id, n, n - row_number() OVER (ORDER BY n) AS run FROM v) r"
            " GROUP BY label_id, run ORDER BY 2",
            (self.graph, label, count),
        )
        runs = await cur.fetchall()
        if not runs:
            raise BulkLoadError(f"graph {self.graph!r} has no label {label!r}: run `skyloom db migrate`")
        label_id = runs[0][0]
        if label_id != self.db.label_id(label):
            raise RuntimeError(f"label {label!r} has id {label_id} in the catalog but {self.db.label_id(label)} in the pool")
        base = label_id << 48
        return [base | n for _, low, high in runs for n in range(low, high + 1)]


class _CopyBuffer:
    """COPY text rows gathered into large messages: psycopg sends each `write()` as its own message."""

    FLUSH_AT = 256 * 1024

    def __init__(self, conn: AsyncConnection, statement: str) -> None:
        self._cm = conn.cursor().copy(statement)
        self._buffer = bytearray()

    async def __aenter__(self) -> "_CopyBuffer":
        self._copy = await self._cm.__aenter__()
        return self

    async def add(self, row: bytes) -> None:
        self._buffer += row
        if len(self._buffer) >= self.FLUSH_AT:
            await self._copy.write(self._buffer)
            self._buffer = bytearray()

    async def __aexit__(self, *exc: Any) -> bool | None:
        if exc[0] is None and self._buffer:
            await self._copy.write(self._buffer)
        return await self._cm.__aexit__(*exc)


def _escape(text: bytes) -> bytes:
    """COPY text format: a backslash is the escape character. orjson never emits raw tabs or newlines."""
    return text.replace(b"\\", b"\\\\") if b"\\" in text else text


def _chunks(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _detail(exc: psycopg.Error) -> str:
    diag = exc.diag
    parts = [diag.message_primary or str(exc).strip().splitlines()[0]]
    if diag.message_detail:
        parts.append(diag.message_detail)
    if diag.context:
        parts.append(diag.context.strip().splitlines()[0])
    return "; ".join(parts)
