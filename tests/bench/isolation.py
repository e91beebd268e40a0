"""What tenant isolation costs the API's queries: each mode against one shared graph without
row-level security, on the same data, in one run.

    python -m tests.bench.isolation [--cis 100000] [--repeat 40]

The estate (tests/bench/data.py) is loaded once; the setup assistant's switch then moves it
between modes (each switch verified by counts and checksums), and every query runs `--repeat`
times per mode after a warm-up. The baseline is the shared-graph layout with row-level security
switched off on every table, i.e. what Skyloom did before isolation existed.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import psycopg
from psycopg import sql

from skyloom import runtime
from skyloom.deploy.local.cluster import APP_ROLE
from skyloom.graph import bulk, isolation, labels
from skyloom.graph.admin import drop_database, drop_orphan_tenant_roles, ensure_database, with_dbname
from skyloom.graph.isolation import Mode
from skyloom.graph.migrate import migrate
from skyloom.graph.pool import Database
from skyloom.graph.reads import CiQuery, GraphReader
from skyloom.settings import Settings
from tests.bench import data

GRAPH = "cmdb"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _admin(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, options="-c search_path=ag_catalog,public")


def _switch(admin_url: str, target: Mode) -> float:
    started = time.perf_counter()
    with _admin(admin_url) as conn:   # a connection per switch (AGE's label cache, see set_isolation)
        isolation.switch(conn, target, "bench")
    seconds = time.perf_counter() - started
    with _admin(admin_url) as conn:
        isolation.tidy(conn)   # what `skyloom setup` does after a switch
    return seconds


def _baseline(admin_url: str) -> None:
    """The shared graph without row-level security: the layout before isolation existed."""
    _switch(admin_url, Mode.RLS)
    with _admin(admin_url) as conn:
        for label in [*labels.ci_labels(), *labels.EDGE_LABELS]:
            conn.execute(sql.SQL("ALTER TABLE {} DISABLE ROW LEVEL SECURITY").format(sql.Identifier(GRAPH, label)))


async def _median_ms(work: Callable[[], Awaitable[object]], repeat: int) -> float:
    for _ in range(3):
        await work()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def _measure(
    app_url: str, estate: data.Estate, role: str | None, repeat: int, graphs: bool = False
) -> dict[str, float]:
    """Each query as the API asks it: lists of one tenancy or subtree read the tenant's graph in the graph modes."""
    db = Database(app_url, GRAPH, min_size=1, max_size=2)
    await db.open()
    reader = GraphReader(db)

    def graph_of(tenancy_uid: str) -> str | None:
        return "t_" + estate.owners[tenancy_uid].replace("-", "") if graphs else None

    tenancy = estate.tenancies[len(estate.tenancies) // 2]
    kinds = ("ComputeInstance", "Database", "Volume")
    block, core, resource = estate.blocks[len(estate.blocks) // 2], estate.cores[len(estate.cores) // 2], estate.resources[7]
    subtree = await reader.compartment_subtree(block)
    top = await reader.by_uid(block, "Compartment")
    assert top is not None
    block_tenancy = top.props["tenancyUid"]
    queries: dict[str, Callable[[], Awaitable[object]]] = {
        "provider: page of 100 over every tenant": lambda: reader.search(CiQuery(kinds=kinds), 100),
        "provider: count of every CI": lambda: reader.count(CiQuery()),
        "provider: text search, first 100": lambda: reader.search(CiQuery(text="web"), 100),
        "node by uid": lambda: reader.by_uid(resource),
        "subtree page (~5k CIs)": lambda: reader.search(
            CiQuery(compartment_uids=subtree, tenancy_uid=block_tenancy, tenant_graph=graph_of(block_tenancy)), 100),
        "impact of a core network": lambda: reader.impact(core, 3, 100, None),
        "tenancy page (filtered by the API)": lambda: reader.search(
            CiQuery(tenancy_uid=tenancy, kinds=kinds, tenant_graph=graph_of(tenancy)), 100),
    }
    if role is not None:
        queries["tenant page through the tenant's role"] = lambda: reader.search(
            CiQuery(kinds=kinds, tenant_role=role, tenant_graph=graph_of(tenancy)), 100)
    try:
        return {name: await _median_ms(work, repeat) for name, work in queries.items()}
    finally:
        await db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cis", type=int, default=100_000, help="configuration items in the estate (default 100000)")
    parser.add_argument("--repeat", type=int, default=40, help="timed runs of each query per mode (default 40)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    cluster = runtime.local_cluster(settings)
    cluster.up()
    name = f"skyloom_bench_iso_{secrets.token_hex(3)}"
    ensure_database(cluster.admin_url(), name, APP_ROLE)
    admin_url, app_url = with_dbname(cluster.admin_url(), name), cluster.app_url(name)
    try:
        migrate(admin_url, GRAPH, APP_ROLE)
        estate = data.generate(args.cis, blocks_per_tenancy=1)
        say(f"loading {estate.ci_count:,} CIs in {len(estate.tenancies)} client tenancies of {len(estate.tenants)} tenants")

        async def load() -> None:
            db = Database(app_url, GRAPH, min_size=1, max_size=2)
            await db.open()
            try:
                await bulk.load(db, "system:bench", estate.vertices, estate.edges)
            finally:
                await db.close()

        asyncio.run(load())
        tenant = estate.owners[estate.tenancies[len(estate.tenancies) // 2]]
        role = "skyloom_t_" + tenant.replace("-", "")
        results: dict[str, dict[str, float]] = {}
        say("baseline: one shared graph, row-level security off")
        _baseline(admin_url)
        results["shared graph (baseline)"] = asyncio.run(_measure(app_url, estate, None, args.repeat))
        for mode in (Mode.RLS, Mode.GRAPH, Mode.GRAPH_RLS):
            seconds = _switch(admin_url, mode)
            say(f"{mode.value}: switched in {seconds:.1f} s (counts and checksums equal)")
            results[mode.value] = asyncio.run(
                _measure(app_url, estate, role, args.repeat, graphs=mode in (Mode.GRAPH, Mode.GRAPH_RLS)))
        base = results["shared graph (baseline)"]
        print(f"\nQuery cost per isolation mode, {estate.ci_count:,} CIs, {len(estate.tenants)} tenants; "
              f"median ms of {args.repeat} runs (ratio to the shared graph without RLS)\n")
        modes = list(results)
        print("| query | " + " | ".join(modes) + " |")
        print("| --- |" + " --- |" * len(modes))
        for query in results[modes[-1]]:
            cells = []
            for mode in modes:
                value = results[mode].get(query)
                if value is None:
                    cells.append("—")
                    continue
                reference = base.get(query, base["tenancy page (filtered by the API)"])
                cells.append(f"{value:.2f} ({value / reference:.2f}x)" if mode != modes[0] else f"{value:.2f}")
            print(f"| {query} | " + " | ".join(cells) + " |")
        print("\nThe tenant-role row compares with the baseline's tenancy page filtered by the API.")
    finally:
        drop_database(cluster.admin_url(), name)
        drop_orphan_tenant_roles(cluster.admin_url())
    return 0


if __name__ == "__main__":
    sys.exit(main())
