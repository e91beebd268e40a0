"""Engine events: parsed from the real recordings, applied live while the log is being written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skyloom.ingest import events
from tests.conftest import REPO, Pg, Server, unique
from tests.test_mutations import backend, provider, tenancy, tenant
from tests.test_resilience import own_cluster  # noqa: F401 - a fixture: a database server this test may stop
from tests.test_subscriptions import CHANGES, position

EVENTS = REPO.parent / "shared" / "data" / "pulumi" / "engine-events"
EKS = EVENTS / "aws" / "pulumi-display-up-3-eks.jsonl"


def steps_of(path: Path) -> events.Steps:
    return events.apply(events.Steps(), events.parse_lines(path.read_text(), path.name))


def test_finished_steps_become_resources_in_sequence_order() -> None:
    steps = steps_of(EKS)
    assert (steps.project, steps.stack) == ("eks", "dev")
    assert steps.config == {"aws:region": "us-west-2"}
    assert sorted(r["type"] for r in steps.resources.values() if r.get("custom")) == [
        "aws:ec2/securityGroup:SecurityGroup", "aws:eks/cluster:Cluster", "aws:iam/role:Role",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    ]
    shuffled = list(reversed(EKS.read_text().splitlines()))
    again = events.apply(events.Steps(), events.parse_lines("\n".join(shuffled)))
    assert again.resources == steps.resources and again.last_sequence == steps.last_sequence == 707


def test_unfinished_steps_of_an_interrupted_update_change_nothing() -> None:
    steps = steps_of(EVENTS / "aws" / "pulumi-display-up-interrupted.jsonl")
    assert [r["type"] for r in steps.resources.values()] == ["aws:s3/bucket:Bucket"]


def test_finished_deletes_name_the_urns_to_retire() -> None:
    steps = steps_of(EVENTS / "generic" / "pulumi-display-destroy-with-components.jsonl")
    assert steps.removed == {
        "urn:pulumi:dev::myproject::my:component:Child::mychild",
        "urn:pulumi:dev::myproject::my:component:Component::mycomponent",
    }
    assert list(steps.resources) == ["urn:pulumi:dev::myproject::pulumi:pulumi:Stack::myproject-dev"]


def test_pretty_printed_objects_back_to_back_are_read() -> None:
    lines = [json.loads(line) for line in EKS.read_text().splitlines()[:3]]
    text = "".join(json.dumps(e, indent=2) for e in lines)
    assert [e["sequence"] for e in events.parse_lines(text)] == [e["sequence"] for e in lines]


@pytest.mark.parametrize("bad", ['{"sequence": 1', '[1, 2]', '{"timestamp": 5}', "not json"])
def test_malformed_events_are_refused(bad: str) -> None:
    with pytest.raises(events.EventError):
        events.parse_lines(bad)


def test_a_half_written_line_waits_for_its_end(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    first, second = EKS.read_text().splitlines()[:2]
    log.write_text(first + "\n" + second[:20])
    reader = events.EventLogReader(log)
    batch, offset = reader.read_new()
    assert [e["sequence"] for e in batch] == [17] and offset == len(first) + 1
    reader.offset = offset
    with log.open("a") as fh:
        fh.write(second[20:] + "\n")
    batch, _ = reader.read_new()
    assert [e["sequence"] for e in batch] == [29]


def run_cli(pg: Pg, *args: str, follow: bool = False) -> subprocess.Popen | subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYLOOM_")}
    argv = [sys.executable, "-m", "skyloom.cli", "ingest", "events", *args]
    kwargs = dict(env={**env, "SKYLOOM_DATABASE_URL": pg.app_url}, cwd=REPO, text=True)
    if follow:
        return subprocess.Popen(argv + ["--follow", "--poll", "0.1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)
    return subprocess.run(argv, capture_output=True, timeout=120, **kwargs)


@pytest.fixture
def client(server: Server) -> str:
    p = provider(server)
    tenancy(server, backend(server, p["id"], "AWS")["id"])
    return tenant(server, p["id"])["id"]


def test_live_events_reach_a_subscription_while_the_log_is_written(pg: Pg, server: Server, client: str, subscribe, tmp_path: Path) -> None:
    lines = EKS.read_text().splitlines(keepends=True)
    log = tmp_path / "up.jsonl"
    log.write_text("".join(lines[:6]))  # up to the role's finished step
    org = unique("live")
    follower = run_cli(pg, str(log), "--owner", client, "--organization", org, follow=True)
    try:
        # This client's own tenancy, and the role in it: other tests ingest the same recording.
        owned = "query($id: ID!) { tenant(id: $id) { tenancies { id } } }"
        role = 'query($t: ID!) { cis(filter: {text: "eks-role", kinds: [Identity], tenancyId: $t}) { edges { node { name } } } }'

        def first_batch_applied() -> bool:
            tenancies = server.gql(owned, {"id": client})["tenant"]["tenancies"]
            return bool(tenancies) and bool(server.gql(role, {"t": tenancies[0]["id"]})["cis"]["edges"])

        deadline = time.monotonic() + 30
        while not first_batch_applied() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert first_batch_applied(), "the first batch was not applied"
        sub = subscribe(server.ws_url, CHANGES, {"after": position(server)}, count=4)
        sub.wait_connected()
        with log.open("a") as fh:
            fh.writelines(lines[6:])
        code, got = sub.results()
        assert code == 0, got
        created = [(e["payload"]["data"]["ciChanges"]["operation"], e["payload"]["data"]["ciChanges"]["kind"]) for e in got if e["event"] == "next"]
        assert sorted(created) == [("CREATE", "Identity"), ("CREATE", "Identity"), ("CREATE", "KubernetesCluster"), ("CREATE", "SecurityRule")]
    finally:
        follower.terminate()
        follower.wait(10)
    cluster = server.gql('{ cis(filter: {kinds: [KubernetesCluster], text: "eks-cluster"}) { edges { node { displayKind region tenancy { name } neighbours(types: [DEPENDS_ON]) { node { ... on ConfigurationItem { name } } } } } } }')
    nodes = [e["node"] for e in cluster["cis"]["edges"] if e["node"]["tenancy"]["name"] == "616138583583"]
    assert nodes and nodes[0]["displayKind"] == "Kubernetes Cluster (EKS Cluster)" and nodes[0]["region"] == "us-west-2"


def test_a_second_run_resumes_after_the_last_applied_batch(pg: Pg, client: str, tmp_path: Path) -> None:
    log = tmp_path / "resume.jsonl"
    lines = EKS.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:6]))
    org = unique("resume")
    first = run_cli(pg, str(log), "--owner", client, "--organization", org)
    assert first.returncode == 0 and "1 created" in first.stderr and "1 batch(es) applied" in first.stderr
    again = run_cli(pg, str(log), "--owner", client, "--organization", org)
    assert "0 batch(es) applied" in again.stderr
    with log.open("a") as fh:
        fh.writelines(lines[6:])
    rest = run_cli(pg, str(log), "--owner", client, "--organization", org)
    assert "4 created" in rest.stderr and "1 batch(es) applied" in rest.stderr


def test_a_database_outage_mid_ingest_loses_nothing_and_doubles_nothing(own_cluster, tmp_path: Path) -> None:
    import asyncio

    import psycopg

    from skyloom.deploy.local.cluster import APP_ROLE
    from skyloom.graph.admin import ensure_database, with_dbname
    from skyloom.graph.migrate import migrate
    from tests.bench.ingest import owner_in

    ensure_database(own_cluster.admin_url(), "skyloom", APP_ROLE)
    migrate(with_dbname(own_cluster.admin_url(), "skyloom"), "cmdb", APP_ROLE)
    app_url, admin_url = own_cluster.app_url("skyloom"), with_dbname(own_cluster.admin_url(), "skyloom")
    owner = asyncio.run(owner_in(app_url))

    def counts() -> tuple[int, int]:
        with psycopg.connect(admin_url) as conn:
            conn.execute('SET search_path = ag_catalog, "$user", public')
            # CIs a stack manages, and their 'create' versions (the stack and its tenancy aside).
            (cis,) = conn.execute(
                "SELECT count(*) FROM cmdb._ag_label_vertex WHERE (properties ->> 'stackUid'::text) IS NOT NULL"
            ).fetchone()
            (creates,) = conn.execute(
                "SELECT count(*) FROM skyloom.change_log WHERE operation = 'create' AND label NOT IN ('Stack', 'Tenancy') "
                "AND actor LIKE 'ingest:%'"
            ).fetchone()
        return cis, creates

    def wait_for(expected: tuple[int, int], timeout: float = 60) -> tuple[int, int]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                got = counts()
            except psycopg.OperationalError:
                got = None
            if got == expected or time.monotonic() > deadline:
                return got
            time.sleep(0.2)

    lines = EKS.read_text().splitlines(keepends=True)
    log = tmp_path / "outage.jsonl"
    log.write_text("".join(lines[:6]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYLOOM_")}
    follower = subprocess.Popen(
        [sys.executable, "-m", "skyloom.cli", "ingest", "events", str(log), "--owner", owner, "--follow", "--poll", "0.2"],
        env={**env, "SKYLOOM_DATABASE_URL": app_url, "SKYLOOM_POOL_TIMEOUT_MS": "1000"}, cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for((1, 1)) == (1, 1)  # the role
        own_cluster.down()
        with log.open("a") as fh:
            fh.writelines(lines[6:])
        time.sleep(2)  # the follower reads the batch, fails to apply it, and keeps retrying
        assert follower.poll() is None
        own_cluster.up()
        assert wait_for((5, 5)) == (5, 5)  # every step applied once, none twice
    finally:
        follower.terminate()
        follower.wait(10)

