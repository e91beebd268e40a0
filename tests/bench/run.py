"""Skyloom benchmarks: bulk load, reads through GraphQL and change delivery, each against its baseline in the same run.

    .venv/bin/python -m tests.bench.run --sizes 100000,1000000

For every size it creates a database of its own on the project's local PostgreSQL + AGE (dropped
at the end), generates an estate of that many CIs (`data.py`), and measures:

* the bulk loader (`skyloom.graph.bulk`) against a raw COPY of the same rows into plain tables;
* node by id, a ~5k-CI compartment subtree, an impact set and a filtered search page, end to end
  through GraphQL over HTTP against a real `skyloom serve` process, against hand-written SQL
  over the same label tables through psycopg (`queries.py`);
* delivery latency of a committed change to 1,000 graphql-transport-ws subscribers (`subscribers.mjs`).

Nothing is hard-coded: every figure, baseline and ratio below is measured in the run that prints it.
"""

from __future__ import annotations

import argparse
import os
import asyncio
import math
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import psycopg

from skyloom import runtime
from skyloom.deploy.local.cluster import APP_ROLE
from skyloom.graph import bulk
from skyloom.graph.admin import drop_database, ensure_database, with_dbname
from skyloom.graph.migrate import migrate
from skyloom.graph.pool import Database
from skyloom.graph.reads import GraphReader
from skyloom.graph.records import now_iso
from skyloom.graph.store import writing
from skyloom.settings import Settings
from tests.bench import data, queries
from tests.bench.auth import bench_authorization
from tests.conftest import Server, make_token

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
GRAPH = queries.GRAPH
ACTOR = "system:bench"
SUBSCRIPTION = "subscription { ciChanges { eventId id version } }"
_T0 = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - _T0:7.1f}s] {message}", flush=True)


# -- figures ------------------------------------------------------------------------------------
@dataclass
class Row:
    """One line of the final table: a measured figure, its baseline, and the goal it is held to."""

    figure: str
    value: float
    unit: str
    baseline: float | None = None
    goal: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None


@dataclass
class Report:
    size: int
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def print(self) -> None:
        print()
        print(f"== Skyloom benchmark: {self.size:,} CIs ==")
        head = f"{'figure':<54} {'measured':>14} {'baseline':>14} {'ratio':>7}  {'goal':<24} result"
        print(head)
        print("-" * len(head))
        for r in self.rows:
            base = _fmt(r.baseline, r.unit) if r.baseline is not None else "-"
            ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
            verdict = "-" if r.met is None else ("met" if r.met else "NOT MET")
            print(f"{r.figure:<54} {_fmt(r.value, r.unit):>14} {base:>14} {ratio:>7}  {r.goal:<24} {verdict}")
        for note in self.notes:
            print(f"  * {note}")
        print(flush=True)


def _fmt(value: float, unit: str) -> str:
    if unit == "rows/s":
        return f"{value:,.0f}/s"
    return f"{value:.2f} {unit}"


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least p% of the samples at or below it."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# -- database -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BenchDb:
    name: str
    admin_url: str
    app_url: str


def create_database(settings: Settings) -> BenchDb:
    """A database of its own on the local cluster, migrated like the tests' `pg` fixture does it."""
    cluster = runtime.local_cluster(settings)
    cluster.up(say)
    name = f"skyloom_bench_{secrets.token_hex(4)}"
    admin = cluster.admin_url()
    ensure_database(admin, name, APP_ROLE)
    migrate(with_dbname(admin, name), GRAPH, APP_ROLE)
    return BenchDb(name, with_dbname(admin, name), cluster.app_url(name))


