"""Ingest benchmark: a generated stack export through `skyloom ingest state`, and live engine events.

    python -m tests.bench.ingest [--resources 100000] [--rounds 20]

Prints, measured in one run:
- end-to-end ingest of an export (a real `skyloom ingest state` process: read, translate,
  reconcile, commit) against a raw COPY of the same CI rows and edges into plain tables; and the
  ingest process's peak memory at the full size and at a tenth of it;
- where that ceiling really is for this schema: the same CIs and edges COPYed into the graph's
  own label tables (with their indexes) and change log by the bulk loader, with no ingest work;
- where the ingest's time goes, phase by phase (an in-process run of the same export);
- live events: from a finished step appended to a followed event log to the change arriving at
  a graphql-transport-ws subscriber.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import psycopg

from skyloom.graph import bulk, labels
from skyloom.graph.admin import drop_database, with_dbname
from skyloom.graph.bulk import BulkEdge, BulkVertex
from skyloom.graph.pool import Database
from skyloom.graph.records import ci_properties
from skyloom.graph.store import writing
from skyloom.ingest import reconcile, state, translate
from skyloom.settings import Settings
from tests.bench.run import HERE, REPO, Report, Row, _next_line, create_database, percentile, say
from tests.conftest import Server, make_token

TOKENS = [
    "aws:ec2/instance:Instance", "aws:ec2/subnet:Subnet", "aws:s3/bucket:Bucket", "aws:ec2/securityGroup:SecurityGroup",
    "aws:rds/instance:Instance", "aws:ebs/volume:Volume", "aws:lambda/function:Function", "aws:iam/role:Role",
]
PROVIDER_URN = "urn:pulumi:prod::estate::pulumi:providers:aws::default"


def export(n: int) -> dict:
    """A stack of `n` AWS resources shaped like real exports: ARNs, tags, inputs, dependencies."""
    resources = [{"urn": PROVIDER_URN, "type": "pulumi:providers:aws", "custom": True, "id": "p1", "inputs": {"region": "eu-west-1"}}]
    for i in range(n):
        token = TOKENS[i % len(TOKENS)]
        deps = [f"urn:pulumi:prod::estate::{TOKENS[(i - k) % len(TOKENS)]}::r{i - k}" for k in (1, 7) if i - k >= 0]
        resources.append({
            "urn": f"urn:pulumi:prod::estate::{token}::r{i}", "type": token, "custom": True, "id": f"res-{i:07d}",
            "provider": f"{PROVIDER_URN}::p1", "parent": "urn:pulumi:prod::estate::pulumi:pulumi:Stack::estate-prod",
            "inputs": {"name": f"r{i}", "description": "generated for the ingest benchmark"},
            "outputs": {"arn": f"arn:aws:ec2:eu-west-1:123456789012:thing/res-{i:07d}", "name": f"r{i}",
                        "tags": {"environment": ("production", "staging")[i % 2], "team": f"team-{i % 17}"}},
            "dependencies": deps,
            "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
        })
    return {"version": 3, "deployment": {"manifest": {"time": "2026-01-01T00:00:00Z"}, "resources": resources}}


def copy_baseline(admin_url: str, path: Path) -> tuple[float, int]:
    """Raw COPY of the same CI property maps and dependency edges into plain, unindexed tables."""
    translation = translate.translate(state.load(path))
    rows = [orjson.dumps({"urn": r.urn, "name": r.name, "kind": r.kind, "tags": r.tags, "attributes": r.attributes}) for r in translation.records]
    index = {r.urn: i for i, r in enumerate(translation.records)}
    edges = [(index[r.urn], index[d]) for r in translation.records for d in r.depends_on]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        # Ordinary (logged) tables, like the graph's: a temporary table would skip the WAL.
        conn.execute("CREATE TABLE public.bench_copy_ci (id bigint, properties jsonb)")
        conn.execute("CREATE TABLE public.bench_copy_edge (start_id bigint, end_id bigint)")
        try:
            started = time.perf_counter()
            with conn.transaction():
                with conn.cursor().copy("COPY public.bench_copy_ci (id, properties) FROM STDIN") as cp:
                    for i, row in enumerate(rows):
                        cp.write_row((i, row.decode()))
                with conn.cursor().copy("COPY public.bench_copy_edge (start_id, end_id) FROM STDIN") as cp:
                    for edge in edges:
                        cp.write_row(edge)
            return time.perf_counter() - started, len(rows) + len(edges)
        finally:
            conn.execute("DROP TABLE public.bench_copy_ci, public.bench_copy_edge")


async def graph_copy(app_url: str, path: Path) -> float:
    """The same CIs (same property maps) and edges COPYed into the graph's label tables by `graph.bulk`.

    Every index of the label tables and the change log is maintained; nothing is read, matched,
    placed or audited. No ingest can be faster than this on this schema.
    """
    translation = translate.translate(state.load(path))
    account = BulkVertex("Tenancy", {"kind": "Tenancy", "name": "bench-floor", "provider": "aws", "parentUid": None, "tags": {}})
    stack = BulkVertex("Stack", {"name": "bench-floor/estate/prod", "displayName": "floor", "parentUid": None})
    cis = {
        r.urn: BulkVertex(r.kind, ci_properties(
            r.kind, r.name, r.cloud or "", r.placement.region, r.tags, nativeType=r.token, nativeId=r.native_id, urn=r.urn,
            attributes=r.attributes, external=r.external, stackUid=stack.uid, parentUid=account.uid,
            tenancyUid=account.uid, compartmentUid=None))
        for r in translation.records
    }
    edges = [e for r in translation.records for e in (
        BulkEdge(labels.CONTAINS, account.uid, cis[r.urn].uid), BulkEdge(labels.MANAGED_BY, cis[r.urn].uid, stack.uid),
        *(BulkEdge(labels.DEPENDS_ON, cis[r.urn].uid, cis[d].uid) for d in sorted(r.depends_on)))]
    db = Database(app_url, "cmdb", min_size=1, max_size=1)
    await db.open()
    try:
        started = time.perf_counter()
        await bulk.load(db, "system:bench", [account, stack, *cis.values()], edges)
        return time.perf_counter() - started
    finally:
        await db.close()


async def phases(app_url: str, path: Path, owner: str) -> reconcile.ReconcileResult:
    """The same ingest in this process, for its time per phase."""
    db = Database(app_url, "cmdb", min_size=1, max_size=2)
    await db.open()
    try:
        return await reconcile.apply_state(db, state.load(path), owner=owner, actor="ingest:bench", organization="bench-phases")
    finally:
        await db.close()


def run_ingest(app_url: str, path: Path, owner: str, organization: str, workdir: Path) -> tuple[float, int, str]:
    """The real CLI in its own process: wall time, peak resident memory (KiB) and what it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYLOOM_")} | {"SKYLOOM_DATABASE_URL": app_url}
    printed = workdir / f"{organization}.log"
    started = time.perf_counter()
    with printed.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "skyloom.cli", "ingest", "state", str(path), "--owner", owner, "--organization", organization],
            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=sink,
        )
        _, status, usage = os.wait4(proc.pid, 0)  # the kernel's own accounting of this one child
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"ingest failed: {printed.read_text()}")
    return elapsed, usage.ru_maxrss, printed.read_text()


