"""Applying a design against a real `skyloom serve`: only the previewed plan, only with a fresh hardware
proof (SoftHSM2), one run per client stack, and the run's resources arriving in the CMDB and to
subscribers through ingest's engine-event path.

The program runs under the Pulumi SDK's mocks (the Pulumi CLI cannot be had here): the cloud is
imaginary, everything from the engine events on is Skyloom's real code.
"""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg
import pytest

from tests.access_world import Persona, Token, World, build_world, proven_operator, softhsm_token
from tests.conftest import REPO, Pg, Server, unique

EXAMPLE = json.loads((REPO / "deploy" / "planner" / "examples" / "aws.json").read_text())
CREATE = ("mutation($i: DesignCreateInput!) { designCreate(input: $i) { __typename ... on Problem { code message } "
          "... on Design { id name } } }")
PREVIEW = ("mutation($id: ID!) { designPreview(id: $id) { __typename ... on Problem { code message } "
           "... on DesignPreview { version planDigest stack project resources { urn type componentId } } } }")
APPLY = ("mutation($id: ID!, $v: Int!, $d: String!) { designApply(id: $id, version: $v, planDigest: $d) { __typename "
         "... on Forbidden { code needsProof } ... on Problem { code message } "
         "... on DesignRun { id status engine resources version stack project planDigest } } }")
RUN = "query($id: ID!) { designRun(id: $id) { id status resources error engine } }"
DRIFT = ("query($id: ID!) { designDrift(id: $id) { version stack entries { status componentId type urn ciId "
         "differences { field before after } } } }")
SAVE = ("mutation($i: DesignSaveInput!) { designSave(input: $i) { __typename ... on Design { latestVersion } "
        "... on Problem { code } } }")


