"""Tenant isolation on the real database, in every mode the release offers.

Each mode gets a database of its own holding two tenants' CIs. A tenant's database role then
tries, through SQL and through Cypher, to read, create, update, delete and re-stamp (move into
the other tenant) the other tenant's rows; every attempt must come back empty or refused, and
the other tenant's rows must be exactly as they were. The setup assistant's switch between modes
must keep every CI and edge, and refuse (changing nothing) when it cannot.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

from skyloom import runtime
from skyloom.deploy.local.cluster import APP_ROLE
from skyloom.graph import identity, isolation, labels
from skyloom.graph.admin import drop_database, drop_orphan_tenant_roles, ensure_database, with_dbname
from skyloom.graph.isolation import IsolationError, Mode
from skyloom.graph.migrate import migrate
from skyloom.graph.pool import Database
from skyloom.graph.reads import CiQuery, GraphReader
from skyloom.graph.records import Vertex, ci_properties
from skyloom.graph.scope import ScopeReader
from skyloom.graph.store import writing
from skyloom.policy.actor import Actor, Binding
from skyloom.resolvers.access import Access
from skyloom.settings import Settings
from tests.conftest import GRAPH, REPO, Server

ACTOR = "system:isolation-test"
MODES = [m for m in Mode if m.offered]


@dataclass
class Side:
    """One tenant's share: its tenant vertex, tenancy, compartment and two CIs (one depends on the other)."""

    tenant: Vertex
    tenancy: Vertex
    compartment: Vertex
    network: Vertex
    instance: Vertex

    @property
    def role(self) -> str:
        return "skyloom_t_" + self.tenant.uid.replace("-", "")

    @property
    def graph(self) -> str:
        return "t_" + self.tenant.uid.replace("-", "")


@dataclass
class World:
    mode: Mode
    admin_url: str
    app_url: str
    a: Side
    b: Side
    root: Vertex


async def _side(db: Database, provider: Vertex, root: Vertex, name: str) -> Side:
    async with writing(db, ACTOR) as w:
        tenant = await w.create("Tenant", {"name": name, "displayName": name, "parentUid": provider.uid})
        await w.relate(labels.CONTAINS, provider, tenant)
        tenancy = await w.create("Tenancy", ci_properties(
            "Tenancy", f"{name}-account", "aws", "eu-west-1", isRoot=False, parentUid=root.uid,
            backendUid=root.props["backendUid"], ownerUid=tenant.uid))
        await w.relate(labels.CONTAINS, root, tenancy)
        await w.relate(labels.OWNS, tenant, tenancy)
        compartment = await w.create("Compartment", ci_properties(
            "Compartment", "apps", "aws", None, parentUid=tenancy.uid, tenancyUid=tenancy.uid))
        await w.relate(labels.CONTAINS, tenancy, compartment)
        inside = {"parentUid": compartment.uid, "tenancyUid": tenancy.uid, "compartmentUid": compartment.uid}
        network = await w.create("Network", ci_properties("Network", f"{name}-vpc", "aws", "eu-west-1", **inside))
        instance = await w.create("ComputeInstance", ci_properties("ComputeInstance", f"{name}-web", "aws", "eu-west-1", **inside))
        for ci in (network, instance):
            await w.relate(labels.CONTAINS, compartment, ci)
        await w.relate(labels.DEPENDS_ON, instance, network)
    return Side(tenant, tenancy, compartment, network, instance)


@asynccontextmanager
async def _opened(app_url: str) -> AsyncIterator[Database]:
    """A small pool on the API's role, for the writer and reader code the API runs."""
    db = Database(app_url, GRAPH, min_size=1, max_size=2)
    await db.open()
    try:
        yield db
    finally:
        await db.close()


async def _populate(app_url: str) -> tuple[Side, Side, Vertex]:
    async with _opened(app_url) as db:
        async with writing(db, ACTOR) as w:
            provider = await w.create("Provider", {"name": "acme-cloud", "displayName": "Acme"})
            backend = await w.create("CloudBackend", {"name": "aws-main", "displayName": "AWS", "cloud": "aws",
                                                      "parentUid": provider.uid})
            root = await w.create("Tenancy", ci_properties("Tenancy", "root-org", "aws", None, isRoot=True,
                                                           parentUid=backend.uid, backendUid=backend.uid))
        a = await _side(db, provider, root, "alpha")
        b = await _side(db, provider, root, "bravo")
    return a, b, root


