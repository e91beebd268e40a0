"""Stack states reconciled into the real graph through the CLI, then read back through GraphQL."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.conftest import REPO, Pg, Server, unique
from tests.test_ingest_translate import STATES
from tests.test_mutations import backend, provider, tenancy, tenant


def ingest(pg: Pg, files: list[Path], owner: str, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYLOOM_")}
    return subprocess.run(
        [sys.executable, "-m", "skyloom.cli", "ingest", "state", *map(str, files), "--owner", owner, *extra],
        env={**env, "SKYLOOM_DATABASE_URL": pg.app_url}, capture_output=True, text=True, timeout=120, cwd=REPO,
    )


def live_cis(pg: Pg) -> int:
    with psycopg.connect(pg.admin_url) as conn:
        conn.execute('SET search_path = ag_catalog, "$user", public')
        (n,) = conn.execute(
            "SELECT count(*) FROM cmdb._ag_label_vertex WHERE (properties ->> 'kind'::text) IS NOT NULL "
            "AND (properties ->> 'deleted'::text) = 'false'"
        ).fetchone()
    return n


@pytest.fixture
def estate(server: Server) -> dict:
    """A provider with a backend and root tenancy on each of AWS, Azure and GCP, and one client."""
    p = provider(server)
    roots = {cloud: tenancy(server, backend(server, p["id"], cloud)["id"]) for cloud in ("AWS", "AZURE", "GCP")}
    client = tenant(server, p["id"])
    return {"provider": p, "roots": roots, "client": client}


def test_every_real_state_ingests_and_reads_back(pg: Pg, server: Server, estate: dict, tmp_path: Path) -> None:
    # Several recordings reuse a project/stack name: give each its own organization, as distinct stacks.
    for path in STATES:
        extra = ["--organization", path.stem]
        if path.name == "aws-diy-backend-checkpoint-s3.json":  # an S3 bucket's ARN names no account
            extra += ["--default-tenancy", estate["roots"]["AWS"]["id"]]
        result = ingest(pg, [path], estate["client"]["id"], *extra)
        assert result.returncode == 0, result.stderr
    tenancies = server.gql(
        "query($id: ID!) { tenant(id: $id) { tenancies { name displayKind isRoot parentTenancy { id } } } }",
        {"id": estate["client"]["id"]},
    )["tenant"]["tenancies"]
    by_name = {t["name"]: t for t in tenancies}
    subscription = by_name["0282681f-7a9e-424b-80b2-96babd57a8a1"]
    assert subscription["displayKind"] == "Tenancy (Subscription)" and subscription["isRoot"] is False
    assert subscription["parentTenancy"] == {"id": estate["roots"]["AZURE"]["id"]}
    assert by_name["616138583583"]["displayKind"] == "Tenancy (Account)"
    assert by_name["pulumi-development"]["displayKind"] == "Tenancy (Project)"

    rg = server.gql('{ cis(filter: {text: "rg8baa4592", kinds: [Compartment]}) { edges { node { id name displayKind urn tenancy { name } } } } }')
    [node] = [e["node"] for e in rg["cis"]["edges"]]
    assert node["displayKind"] == "Compartment (Resource Group)" and node["tenancy"]["name"] == subscription["name"]
    assert node["urn"].endswith("azure-native:resources:ResourceGroup::rg")
    inside = server.gql(
        "query($id: ID!) { compartment(id: $id) { descendants(first: 50) { edges { node { name kind } } } } }", {"id": node["id"]}
    )["compartment"]["descendants"]["edges"]
    assert {(e["node"]["kind"], e["node"]["name"]) for e in inside} == {
        ("IpAddress", "publicIp"), ("Network", "vnet"), ("Subnet", "subnet"),
        ("NetworkInterface", "networkInterface"), ("ComputeInstance", "vm"),
    }
    vm = server.gql('{ cis(filter: {text: "vm", kinds: [ComputeInstance], providers: [AZURE]}) { edges { node { neighbours { type direction node { ... on ConfigurationItem { name } ... on Stack { name } } } } } } }')
    [vm_node] = [e["node"] for e in vm["cis"]["edges"]]
    relations = {(n["type"], n["direction"], n["node"]["name"]) for n in vm_node["neighbours"]}
    assert ("DEPENDS_ON", "OUTGOING", "networkInterface") in relations
    assert ("MANAGED_BY", "OUTGOING", "azure-native-networked-vm/upgrade-networked-vm/test") in relations
    assert ("CONTAINS", "INCOMING", "rg8baa4592") in relations


def test_reingest_is_idempotent_and_changes_are_versions(pg: Pg, server: Server, estate: dict, tmp_path: Path) -> None:
    source = next(p for p in STATES if p.name == "aws-ec2-networking.json")
    org = unique("org")
    first = ingest(pg, [source], estate["client"]["id"], "--organization", org)
    assert first.returncode == 0 and "9 created" in first.stderr
    again = ingest(pg, [source], estate["client"]["id"], "--organization", org)
    assert "0 created, 0 updated, 9 unchanged, 0 retired" in again.stderr

    data = json.loads(source.read_text())
    changed = copy.deepcopy(data)
    resources = changed["deployment"]["resources"]
    route = next(r for r in resources if r["type"] == "aws:ec2/route:Route")
    resources.remove(route)
    vpc = next(r for r in resources if r["type"] == "aws:ec2/vpc:Vpc")
    vpc["outputs"]["tags"] = {"environment": "staging"}
    edited = tmp_path / "ec2-networking.json"
    edited.write_text(json.dumps(changed))
    third = ingest(pg, [edited], estate["client"]["id"], "--organization", org)
    assert "0 created, 1 updated, 7 unchanged, 1 retired" in third.stderr, third.stderr

    vpc_history = server.gql(
        '{ cis(filter: {text: "MyVPC", tags: [{key: "environment", value: "staging"}]}) { edges { node { version history { edges { node { operation changedFields } } } } } } }'
    )["cis"]["edges"]
    [vpc_node] = [e["node"] for e in vpc_history]
    assert vpc_node["version"] == 2
    assert [h["node"]["operation"] for h in vpc_node["history"]["edges"]] == ["CREATE", "UPDATE"]
    assert "tags" in vpc_node["history"]["edges"][1]["node"]["changedFields"]
    gone = server.gql('{ cis(filter: {text: "MyRoute", includeDeleted: true, kinds: [RouteTable]}) { edges { node { name deleted } } } }')
    assert {"name": "MyRoute", "deleted": True} in [e["node"] for e in gone["cis"]["edges"]]


def test_refused_inputs_write_nothing(pg: Pg, estate: dict, tmp_path: Path) -> None:
    before = live_cis(pg)
    truncated = tmp_path / "truncated.json"
    truncated.write_text(next(p for p in STATES if p.name == "gcp-router-nat-network.json").read_text()[:500])
    bad = ingest(pg, [truncated], estate["client"]["id"])
    assert bad.returncode == 1 and "not JSON" in bad.stderr
    no_account = ingest(pg, [next(p for p in STATES if p.name == "aws-diy-backend-checkpoint-s3.json")], estate["client"]["id"], "--organization", unique("o"))
    assert no_account.returncode == 1 and "does not say which aws account holds it, and the owner has 0 aws tenancies" in no_account.stderr
    nobody = ingest(pg, [STATES[0]], "no-such-tenant")
    assert nobody.returncode == 1 and "is named 'no-such-tenant'" in nobody.stderr
    assert live_cis(pg) == before


def test_provider_owned_stacks_get_root_tenancies(pg: Pg, server: Server, estate: dict) -> None:
    gcp = next(p for p in STATES if p.name == "gcp-forwarding-rule-lb.json")
    p2 = provider(server)
    gcp_backend = backend(server, p2["id"], "GCP")
    result = ingest(pg, [gcp], p2["id"], "--organization", unique("o"))
    assert result.returncode == 0, result.stderr
    roots = server.gql("query($id: ID!) { cloudBackend(id: $id) { rootTenancies { name isRoot owner { id } } } }", {"id": gcp_backend["id"]})
    assert {"name": "pulumi-development", "isRoot": True, "owner": None} in roots["cloudBackend"]["rootTenancies"]


def big_export(n: int) -> dict:
    """A stack of `n` AWS resources in a chain of dependencies (above the bulk threshold when large)."""
    tokens = ["aws:ec2/instance:Instance", "aws:ec2/subnet:Subnet", "aws:s3/bucket:Bucket"]
    provider_urn = "urn:pulumi:prod::big::pulumi:providers:aws::default"
    resources = [{"urn": provider_urn, "type": "pulumi:providers:aws", "custom": True, "id": "p1", "inputs": {"region": "eu-west-1"}}]
    for i in range(n):
        token = tokens[i % 3]
        resources.append({
            "urn": f"urn:pulumi:prod::big::{token}::r{i}", "type": token, "custom": True, "id": f"id-{i}",
            "provider": f"{provider_urn}::p1",
            "outputs": {"arn": f"arn:aws:ec2:eu-west-1:210987654321:thing/id-{i}", "tags": {"n": str(i)}},
            "dependencies": [f"urn:pulumi:prod::big::{tokens[(i - 1) % 3]}::r{i - 1}"] if i else [],
        })
    return {"version": 3, "deployment": {"resources": resources}}


def test_a_large_stack_is_created_in_bulk_with_edges_and_history(pg: Pg, server: Server, estate: dict, tmp_path: Path) -> None:
    from skyloom.ingest.reconcile import BULK_THRESHOLD

    n = BULK_THRESHOLD + 50
    path = tmp_path / "big.json"
    path.write_text(json.dumps(big_export(n)))
    org = unique("big")
    first = ingest(pg, [path], estate["client"]["id"], "--organization", org)
    assert first.returncode == 0 and f"{n} created" in first.stderr, first.stderr
    last = server.gql(
        f'{{ cis(filter: {{text: "r{n - 1}", tags: [{{key: "n", value: "{n - 1}"}}]}}) {{ edges {{ node {{ name version tenancy {{ name }} '
        "neighbours { type direction node { ... on ConfigurationItem { name } ... on Stack { name } } } "
        "history { edges { node { operation } } } } } } }"
    )["cis"]["edges"]
    [node] = [e["node"] for e in last]
    assert node["tenancy"]["name"] == "210987654321" and node["version"] == 1
    relations = {(r["type"], r["direction"], r["node"]["name"]) for r in node["neighbours"]}
    assert ("DEPENDS_ON", "OUTGOING", f"r{n - 2}") in relations
    assert ("MANAGED_BY", "OUTGOING", f"{org}/big/prod") in relations
    assert ("CONTAINS", "INCOMING", "210987654321") in relations
    assert [h["node"]["operation"] for h in node["history"]["edges"]] == ["CREATE"]
    again = ingest(pg, [path], estate["client"]["id"], "--organization", org)
    assert f"0 created, 0 updated, {n} unchanged, 0 retired" in again.stderr


def test_without_an_owner_the_default_rule_decides(pg: Pg, server: Server, estate: dict) -> None:
    vm = next(p for p in STATES if p.name == "azure-native-networked-vm.json")
    org = unique("dflt")
    nobody = ingest(pg, [vm], "ignored", "--organization", org)  # an unknown owner name is an error, not a default
    assert nobody.returncode == 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYLOOM_")} | {"SKYLOOM_DATABASE_URL": pg.app_url}
    argv = [sys.executable, "-m", "skyloom.cli", "ingest", "state", str(vm), "--organization", org]
    unowned = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert unowned.returncode == 1 and f"no owner for stack {org}/upgrade-networked-vm/test" in unowned.stderr
    # A tenant named like the organization owns its stacks by default ...
    named = tenant(server, estate["provider"]["id"], name=org)
    first = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert first.returncode == 0 and "6 created" in first.stderr, first.stderr
    owned = server.gql("query($id: ID!) { tenant(id: $id) { tenancies { name } stacks { name } } }", {"id": named["id"]})
    assert owned["tenant"] == {
        "tenancies": [{"name": "0282681f-7a9e-424b-80b2-96babd57a8a1"}],
        "stacks": [{"name": f"{org}/upgrade-networked-vm/test"}],
    }
    # ... and a stack ingested before stays with the owner it was ingested for.
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert "0 created, 0 updated, 6 unchanged" in again.stderr