def admin_sql(db: BenchDb, *statements: str) -> None:
    with psycopg.connect(db.admin_url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


# -- bulk load ----------------------------------------------------------------------------------
async def copy_baseline(db: BenchDb, estate: data.Estate) -> float:
    """The ceiling: the same vertex and edge rows (same property maps) COPYed into plain, unindexed tables."""
    admin_sql(
        db,
        "CREATE SCHEMA bench_baseline",
        "CREATE TABLE bench_baseline.vertex (id bigint, properties jsonb)",
        "CREATE TABLE bench_baseline.edge (id bigint, start_id bigint, end_id bigint, properties jsonb)",
    )
    stamp = now_iso()
    started = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(db.admin_url) as conn:
        ids: dict[str, int] = {}
        async with conn.cursor().copy("COPY bench_baseline.vertex (id, properties) FROM STDIN") as copy:
            buffer = bytearray()
            for n, v in enumerate(estate.vertices, 1):
                ids[v.uid] = n
                row = {**v.props, "uid": v.uid, "version": 1, "createdAt": stamp, "updatedAt": stamp, "deleted": False, "deletedAt": None}
                buffer += b"%d\t%s\n" % (n, orjson.dumps(row).replace(b"\\", b"\\\\"))
                if len(buffer) > 256 * 1024:
                    await copy.write(buffer)
                    buffer = bytearray()
            await copy.write(buffer)
        async with conn.cursor().copy("COPY bench_baseline.edge (id, start_id, end_id, properties) FROM STDIN") as copy:
            buffer = bytearray()
            for n, e in enumerate(estate.edges, 1):
                buffer += b"%d\t%d\t%d\t{}\n" % (n, ids[e.start], ids[e.end])
                if len(buffer) > 256 * 1024:
                    await copy.write(buffer)
                    buffer = bytearray()
            await copy.write(buffer)
        await conn.commit()
    seconds = time.perf_counter() - started
    admin_sql(db, "DROP SCHEMA bench_baseline CASCADE")
    return seconds


async def bulk_load(db: BenchDb, estate: data.Estate) -> tuple[bulk.BulkResult, float]:
    database = Database(db.app_url, GRAPH, min_size=1, max_size=2)
    await database.open()
    try:
        started = time.perf_counter()
        result = await bulk.load(database, ACTOR, estate.vertices, estate.edges, progress=_every_fifth(say))
        return result, time.perf_counter() - started
    finally:
        await database.close()


def _every_fifth(report: Callable[[str], None]) -> Callable[[str], None]:
    calls = 0

    def progress(message: str) -> None:
        nonlocal calls
        calls += 1
        if calls % 5 == 1:
            report(f"  bulk load: {message}")

    return progress


def bench_load(db: BenchDb, estate: data.Estate, report: Report) -> None:
    rows = len(estate.vertices) + len(estate.edges)
    admin_sql(db, "CHECKPOINT")
    say(f"baseline: COPY {len(estate.vertices):,} vertex and {len(estate.edges):,} edge rows into plain tables")
    baseline = asyncio.run(copy_baseline(db, estate))
    admin_sql(db, "CHECKPOINT")
    say(f"  {baseline:.2f} s; bulk loader: the same rows into the label tables, with history")
    result, seconds = asyncio.run(bulk_load(db, estate))
    assert result.vertex_count + result.edge_count == rows
    say(f"  {seconds:.2f} s ({', '.join(f'{k} {v:.2f}' for k, v in result.seconds.items() if k != 'total')})")
    report.rows.append(Row("bulk load (CIs + edges per second)", rows / seconds, "rows/s", rows / baseline, ">= 0.5 of COPY"))
    report.rows[-1].met = report.rows[-1].ratio >= 0.5
    report.notes.append(
        f"bulk load: {len(estate.vertices):,} vertices + {len(estate.edges):,} edges in {seconds:.1f} s "
        f"(COPY baseline {baseline:.1f} s); phases: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items() if k != "total")
    )
    say("VACUUM ANALYZE of the loaded graph (what autovacuum would do next)")
    started = time.perf_counter()
    admin_sql(db, "VACUUM ANALYZE", "CHECKPOINT")
    report.notes.append(f"VACUUM ANALYZE after the load: {time.perf_counter() - started:.1f} s (not counted in the load rate)")


# -- reads --------------------------------------------------------------------------------------
def gql_call(server: Server, case: queries.Case, probe: str) -> dict:
    response = server.post({"query": case.gql, "variables": case.variables(probe)})
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise SystemExit(f"{case.name}: GraphQL failed: {body}")
    return body["data"]


def bench_reads(server: Server, db: BenchDb, estate: data.Estate, report: Report, iterations: int, explain: bool) -> None:
    probes = {
        queries.NODE: estate.resources,
        queries.SUBTREE: estate.blocks,
        queries.IMPACT: estate.cores,
        queries.SEARCH: estate.tenancies,
    }
    counts = {queries.NODE: 3 * iterations, queries.SUBTREE: iterations, queries.IMPACT: iterations, queries.SEARCH: iterations}
    with psycopg.connect(db.app_url, autocommit=True) as conn:
        queries.register(conn)
        for case, pool in probes.items():
            first = pool[0]
            via_gql = case.gql_answer(gql_call(server, case, first))
            via_sql = case.sql_answer(queries.run_sql(conn, case, first))
            if via_gql != via_sql or not via_gql[1]:
                raise SystemExit(f"{case.name}: GraphQL and SQL disagree on {first}: {via_gql} vs {via_sql}")
            if explain:
                _explain(conn, case, first)
            total = f", total {via_gql[0]:,}" if via_gql[0] is not None else ""
            say(f"{case.name}: {counts[case]} runs each way ({len(via_gql[1])} rows per page{total})")
            gql_ms: list[float] = []
            sql_ms: list[float] = []
            warmup = 20
            for i in range(warmup + counts[case]):
                probe = pool[i % len(pool)]
                t = time.perf_counter()
                gql_call(server, case, probe)
                g = time.perf_counter() - t
                t = time.perf_counter()
                queries.run_sql(conn, case, probe)
                s = time.perf_counter() - t
                if i >= warmup:
                    gql_ms.append(g * 1000)
                    sql_ms.append(s * 1000)
            for p in (50, 95):
                row = Row(f"{case.name} p{p} (GraphQL vs SQL)", percentile(gql_ms, p), "ms", percentile(sql_ms, p), "GraphQL <= 3x SQL")
                row.met = row.ratio <= 3
                report.rows.append(row)
            if case is queries.SUBTREE:
                p50 = percentile(gql_ms, 50)
                goal = "p50 <= 50 ms at 1M CIs"
                report.rows.append(Row(f"{case.name} p50, GraphQL", p50, "ms", None, goal, p50 <= 50 if report.size >= 1_000_000 else None))
                if report.size < 1_000_000:
                    report.notes.append(f"subtree p50 goal applies at 1M CIs; at {report.size:,} it is {p50:.1f} ms")


def _explain(conn: psycopg.Connection, case: queries.Case, probe: str) -> None:
    params = case.params(probe)
    for statement in case.sql:
        plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, params).fetchall()
        print(f"\n-- EXPLAIN ANALYZE: {case.name}\n" + "\n".join(row[0] for row in plan) + "\n", flush=True)