@pytest.fixture(scope="module", params=MODES, ids=[m.value for m in MODES])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    settings = Settings.from_env()
    cluster = runtime.local_cluster(settings)
    cluster.up()
    name = f"skyloom_iso_{secrets.token_hex(4)}"
    admin = cluster.admin_url()
    ensure_database(admin, name, APP_ROLE)
    admin_url = with_dbname(admin, name)
    migrate(admin_url, GRAPH, APP_ROLE)
    mode: Mode = request.param
    with psycopg.connect(admin_url, autocommit=True) as conn:
        isolation.switch(conn, mode, "test")
    a, b, root = asyncio.run(_populate(cluster.app_url(name)))
    yield World(mode, admin_url, cluster.app_url(name), a, b, root)
    drop_database(admin, name)
    drop_orphan_tenant_roles(admin)


# -- helpers --------------------------------------------------------------------------------------
def _admin(world: World) -> psycopg.Connection:
    """The database owner, with AGE's operators in reach."""
    return psycopg.connect(world.admin_url, autocommit=True, options="-c search_path=ag_catalog,public")


def _snapshot(world: World, side: Side) -> list[tuple]:
    """Every row stamped with `side`'s tenant, as the owner sees it (vertices and edges, wherever stored)."""
    with _admin(world) as conn:
        conn.execute('SET search_path = ag_catalog, "$user", public')
        rows = conn.execute(
            sql.SQL("SELECT 'v', id::text, ag_catalog.agtype_out(properties)::text FROM {} WHERE (properties ->> 'tenantUid'::text) = %s"
                    " UNION ALL SELECT 'e', id::text, start_id::text || '>' || end_id::text || ag_catalog.agtype_out(properties)::text FROM {}"
                    " WHERE (properties ->> 'tenantUid'::text) = %s ORDER BY 1, 2").format(
                sql.Identifier(GRAPH, "_ag_label_vertex"), sql.Identifier(GRAPH, "_ag_label_edge")),
            (side.tenant.uid, side.tenant.uid),
        ).fetchall()
    assert rows, "the snapshot must hold the tenant's rows"
    return rows


def _as_tenant(world: World, side: Side, statement: str, params: tuple = ()) -> list[tuple] | Exception:
    """Run one statement as `side`'s tenant role (the API's role switching to it, as the API does)."""
    with psycopg.connect(world.app_url) as conn:
        conn.execute('SET search_path = ag_catalog, "$user", public')
        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(side.role)))
        try:
            cur = conn.execute(statement, params)
            rows = cur.fetchall() if cur.description else []
            conn.commit()
            return rows
        except psycopg.Error as exc:
            conn.rollback()
            return exc


def _refused_or_empty(result: list[tuple] | Exception) -> None:
    assert isinstance(result, Exception) or result == [], f"expected nothing or a refusal, got {result!r}"


def _cypher(graph: str, text: str) -> str:
    return f"SELECT * FROM ag_catalog.cypher('{graph}', $$ {text} $$) AS (r ag_catalog.agtype)"


def _target_graphs(world: World, side: Side) -> list[str]:
    """Where `side`'s rows could be reached: the installation graph and, in the graph modes, its own."""
    return [GRAPH, side.graph] if world.mode in (Mode.GRAPH, Mode.GRAPH_RLS) else [GRAPH]


def _lookup(world: World, uids: list[str]) -> dict[str, Vertex]:
    """Vertices by uid alone, as the API's `node` finds them (through `vertex_home` where they settled)."""
    async def run() -> dict[str, Vertex]:
        async with _opened(world.app_url) as db:
            return await GraphReader(db).by_uids(uids)

    return asyncio.run(run())


def _all_uids(world: World) -> list[str]:
    return [v.uid for side in (world.a, world.b) for v in (side.tenant, side.tenancy, side.compartment, side.network, side.instance)]


