"""Polling Pulumi Cloud through the CLI: every changed stack of an organization, paged, checkpointed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import psycopg
import pytest

from tests.clients.fake_pulumi_cloud import FakeCloud
from tests.conftest import REPO, Pg, Server, unique
from tests.test_ingest_translate import STATES
from tests.test_mutations import backend, provider, tenancy, tenant

TOKEN = "pul-poll-token"
GCP = [p for p in STATES if p.parent.name == "gcp"]


@pytest.fixture(scope="module")
def cloud() -> Iterator[str]:
    with FakeCloud.serving(TOKEN) as url:
        yield url


def poll(pg: Pg, cloud: str, org: str, owner: str, token: str = TOKEN) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYLOOM_")}
    env |= {"SKYLOOM_DATABASE_URL": pg.app_url, "SKYLOOM_PULUMI_API_URL": cloud, "SKYLOOM_PULUMI_ACCESS_TOKEN": token}
    return subprocess.run(
        [sys.executable, "-m", "skyloom.cli", "ingest", "cloud", "--organization", org, "--owner", owner],
        env=env, capture_output=True, text=True, timeout=120, cwd=REPO,
    )


def test_changed_stacks_are_exported_and_applied_once(pg: Pg, server: Server, cloud: str) -> None:
    org = unique("cloudorg")
    for i, path in enumerate(GCP):
        FakeCloud.add_stack(org, f"proj-{i}", "prod", path.read_bytes(), last_update=100)
    p = provider(server)
    tenancy(server, backend(server, p["id"], "GCP")["id"])
    owner = tenant(server, p["id"])["id"]

    FakeCloud.updates[f"/api/stacks/{org}/proj-0/prod/updates"] = {
        "updates": [
            {"info": {"kind": "refresh", "result": "succeeded", "version": 2, "startTime": 1700000100, "endTime": 1700000160,
                      "resourceChanges": {"same": 3}, "environment": {"pulumi.env.SECRET": "set"}},
             "version": 2, "requestedBy": {"name": "Ada", "githubLogin": "ada"}},
            {"info": {"kind": "update", "result": "succeeded", "version": 1, "startTime": 1700000000, "endTime": 1700000050,
                      "resourceChanges": {"create": 3}}, "version": 1, "requestedBy": {"name": "Ada", "githubLogin": "ada"}},
        ],
        "itemsPerPage": 10, "total": 2,
    }
    first = poll(pg, cloud, org, owner)
    assert first.returncode == 0, first.stderr
    assert "3 applied, 0 unchanged, 0 failed" in first.stderr
    assert f"{org}/proj-0/prod: 2 update(s) recorded" in first.stderr
    assert sum(1 for c in FakeCloud.calls if c.startswith("/api/user/stacks") and org in c) == 2  # two pages
    again = poll(pg, cloud, org, owner)
    assert "0 applied, 3 unchanged, 0 failed" in again.stderr

    FakeCloud.add_stack(org, "proj-0", "prod", GCP[0].read_bytes(), last_update=200)
    third = poll(pg, cloud, org, owner)
    assert "1 applied, 2 unchanged, 0 failed" in third.stderr
    owned = server.gql("query($id: ID!) { tenant(id: $id) { tenancies { name displayKind } } }", {"id": owner})
    assert owned["tenant"]["tenancies"] == [{"name": "pulumi-development", "displayKind": "Tenancy (Project)"}]


def test_a_refused_token_is_a_clear_error(pg: Pg, server: Server, cloud: str) -> None:
    p = provider(server)
    owner = tenant(server, p["id"])["id"]
    result = poll(pg, cloud, unique("org"), owner, token="wrong")
    assert result.returncode == 1 and "Pulumi Cloud answered 401" in result.stderr


def test_the_api_polls_an_organization_by_itself(pg: Pg, server: Server, cloud: str) -> None:
    # Given an organization with a stack and an audit log, and a tenant named like it
    org = unique("pollorg")
    FakeCloud.add_stack(org, "proj-api", "prod", GCP[0].read_bytes(), last_update=500)
    FakeCloud.audit_events[org] = [{"timestamp": 1756400000, "sourceIP": "203.0.113.5", "event": "stack-update-started",
                                    "description": "A stack update started.",
                                    "user": {"name": "Poll", "githubLogin": "poller", "avatarUrl": "https://example.com/p.png"}}]
    p = provider(server)
    tenancy(server, backend(server, p["id"], "GCP")["id"])
    owner = tenant(server, p["id"], name=org)["id"]
    # When an API server runs with the organization in its polling list
    polling = Server(pg.app_url, {"SKYLOOM_PULUMI_API_URL": cloud, "SKYLOOM_PULUMI_ACCESS_TOKEN": TOKEN,
                                  "SKYLOOM_PULUMI_POLL_ORGANIZATIONS": org, "SKYLOOM_PULUMI_POLL_SECONDS": "1"})
    try:
        deadline = time.monotonic() + 60
        stacks: list = []
        while time.monotonic() < deadline and not stacks:
            stacks = polling.gql("query($t: ID!) { tenant(id: $t) { stacks { name } } }", {"t": owner})["tenant"]["stacks"]
            time.sleep(0.3)
        # Then the stack is ingested for the tenant, and the audit log landed in the trail, once
        assert stacks == [{"name": f"{org}/proj-api/prod"}]
        time.sleep(2.5)   # a few more polling rounds: nothing is taken twice
        with psycopg.connect(pg.admin_url, autocommit=True) as conn:
            taken = conn.execute("SELECT actor, tenant FROM skyloom.audit_entry WHERE target = %s", (f"pulumi-org:{org}",)).fetchall()
        assert taken == [("pulumi:poller", owner)]
    finally:
        polling.stop()