# -- subscriptions ------------------------------------------------------------------------------
async def bench_subscriptions(server: Server, db: BenchDb, estate: data.Estate, report: Report, count: int, rounds: int) -> None:
    say(f"subscriptions: opening {count} graphql-transport-ws clients")
    node = await asyncio.create_subprocess_exec(
        "node", str(HERE / "subscribers.mjs"), server.ws_url, str(count), SUBSCRIPTION, "5000",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=REPO, limit=16 * 1024 * 1024,
        env={**os.environ, "SKYLOOM_TOKEN": server.token or ""},
    )
    database = Database(db.app_url, GRAPH, min_size=1, max_size=2)
    await database.open()
    try:
        ready = await _next_line(node, 120)
        if ready.get("event") != "ready":
            raise SystemExit(f"subscribers failed: {ready}")
        target = (await GraphReader(database).by_uid(estate.resources[0]))
        # Subscriptions register on the server a moment after their socket is acknowledged: commit
        # until one change reaches every subscriber, and only then start measuring.
        for _attempt in range(20):
            _, delivered = await _commit_and_wait(database, target.label, target.uid, node)
            if len(delivered["received"]) == count:
                break
            await asyncio.sleep(0.5)
        else:
            raise SystemExit(f"only {len(delivered['received'])} of {count} subscribers receive changes")
        say(f"  all {count} subscribers receive changes; measuring {rounds} commits")
        latencies: list[float] = []
        for _ in range(rounds):
            issued, delivered = await _commit_and_wait(database, target.label, target.uid, node)
            if len(delivered["received"]) != count:
                raise SystemExit(f"a change reached {len(delivered['received'])} of {count} subscribers")
            latencies.extend(t - issued * 1000 for t in delivered["received"])
            await asyncio.sleep(0.2)
    finally:
        await database.close()
        node.stdin.close()
        try:
            await asyncio.wait_for(node.wait(), 10)
        except TimeoutError:
            node.kill()
            await node.wait()
    p95 = percentile(latencies, 95)
    name = f"delivery to {count:,} subscribers"
    report.rows.append(Row(f"{name} p50", percentile(latencies, 50), "ms"))
    report.rows.append(Row(f"{name} p95", p95, "ms", None, "p95 <= 100 ms", p95 <= 100))
    report.rows.append(Row(f"{name} max", max(latencies), "ms"))
    report.notes.append(
        f"subscriptions: {rounds} commits x {count} subscribers = {len(latencies):,} deliveries; latency from COMMIT "
        "issued (writer transaction in this process) to the message arriving in the client (wall clock, same host)"
    )