# -- layout -----------------------------------------------------------------------------------------
def test_rows_live_where_the_mode_puts_them(world: World) -> None:
    """Each tenant's CIs in its own graph (graph modes) or the shared one (rls); the provider's own stay shared, unstamped."""
    with _admin(world) as conn:
        rows = conn.execute(
            sql.SQL("SELECT tableoid::regclass::text, agtype_out(properties)::text FROM {}").format(
                sql.Identifier(GRAPH, "_ag_label_vertex"))
        ).fetchall()
    for side in (world.a, world.b):
        schemas = {table.split(".")[0] for table, props in rows if f'"tenantUid": "{side.tenant.uid}"' in props}
        assert schemas == ({side.graph} if world.mode in (Mode.GRAPH, Mode.GRAPH_RLS) else {GRAPH})
    assert any(table.startswith(GRAPH + ".") and '"isRoot": true' in props and '"tenantUid": null' in props
               for table, props in rows)


def test_provider_reads_every_tenant_through_the_installation_graph(world: World) -> None:
    async def read() -> int:
        async with _opened(world.app_url) as db:
            return await GraphReader(db).count(CiQuery(kinds=("ComputeInstance",)))

    assert asyncio.run(read()) == 2
    with psycopg.connect(world.app_url, autocommit=True) as conn:
        names = conn.execute(_cypher(GRAPH, "MATCH (n:ComputeInstance) RETURN n.name")).fetchall()
    assert sorted(r[0] for r in names) == ['"alpha-web"', '"bravo-web"']


# -- a tenant's role against the other tenant ------------------------------------------------------
def test_tenant_reads_see_only_their_own_rows(world: World) -> None:
    before = _snapshot(world, world.b)
    for graph in _target_graphs(world, world.b):
        _refused_or_empty(_as_tenant(world, world.a, sql.SQL("SELECT ag_catalog.agtype_out(properties)::text FROM {} WHERE (properties ->> 'tenantUid'::text) = %s")
                                     .format(sql.Identifier(graph, "ComputeInstance")).as_string(None), (world.b.tenant.uid,)))
        _refused_or_empty(_as_tenant(world, world.a, _cypher(graph, f"MATCH (n:ComputeInstance {{tenantUid: '{world.b.tenant.uid}'}}) RETURN n")))
        _refused_or_empty(_as_tenant(world, world.a, _cypher(graph, "MATCH ()-[e:DEPENDS_ON]->() WHERE e.tenantUid <> '"
                                                              + world.a.tenant.uid + "' RETURN e")))
    # The panel's own tables are out of reach in every mode.
    assert isinstance(_as_tenant(world, world.a, f'SELECT count(*) FROM {GRAPH}."Tenant"'), Exception)
    # What a tenant may see of its own share, it does see.
    own_graph = world.a.graph if world.mode in (Mode.GRAPH, Mode.GRAPH_RLS) else GRAPH
    mine = _as_tenant(world, world.a, f'SELECT properties ->> \'name\'::text FROM {own_graph}."ComputeInstance"')
    assert mine == [("alpha-web",)]
    assert _snapshot(world, world.b) == before


@pytest.mark.parametrize("how", ["sql", "cypher"])
def test_tenant_cannot_create_rows_for_another_tenant(world: World, how: str) -> None:
    before = _snapshot(world, world.b)
    forged = f'{{"name": "planted", "tenantUid": "{world.b.tenant.uid}", "deleted": false}}'
    for graph in [*_target_graphs(world, world.a), *_target_graphs(world, world.b)]:
        if how == "sql":
            result = _as_tenant(world, world.a, f'INSERT INTO {graph}."ComputeInstance" (properties) VALUES (%s::ag_catalog.agtype) RETURNING id',
                                (forged,))
        else:
            result = _as_tenant(world, world.a, _cypher(graph, f"CREATE (n:ComputeInstance {{name: 'planted', tenantUid: '{world.b.tenant.uid}'}}) RETURN n"))
        assert isinstance(result, Exception), f"a forged row was written into {graph}: {result!r}"
    assert _snapshot(world, world.b) == before


