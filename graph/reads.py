"""Reads: lookups, CI search, subtrees, neighbours, impact sets and history, as plain SQL over label tables.

DESIGN.md section 3 measured variable-length Cypher paths at tens of seconds, so every traversal
here is either a fixed hop or a recursive CTE over the label tables, and every looked-up
property has an expression index (created by `skyloom.ensure_vertex_label`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from psycopg import sql

from skyloom.graph import labels
from skyloom.graph.agtype import Agtype
from skyloom.graph.pool import Database
from skyloom.graph.scope import SqlScope, scope_sql
from skyloom.graph.records import (
    CHANGE_COLUMNS,
    Change,
    Vertex,
    by_uids_sql,
    change_from_row,
    edge_parent,
    table,
    vertex_parent,
)

_LIVE = "(properties ->> 'deleted'::text) = 'false'"
# Every vertex read selects these: the graphid as a Python int, named `gid` so that `ORDER BY id`
# still means the graphid column (and can walk its index) rather than the converted output.
_VERTEX = "id::text::bigint AS gid, properties"
MAX_IMPACT_NODES = 10_000
# Above this many (kind, tenancy) pairs a scoped page is one statement over the whole scope again.
MAX_TENANCY_BRANCHES = 256


@dataclass(frozen=True)
class CiQuery:
    """Filters of a CI search; empty collections mean "any"."""

    kinds: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    tenancy_uid: str | None = None
    compartment_uids: tuple[str, ...] | None = None  # None: any compartment; () matches nothing
    tags: tuple[tuple[str, str], ...] = ()
    text: str | None = None
    include_deleted: bool = False
    # What the caller may see, per kind (see `graph.scope`); None: everything.
    scopes: dict[str, SqlScope] | None = None
    # The tenant database role to read as (row-level security modes): the database then hides
    # every other tenant's rows whatever the filters above say. None: the API's own role.
    tenant_role: str | None = None
    # The tenant's own graph to read instead of the installation graph (graph isolation modes).
    tenant_graph: str | None = None


@dataclass
class Page:
    items: list[Vertex] = field(default_factory=list)
    has_next: bool = False


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _within_tenancy(scope: SqlScope, tenancy: str) -> SqlScope:
    """A scope narrowed to one tenancy the query already asks for: the planner then sees one
    tenancy, not the caller's whole list (which made it read the tenant's share and sort it)."""
    if scope.everything:
        return scope
    parts = []
    for part in scope.parts:
        if part.compartments:
            parts.append(part)   # compartment grants keep their own test
        elif part.all_tenancies or tenancy in part.tenancies:
            parts.append(replace(part, tenancies=frozenset({tenancy}), all_tenancies=False))
    return SqlScope(tuple(parts))


def _ids_param(ids: list[int]) -> list[str]:
    return [str(i) for i in ids]


class GraphReader:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.graph = db.graph

    async def _rows(
        self, query: str, params: tuple | list | dict, *, prepare: bool | None = None, role: str | None = None
    ) -> list[tuple]:
        """Every row of one statement, on a pooled connection held only for it.

        With `role`, the statement runs in a transaction of its own under that tenant role (`SET
        LOCAL`, so the pooled connection cannot carry it into anyone else's request).
        """
        async with self.db.connection() as conn:
            if role is None:
                cur = await conn.execute(query, params, prepare=prepare)
                return await cur.fetchall()
            async with conn.transaction():
                await conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
                cur = await conn.execute(query, params, prepare=prepare)
                return await cur.fetchall()

    async def _vertices(
        self, query: str, params: tuple | list, *, prepare: bool | None = None, role: str | None = None
    ) -> list[Vertex]:
        rows = await self._rows(query, params, prepare=prepare, role=role)
        label_of = self.db.label_of
        return [Vertex(gid, label_of(gid), props) for gid, props in rows]

    # -- lookups ------------------------------------------------------------------------------
    async def by_uids(self, uids: list[str]) -> dict[str, Vertex]:
        """Vertices by uid, of any label, wherever they are stored (see `records.by_uids_sql`)."""
        if not uids:
            return {}
        rows = await self._rows(by_uids_sql(self.graph), {"uids": list(uids)})
        label_of = self.db.label_of
        found = {props["uid"]: Vertex(gid, label_of(gid), props) for gid, props, _, _, _ in rows if gid is not None}
        homes: dict[tuple[str, str], list[str]] = {}
        for gid, _, graph, label, uid in rows:
            if gid is None:
                homes.setdefault((graph, label), []).append(uid)
        if homes:
            params: list[Any] = []
            settled = []
            for (graph, label), group in sorted(homes.items()):
                settled.append(f"SELECT {_VERTEX} FROM {table(graph, label)} WHERE (properties ->> 'uid'::text) = ANY(%s)")
                params.append(group)
            found.update((v.uid, v) for v in await self._vertices(" UNION ALL ".join(settled), params))
        return found

    async def by_uid(self, uid: str, label: str | None = None) -> Vertex | None:
        if label is None:
            return (await self.by_uids([uid])).get(uid)
        found = await self._vertices(
            f"SELECT {_VERTEX} FROM {table(self.graph, label)} WHERE (properties ->> 'uid'::text) = %s", (uid,)
        )
        return found[0] if found else None

    async def find(self, label: str | None, match: dict[str, Any], include_deleted: bool = False) -> list[Vertex]:
        """Vertices (of `label`, or of any label) whose properties contain `match` (the GIN indexes)."""
        wanted = match if include_deleted else {**match, "deleted": False}
        source = table(self.graph, label) if label else vertex_parent(self.graph)
        return await self._vertices(f"SELECT {_VERTEX} FROM {source} WHERE properties @> %s ORDER BY id", (Agtype(wanted),))

    async def by_urns(self, urns: list[str]) -> dict[str, Vertex]:
        """Live CIs by Pulumi URN (each label table's URN index), wherever they are stored."""
        if not urns:
            return {}
        found = await self._vertices(
            f"SELECT {_VERTEX} FROM {vertex_parent(self.graph)} WHERE (properties ->> 'urn'::text) = ANY(%s)"
            f" AND {_LIVE} ORDER BY id",
            (list(urns),),
        )
        return {v.props["urn"]: v for v in found}

    async def by_ids(self, ids: list[int]) -> dict[int, Vertex]:
        if not ids:
            return {}
        query, params = self._by_ids_sql(ids)
        return {v.id: v for v in await self._vertices(query, params)}

    def _by_ids_sql(self, ids: list[int]) -> tuple[str, list[Any]]:
        """Vertices by graphid, reading only the label tables the ids name (a graphid carries its
        label's id in its top 16 bits). Under the graph isolation modes every label table has a
        child per tenant: reading all of them through `_ag_label_vertex` cost ~10x more."""
        by_label: dict[str, list[int]] = {}
        for gid in ids:
            by_label.setdefault(self.db.label_of(gid), []).append(gid)
        branches, params = [], []
        for label, gids in sorted(by_label.items()):
            branches.append(f"SELECT {_VERTEX} FROM {table(self.graph, label)} WHERE id = ANY(%s::text[]::graphid[])")
            params.append(_ids_param(gids))
        return " UNION ALL ".join(branches), params

    async def children(self, label: str, parent_uids: list[str], include_deleted: bool = False) -> dict[str, list[Vertex]]:
        """Vertices of `label` whose parentUid is one of `parent_uids`, by parent, sorted by name."""
        live = "" if include_deleted else f" AND {_LIVE}"
        found = await self._vertices(
            f"SELECT {_VERTEX} FROM {table(self.graph, label)} "
            f"WHERE (properties ->> 'parentUid'::text) = ANY(%s){live} "
            "ORDER BY lower(properties ->> 'name'::text), id",
            (list(parent_uids),),
        )
        grouped: dict[str, list[Vertex]] = {uid: [] for uid in parent_uids}
        for vertex in found:
            grouped.setdefault(vertex.props.get("parentUid"), []).append(vertex)
        return grouped

    async def list_label(self, label: str, first: int, after: int | None, include_deleted: bool = False) -> Page:
        conditions = ["TRUE" if include_deleted else _LIVE]
        params: list[Any] = []
        if after is not None:
            conditions.append("id > %s::text::graphid")
            params.append(str(after))
        params.append(first + 1)
        found = await self._vertices(
            f"SELECT {_VERTEX} FROM {table(self.graph, label)} "
            f"WHERE {' AND '.join(conditions)} ORDER BY id LIMIT %s",
            params,
        )
        return Page(found[:first], len(found) > first)

    # -- search -------------------------------------------------------------------------------
    def _search_sql(self, q: CiQuery) -> tuple[str, str, list[Any]]:
        kinds = q.kinds or labels.ci_labels()
        graph = q.tenant_graph or self.graph
        params: list[Any] = []
        branches = []
        for kind in kinds:
            scope = q.scopes.get(kind) if q.scopes is not None else None
            if scope is not None and q.tenancy_uid is not None and kind != "Tenancy":
                scope = _within_tenancy(scope, q.tenancy_uid)
            if scope is None:
                branches.append(f"SELECT id, properties FROM {table(graph, kind)}")
            elif not scope.is_nothing:
                branches.append(f"SELECT id, properties FROM {table(graph, kind)} WHERE {scope_sql(scope, kind, params)}")
        # Nothing in scope: an empty source of the same shape, so the statement stays valid.
        sources = " UNION ALL ".join(branches) or f"SELECT id, properties FROM {table(graph, kinds[0])} WHERE FALSE"
        where = self._conditions(q, params)
        return f"({sources}) AS v", where, params

    def _conditions(self, q: CiQuery, params: list[Any]) -> str:
        conditions: list[str] = []
        if not q.include_deleted:
            conditions.append(_LIVE)
        if q.providers:
            conditions.append("(properties ->> 'provider'::text) = ANY(%s)")
            params.append(list(q.providers))
        if q.regions:
            conditions.append("(properties ->> 'region'::text) = ANY(%s)")
            params.append(list(q.regions))
        if q.tenancy_uid is not None:
            conditions.append("(properties ->> 'tenancyUid'::text) = %s")
            params.append(q.tenancy_uid)
        if q.compartment_uids is not None:
            conditions.append("(properties ->> 'compartmentUid'::text) = ANY(%s)")
            params.append(list(q.compartment_uids))
        if q.tags:
            conditions.append("properties @> %s")
            params.append(Agtype({"tags": dict(q.tags)}))
        if q.text:
            conditions.append("lower(properties ->> 'name'::text) LIKE %s")
            params.append(_like_pattern(q.text))
        return " AND ".join(conditions) or "TRUE"

    def _per_tenancy_sql(self, q: CiQuery, first: int, after: int | None) -> tuple[str, list[Any]] | None:
        """A scoped page as one index-ordered branch per (kind, tenancy), merged: for callers whose
        scope is a few tenancies (a tenant's lists), each branch stops after a page instead of the
        planner reading and sorting everything the tenant has. None when the scope is not of that shape."""
        if q.scopes is None or q.tenancy_uid is not None or q.compartment_uids is not None:
            return None
        kinds = q.kinds or labels.ci_labels()
        pairs: list[tuple[str, str | None, SqlScope]] = []
        for kind in kinds:
            scope = q.scopes.get(kind)
            if scope is None or scope.everything or any(p.compartments or p.all_tenancies for p in scope.parts):
                return None
            if scope.is_nothing:
                continue
            if kind == "Tenancy":   # a tenancy is its own tenancy: one branch, and tenancies are few
                pairs.append((kind, None, scope))
            else:
                pairs += [(kind, t, scope) for t in sorted({t for p in scope.parts for t in p.tenancies})]
        if not pairs or len(pairs) > MAX_TENANCY_BRANCHES:
            return None
        params: list[Any] = []
        branches = []
        for kind, tenancy, scope in pairs:
            tests = []
            if tenancy is not None:
                tests.append("(properties ->> 'tenancyUid'::text) = %s")
                params.append(tenancy)
            tests.append(scope_sql(scope, kind, params))
            tests.append(self._conditions(q, params))
            if after is not None:
                tests.append("id > %s::text::graphid")
                params.append(str(after))
            branches.append(
                f"(SELECT id, properties FROM {table(q.tenant_graph or self.graph, kind)} WHERE {' AND '.join(tests)}"
                " ORDER BY id LIMIT %s)"
            )
            params.append(first + 1)
        return f"SELECT {_VERTEX} FROM ({' UNION ALL '.join(branches)}) AS v ORDER BY id LIMIT %s", [*params, first + 1]

    async def search(self, q: CiQuery, first: int, after: int | None = None) -> Page:
        narrow = self._per_tenancy_sql(q, first, after)
        if narrow is not None:
            found = await self._vertices(narrow[0], narrow[1], prepare=False, role=q.tenant_role)
            return Page(found[:first], len(found) > first)
        source, where, params = self._search_sql(q)
        if after is not None:
            where += " AND id > %s::text::graphid"
            params.append(str(after))
        params.append(first + 1)
        # Never a prepared statement: a generic plan cannot know how selective these filters are,
        # and the plan it keeps (walking the id indexes, discarding non-matches) can be 10x slower.
        found = await self._vertices(
            f"SELECT {_VERTEX} FROM {source} WHERE {where} ORDER BY id LIMIT %s", params, prepare=False, role=q.tenant_role
        )
        return Page(found[:first], len(found) > first)

    async def count(self, q: CiQuery) -> int:
        source, where, params = self._search_sql(q)
        [(total,)] = await self._rows(f"SELECT count(*) FROM {source} WHERE {where}", params, prepare=False, role=q.tenant_role)
        return total

    # -- compartments -------------------------------------------------------------------------
    async def compartment_subtree(self, uid: str) -> tuple[str, ...]:
        """The uids of a compartment and every compartment nested in it, at any depth."""
        comp = table(self.graph, "Compartment")
        rows = await self._rows(
            f"WITH RECURSIVE sub(uid) AS ("
            f" SELECT properties ->> 'uid'::text FROM {comp} WHERE (properties ->> 'uid'::text) = %s"
            f" UNION"
            f" SELECT c.properties ->> 'uid'::text FROM {comp} c JOIN sub ON (c.properties ->> 'parentUid'::text) = sub.uid"
            f") SELECT uid FROM sub",
            (uid,),
        )
        return tuple(row[0] for row in rows)

    async def compartment_tree(self, tenancy_uid: str) -> list[tuple[Vertex, int]]:
        """Every live compartment of a tenancy with its depth (1 = directly in the tenancy), parents first."""
        comp = table(self.graph, "Compartment")
        rows = await self._rows(
            f"WITH RECURSIVE tree(id, properties, depth) AS ("
            f" SELECT id, properties, 1 FROM {comp}"
            f"  WHERE (properties ->> 'parentUid'::text) = %s AND {_LIVE}"
            f" UNION ALL"
            f" SELECT c.id, c.properties, tree.depth + 1 FROM {comp} c"
            f"  JOIN tree ON (c.properties ->> 'parentUid'::text) = (tree.properties ->> 'uid'::text)"
            f"  WHERE (c.properties ->> 'deleted'::text) = 'false' AND tree.depth < 64"
            f") SELECT id::text::bigint, properties, depth FROM tree"
            f" ORDER BY depth, lower(properties ->> 'name'::text), id",
            (tenancy_uid,),
        )
        return [(Vertex(gid, "Compartment", props), depth) for gid, props, depth in rows]

    # -- relationships ------------------------------------------------------------------------
    async def neighbours(
        self, ids: list[int], relations: tuple[str, ...], outgoing: bool, incoming: bool, per_node: int
    ) -> dict[int, list[tuple[str, bool, Vertex]]]:
        """For each vertex id: up to `per_node` (relation, is_outgoing, other vertex) in each direction."""
        result: dict[int, list[tuple[str, bool, Vertex]]] = {i: [] for i in ids}
        if not ids or not relations:
            return result
        if set(relations) == set(labels.EDGE_LABELS):
            edges = f"SELECT id, start_id, end_id FROM {edge_parent(self.graph)}"
        else:
            edges = " UNION ALL ".join(f"SELECT id, start_id, end_id FROM {table(self.graph, r)}" for r in relations)
        parts = []
        if outgoing:
            parts.append(
                "SELECT v.gid, x.eid, x.other, true FROM unnest(%(ids)s::text[]::graphid[]) AS v(gid)"
                f" CROSS JOIN LATERAL (SELECT e.id AS eid, e.end_id AS other FROM ({edges}) e"
                "  WHERE e.start_id = v.gid ORDER BY e.id LIMIT %(n)s) x"
            )
        if incoming:
            parts.append(
                "SELECT v.gid, x.eid, x.other, false FROM unnest(%(ids)s::text[]::graphid[]) AS v(gid)"
                f" CROSS JOIN LATERAL (SELECT e.id AS eid, e.start_id AS other FROM ({edges}) e"
                "  WHERE e.end_id = v.gid ORDER BY e.id LIMIT %(n)s) x"
            )
        query = (
            "SELECT n.gid::text::bigint, n.eid::text::bigint, n.other::text::bigint, n.out FROM ("
            + " UNION ALL ".join(parts)
            + ") AS n(gid, eid, other, out)"
        )
        rows = await self._rows(query, {"ids": _ids_param(ids), "n": per_node})
        others = await self.by_ids(sorted({row[2] for row in rows}))
        label_of = self.db.label_of
        for gid, eid, other, out in rows:
            vertex = others.get(other)
            if vertex is not None and not vertex.props.get("deleted"):
                result[gid].append((label_of(eid), out, vertex))
        return result

    async def impact(
        self, uid: str, depth: int, first: int, after: tuple[int, int] | None
    ) -> tuple[list[tuple[int, Vertex]], int, bool]:
        """What depends on CI `uid`, directly or through others, up to `depth` hops, nearest first.

        Returns a page of (distance, vertex) after the (distance, graphid) cursor, the size of the
        whole set, and whether more follow. UNION (not UNION ALL) keeps each (vertex, distance)
        once, so cycles cannot loop, and the depth bound keeps the work linear in the size of the
        answer. The page comes as graphids with the total in one statement, and its vertices in a
        second from only the label tables those graphids name (`_by_ids_sql`).
        """
        deps = table(self.graph, labels.DEPENDS_ON)
        after_d, after_gid = after if after is not None else (-1, 0)
        origin = await self.by_uid(uid)
        if origin is None:
            return [], 0, False
        ranked = (
            f"WITH RECURSIVE start AS MATERIALIZED ("
            f"  SELECT %(start)s::text::graphid AS id"
            f"), r(gid, depth) AS ("
            f"  SELECT id, 0 FROM start"
            f"  UNION"
            f"  SELECT e.start_id, r.depth + 1 FROM r JOIN {deps} e ON e.end_id = r.gid WHERE r.depth < %(depth)s"
            f"), ranked AS MATERIALIZED ("
            f"  SELECT gid, min(depth) AS d FROM r WHERE depth > 0 AND gid NOT IN (SELECT id FROM start) GROUP BY gid"
            f"  ORDER BY d, gid LIMIT {MAX_IMPACT_NODES})"
        )
        # The page as graphids first, then its vertices from only the label tables they name.
        query = (
            f"{ranked} SELECT (SELECT count(*) FROM ranked), d, gid::text::bigint FROM ranked"
            f" WHERE (d, gid) > (%(after_d)s, %(after_gid)s::text::graphid) ORDER BY d, gid LIMIT %(n)s"
        )
        params = {"start": str(origin.id), "depth": depth, "after_d": after_d, "after_gid": str(after_gid), "n": first + 1}
        rows = await self._rows(query, params)
        if rows:
            total = rows[0][0]
        else:  # an empty page says nothing about the size of the whole set
            [(total,)] = await self._rows(f"{ranked} SELECT count(*) FROM ranked", params)
        found = await self.by_ids([gid for _, _, gid in rows])
        page = [(d, found[gid]) for _, d, gid in rows if gid in found]
        return page[:first], total, len(page) > first

    # -- history and change feed ------------------------------------------------------------
    async def histories(self, uids: list[str], first: int, after_version: int | None) -> dict[str, tuple[list[Change], bool]]:
        """Up to `first` versions after `after_version` of each CI, oldest first, in one query."""
        rows = await self._rows(
            f"SELECT {CHANGE_COLUMNS} FROM ("
            f" SELECT *, row_number() OVER (PARTITION BY uid ORDER BY version) AS rank FROM skyloom.change_log"
            "  WHERE graph = %s AND uid = ANY(%s::uuid[]) AND version > %s"
            ") AS v WHERE rank <= %s ORDER BY uid, version",
            (self.graph, list(uids), after_version or 0, first + 1),
        )
        found: dict[str, list[Change]] = {uid: [] for uid in uids}
        for row in rows:
            change = change_from_row(row)
            found.setdefault(change.uid, []).append(change)
        return {uid: (changes[:first], len(changes) > first) for uid, changes in found.items()}

    async def checkpoint(self, source: str) -> Any:
        rows = await self._rows("SELECT position FROM skyloom.ingest_checkpoint WHERE source = %s", (source,))
        return rows[0][0] if rows else None

    async def latest_event_id(self) -> int:
        [(latest,)] = await self._rows("SELECT coalesce(max(id), 0) FROM skyloom.change_log WHERE graph = %s", (self.graph,))
        return latest

    async def changes_after(self, event_id: int, topics: tuple[str, ...], limit: int) -> list[Change]:
        rows = await self._rows(
            f"SELECT {CHANGE_COLUMNS} FROM skyloom.change_log WHERE graph = %s AND topic = ANY(%s) AND id > %s "
            "ORDER BY id LIMIT %s",
            (self.graph, list(topics), event_id, limit),
        )
        return [change_from_row(r) for r in rows]