async def owner_in(app_url: str) -> str:
    db = Database(app_url, "cmdb", min_size=1, max_size=1)
    await db.open()
    try:
        async with writing(db, "system:bench") as w:
            provider = await w.create("Provider", {"name": "bench", "displayName": "Bench", "parentUid": None})
            backend = await w.create("CloudBackend", {"name": "bench-aws", "displayName": "Bench AWS", "cloud": "aws", "parentUid": provider.uid})
            await w.create("Tenancy", {"kind": "Tenancy", "name": "bench-root", "provider": "aws", "isRoot": True, "parentUid": backend.uid, "backendUid": backend.uid, "tags": {}})
            tenant = await w.create("Tenant", {"name": "bench-client", "displayName": "Bench client", "parentUid": provider.uid})
        return tenant.uid
    finally:
        await db.close()


def write_export(n: int, path: str) -> None:
    Path(path).write_bytes(orjson.dumps(export(n)))


def bench_export(app_url: str, admin_url: str, owner: str, n: int, report: Report, workdir: Path) -> None:
    # Linux carries a process's peak memory across fork and exec: the ingest processes are started
    # while this one is still small, and the exports are written by a process of their own.
    small, full = workdir / "small.json", workdir / "full.json"
    for size, path in ((n // 10, small), (n, full)):
        subprocess.run([sys.executable, "-c", f"from tests.bench.ingest import write_export; write_export({size}, {str(path)!r})"],
                       check=True, cwd=REPO)
    say(f"export of {n:,} resources: {full.stat().st_size / 2**20:.1f} MiB; `skyloom ingest state` at a tenth, then in full")
    _, small_peak, _ = run_ingest(app_url, small, owner, "bench-small", workdir)
    seconds, peak, printed = run_ingest(app_url, full, owner, "bench-full", workdir)
    say("raw COPY baseline of the same rows")
    copy_seconds, copy_rows = copy_baseline(admin_url, full)
    rate, baseline = copy_rows / seconds, copy_rows / copy_seconds
    report.rows.append(Row("export ingest, end to end (CIs + edges per second)", rate, "rows/s", baseline, ">= 0.3 of COPY", rate / baseline >= 0.3))
    say("the same CIs and edges COPYed into the graph's indexed label tables (bulk loader)")
    floor_seconds = asyncio.run(graph_copy(app_url, full))
    report.rows.append(Row("COPY into the graph's label tables + change log (no ingest)", copy_rows / floor_seconds, "rows/s", baseline))
    report.rows.append(Row("export ingest against that graph COPY", rate, "rows/s", copy_rows / floor_seconds))
    say("the same ingest in process, for its phases")
    result = asyncio.run(phases(app_url, full, owner))
    report.notes.append("ingest phases (s): " + ", ".join(f"{k} {v:.2f}" for k, v in result.seconds.items()))
    report.rows.append(Row(f"peak memory of the ingest process, {n // 10:,} resources", small_peak / 1024, "MiB"))
    report.rows.append(Row(f"peak memory of the ingest process, {n:,} resources", peak / 1024, "MiB", None, "bounded (same as 1/10)", peak < small_peak * 1.5))
    report.notes.append(f"ingest of {n:,} resources took {seconds:.1f} s end to end; it printed: {printed.strip().splitlines()[-2].strip()}")


async def bench_live(app_url: str, owner: str, rounds: int, report: Report, workdir: Path) -> None:
    log = workdir / "live.jsonl"
    log.write_text(json.dumps({"sequence": 1, "timestamp": 0, "preludeEvent": {"config": {"aws:region": "eu-west-1"}}}) + "\n")
    root, _ = await asyncio.to_thread(make_token, app_url, "bench-live-root", [("provider-operator", "installation", "*")])
    server = Server(app_url, token=root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYLOOM_")} | {"SKYLOOM_DATABASE_URL": app_url}
    follower = subprocess.Popen(
        [sys.executable, "-m", "skyloom.cli", "ingest", "events", str(log), "--owner", owner, "--organization", "bench-live", "--follow"],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    node = await asyncio.create_subprocess_exec(
        "node", str(HERE / "subscribers.mjs"), server.ws_url, "1", "subscription { ciChanges { eventId id version } }", "2000",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=REPO, env={**os.environ, "SKYLOOM_TOKEN": root},
    )
    latencies: list[float] = []
    try:
        if (await _next_line(node, 60)).get("event") != "ready":
            raise SystemExit("the subscriber did not connect")
        await asyncio.sleep(1.0)  # the follower has read the prelude and waits for the log to grow
        sequence = 10
        for i in range(rounds + 3):
            urn = f"urn:pulumi:prod::live::aws:s3/bucket:Bucket::live-{i}"
            new = {"type": "aws:s3/bucket:Bucket", "urn": urn, "custom": True, "id": f"live-{i}",
                   "outputs": {"arn": f"arn:aws:s3:eu-west-1:123456789012:live-{i}"}}
            step = {"metadata": {"op": "create", "urn": urn, "type": new["type"], "old": None, "new": new}}
            lines = [{"sequence": sequence, "timestamp": 0, "resourcePreEvent": step}, {"sequence": sequence + 1, "timestamp": 0, "resOutputsEvent": step}]
            sequence += 2
            written = time.time()
            with log.open("a") as fh:
                fh.write("".join(json.dumps(line) + "\n" for line in lines))
            while True:
                line = await _next_line(node, 30)
                if line.get("event") == "delivered":
                    break
            if i >= 3:  # the first rounds also create the account's tenancy; not what is measured
                latencies.append(line["received"][0] - written * 1000)
            await asyncio.sleep(0.1)
    finally:
        node.stdin.close()
        await node.wait()
        follower.terminate()
        follower.wait(10)
        server.stop()
    p95 = percentile(latencies, 95)
    report.rows.append(Row("live event -> subscriber p50", percentile(latencies, 50), "ms"))
    report.rows.append(Row("live event -> subscriber p95", p95, "ms", None, "p95 <= 250 ms", p95 <= 250))
    report.notes.append(f"live: {len(latencies)} finished steps appended to a followed event log; latency from the append to the subscriber's message")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=100_000, help="resources in the generated export (default 100000)")
    parser.add_argument("--rounds", type=int, default=20, help="live events timed (default 20)")
    parser.add_argument("--skip-live", action="store_true", help="only the export ingest, not the live events")
    args = parser.parse_args(argv)
    if args.resources < 1000:
        parser.error("--resources must be at least 1000")
    report = Report(args.resources)
    db = create_database(Settings.from_env())
    try:
        owner = asyncio.run(owner_in(db.app_url))
        with tempfile.TemporaryDirectory() as tmp:
            bench_export(db.app_url, db.admin_url, owner, args.resources, report, Path(tmp))
            if not args.skip_live:
                asyncio.run(bench_live(db.app_url, owner, args.rounds, report, Path(tmp)))
    finally:
        drop_database(with_dbname(db.admin_url, "postgres"), db.name)
    report.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