@pytest.mark.parametrize("how", ["sql", "cypher"])
def test_tenant_cannot_change_or_delete_another_tenants_rows(world: World, how: str) -> None:
    before = _snapshot(world, world.b)
    victim = world.b.instance.uid
    for graph in _target_graphs(world, world.a) + _target_graphs(world, world.b):
        if how == "sql":
            statements = [
                f"UPDATE {graph}.\"ComputeInstance\" SET properties = '{{\"name\": \"pwned\"}}'::ag_catalog.agtype"
                f" WHERE (properties ->> 'uid'::text) = '{victim}' RETURNING id",
                f"DELETE FROM {graph}.\"ComputeInstance\" WHERE (properties ->> 'uid'::text) = '{victim}' RETURNING id",
                f"DELETE FROM {graph}.\"DEPENDS_ON\" WHERE (properties ->> 'tenantUid'::text) = '{world.b.tenant.uid}' RETURNING id",
            ]
        else:
            statements = [
                _cypher(graph, f"MATCH (n:ComputeInstance {{uid: '{victim}'}}) SET n.name = 'pwned' RETURN n"),
                _cypher(graph, f"MATCH (n:ComputeInstance {{uid: '{victim}'}}) DETACH DELETE n RETURN 1"),
                _cypher(graph, f"MATCH ()-[e:DEPENDS_ON {{tenantUid: '{world.b.tenant.uid}'}}]->() DELETE e RETURN 1"),
            ]
        for statement in statements:
            _refused_or_empty(_as_tenant(world, world.a, statement))
    assert _snapshot(world, world.b) == before


@pytest.mark.parametrize("how", ["sql", "cypher"])
def test_tenant_cannot_move_its_rows_into_another_tenant(world: World, how: str) -> None:
    before_a, before_b = _snapshot(world, world.a), _snapshot(world, world.b)
    mine = world.a.network.uid
    own_graph = world.a.graph if world.mode in (Mode.GRAPH, Mode.GRAPH_RLS) else GRAPH
    if how == "sql":
        statement = (f"UPDATE {own_graph}.\"Network\" SET properties = ('{{\"uid\": \"{mine}\", \"tenantUid\": "
                     f"\"{world.b.tenant.uid}\"}}')::ag_catalog.agtype WHERE (properties ->> 'uid'::text) = '{mine}' RETURNING id")
    else:
        statement = _cypher(own_graph, f"MATCH (n:Network {{uid: '{mine}'}}) SET n.tenantUid = '{world.b.tenant.uid}' RETURN n")
    result = _as_tenant(world, world.a, statement)
    assert isinstance(result, Exception), f"a row was moved into another tenant: {result!r}"
    assert (_snapshot(world, world.a), _snapshot(world, world.b)) == (before_a, before_b)


def test_concurrent_writers_of_two_tenants_never_see_each_other(world: World) -> None:
    """Two tenants write and read at once, each through its own role: each sees exactly its own rows."""
    own = {side.tenant.uid: (side.graph if world.mode in (Mode.GRAPH, Mode.GRAPH_RLS) else GRAPH) for side in (world.a, world.b)}

    async def tenant_loop(side: Side, rounds: int) -> list[set[str]]:
        seen: list[set[str]] = []
        async with await psycopg.AsyncConnection.connect(world.app_url) as conn:
            await conn.execute('SET search_path = ag_catalog, "$user", public')
            for i in range(rounds):
                async with conn.transaction():
                    await conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(side.role)))
                    await conn.execute(
                        sql.SQL("INSERT INTO {} (properties) VALUES (%s::ag_catalog.agtype)").format(
                            sql.Identifier(own[side.tenant.uid], "ObjectStore")),
                        (f'{{"name": "b{i}", "tenantUid": "{side.tenant.uid}", "tenancyUid": "{side.tenancy.uid}",'
                         f' "deleted": false}}',),
                    )
                    cur = await conn.execute(sql.SQL("SELECT DISTINCT properties ->> 'tenantUid'::text FROM {}").format(
                        sql.Identifier(own[side.tenant.uid], "ObjectStore")))
                    seen.append({r[0] for r in await cur.fetchall()})
                await asyncio.sleep(0)
        return seen

    async def both() -> tuple[list[set[str]], list[set[str]]]:
        return await asyncio.gather(tenant_loop(world.a, 25), tenant_loop(world.b, 25))

    seen_a, seen_b = asyncio.run(both())
    assert all(s == {world.a.tenant.uid} for s in seen_a)
    assert all(s == {world.b.tenant.uid} for s in seen_b)


