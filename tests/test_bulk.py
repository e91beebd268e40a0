"""The bulk loader on the real database: what it writes must read back exactly like writer-made data, or not at all."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from skyloom.graph import bulk, labels
from skyloom.graph.bulk import BulkEdge, BulkLoadError, BulkVertex
from skyloom.graph.pool import Database
from skyloom.graph.reads import CiQuery, GraphReader
from skyloom.graph.store import CHANNEL, writing
from tests.conftest import GRAPH, Pg, unique

ACTOR = "system:bulk-test"


@pytest.fixture(scope="module")
async def db(pg: Pg) -> AsyncIterator[Database]:
    database = Database(pg.app_url, GRAPH, min_size=1, max_size=4)
    await database.open()
    yield database
    await database.close()


def new_uid() -> str:
    return str(uuid.uuid4())


def ci(kind: str, name: str, tenancy: str | None, parent: str, compartment: str | None, **extra: Any) -> dict[str, Any]:
    """The CI fields `skyloom.demo.ci_props` fills, with fixed timestamps so that expectations are exact."""
    return {
        "kind": kind,
        "name": name,
        "provider": "aws",
        "providerTerm": None,
        "region": "eu-central-1",
        "tags": {"environment": "production"},
        "firstSeen": "2024-05-01T10:00:00.000000+00:00",
        "lastSeen": "2024-05-01T10:00:00.000000+00:00",
        "parentUid": parent,
        "tenancyUid": tenancy,
        "compartmentUid": compartment,
        **extra,
    }


class Tree:
    """Given: a client tenancy under a stored root tenancy, three compartments (one nested), five resources.

    Dependencies (a -> b: a DEPENDS_ON b): subnet -> vpc, web -> subnet, fn -> subnet, lb -> web;
    so what depends on the VPC is the subnet (1 hop), web and fn (2), lb (3). The session database
    is shared with the demo-data tests, whose searches expect to be alone with some kinds and
    clouds (e.g. every Database): the tree keeps to kinds and names those searches do not count.
    """

    def __init__(self, root_uid: str) -> None:
        self.name = unique("bulk-tenancy")
        self.root = root_uid
        self.tenancy = new_uid()
        self.apps, self.web_tier, self.data = new_uid(), new_uid(), new_uid()
        self.vpc, self.subnet, self.web, self.fn, self.lb = (new_uid() for _ in range(5))
        t = self.tenancy
        self.vertices = [
            BulkVertex("Tenancy", ci("Tenancy", self.name, None, root_uid, None, isRoot=False), uid=t),
            BulkVertex("Compartment", ci("Compartment", "apps", t, t, None), uid=self.apps),
            BulkVertex("Compartment", ci("Compartment", "web-tier", t, self.apps, self.apps), uid=self.web_tier),
            BulkVertex("Compartment", ci("Compartment", "data", t, t, None), uid=self.data),
            BulkVertex("Network", ci("Network", "vpc", t, self.apps, self.apps, urn=f"urn:{self.name}::vpc"), uid=self.vpc),
            BulkVertex("Subnet", ci("Subnet", "subnet-a", t, self.web_tier, self.web_tier), uid=self.subnet),
            BulkVertex("ComputeInstance", ci("ComputeInstance", "web-1", t, self.web_tier, self.web_tier), uid=self.web),
            BulkVertex("Function", ci("Function", "orders", t, self.data, self.data), uid=self.fn),
            BulkVertex(
                "LoadBalancer",
                ci("LoadBalancer", "front", t, self.web_tier, self.web_tier, tags={"environment": "staging"}),
                uid=self.lb,
            ),
        ]
        contains = [
            (root_uid, t), (t, self.apps), (self.apps, self.web_tier), (t, self.data), (self.apps, self.vpc),
            (self.web_tier, self.subnet), (self.web_tier, self.web), (self.data, self.fn), (self.web_tier, self.lb),
        ]
        depends = [(self.subnet, self.vpc), (self.web, self.subnet), (self.fn, self.subnet), (self.lb, self.web)]
        self.edges = [BulkEdge(labels.CONTAINS, a, b) for a, b in contains] + [
            BulkEdge(labels.DEPENDS_ON, a, b, {"reason": 'needs "route\\table"'}) for a, b in depends
        ]


async def stored_root(db: Database) -> str:
    """A root tenancy made by the ordinary writer: bulk edges may point at what is already stored."""
    async with writing(db, ACTOR) as w:
        root = await w.create("Tenancy", ci("Tenancy", unique("bulk-root"), None, new_uid(), None, isRoot=True))
    return root.uid


async def row_counts(db: Database) -> dict[str, int]:
    async with db.connection() as conn:
        cur = await conn.execute(
            f'SELECT (SELECT count(*) FROM {GRAPH}._ag_label_vertex), (SELECT count(*) FROM {GRAPH}._ag_label_edge),'
            " (SELECT count(*) FROM skyloom.change_log)"
        )
        vertices, edges, changes = await cur.fetchone()
    return {"vertices": vertices, "edges": edges, "change_log": changes}


async def test_bulk_load_reads_back_exactly(db: Database, pg: Pg) -> None:
    tree = Tree(await stored_root(db))
    reader = GraphReader(db)
    before = await row_counts(db)
    async with await psycopg.AsyncConnection.connect(pg.app_url, autocommit=True) as listener:
        await listener.execute(f"LISTEN {CHANNEL}")

        result = await bulk.load(db, ACTOR, tree.vertices, tree.edges, chunk_size=4)

        notes = [n.payload async for n in listener.notifies(timeout=1.0)]

    # Counts per label and relation, and nothing else in the graph.
    assert result.vertices == {
        "Tenancy": 1, "Compartment": 3, "Network": 1, "Subnet": 1, "ComputeInstance": 1, "Function": 1, "LoadBalancer": 1,
    }
    assert result.edges == {"CONTAINS": 9, "DEPENDS_ON": 4}
    assert await row_counts(db) == {
        "vertices": before["vertices"] + 9, "edges": before["edges"] + 13, "change_log": before["change_log"] + 9,
    }

    # Graphids carry the label's id in their top 16 bits, and the reader agrees on both.
    found = await reader.by_uids([v.uid for v in tree.vertices])
    for v in tree.vertices:
        gid = result.graphids[v.uid]
        assert gid >> 48 == db.label_id(v.label)
        assert db.label_of(gid) == v.label
        assert (found[v.uid].id, found[v.uid].label) == (gid, v.label)

    # The stored map is the input plus what the writer manages, with one instant for the load.
    web = found[tree.web].props
    assert web == {
        **ci("ComputeInstance", "web-1", tree.tenancy, tree.web_tier, tree.web_tier),
        "uid": tree.web, "version": 1, "createdAt": web["createdAt"], "updatedAt": web["createdAt"],
        "deleted": False, "deletedAt": None, "tenantUid": None,  # no owner: the provider's own
    }
    assert {v.props["createdAt"] for v in found.values()} == {web["createdAt"]}

    # Search, subtree and impact see exactly the loaded tree.
    assert await reader.count(CiQuery(tenancy_uid=tree.tenancy)) == 8
    assert await reader.count(CiQuery(tenancy_uid=tree.tenancy, kinds=("Compartment",))) == 3
    assert await reader.count(CiQuery(tenancy_uid=tree.tenancy, tags=(("environment", "staging"),))) == 1
    page = await reader.search(CiQuery(tenancy_uid=tree.tenancy, text="WEB"), first=10)
    assert [v.props["name"] for v in page.items] == ["web-tier", "web-1"]
    assert set(await reader.compartment_subtree(tree.apps)) == {tree.apps, tree.web_tier}
    gid = result.graphids
    page, total, more = await reader.impact(tree.vpc, 3, first=10, after=None)
    assert [(v.id, d) for d, v in page] == sorted(
        [(gid[tree.subnet], 1), (gid[tree.web], 2), (gid[tree.fn], 2), (gid[tree.lb], 3)], key=lambda r: (r[1], r[0])
    )
    assert (total, more) == (4, False)
    page, total, more = await reader.impact(tree.vpc, 1, first=10, after=None)
    assert [(v.id, d) for d, v in page] == [(gid[tree.subnet], 1)] and total == 1

    # Edges: the stored root contains the new tenancy; edge properties survive COPY escaping.
    root_id = (await reader.by_uid(tree.root)).id
    out = await reader.neighbours([root_id], (labels.CONTAINS,), outgoing=True, incoming=False, per_node=10)
    assert [(rel, o, v.uid) for rel, o, v in out[root_id]] == [("CONTAINS", True, tree.tenancy)]
    async with db.connection() as conn:
        cur = await conn.execute(
            f"SELECT properties FROM {GRAPH}.\"DEPENDS_ON\" WHERE start_id = %s::text::graphid", (str(gid[tree.lb]),)
        )
        assert await cur.fetchall() == [({"reason": 'needs "route\\table"'},)]

    # History: one 'create' version per vertex, all from one transaction, announced by one NOTIFY.
    histories = await reader.histories([v.uid for v in tree.vertices], 10, None)
    for v in tree.vertices:
        changes, more = histories[v.uid]
        assert not more
        [change] = changes
        assert (change.operation, change.version, change.actor, change.label, change.uid) == ("create", 1, ACTOR, v.label, v.uid)
        assert change.topic == ("tenancy" if v.label == "Tenancy" else "ci")
        assert change.tenancy_uid == tree.tenancy  # a tenancy's own changes are filed under itself
        assert change.before is None
        assert change.after == found[v.uid].props
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT DISTINCT graph || ':' || tx::text FROM skyloom.change_log WHERE uid = ANY(%s::uuid[])",
            ([v.uid for v in tree.vertices],),
        )
        txs = [row[0] for row in await cur.fetchall()]
    assert notes == txs and len(txs) == 1


def _edge_to_nowhere(tree: Tree) -> tuple[list, list]:
    return tree.vertices, tree.edges + [BulkEdge(labels.DEPENDS_ON, tree.web, "00000000-0000-4000-8000-00000000abcd")]


def _unknown_label(tree: Tree) -> tuple[list, list]:
    return tree.vertices + [BulkVertex("Widget", {"name": "w"})], tree.edges


def _unknown_relation(tree: Tree) -> tuple[list, list]:
    return tree.vertices, tree.edges + [BulkEdge("LIKES", tree.web, tree.fn)]


def _uid_twice(tree: Tree) -> tuple[list, list]:
    return tree.vertices + [BulkVertex("Volume", {"name": "disk", "kind": "Volume"}, uid=tree.web)], tree.edges


def _uid_not_canonical(tree: Tree) -> tuple[list, list]:
    return tree.vertices + [BulkVertex("Volume", {"name": "disk"}, uid=new_uid().upper())], tree.edges


def _kind_is_not_label(tree: Tree) -> tuple[list, list]:
    return tree.vertices + [BulkVertex("Volume", {"name": "disk", "kind": "Database"})], tree.edges


def _uid_already_stored(tree: Tree) -> tuple[list, list]:
    return tree.vertices + [BulkVertex("Tenancy", {"name": "again", "kind": "Tenancy"}, uid=tree.root)], tree.edges


def _duplicate_edge(tree: Tree) -> tuple[list, list]:
    return tree.vertices, tree.edges + [BulkEdge(labels.DEPENDS_ON, tree.web, tree.subnet)]


@pytest.mark.parametrize(
    ("malformed", "message"),
    [
        (_edge_to_nowhere, "found neither in this load nor in the graph: 00000000-0000-4000-8000-00000000abcd$"),
        (_unknown_label, "'Widget' is not a Skyloom vertex label"),
        (_unknown_relation, "'LIKES' is not a Skyloom edge label"),
        (_uid_twice, "appears twice in the input"),
        (_uid_not_canonical, "is not a lower-case UUID"),
        (_kind_is_not_label, "the label is the kind"),
        # Under row-level security PostgreSQL names the violated index but not the key's value.
        (_uid_already_stored, r"duplicate .*unique constraint \"Tenancy_uid\""),
        (_duplicate_edge, r"duplicate .*unique constraint \"DEPENDS_ON_pair\""),
    ],
)
async def test_malformed_input_raises_and_writes_nothing(db: Database, pg: Pg, malformed, message: str) -> None:
    # Given a valid tree with one bad item at its end, in small chunks so that earlier chunks are written first.
    tree = Tree(await stored_root(db))
    vertices, edges = malformed(tree)
    before = await row_counts(db)
    async with await psycopg.AsyncConnection.connect(pg.app_url, autocommit=True) as listener:
        await listener.execute(f"LISTEN {CHANNEL}")

        with pytest.raises(BulkLoadError, match=message):
            await bulk.load(db, ACTOR, vertices, edges, chunk_size=3)

        notes = [n.payload async for n in listener.notifies(timeout=0.3)]
    assert await row_counts(db) == before
    assert await GraphReader(db).by_uid(tree.tenancy) is None
    assert notes == []


async def test_loads_in_parallel_with_writers_get_distinct_ids(db: Database) -> None:
    """Ids come from the label's own sequence, so the writer's inserts and a bulk load never collide."""
    root = await stored_root(db)

    async def writer_creates() -> list[int]:
        made = []
        for i in range(10):
            async with writing(db, ACTOR) as w:
                made.append((await w.create("Network", ci("Network", f"w-{i}", None, root, None))).id)
        return made

    vertices = [BulkVertex("Network", ci("Network", f"b-{i}", None, root, None)) for i in range(200)]
    results = await asyncio.gather(writer_creates(), bulk.load(db, ACTOR, vertices, [], chunk_size=10))
    written, loaded = results[0], results[1].graphids.values()
    assert len(set(written) | set(loaded)) == 210
    assert {gid >> 48 for gid in (*written, *loaded)} == {db.label_id("Network")}