async def _commit_and_wait(database: Database, label: str, uid: str, node: asyncio.subprocess.Process) -> tuple[float, dict]:
    """Commit one change through the graph writer; return when it was issued and the subscribers' receipts."""
    async with writing(database, ACTOR) as w:
        vertex = await w.update(label, uid, {"lastSeen": now_iso()})
        issued = time.time()  # leaving the block sends NOTIFY and COMMIT: latency includes both
    version = vertex.props["version"]
    while True:
        line = await _next_line(node, 30)
        if line.get("event") == "error":
            raise SystemExit(f"subscriber error: {line}")
        if line.get("event") == "delivered" and line["id"] == uid and line["version"] == version:
            return issued, line


async def _next_line(proc: asyncio.subprocess.Process, timeout: float) -> dict:
    raw = await asyncio.wait_for(proc.stdout.readline(), timeout)
    if not raw:
        raise SystemExit(f"the subscriber process ended (exit {await proc.wait()})")
    return orjson.loads(raw)


# -- main ---------------------------------------------------------------------------------------
def bench_size(settings: Settings, size: int, args: argparse.Namespace) -> Report:
    report = Report(size)
    say(f"== {size:,} CIs: creating a database of its own")
    db = create_database(settings)
    server = None
    try:
        say("generating the estate")
        estate = data.generate(size, seed=args.seed)
        say(
            f"  {estate.ci_count:,} CIs in {len(estate.tenancies)} client tenancies, {len(estate.blocks)} subtrees of ~5k, "
            f"{len(estate.vertices):,} vertices and {len(estate.edges):,} edges in all"
        )
        bench_load(db, estate, report)
        say(f"starting `skyloom serve --workers {args.workers}`")
        # The installation's root operator: reads see the whole estate, as the SQL baselines do.
        root, _ = make_token(db.app_url, "bench-root", [("provider-operator", "installation", "*")])
        server = Server(db.app_url, args=("--workers", str(args.workers)), token=root)
        bench_reads(server, db, estate, report, args.iterations, args.explain)
        for figure, scoped, unscoped in bench_authorization(db.app_url, estate, args.iterations, args.workers, say, percentile):
            row = Row(f"{figure} p50 (authorised vs no policy)", scoped, "ms", unscoped, "<= 1.5x without policy")
            row.met = row.ratio <= 1.5
            report.rows.append(row)
        if args.subscribers:
            asyncio.run(bench_subscriptions(server, db, estate, report, args.subscribers, args.rounds))
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            say(f"kept database {db.name}")
        else:
            drop_database(with_dbname(db.admin_url, "postgres"), db.name)
    return report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.run",
        description="Skyloom benchmarks: bulk load, GraphQL reads and subscription delivery, each against a baseline measured in the same run.",
    )
    parser.add_argument("--sizes", default="100000", help="comma-separated estate sizes in CIs (default: 100000)")
    parser.add_argument("--iterations", type=int, default=100, help="timed runs per read query and side (node by id: 3x; default 100)")
    parser.add_argument("--subscribers", type=int, default=1000, help="graphql-ws subscribers (0 skips the test; default 1000)")
    parser.add_argument("--rounds", type=int, default=20, help="commits timed in the subscription test (default 20)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated estate")
    parser.add_argument("--workers", type=int, default=1, help="API worker processes (`skyloom serve --workers`; default 1)")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of each baseline SQL statement")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database instead of dropping it")
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes takes comma-separated integers, e.g. 100000,1000000")
    if not args.sizes or min(args.sizes) < 10_000:
        parser.error("sizes must be at least 10000 (room for one complete ~5k compartment subtree)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings.from_env()
    reports = [bench_size(settings, size, args) for size in args.sizes]
    for report in reports:
        report.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