def test_api_reads_as_the_tenant_role(world: World) -> None:
    """The search path the API takes for a tenant-bound caller: the database itself keeps the other tenant out."""
    graph_mode = world.mode in (Mode.GRAPH, Mode.GRAPH_RLS)

    async def read(side: Side, in_own_graph: bool, scoped_to: Side | None = None) -> list[str]:
        async with _opened(world.app_url) as db:
            query = CiQuery(kinds=("ComputeInstance", "Network"), tenant_role=side.role,
                            tenant_graph=side.graph if in_own_graph else None,
                            tenancy_uid=scoped_to.tenancy.uid if scoped_to else None)
            page = await GraphReader(db).search(query, 50)
            return sorted(v.props["name"] for v in page.items)

    for side, own in ((world.a, ["alpha-vpc", "alpha-web"]), (world.b, ["bravo-vpc", "bravo-web"])):
        assert asyncio.run(read(side, graph_mode)) == own
    # Even a query that asks for the other tenant's tenancy by name gets nothing back.
    assert asyncio.run(read(world.a, graph_mode, scoped_to=world.b)) == []
    if world.mode is Mode.GRAPH:
        # No row-level security: a tenant role may not read the installation graph at all.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            asyncio.run(read(world.a, False))


def test_who_reads_through_a_tenant_role(world: World) -> None:
    """Only a caller whose every grant lies inside their own tenant; provider staff and mixed grants read as the API."""
    async def decide(actor: Actor) -> tuple[str, str | None] | None:
        async with _opened(world.app_url) as db:
            return await Access(None, ScopeReader(db), actor).read_as()  # type: ignore[arg-type]

    a, b = world.a.tenant.uid, world.b.tenant.uid
    expected = (world.a.role, world.a.graph if world.mode in (Mode.GRAPH, Mode.GRAPH_RLS) else None)
    admin = Actor("user:a-admin", "user", home_tenant=a, bindings=(Binding("tenant-admin", "tenant", a),))
    assert asyncio.run(decide(admin)) == expected
    operator = Actor("user:op", "user", bindings=(Binding("provider-operator", "installation", "*"),))
    assert asyncio.run(decide(operator)) is None
    straddling = Actor("user:both", "user", home_tenant=a,
                       bindings=(Binding("tenant-admin", "tenant", a), Binding("auditor", "tenant", b)))
    assert asyncio.run(decide(straddling)) is None
    homeless = Actor("user:none", "user", bindings=(Binding("tenant-admin", "tenant", a),))
    assert asyncio.run(decide(homeless)) is None


# -- moving a tenancy between tenants (provider) ---------------------------------------------------
def test_moving_a_tenancy_restamps_and_relocates_everything_in_it(world: World) -> None:
    async def move(owner: Vertex) -> None:
        async with _opened(world.app_url) as db:
            async with writing(db, ACTOR) as w:
                await w.update("Tenancy", world.a.tenancy.uid, {"ownerUid": owner.uid})

    ids_before = {row[1] for row in _snapshot(world, world.a)}
    asyncio.run(move(world.b.tenant))
    try:
        found = _lookup(world, [world.a.instance.uid, world.a.tenancy.uid])
        assert {v.props["tenantUid"] for v in found.values()} == {world.b.tenant.uid} and len(found) == 2
        moved = {row[1] for row in _snapshot(world, world.b)}
        assert ids_before <= moved, "every row of the tenancy keeps its id and now carries the new stamp"
        with _admin(world) as conn:
            left = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE (properties ->> 'tenantUid'::text) = %s").format(
                    sql.Identifier(GRAPH, "_ag_label_vertex")), (world.a.tenant.uid,)).fetchone()[0]
            assert left == 0
            if world.mode in (Mode.GRAPH, Mode.GRAPH_RLS):
                schemas = {r[0] for r in conn.execute(
                    sql.SQL("SELECT DISTINCT tableoid::regclass::text FROM {} WHERE (properties ->> 'tenancyUid'::text) = %s"
                            " OR (properties ->> 'uid'::text) = %s").format(sql.Identifier(GRAPH, "_ag_label_vertex")),
                    (world.a.tenancy.uid, world.a.tenancy.uid)).fetchall()}
                assert {s.split(".")[0] for s in schemas} == {world.b.graph}
            # The edge between the two CIs survived the move.
            deps = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE start_id = %s::text::ag_catalog.graphid AND end_id = %s::text::ag_catalog.graphid")
                .format(sql.Identifier(GRAPH, "DEPENDS_ON")), (str(world.a.instance.id), str(world.a.network.id))).fetchone()[0]
            assert deps == 1
    finally:
        asyncio.run(move(world.a.tenant))
    assert {row[1] for row in _snapshot(world, world.a)} == ids_before


