"""Ingest staging: a stack's records in temporary tables, reconciled with the graph by set-based SQL.

A stack export can hold a hundred thousand resources. Holding them all in the ingest process
(as records, as vertices, as a uid -> graphid map) made its memory grow with the stack, and
writing them one statement each made it slow. Here the ingest streams its records into a
staging table a chunk at a time, and everything that needs the whole stack is a statement over
that table, in the database: which URNs are new, changed, unchanged or gone, and the edges
(a dependency may name a resource further down the file, so edges are resolved only once every
vertex exists). Process memory is then bounded by a chunk, whatever the size of the stack.

The tables are temporary and `ON COMMIT DROP`: each ingest transaction has its own, concurrent
ingests of other stacks never see them, and a failed ingest leaves nothing behind. The rows
written to the graph are the ones `store.GraphWriter` would write (same property maps, a
change-log row per version), so history, audit and the change feed cannot tell the difference.
Values travel only as bound parameters; label and graph names come from `labels` via `table()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson
from psycopg import AsyncConnection

from skyloom.graph import labels
from skyloom.graph.records import Vertex, now_iso, table, vertex_parent
from skyloom.graph.store import settle

_TABLES = """
CREATE TEMP TABLE ingest_stage (
    seq integer NOT NULL, urn text NOT NULL, kind text NOT NULL, token text NOT NULL, cloud text, name text NOT NULL,
    native_id text, tenancy text, compartment text, region text, provider_ref text, parent text,
    deps text[], refs text[], static jsonb, pending_delete boolean, own_compartment text, own_compartment_name text,
    mapped boolean,
    -- Placement keys as plain columns, so that the planner has statistics for joining on them.
    tenancy_key text GENERATED ALWAYS AS (coalesce(tenancy, '')) STORED,
    compartment_key text GENERATED ALWAYS AS (coalesce(compartment, '')) STORED
) ON COMMIT DROP;
CREATE TEMP TABLE ingest_native (native_id text, urn text) ON COMMIT DROP;
CREATE TEMP TABLE ingest_place (
    cloud text NOT NULL, tenancy_key text NOT NULL, compartment_key text NOT NULL,
    tenancy_uid text NOT NULL, compartment_uid text, container_uid text NOT NULL, container ag_catalog.graphid NOT NULL,
    tenant_uid text
) ON COMMIT DROP;
CREATE TEMP TABLE ingest_existing (urn text, gid ag_catalog.graphid, label text, props jsonb) ON COMMIT DROP;
CREATE TEMP TABLE ingest_vertex (
    urn text, gid ag_catalog.graphid, container ag_catalog.graphid, fresh boolean, own boolean, tenant text
) ON COMMIT DROP;
CREATE TEMP TABLE ingest_dep (
    start_id ag_catalog.graphid, end_id ag_catalog.graphid, fresh boolean, tenant text
) ON COMMIT DROP;
"""

# The staged record, as `jsonb_to_recordset` reads a chunk of them.
_COLUMNS = (
    "seq, urn, kind, token, cloud, name, native_id, tenancy, compartment, region, provider_ref, parent, deps, refs,"
    " static, pending_delete, own_compartment, own_compartment_name, mapped"
)
_RECORD = (
    "seq integer, urn text, kind text, token text, cloud text, name text, native_id text, tenancy text,"
    " compartment text, region text, provider_ref text, parent text, deps text[], refs text[], static jsonb,"
    " pending_delete boolean, own_compartment text, own_compartment_name text, mapped boolean"
)

# A staged record's placement: `ingest_place` is keyed by its cloud identifiers ('' for none).
_PLACED = (
    "JOIN ingest_place p ON p.cloud = s.cloud AND p.tenancy_key = s.tenancy_key AND p.compartment_key = s.compartment_key"
)

# What `ci_properties` + the reconcile make of a record: `static` is what the record alone decides
# (kind, name, provider and its term, tags, nativeType, nativeId, urn, attributes, external);
# the rest needs the whole stack (region, placement) or this ingest (firstSeen / lastSeen).
_PROPERTIES = """(s.static || jsonb_build_object(
    'region', s.region, 'firstSeen', %(stamp)s::text, 'lastSeen', %(stamp)s::text, 'stackUid', %(stack)s::text,
    'parentUid', p.container_uid, 'tenancyUid', p.tenancy_uid, 'compartmentUid', p.compartment_uid,
    'tenantUid', p.tenant_uid))"""

# The dependencies the staged records name (by URN, or by a cloud id in an input), as graphids.
# Each record's `deps` are distinct already; only id references can repeat them.
_DEPENDENCIES = (
    "SELECT a.gid AS start_id, b.gid AS end_id, a.fresh, a.tenant FROM ("
    " SELECT s.urn, d AS target FROM ingest_stage s, unnest(s.deps) d"
    " UNION ALL SELECT DISTINCT s.urn, n.urn FROM ingest_stage s, unnest(s.refs) r"
    "  JOIN ingest_native n ON n.native_id = r WHERE n.urn <> ALL(s.deps)"
    ") x JOIN ingest_vertex a ON a.urn = x.urn JOIN ingest_vertex b ON b.urn = x.target WHERE x.urn <> x.target"
)

def _stamp(tenant: str) -> str:
    """An edge's properties: the tenant stamp of its start vertex (none for the provider's own)."""
    return (f"(CASE WHEN {tenant} IS NULL THEN '{{}}' ELSE jsonb_build_object('tenantUid', {tenant})::text END)"
            "::ag_catalog.agtype")


_LOG = (
    "INSERT INTO skyloom.change_log (graph, topic, uid, label, tenancy_uid, version, operation, actor, before, after)"
)


class Stage:
    """One ingest's staged records and the statements that apply them; lives for one transaction."""

    def __init__(self, conn: AsyncConnection, graph: str, actor: str, label_id: Callable[[str], int]) -> None:
        self.conn = conn
        self.graph = graph
        self.actor = actor
        self.label_id = label_id
        self._sequences: dict[str, str] = {}
        self.inserted: set[str] = set(labels.EDGE_LABELS)  # what `settle` must place (graph modes)
        self.tenants: set[str] = set()  # the tenants of the placements: `settle` gives them a role

    async def open(self) -> None:
        await self.conn.execute(_TABLES)
        cur = await self.conn.execute(
            "SELECT l.name, format('%%I.%%I', g.name, l.seq_name) FROM ag_catalog.ag_label l"
            " JOIN ag_catalog.ag_graph g ON g.graphid = l.graph WHERE g.name = %s",
            (self.graph,),
        )
        self._sequences = dict(await cur.fetchall())

    async def add(self, chunk: str) -> None:
        """A chunk of records, a JSON array of objects (see `_RECORD` for the keys), in one statement."""
        await self.conn.execute(
            f"INSERT INTO ingest_stage ({_COLUMNS}) SELECT * FROM jsonb_to_recordset(%s::jsonb) AS r({_RECORD})", (chunk,)
        )

    async def seal(
        self, accounts: dict[str | None, str], group_regions: dict[tuple[str | None, str], str]
    ) -> dict[str | None, str]:
        """Finish what needs the whole stack; returns each cloud's usual account (the one most records name).

        `accounts` (provider reference -> account) and `group_regions` fill in placements a record
        left open; then one record is kept per URN (an old copy awaiting deletion yields to its
        replacement), after the cloud ids every record had are noted for id references.
        """
        conn = self.conn
        await conn.execute(
            "INSERT INTO ingest_native SELECT DISTINCT ON (native_id) native_id, urn FROM ingest_stage"
            " WHERE native_id <> '' ORDER BY native_id, seq DESC"
        )
        await conn.execute("ANALYZE ingest_native")
        if accounts:
            await conn.execute(
                "UPDATE ingest_stage s SET tenancy = h.tenancy FROM unnest(%s::text[], %s::text[]) AS h(ref, tenancy)"
                " WHERE s.tenancy IS NULL AND s.provider_ref IS NOT DISTINCT FROM h.ref",
                (list(accounts), list(accounts.values())),
            )
        if group_regions:
            await conn.execute(
                "UPDATE ingest_stage s SET region = h.region"
                " FROM unnest(%s::text[], %s::text[], %s::text[]) AS h(tenancy, grp, region)"
                " WHERE s.region IS NULL AND s.compartment = h.grp AND s.tenancy IS NOT DISTINCT FROM h.tenancy",
                ([t for t, _ in group_regions], [g for _, g in group_regions], list(group_regions.values())),
            )
        cur = await conn.execute(
            "SELECT DISTINCT ON (cloud) cloud, tenancy FROM ("
            " SELECT cloud, tenancy, count(*) AS n, min(seq) AS first FROM ingest_stage WHERE tenancy IS NOT NULL"
            " GROUP BY cloud, tenancy) c ORDER BY cloud, n DESC, first"
        )
        usual = dict(await cur.fetchall())
        await conn.execute(
            "DELETE FROM ingest_stage s USING ("
            " SELECT seq, row_number() OVER (PARTITION BY urn ORDER BY pending_delete,"
            "   CASE WHEN pending_delete THEN -seq ELSE seq END) AS rank"
            " FROM ingest_stage WHERE urn IN (SELECT urn FROM ingest_stage GROUP BY urn HAVING count(*) > 1)) d"
            " WHERE s.seq = d.seq AND d.rank > 1"
        )
        await conn.execute("ANALYZE ingest_stage (urn, kind, cloud, tenancy_key, compartment_key, parent, own_compartment)")
        return usual

    async def own_compartments(self) -> list[dict[str, Any]]:
        """Records that are themselves a compartment (few: groups, namespaces), in stack order."""
        cur = await self.conn.execute("SELECT row_to_json(s)::jsonb FROM ingest_stage s WHERE own_compartment IS NOT NULL ORDER BY seq")
        return [row[0] for row in await cur.fetchall()]

    async def placements(self) -> list[tuple[str | None, str | None, str | None, str, str]]:
        """Each distinct (cloud, account, compartment) of the other records, with the first record naming it."""
        cur = await self.conn.execute(
            "SELECT cloud, tenancy, compartment, token, urn FROM ("
            " SELECT DISTINCT ON (cloud, tenancy_key, compartment_key) *"
            " FROM ingest_stage WHERE own_compartment IS NULL"
            " ORDER BY cloud, tenancy_key, compartment_key, seq) first ORDER BY seq"
        )
        return await cur.fetchall()

    async def place(self, rows: list[tuple[str, str | None, str | None, Vertex, Vertex | None]]) -> None:
        """Where each (cloud, account, compartment) resolved to: its tenancy and compartment vertices."""
        containers = [compartment or tenancy for _, _, _, tenancy, compartment in rows]
        await self.conn.execute(
            "INSERT INTO ingest_place SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
            " %s::text[], %s::text[]::ag_catalog.graphid[], %s::text[])",
            (
                [r[0] for r in rows], [r[1] or "" for r in rows], [r[2] or "" for r in rows],
                [r[3].uid for r in rows], [r[4].uid if r[4] else None for r in rows],
                [c.uid for c in containers], [str(c.id) for c in containers],
                [r[3].props.get("tenantUid") for r in rows],
            ),
        )
        self.tenants |= {r[3].props["tenantUid"] for r in rows if r[3].props.get("tenantUid")}
        await self.conn.execute("ANALYZE ingest_place")

    async def match(self, stack_uid: str) -> None:
        """The stack's live CIs (one per URN, the newest), locked until commit like `GraphWriter.find`."""
        await self.conn.execute(
            "INSERT INTO ingest_existing SELECT DISTINCT ON (urn) urn, id, c.relname, props FROM ("
            f" SELECT t.tableoid, t.id, t.properties ->> 'urn'::text AS urn, ag_catalog.agtype_out(t.properties)::text::jsonb AS props"
            f" FROM {vertex_parent(self.graph)} t WHERE t.properties @> %s::text::ag_catalog.agtype FOR UPDATE OF t) v"
            " JOIN pg_class c ON c.oid = v.tableoid ORDER BY urn, id DESC",
            (orjson.dumps({"stackUid": stack_uid, "deleted": False}).decode(),),
        )
        await self.conn.execute("ANALYZE ingest_existing")

    async def existing(self, urns: list[str]) -> dict[str, Vertex]:
        cur = await self.conn.execute(
            "SELECT urn, gid::text::bigint, label, props FROM ingest_existing WHERE urn = ANY(%s)", (urns,)
        )
        return {urn: Vertex(gid, label, props) for urn, gid, label, props in await cur.fetchall()}

    async def adopt(self, vertices: dict[str, Vertex]) -> None:
        """CIs the caller wrote itself (row by row), for the edges and the retire step to know."""
        if vertices:
            await self.conn.execute(
                "INSERT INTO ingest_vertex (urn, gid, fresh, own, tenant) SELECT urn, gid, false, true, tenant"
                " FROM unnest(%s::text[], %s::text[]::ag_catalog.graphid[], %s::text[]) AS v(urn, gid, tenant)",
                (list(vertices), [str(v.id) for v in vertices.values()], [v.props.get("tenantUid") for v in vertices.values()]),
            )

    async def create(self, stamp: str, stack_uid: str) -> int:
        """New CIs: every staged record with no live CI of its kind and URN in the stack; one statement per kind."""
        cur = await self.conn.execute(
            "SELECT DISTINCT s.kind FROM ingest_stage s WHERE s.own_compartment IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM ingest_existing e WHERE e.urn = s.urn AND e.label = s.kind)"
        )
        created = 0
        for (label,) in sorted(await cur.fetchall()):
            cur = await self.conn.execute(
                f"""
                WITH src AS MATERIALIZED (
                    SELECT x.seq, x.urn, x.gid, x.container, x.tenant_uid,
                           CASE WHEN %(label)s = 'Tenancy' THEN x.uid ELSE x.tenancy_uid END AS tenancy,
                           x.base || jsonb_build_object('uid', x.uid, 'version', 1, 'createdAt', %(stamp)s::text,
                               'updatedAt', %(stamp)s::text, 'deleted', false, 'deletedAt', null) AS props
                    FROM (SELECT s.seq, s.urn, p.container, p.tenancy_uid, p.tenant_uid, gen_random_uuid()::text AS uid,
                                 ag_catalog._graphid(%(label_id)s, nextval(%(sequence)s::regclass)) AS gid,
                                 {_PROPERTIES} AS base
                          FROM ingest_stage s {_PLACED}
                          WHERE s.kind = %(label)s AND s.own_compartment IS NULL
                            AND NOT EXISTS (SELECT 1 FROM ingest_existing e WHERE e.urn = s.urn AND e.label = s.kind)) x
                ), vertex AS (
                    INSERT INTO {table(self.graph, label)} (id, properties) SELECT gid, props::text::ag_catalog.agtype FROM src
                ), log AS (
                    {_LOG}
                    SELECT %(graph)s, %(topic)s, (props ->> 'uid')::uuid, %(label)s, tenancy::uuid, 1, 'create', %(actor)s,
                           NULL, props FROM src ORDER BY seq
                )
                INSERT INTO ingest_vertex (urn, gid, container, fresh, own, tenant)
                SELECT urn, gid, container, true, false, tenant_uid FROM src
                """,
                self._params(label, stamp=stamp, stack=stack_uid),
            )
            created += cur.rowcount
            self.inserted.add(label)
        return created

    async def update(self, stamp: str, stack_uid: str) -> tuple[int, int]:
        """Staged records whose CI exists: a new version where a property changed, else only `lastSeen`."""
        cur = await self.conn.execute(
            "SELECT DISTINCT e.label FROM ingest_existing e JOIN ingest_stage s ON s.urn = e.urn AND s.kind = e.label"
            " WHERE s.own_compartment IS NULL"
        )
        updated = unchanged = 0
        for (label,) in sorted(await cur.fetchall()):
            cur = await self.conn.execute(
                f"""
                WITH seen AS MATERIALIZED (
                    SELECT s.seq, s.urn, e.gid, p.container, p.tenant_uid, e.props AS before, {_PROPERTIES} AS now
                    FROM ingest_stage s JOIN ingest_existing e ON e.urn = s.urn AND e.label = s.kind {_PLACED}
                    WHERE s.kind = %(label)s AND s.own_compartment IS NULL
                ), diff AS MATERIALIZED (
                    SELECT seen.*, (SELECT jsonb_object_agg(n.key, n.value) FROM jsonb_each(seen.now) n
                                    WHERE n.key NOT IN ('firstSeen', 'lastSeen')
                                      AND n.value IS DISTINCT FROM coalesce(seen.before -> n.key, 'null'::jsonb)) AS changes
                    FROM seen
                ), next AS MATERIALIZED (
                    SELECT diff.*, CASE WHEN changes IS NULL THEN before || jsonb_build_object('lastSeen', %(stamp)s::text)
                        ELSE before || changes || jsonb_build_object('lastSeen', %(stamp)s::text,
                             'version', (before ->> 'version')::integer + 1, 'updatedAt', %(now)s::text) END AS after
                    FROM diff
                ), written AS (
                    UPDATE {table(self.graph, label)} t SET properties = next.after::text::ag_catalog.agtype
                    FROM next WHERE t.id = next.gid
                ), log AS (
                    {_LOG}
                    SELECT %(graph)s, %(topic)s, (after ->> 'uid')::uuid, %(label)s,
                           (CASE WHEN %(label)s = 'Tenancy' THEN after ->> 'uid' ELSE after ->> 'tenancyUid' END)::uuid,
                           (after ->> 'version')::integer, 'update', %(actor)s, before, after
                    FROM next WHERE changes IS NOT NULL ORDER BY seq
                ), vertex AS (
                    INSERT INTO ingest_vertex (urn, gid, container, fresh, own, tenant)
                    SELECT urn, gid, container, false, false, tenant_uid FROM next
                )
                SELECT count(*) FILTER (WHERE changes IS NOT NULL), count(*) FILTER (WHERE changes IS NULL) FROM next
                """,
                self._params(label, stamp=stamp, stack=stack_uid, now=now_iso()),
            )
            changed, same = await cur.fetchone()
            updated += changed
            unchanged += same
        return updated, unchanged

    async def retire(self, stamp: str, full: bool, removed: Iterable[str]) -> int:
        """Soft-delete the stack's CIs that are gone (full: not staged; else: `removed`) or changed kind.

        Returns how many were gone; a CI replaced by one of another kind is a new CI, not a retirement.
        """
        if full:
            doomed = "NOT EXISTS (SELECT 1 FROM ingest_vertex v WHERE v.gid = e.gid)"
            gone = "NOT EXISTS (SELECT 1 FROM ingest_vertex v WHERE v.urn = e.urn)"
        else:
            doomed = "(e.urn = ANY(%(removed)s) OR EXISTS (SELECT 1 FROM ingest_vertex v WHERE v.urn = e.urn AND v.gid <> e.gid))"
            gone = "e.urn = ANY(%(removed)s)"
        params = {"removed": sorted(removed)}
        cur = await self.conn.execute(f"SELECT DISTINCT e.label FROM ingest_existing e WHERE {doomed}", params)
        retired = 0
        for (label,) in sorted(await cur.fetchall()):
            cur = await self.conn.execute(
                f"""
                WITH old AS MATERIALIZED (
                    SELECT t.id, e.urn, {gone} AS gone, ag_catalog.agtype_out(t.properties)::text::jsonb AS before
                    FROM {table(self.graph, label)} t JOIN ingest_existing e ON e.gid = t.id
                    WHERE e.label = %(label)s AND {doomed} AND (t.properties ->> 'deleted'::text) = 'false'
                    FOR UPDATE OF t
                ), next AS MATERIALIZED (
                    SELECT old.*, before || jsonb_build_object('deleted', true, 'deletedAt', %(now)s::text,
                        'version', (before ->> 'version')::integer + 1, 'updatedAt', %(now)s::text) AS after
                    FROM old
                ), written AS (
                    UPDATE {table(self.graph, label)} t SET properties = next.after::text::ag_catalog.agtype
                    FROM next WHERE t.id = next.id
                ), log AS (
                    {_LOG}
                    SELECT %(graph)s, %(topic)s, (after ->> 'uid')::uuid, %(label)s,
                           (CASE WHEN %(label)s = 'Tenancy' THEN after ->> 'uid' ELSE after ->> 'tenancyUid' END)::uuid,
                           (after ->> 'version')::integer, 'delete', %(actor)s, before, after
                    FROM next ORDER BY urn
                )
                SELECT count(*) FILTER (WHERE gone) FROM next
                """,
                {**self._params(label, stamp=stamp, now=now_iso()), **params},
            )
            retired += (await cur.fetchone())[0]
        return retired

    async def link(self, stack: Vertex, full: bool) -> None:
        """Edges of the staged CIs: container, stack, dependencies (replaced when `full`) and Pulumi parents.

        CIs created here get theirs by plain INSERT (they have none yet); the others keep what
        they have and gain what is missing.
        """
        g = self.graph
        contains, managed, depends, parent = (table(g, r) for r in (labels.CONTAINS, labels.MANAGED_BY, labels.DEPENDS_ON, labels.PARENT_OF))
        conn = self.conn
        stack_id = {"stack": str(stack.id)}
        parent_stamp = _stamp("coalesce(pv.tenant, pe.props ->> 'tenantUid')")
        await conn.execute("ANALYZE ingest_vertex (urn)")
        await conn.execute(f"INSERT INTO {contains} (start_id, end_id, properties) SELECT container, gid, {_stamp('tenant')} FROM ingest_vertex WHERE fresh")
        await conn.execute(
            f"INSERT INTO {contains} (start_id, end_id, properties) SELECT container, gid, {_stamp('tenant')} FROM ingest_vertex"
            " WHERE NOT fresh AND NOT own"
            " ON CONFLICT (start_id, end_id) DO NOTHING"
        )
        await conn.execute(
            f"INSERT INTO {managed} (start_id, end_id, properties)"
            f" SELECT gid, %(stack)s::text::ag_catalog.graphid, {_stamp('tenant')} FROM ingest_vertex WHERE fresh",
            stack_id,
        )
        await conn.execute(
            f"INSERT INTO {managed} (start_id, end_id, properties)"
            f" SELECT gid, %(stack)s::text::ag_catalog.graphid, {_stamp('tenant')} FROM ingest_vertex"
            " WHERE NOT fresh AND NOT own ON CONFLICT (start_id, end_id) DO NOTHING",
            stack_id,
        )
        (reused,) = await (await conn.execute("SELECT EXISTS (SELECT 1 FROM ingest_vertex WHERE NOT fresh)")).fetchone()
        if not reused:  # every CI is new: no edge of theirs exists, nothing to compare or replace
            await conn.execute(f"INSERT INTO {depends} (start_id, end_id, properties) SELECT start_id, end_id, {_stamp('tenant')} FROM ({_DEPENDENCIES}) d")
        else:
            await conn.execute(f"INSERT INTO ingest_dep {_DEPENDENCIES}")
            if full:
                await conn.execute(
                    f"DELETE FROM {depends} d USING ingest_vertex v WHERE d.start_id = v.gid AND NOT v.fresh"
                    " AND NOT EXISTS (SELECT 1 FROM ingest_dep x WHERE x.start_id = d.start_id AND x.end_id = d.end_id)"
                )
            await conn.execute(f"INSERT INTO {depends} (start_id, end_id, properties) SELECT start_id, end_id, {_stamp('tenant')} FROM ingest_dep WHERE fresh")
            await conn.execute(
                f"INSERT INTO {depends} (start_id, end_id, properties) SELECT start_id, end_id, {_stamp('tenant')} FROM ingest_dep WHERE NOT fresh"
                " ON CONFLICT (start_id, end_id) DO NOTHING"
            )
        await conn.execute(
            f"INSERT INTO {parent} (start_id, end_id, properties)"
            f" SELECT coalesce(pv.gid, pe.gid), v.gid, {parent_stamp} FROM ingest_stage s JOIN ingest_vertex v ON v.urn = s.urn"
            " LEFT JOIN ingest_vertex pv ON pv.urn = s.parent LEFT JOIN ingest_existing pe ON pe.urn = s.parent"
            " WHERE s.parent IN (SELECT urn FROM ingest_vertex UNION ALL SELECT urn FROM ingest_existing)"
            " ON CONFLICT (start_id, end_id) DO NOTHING"
        )
        await settle(conn, self.inserted, self.tenants)

    def _params(self, label: str, **extra: Any) -> dict[str, Any]:
        return {
            "label": labels.check_label(label), "label_id": self.label_id(label), "sequence": self._sequences[label],
            "graph": self.graph, "topic": labels.topic_of(label), "actor": self.actor, **extra,
        }