def root(server: Server, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    return server.gql(query, variables)


@pytest.fixture(scope="module")
def world(server: Server, pg: Pg) -> World:
    w = build_world(server, pg)
    backend = root(server, "mutation($p: ID!, $n: String!) { cloudBackendCreate(input: {providerId: $p, name: $n, cloud: AWS}) "
                           "{ ... on CloudBackend { id } } }", {"p": w.provider, "n": unique("aws")})["cloudBackendCreate"]["id"]
    root(server, "mutation($b: ID!, $n: String!) { tenancyCreate(input: {parentId: $b, name: $n}) { ... on Tenancy { id } } }",
         {"b": backend, "n": unique("org-root")})
    return w


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Token:
    return softhsm_token(tmp_path_factory.mktemp("planner-hsm"))


@pytest.fixture(scope="module")
def proven(server: Server, world: World, pg: Pg, token: Token) -> Persona:
    return proven_operator(server, pg, world, token, "planner-op")


def rows(pg: Pg, sql: str, *args: Any) -> list[tuple]:
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        return conn.execute(sql, args).fetchall()


def execute(pg: Pg, sql: str, *args: Any) -> None:
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute(sql, args)


def design_for(server: Server, world: World) -> tuple[str, dict[str, Any]]:
    made = root(server, CREATE, {"i": {"tenantId": world.t1, "name": unique("plan"), "cloud": "AWS", "document": EXAMPLE}})
    design = made["designCreate"]
    assert design["__typename"] == "Design", design
    preview = root(server, PREVIEW, {"id": design["id"]})["designPreview"]
    assert preview["__typename"] == "DesignPreview", preview
    return design["id"], preview


def finished(server: Server, run_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = root(server, RUN, {"id": run_id})["designRun"]
        if run["status"] != "RUNNING":
            return run
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} still running after {timeout}s")


def arrived_urns(watcher: Any, wanted: set[str], timeout: float = 60) -> set[str]:
    """The URNs of CIs the subscriber was told about, read as they come until all of `wanted` did."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while not wanted <= seen and time.monotonic() < deadline:
        line = watcher.proc.stdout.readline()
        if not line:
            break
        event = json.loads(line)
        if event.get("event") == "next":
            after = event["payload"]["data"]["ciChanges"]["after"] or {}
            seen.add(after.get("urn"))
    return seen


def cloud_resources(preview: dict[str, Any]) -> set[str]:
    """The URNs a cloud would hold: provider resources configure the engine and are no CIs."""
    return {r["urn"] for r in preview["resources"] if not r["type"].startswith("pulumi:providers:")}


def test_an_apply_needs_a_fresh_proof_and_the_previewed_plan_and_refusals_start_nothing(
        server: Server, world: World, pg: Pg, proven: Persona) -> None:
    design, preview = design_for(server, world)
    # the root token is a service account without a hardware proof
    refused = root(server, APPLY, {"id": design, "v": 1, "d": preview["planDigest"]})["designApply"]
    assert (refused["__typename"], refused["code"], refused["needsProof"]) == ("Forbidden", "PROOF_REQUIRED", True)
    wrong = proven.gql(server, APPLY, {"id": design, "v": 1, "d": "0" * 64})["designApply"]
    assert wrong["__typename"] == "Conflict" and "preview it again" in wrong["message"]
    # a later version's plan is not the version-1 plan the digest names
    document = json.loads(json.dumps(EXAMPLE))
    document["components"][0]["name"] = document["components"][0]["name"] + "x"
    assert proven.gql(server, SAVE, {"i": {"id": design, "expectedVersion": 1, "document": document}})["designSave"]["latestVersion"] == 2
    stale = proven.gql(server, APPLY, {"id": design, "v": 2, "d": preview["planDigest"]})["designApply"]
    assert stale["__typename"] == "Conflict"
    assert rows(pg, "SELECT count(*) FROM skyloom.design_run WHERE design_id = %s", design) == [(0,)]
    assert rows(pg, "SELECT count(*) FROM skyloom.audit_entry WHERE target = %s AND type LIKE 'design.apply%%'",
                f"Design:{design}") == [(0,)]


def test_the_tenant_admin_may_plan_but_not_apply(server: Server, world: World, pg: Pg) -> None:
    design, preview = design_for(server, world)
    admin = world.personas["tenant_admin"]
    answer = admin.gql(server, APPLY, {"id": design, "v": 1, "d": preview["planDigest"]})["designApply"]
    assert answer["__typename"] == "Forbidden" and answer["needsProof"] is False
    assert rows(pg, "SELECT count(*) FROM skyloom.design_run WHERE design_id = %s", design) == [(0,)]


def test_an_apply_fills_the_cmdb_live_and_the_plan_then_shows_in_sync(
        server: Server, world: World, pg: Pg, proven: Persona, subscribe: Any) -> None:
    design, preview = design_for(server, world)
    expected = cloud_resources(preview)
    watcher = subscribe(server.ws_url, "subscription { ciChanges { operation after { ... on Node { id } } "
                                       "after { ... on ConfigurationItem { urn } } } }", count=1000, timeout_ms=120000)
    watcher.wait_connected()
    # a second subscriber follows the plan's VPC alone (filter.urns)
    vpc = next(u for u in expected if "ec2/vpc:Vpc" in u)
    only_vpc = subscribe(server.ws_url, "subscription($u: [String!]) { ciChanges(filter: {urns: $u}) { operation "
                                        "after { ... on ConfigurationItem { urn } } } }", {"u": [vpc]}, count=1,
                         timeout_ms=60000)
    only_vpc.wait_connected()
    before = root(server, DRIFT, {"id": design})["designDrift"]
    assert {e["status"] for e in before["entries"] if e["urn"] in expected} == {"PLANNED"}

    run = proven.gql(server, APPLY, {"id": design, "v": 1, "d": preview["planDigest"]})["designApply"]
    assert run["__typename"] == "DesignRun" and run["engine"] == "mocks" and run["planDigest"] == preview["planDigest"]
    done = finished(server, run["id"])
    assert done["status"] == "SUCCEEDED" and done["error"] is None and done["resources"] == len(preview["resources"])

    # every cloud resource arrives live; the account is the client's tenancy, found by its id below
    accounts = {u for u in expected if "organizations/account:Account" in u}
    assert expected - accounts <= arrived_urns(watcher, expected - accounts) and len(accounts) == 1
    # (the account, the resource group ... came first: a subscriber the filter failed would have had them)
    code, events = only_vpc.results(timeout=90)
    assert code == 0 and [e["payload"]["data"]["ciChanges"] for e in events if e.get("event") == "next"] == [
        {"operation": "CREATE", "after": {"urn": vpc}}]
    after = root(server, DRIFT, {"id": design})["designDrift"]
    by_urn = {e["urn"]: e for e in after["entries"]}
    assert {by_urn[u]["status"] for u in expected} == {"IN_SYNC"}
    assert all(by_urn[u]["ciId"] for u in expected)
    audit = rows(pg, "SELECT type, outcome FROM skyloom.audit_entry WHERE target = %s AND type LIKE 'design.appl%%' ORDER BY id",
                 f"Design:{design}")
    assert audit == [("design.apply_started", "success"), ("design.applied", "success")]


def test_a_urn_filter_over_its_limit_is_refused(server: Server, subscribe: Any) -> None:
    too_many = subscribe(server.ws_url, "subscription($u: [String!]) { ciChanges(filter: {urns: $u}) { operation } }",
                         {"u": [f"u{i}" for i in range(5001)]}, count=1, timeout_ms=20000)
    too_many.wait_connected()
    code, events = too_many.results(timeout=30)
    assert code != 0 and "at most 5000 URNs" in json.dumps(events)


def test_one_run_per_client_stack_and_a_dead_runs_row_is_closed(server: Server, world: World, pg: Pg,
                                                                 proven: Persona) -> None:
    design, preview = design_for(server, world)
    key = f"design-run:{preview['project']}/{preview['stack']}"
    # Given another replica running this stack (it holds the stack's lock)
    with psycopg.connect(pg.admin_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (key,))
        busy = proven.gql(server, APPLY, {"id": design, "v": 1, "d": preview["planDigest"]})["designApply"]
        assert busy["__typename"] == "Conflict" and "another run" in busy["message"]
        assert rows(pg, "SELECT count(*) FROM skyloom.design_run WHERE design_id = %s", design) == [(0,)]
    # Given a row left running by a replica that died (nobody holds the lock)
    execute(pg, "INSERT INTO skyloom.design_run (design_id, version, tenant_id, project, stack, plan_digest, engine, requested_by)"
             " VALUES (%s, 1, %s, %s, %s, %s, 'mocks', 'user:gone')",
         design, world.t1, preview["project"], preview["stack"], preview["planDigest"])
    run = proven.gql(server, APPLY, {"id": design, "v": 1, "d": preview["planDigest"]})["designApply"]
    assert run["__typename"] == "DesignRun"
    ended = finished(server, run["id"])
    assert ended["status"] == "SUCCEEDED", ended
    assert rows(pg, "SELECT requested_by, status, error FROM skyloom.design_run WHERE design_id = %s ORDER BY seq", design) == [
        ("user:gone", "failed", "interrupted: the replica running it stopped"), (proven.actor, "succeeded", None)]