# -- the setup assistant ---------------------------------------------------------------------------
def test_switching_through_every_mode_keeps_every_ci_and_edge(world: World) -> None:
    with _admin(world) as conn:
        start = isolation.sums(conn, GRAPH)
    snapshot = (_snapshot(world, world.a), _snapshot(world, world.b))
    for target in [*[m for m in MODES if m is not world.mode], world.mode]:
        # A connection per switch: AGE's per-session label cache does not survive graphs being
        # dropped and made again under it (the setup command is one process per switch).
        with _admin(world) as conn:
            after = isolation.switch(conn, target, "test")
        assert after == start, f"rows changed switching to {target.value}"
        with _admin(world) as conn:
            assert isolation.state(conn).mode is target
            assert isolation.sums(conn, GRAPH) == start
        assert (_snapshot(world, world.a), _snapshot(world, world.b)) == snapshot
        found = _lookup(world, _all_uids(world))
        assert sorted(found) == sorted(_all_uids(world)) and all(v.uid in found for v in (world.a.instance, world.b.instance))
    assert sum(s.rows for s in start.values()) > 0


def test_a_writer_waits_for_a_switch_under_way_then_places_by_the_new_mode(world: World) -> None:
    """A write that commits while a switch is moving the data must land where the new mode wants it."""
    other = next(m for m in MODES if m is not world.mode)
    name = f"secret-{secrets.token_hex(3)}"

    async def write() -> None:
        async with _opened(world.app_url) as db:
            async with writing(db, ACTOR) as w:
                await w.create("Secret", ci_properties("Secret", name, "aws", "eu-west-1", parentUid=world.a.compartment.uid,
                                                       tenancyUid=world.a.tenancy.uid, compartmentUid=world.a.compartment.uid))

    with _admin(world) as switcher:
        with switcher.transaction():
            switcher.execute("SELECT skyloom.set_isolation(%s, 'test')", (other.value,))
            writer = threading.Thread(target=lambda: asyncio.run(write()))
            writer.start()
            waiting = 0
            for _ in range(300):   # until the writer waits for the switch (its tables' locks, or `settle`'s)
                switcher.execute("SELECT pg_stat_clear_snapshot()")   # activity is otherwise read once per transaction
                (waiting,) = switcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'").fetchone()
                if waiting:
                    break
                time.sleep(0.05)
            assert waiting == 1 and writer.is_alive()
        writer.join(60)
    assert not writer.is_alive()
    try:
        with _admin(world) as conn:
            (where,) = conn.execute(
                sql.SQL("SELECT tableoid::regclass::text FROM {} WHERE (properties ->> 'name'::text) = %s").format(
                    sql.Identifier(GRAPH, "Secret")), (name,)).fetchone()
        assert where.split(".")[0] == (world.a.graph if other in (Mode.GRAPH, Mode.GRAPH_RLS) else GRAPH)
    finally:
        with _admin(world) as conn:
            isolation.switch(conn, world.mode, "test")


