"""Huge stack exports: streamed through `skyloom ingest state` in memory that does not grow with the stack.

Memory is measured, not time: the ingest runs in a process of its own, which reports the peak
resident size of its own address space (VmHWM, which unlike rusage is not inherited from the
test process across fork and exec). The tens of thousands of CIs go into a database of this
module's own, so that they cannot show up in other tests' searches.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from skyloom import runtime
from skyloom.deploy.local.cluster import APP_ROLE
from skyloom.graph.admin import drop_database, ensure_database, with_dbname
from skyloom.graph.migrate import migrate
from skyloom.graph.pool import Database
from skyloom.graph.store import writing
from skyloom.settings import Settings
from tests.conftest import GRAPH, REPO, Pg, unique

MIB = 1024 * 1024
TOKENS = ["aws:ec2/instance:Instance", "aws:ec2/subnet:Subnet", "aws:s3/bucket:Bucket", "aws:rds/instance:Instance"]
PROVIDER = "urn:pulumi:prod::huge::pulumi:providers:aws::default"

# Run the CLI as `python -m skyloom.cli`, then report this address space's peak resident size.
MEASURED = (
    "import runpy, sys\n"
    "sys.argv = ['skyloom'] + sys.argv[1:]\n"
    "try:\n"
    "    runpy.run_module('skyloom.cli', run_name='__main__')\n"
    "finally:\n"
    "    peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
    "    print(f'peak-kib {peak}', file=sys.stderr)\n"
)


@pytest.fixture(scope="module")
def pg(settings: Settings) -> Iterator[Pg]:
    """A database of this module's own (same server, same migrations as the session's)."""
    cluster = runtime.local_cluster(settings)
    cluster.up()
    name = f"skyloom_test_huge_{secrets.token_hex(4)}"
    admin = cluster.admin_url()
    ensure_database(admin, name, APP_ROLE)
    migrate(with_dbname(admin, name), GRAPH, APP_ROLE)
    yield Pg(name, with_dbname(admin, name), cluster.app_url(name))
    drop_database(admin, name)


def export(n: int, *, skip: int = -1, retag: int = -1) -> dict:
    """`n` AWS resources with ARNs, tags, padding that a real state carries, and dependencies that
    point both backwards and forwards in the file (so edges can only be made once all CIs exist)."""
    resources = [{"urn": PROVIDER, "type": "pulumi:providers:aws", "custom": True, "id": "p1", "inputs": {"region": "eu-west-1"}}]
    for i in range(n):
        if i == skip:
            continue
        token = TOKENS[i % len(TOKENS)]
        deps = [f"urn:pulumi:prod::huge::{TOKENS[j % len(TOKENS)]}::r{j}" for j in (i - 1, i + 3) if 0 <= j < n and j != skip]
        resources.append({
            "urn": f"urn:pulumi:prod::huge::{token}::r{i}", "type": token, "custom": True, "id": f"id-{i:07d}",
            "provider": f"{PROVIDER}::p1",
            "inputs": {"name": f"r{i}", "userData": "x" * 2048},  # too long to be an id: read, then dropped
            "outputs": {"arn": f"arn:aws:ec2:eu-west-1:345678901234:thing/id-{i:07d}",
                        "tags": {"index": str(i), "env": "staging" if i == retag else "prod"}},
            "dependencies": deps,
        })
    return {"version": 3, "deployment": {"resources": resources}}


def ingest(pg: Pg, path: Path, owner: str, organization: str) -> tuple[str, int]:
    """What the CLI printed, and its peak resident memory in bytes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYLOOM_")} | {"SKYLOOM_DATABASE_URL": pg.app_url}
    done = subprocess.run(
        [sys.executable, "-c", MEASURED, "ingest", "state", str(path), "--owner", owner, "--organization", organization],
        env=env, capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    [peak] = [int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("peak-kib ")]
    return done.stderr, peak * 1024


def owner(pg: Pg) -> str:
    """A tenant under a provider with an AWS backend and its root tenancy."""

    async def make() -> str:
        db = Database(pg.app_url, GRAPH, min_size=1, max_size=1)
        await db.open()
        try:
            async with writing(db, "system:tests") as w:
                provider = await w.create("Provider", {"name": unique("p"), "displayName": "P", "parentUid": None})
                backend = await w.create("CloudBackend", {"name": unique("aws"), "displayName": "AWS", "cloud": "aws", "parentUid": provider.uid})
                await w.create("Tenancy", {"kind": "Tenancy", "name": unique("root"), "provider": "aws", "isRoot": True,
                                           "parentUid": backend.uid, "backendUid": backend.uid, "tags": {}})
                tenant = await w.create("Tenant", {"name": unique("t"), "displayName": "T", "parentUid": provider.uid})
            return tenant.uid
        finally:
            await db.close()

    return asyncio.run(make())


def count(pg: Pg, sql: str, *params: object) -> int:
    with psycopg.connect(pg.admin_url) as conn:
        conn.execute('SET search_path = ag_catalog, "$user", public')
        return conn.execute(sql, params).fetchone()[0]


def test_a_tenfold_export_takes_no_more_memory_and_reconciles_exactly(pg: Pg, tmp_path: Path) -> None:
    # Given a stack export of 2,000 resources and one of 20,000 (about 60 MB)
    client = owner(pg)
    small, large = tmp_path / "small.json", tmp_path / "large.json"
    small.write_text(json.dumps(export(2_000)))
    large.write_text(json.dumps(export(20_000)))
    assert large.stat().st_size > 40 * MIB

    # When each is ingested in a process of its own
    small_out, small_peak = ingest(pg, small, client, unique("small"))
    large_out, large_peak = ingest(pg, large, client, unique("large"))

    # Then the tenfold stack does not take tenfold memory: the reader, the translator and the
    # writer hold a chunk at a time (holding all records took ~3.7 KB per resource, ~70 MiB here)
    assert "2000 created, 0 updated, 0 unchanged, 0 retired" in small_out
    assert "20000 created, 0 updated, 0 unchanged, 0 retired" in large_out
    assert large_peak < small_peak + 20 * MIB, (small_peak / MIB, large_peak / MIB)


def test_a_huge_export_reingested_changes_exactly_what_changed(pg: Pg, tmp_path: Path) -> None:
    # Given a stack of 6,000 resources (three staging chunks) already ingested
    client, org = owner(pg), unique("huge")
    first = tmp_path / "first.json"
    first.write_text(json.dumps(export(6_000)))
    out, _ = ingest(pg, first, client, org)
    assert "6000 created" in out
    stack_uid = f"{org}/huge/prod"
    edges = count(
        pg, "SELECT count(*) FROM cmdb.\"DEPENDS_ON\" d JOIN cmdb._ag_label_vertex v ON v.id = d.start_id"
        " WHERE (v.properties ->> 'urn'::text) LIKE 'urn:pulumi:prod::huge::%%' AND (v.properties ->> 'stackUid'::text) ="
        " (SELECT properties ->> 'uid'::text FROM cmdb.\"Stack\" WHERE (properties ->> 'name'::text) = %s)", stack_uid)
    assert edges == 6_000 - 1 + 6_000 - 3  # r(i) -> r(i-1) and r(i) -> r(i+3), the latter further down the file

    # When it is exported again with one resource gone and one retagged
    second = tmp_path / "second.json"
    second.write_text(json.dumps(export(6_000, skip=4_321, retag=17)))
    out, _ = ingest(pg, second, client, org)

    # Then one CI changed (a new version), one retired, the rest were only seen again
    assert "0 created, 1 updated, 5998 unchanged, 1 retired" in out, out
    assert count(pg, "SELECT count(*) FROM skyloom.change_log WHERE (after ->> 'urn') LIKE %s AND operation = 'update'",
                 "urn:pulumi:prod::huge::%::r17") == 1
    gone = "urn:pulumi:prod::huge::aws:ec2/subnet:Subnet::r4321"
    assert count(pg, "SELECT count(*) FROM skyloom.change_log WHERE (after ->> 'urn') = %s AND operation = 'delete'"
                 " AND (after ->> 'stackUid') = (SELECT properties ->> 'uid'::text FROM cmdb.\"Stack\""
                 " WHERE (properties ->> 'name'::text) = %s)", gone, stack_uid) == 1