def test_the_database_per_tenant_mode_is_refused_and_changes_nothing(world: World) -> None:
    with _admin(world) as conn:
        conn.execute('SET search_path = ag_catalog, "$user", public')
        before = isolation.sums(conn, GRAPH)
        with pytest.raises(IsolationError, match="not offered"):
            isolation.switch(conn, Mode.DATABASE, "test")
        with pytest.raises(psycopg.errors.RaiseException, match="not offered"):
            conn.execute("SELECT skyloom.set_isolation('database', 'test')")
        assert isolation.state(conn).mode is world.mode
        assert isolation.sums(conn, GRAPH) == before
        assert conn.execute("SELECT count(*) FROM skyloom.audit_entry WHERE detail ->> 'to' = 'database'").fetchone()[0] == 0


def test_a_switch_that_would_lose_rows_is_rolled_back(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison is what guards a switch: make the 'after' count disagree and nothing may change."""
    with _admin(world) as conn:
        conn.execute('SET search_path = ag_catalog, "$user", public')
        before = isolation.sums(conn, GRAPH)
        real = isolation.sums
        calls = []

        def lossy(c: psycopg.Connection, graph: str) -> dict[str, isolation.LabelSum]:
            found = real(c, graph)
            calls.append(1)
            if len(calls) == 2:   # the count after the move
                found["ComputeInstance"] = isolation.LabelSum(found["ComputeInstance"].rows - 1, 0)
            return found

        monkeypatch.setattr(isolation, "sums", lossy)
        other = next(m for m in MODES if m is not world.mode)
        with pytest.raises(IsolationError, match="ComputeInstance: 2 rows before, 1 after"):
            isolation.switch(conn, other, "test")
        monkeypatch.setattr(isolation, "sums", real)
        assert isolation.state(conn).mode is world.mode
        assert isolation.sums(conn, GRAPH) == before


def test_setup_command_checks_plans_and_applies(world: World) -> None:
    env = {"SKYLOOM_DATABASE_URL": world.app_url, "SKYLOOM_ADMIN_DATABASE_URL": world.admin_url, "PATH": "/usr/bin:/bin"}
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "skyloom.cli", "setup", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    checked = run("--check")
    assert checked.returncode == 0, checked.stderr
    assert f"Current mode: {world.mode.value}" in checked.stderr
    assert "yes  API role is neither superuser nor an owner" in checked.stderr
    other = next(m for m in MODES if m is not world.mode)
    dry = run("--mode", other.value, "--dry-run")
    assert dry.returncode == 0 and "Dry run: nothing was changed." in dry.stderr
    no_terminal = run()
    assert no_terminal.returncode == 2 and "--mode" in no_terminal.stderr
    refused = run("--mode", "database", "--yes")
    assert refused.returncode == 2 and "not offered" in refused.stderr
    with _admin(world) as conn:
        assert isolation.state(conn).mode is world.mode
    for target in (other, world.mode):
        applied = run("--mode", target.value, "--yes")
        assert applied.returncode == 0, applied.stderr
        assert f"Mode {target.value}:" in applied.stderr and "verified by count and checksum" in applied.stderr
    with _admin(world) as conn:
        assert isolation.state(conn).mode is world.mode
    with _admin(world) as conn:
        trail = conn.execute(
            "SELECT actor, priority, detail ->> 'from', detail ->> 'to' FROM skyloom.audit_entry"
            " WHERE type = 'isolation.changed' ORDER BY id DESC LIMIT 2").fetchall()
    assert [row[2:] for row in trail] == [(other.value, world.mode.value), (world.mode.value, other.value)]
    assert all(row[0].startswith("skyloom setup (") and row[1] == "notice" for row in trail)


# -- through the API ---------------------------------------------------------------------------------
def _service_token(world: World, side: Side | None) -> str:
    """A service account at home in `side`'s tenant, tenant admin there (so its lists read through the
    tenant role); with no side, a provider operator of the whole installation."""
    async def make() -> str:
        async with _opened(world.app_url) as db:
            account = await identity.create_service_account(db, f"iso-{secrets.token_hex(3)}", "system:tests",
                                                            home_tenant=side.tenant.uid if side else None)
            if side is None:
                await identity.create_binding(db, "service", account.id, "provider-operator", "installation", "*", "system:tests")
            else:
                await identity.create_binding(db, "service", account.id, "tenant-admin", "tenant", side.tenant.uid, "system:tests")
            token, _ = await identity.create_api_token(db, account.id, "isolation test", "system:tests")
            return token

    return asyncio.run(make())


def test_a_tenant_admin_cannot_reach_the_other_tenant_through_the_api(world: World) -> None:
    token = _service_token(world, world.a)
    before_a, before_b = _snapshot(world, world.a), _snapshot(world, world.b)
    server = Server(world.app_url, token=token)
    try:
        def ask(query: str, variables: dict | None = None) -> dict:
            body = server.http.post("/graphql", json={"query": query, "variables": variables or {}}).json()
            assert not body.get("errors"), body
            return body["data"]

        listed = ask("{ cis(filter: {kinds: [ComputeInstance, Network, Compartment]}, first: 100) { edges { node { name } } } }")
        assert sorted(e["node"]["name"] for e in listed["cis"]["edges"]) == ["alpha-vpc", "alpha-web", "apps"]
        theirs = ask("query($t: ID!) { cis(filter: {tenancyId: $t}, first: 100) { edges { node { name } } } }",
                     {"t": world.b.tenancy.uid})
        assert theirs["cis"]["edges"] == []
        for vertex in (world.b.instance, world.b.compartment, world.b.tenancy, world.b.tenant):
            assert ask("query($id: ID!) { node(id: $id) { id } }", {"id": vertex.uid}) == {"node": None}
        result = "__typename ... on Problem { code }"
        update = ask(f"mutation($i: CompartmentUpdateInput!) {{ compartmentUpdate(input: $i) {{ {result} }} }}",
                     {"i": {"id": world.b.compartment.uid, "name": "taken"}})
        assert update["compartmentUpdate"]["code"] == "NOT_FOUND"
        create = ask(f'mutation($p: ID!) {{ compartmentCreate(input: {{parentId: $p, name: "planted"}}) {{ {result} }} }}',
                     {"p": world.b.tenancy.uid})
        assert create["compartmentCreate"]["code"] == "NOT_FOUND"
        delete = ask(f"mutation($id: ID!) {{ compartmentDelete(id: $id) {{ {result} }} }}", {"id": world.b.compartment.uid})
        assert delete["compartmentDelete"]["code"] == "NOT_FOUND"
        move = ask(f"mutation($i: TenancyUpdateInput!) {{ tenancyUpdate(input: $i) {{ {result} }} }}",
                   {"i": {"id": world.a.tenancy.uid, "ownerId": world.b.tenant.uid}})
        assert move["tenancyUpdate"]["code"] == "NOT_FOUND"   # the other tenant does not exist for them
    finally:
        server.stop()
    assert (_snapshot(world, world.a), _snapshot(world, world.b)) == (before_a, before_b)


def test_provider_lists_of_one_tenancy_see_exactly_its_cis(world: World) -> None:
    """A provider's list filtered to one tenancy (or one compartment's subtree) reads the tenancy's tenant graph alone."""
    server = Server(world.app_url, token=_service_token(world, None))
    try:
        def names(query: str, variables: dict) -> list[str]:
            body = server.http.post("/graphql", json={"query": query, "variables": variables}).json()
            assert not body.get("errors"), body
            return sorted(e["node"]["name"] for e in body["data"]["items"]["edges"])

        # (Kinds named: the concurrency test above wrote bare ObjectStore rows straight into the tables.)
        by_tenancy = ("query($t: ID!) { items: cis(filter: {tenancyId: $t, kinds: [Tenancy, Compartment, Network,"
                      " ComputeInstance]}, first: 100) { edges { node { name } } } }")
        assert names(by_tenancy, {"t": world.a.tenancy.uid}) == ["alpha-vpc", "alpha-web", "apps"]
        assert names(by_tenancy, {"t": world.b.tenancy.uid}) == ["apps", "bravo-vpc", "bravo-web"]
        subtree = "query($c: ID!) { compartment(id: $c) { items: descendants(first: 100) { edges { node { name } } } } }"
        body = server.http.post("/graphql", json={"query": subtree, "variables": {"c": world.b.compartment.uid}}).json()
        assert not body.get("errors"), body
        assert sorted(e["node"]["name"] for e in body["data"]["compartment"]["items"]["edges"]) == ["bravo-vpc", "bravo-web"]
    finally:
        server.stop()
