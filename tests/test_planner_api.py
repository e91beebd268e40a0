"""The architecture planner's API against a real `skyloom serve`: designs saved as versions, compared,
copied, archived and previewed (under the Pulumi SDK's mocks), and every refusal changing nothing.

People: the root operator (provider tier), the admin of client A, the admin of client B (an
outsider to A's designs) and a viewer at client A (reads CIs, not designs).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import REPO, Pg, Server, make_token, unique
from tests.test_mutations import provider, tenant

EXAMPLES = REPO / "deploy" / "planner" / "examples"
FIELDS = ("id name cloud tenantId latestVersion copiedFrom copiedVersion archived createdBy "
          "history { number errorCount warningCount comment createdBy } "
          "current { number document problems { code severity componentId connection message } }")
RESULT = f"__typename ... on Problem {{ code message }} ... on Design {{ {FIELDS} }}"
CREATE = f"mutation($i: DesignCreateInput!) {{ designCreate(input: $i) {{ {RESULT} }} }}"
SAVE = f"mutation($i: DesignSaveInput!) {{ designSave(input: $i) {{ {RESULT} }} }}"
COPY = f"mutation($i: DesignCopyInput!) {{ designCopy(input: $i) {{ {RESULT} }} }}"
ARCHIVE = f"mutation($id: ID!) {{ designArchive(id: $id) {{ {RESULT} }} }}"
ONE = f"query($id: ID!) {{ design(id: $id) {{ {FIELDS} }} }}"
LIST = ("query($t: ID, $a: Boolean) { designs(tenantId: $t, includeArchived: $a, first: 100) "
        "{ edges { node { id name archived } } } }")
COMPARE = ("query($id: ID!, $b: Int!, $a: Int!, $o: ID) { designCompare(id: $id, before: $b, after: $a, otherId: $o) { "
           "added { id kind name } removed { id kind } changed { id changes { field before after } } "
           "connectionsAdded { source target } connectionsRemoved { source target } settingsChanged { field before after } } }")
PREVIEW = ("mutation($id: ID!, $v: Int) { designPreview(id: $id, version: $v) { __typename "
           "... on Problem { code message } ... on DesignInvalid { problems { code componentId severity } } "
           "... on DesignPreview { version project stack engine program resources { type name urn componentId inputs } } } }")


def example(cloud: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{cloud}.json").read_text())


def of_kind(document: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in document["components"] if c["kind"] == kind)


class Client:
    def __init__(self, server: Server, token: str) -> None:
        self.server, self.token = server, token

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.server.http.post("/graphql", json={"query": query, "variables": variables or {}},
                                  headers={"Authorization": f"Bearer {self.token}"})
        body = r.json()
        assert r.status_code == 200 and not body.get("errors"), body
        return body["data"]


@pytest.fixture(scope="module")
def world(server: Server, pg: Pg) -> dict[str, Any]:
    p = provider(server)
    a, b = tenant(server, p["id"]), tenant(server, p["id"])
    admin_a, _ = make_token(pg.app_url, unique("admin-a"), [("tenant-admin", "tenant", a["id"])])
    admin_b, _ = make_token(pg.app_url, unique("admin-b"), [("tenant-admin", "tenant", b["id"])])
    viewer_a, _ = make_token(pg.app_url, unique("viewer-a"), [("viewer", "tenant", a["id"])])
    return {"a": a, "b": b, "admin_a": Client(server, admin_a), "admin_b": Client(server, admin_b),
            "viewer_a": Client(server, viewer_a), "root": Client(server, server.token)}


def rows(pg: Pg, sql: str, *args: Any) -> list[tuple]:
    with psycopg.connect(pg.admin_url) as conn:
        return conn.execute(sql, args).fetchall()


def created(client: Client, tenant_id: str, cloud: str = "AWS", document: Any = None, name: str | None = None) -> dict:
    values = {"tenantId": tenant_id, "name": name or unique("plan"), "cloud": cloud, "document": document}
    return client.gql(CREATE, {"i": values})["designCreate"]


def test_a_client_admin_saves_versions_and_a_stale_save_changes_nothing(world: dict, pg: Pg) -> None:
    admin = world["admin_a"]
    design = created(admin, world["a"]["id"], document=example("aws"))
    assert design["__typename"] == "Design" and design["latestVersion"] == 1 and design["cloud"] == "AWS"
    assert [h["number"] for h in design["history"]] == [1] and design["history"][0]["errorCount"] == 0

    document = example("aws")
    of_kind(document, "Subnet")["name"] = "renamed-subnet"
    saved = admin.gql(SAVE, {"i": {"id": design["id"], "expectedVersion": 1, "document": document, "comment": "rename"}})
    assert saved["designSave"]["latestVersion"] == 2
    assert saved["designSave"]["current"]["document"] == document
    assert [(h["number"], h["comment"]) for h in saved["designSave"]["history"]] == [(2, "rename"), (1, None)]

    # a second editor still on version 1 is told to reload; nothing of theirs is stored
    stale = admin.gql(SAVE, {"i": {"id": design["id"], "expectedVersion": 1, "document": example("aws")}})["designSave"]
    assert stale["__typename"] == "Conflict" and stale["code"] == "CONFLICT"
    assert rows(pg, "SELECT max(version), count(*) FROM skyloom.design_version WHERE design_id = %s", design["id"]) == [(2, 2)]
    assert rows(pg, "SELECT latest FROM skyloom.design WHERE id = %s", design["id"]) == [(2,)]
    audit = rows(pg, "SELECT type, tenant FROM skyloom.audit_entry WHERE target = %s AND type LIKE 'design.%%' ORDER BY id", f"Design:{design['id']}")
    assert audit == [("design.created", world["a"]["id"]), ("design.saved", world["a"]["id"])]


def test_a_draft_with_errors_is_saved_with_its_problems_and_cannot_be_previewed(world: dict) -> None:
    admin = world["admin_a"]
    document = example("aws")
    subnet = of_kind(document, "Subnet")
    subnet["properties"]["cidr"] = "192.168.7.0/24"     # outside every network of the design
    design = created(admin, world["a"]["id"], document=document)
    assert design["__typename"] == "Design" and design["history"][0]["errorCount"] >= 1
    problems = {(p["code"], p["componentId"]) for p in design["current"]["problems"]}
    assert ("CIDR_OUTSIDE_NETWORK", subnet["id"]) in problems

    listed = admin.gql("query($t: ID) { designs(tenantId: $t, first: 100) { edges { node { id errorCount warningCount } } } }",
                       {"t": world["a"]["id"]})["designs"]["edges"]
    assert {"id": design["id"], "errorCount": design["history"][0]["errorCount"], "warningCount": 0} in [e["node"] for e in listed]

    preview = admin.gql(PREVIEW, {"id": design["id"]})["designPreview"]
    assert preview["__typename"] == "DesignInvalid"
    assert ("CIDR_OUTSIDE_NETWORK", subnet["id"], "ERROR") in {(p["code"], p["componentId"], p["severity"])
                                                               for p in preview["problems"]}


def test_an_empty_design_starts_for_its_cloud_and_another_clouds_document_is_a_problem(world: dict) -> None:
    admin = world["admin_a"]
    empty = created(admin, world["a"]["id"], cloud="GCP")
    assert empty["current"]["document"]["provider"] == "gcp" and empty["current"]["document"]["components"] == []
    mismatch = created(admin, world["a"]["id"], cloud="GCP", document=example("aws"))
    assert "PROVIDER_MISMATCH" in {p["code"] for p in mismatch["current"]["problems"]}


@pytest.mark.parametrize("document, fragment", [
    ([1, 2, 3], "JSON object"),
    ("a string", "JSON object"),
    ({"provider": "aws", "components": [{"id": "x", "kind": "Network", "name": "n" * 200_000}]}, "at most"),
])
def test_malformed_documents_are_refused_and_nothing_is_stored(world: dict, pg: Pg, document: Any, fragment: str) -> None:
    before = rows(pg, "SELECT count(*) FROM skyloom.design")
    result = created(world["admin_a"], world["a"]["id"], document=document)
    assert result["__typename"] == "ValidationProblem" and fragment in result["message"]
    assert rows(pg, "SELECT count(*) FROM skyloom.design") == before


def test_names_are_unique_per_client_and_archiving_frees_them(world: dict) -> None:
    admin = world["admin_a"]
    name = unique("Web Shop")
    first = created(admin, world["a"]["id"], name=name)
    again = created(admin, world["a"]["id"], name=name.upper())
    assert again["__typename"] == "Conflict" and again["code"] == "DUPLICATE"
    assert created(world["admin_b"], world["b"]["id"], name=name)["__typename"] == "Design"   # another client's

    archived = admin.gql(ARCHIVE, {"id": first["id"]})["designArchive"]
    assert archived["archived"] is True
    live = admin.gql(LIST, {"t": world["a"]["id"], "a": False})["designs"]["edges"]
    assert first["id"] not in {e["node"]["id"] for e in live}
    everything = admin.gql(LIST, {"t": world["a"]["id"], "a": True})["designs"]["edges"]
    assert first["id"] in {e["node"]["id"] for e in everything}
    assert created(admin, world["a"]["id"], name=name)["__typename"] == "Design"
    twice = admin.gql(ARCHIVE, {"id": first["id"]})["designArchive"]
    assert twice["__typename"] == "Conflict"


def test_a_copy_compares_with_its_source_by_component(world: dict) -> None:
    admin = world["admin_a"]
    source = created(admin, world["a"]["id"], document=example("aws"))
    copied = admin.gql(COPY, {"i": {"id": source["id"], "name": unique("copy")}})["designCopy"]
    assert copied["__typename"] == "Design"
    assert (copied["copiedFrom"], copied["copiedVersion"]) == (source["id"], 1)
    same = admin.gql(COMPARE, {"id": source["id"], "b": 1, "a": 1, "o": copied["id"]})["designCompare"]
    assert same == {"added": [], "removed": [], "changed": [], "connectionsAdded": [], "connectionsRemoved": [],
                    "settingsChanged": []}

    document = copy.deepcopy(copied["current"]["document"])
    network = of_kind(document, "Network")
    old_cidr = network["properties"]["cidr"]
    network["properties"]["cidr"] = "10.99.0.0/16"
    network["x"] = 999      # moving a box is layout, not architecture
    removed = document["components"].pop(next(i for i, c in enumerate(document["components"]) if c["kind"] == "ObjectStore"))
    document["connections"] = [c for c in document["connections"] if removed["id"] not in (c["from"], c["to"])]
    admin.gql(SAVE, {"i": {"id": copied["id"], "expectedVersion": 1, "document": document}})
    diff = admin.gql(COMPARE, {"id": source["id"], "b": 1, "a": 2, "o": copied["id"]})["designCompare"]
    assert diff["changed"] == [{"id": network["id"], "changes": [{"field": "properties.cidr", "before": old_cidr,
                                                                   "after": "10.99.0.0/16"}]}]
    assert diff["removed"] == [{"id": removed["id"], "kind": "ObjectStore"}] and diff["added"] == []
    assert all(removed["id"] in (c["source"], c["target"]) for c in diff["connectionsRemoved"]) and diff["connectionsRemoved"]


def test_another_client_neither_sees_nor_touches_a_design(world: dict, pg: Pg) -> None:
    design = created(world["admin_a"], world["a"]["id"], document=example("aws"))
    outsider = world["admin_b"]
    assert outsider.gql(ONE, {"id": design["id"]}) == {"design": None}
    assert design["id"] not in {e["node"]["id"] for e in outsider.gql(LIST, {"t": None, "a": True})["designs"]["edges"]}
    assert outsider.gql(LIST, {"t": world["a"]["id"], "a": True})["designs"]["edges"] == []
    for query, variables in (
        (SAVE, {"i": {"id": design["id"], "expectedVersion": 1, "document": {}}}),
        (ARCHIVE, {"id": design["id"]}),
        (COPY, {"i": {"id": design["id"], "name": unique("stolen"), "tenantId": world["b"]["id"]}}),
    ):
        answer = next(iter(outsider.gql(query, variables).values()))
        assert answer["__typename"] == "NotFound", answer
    preview = outsider.gql(PREVIEW, {"id": design["id"]})["designPreview"]
    assert preview["__typename"] == "NotFound" and "resources" not in preview
    compare = outsider.gql(COMPARE, {"id": design["id"], "b": 1, "a": 1, "o": None})
    assert compare == {"designCompare": None}
    # and nothing changed: one version, not archived, no copy made for client B
    assert rows(pg, "SELECT latest, archived_at FROM skyloom.design WHERE id = %s", design["id"]) == [(1, None)]
    assert rows(pg, "SELECT count(*) FROM skyloom.design WHERE copied_from = %s", design["id"]) == [(0,)]


def test_a_viewer_reads_no_designs_and_cannot_start_one(world: dict, pg: Pg) -> None:
    created(world["admin_a"], world["a"]["id"])
    viewer = world["viewer_a"]
    assert viewer.gql(LIST, {"t": world["a"]["id"], "a": True})["designs"]["edges"] == []
    before = rows(pg, "SELECT count(*) FROM skyloom.design WHERE tenant_id = %s", world["a"]["id"])
    refused = created(viewer, world["a"]["id"])
    assert refused["__typename"] == "Forbidden" and refused["code"] == "FORBIDDEN"
    assert rows(pg, "SELECT count(*) FROM skyloom.design WHERE tenant_id = %s", world["a"]["id"]) == before


def test_the_provider_sees_every_clients_designs(world: dict) -> None:
    a = created(world["admin_a"], world["a"]["id"])
    b = created(world["admin_b"], world["b"]["id"])
    seen = {e["node"]["id"] for e in world["root"].gql(LIST, {"t": None, "a": False})["designs"]["edges"]}
    assert {a["id"], b["id"]} <= seen


def test_a_preview_lists_what_the_program_would_create(world: dict, pg: Pg) -> None:
    document = example("aws")
    design = created(world["admin_a"], world["a"]["id"], document=document)
    preview = world["admin_a"].gql(PREVIEW, {"id": design["id"]})["designPreview"]
    assert preview["__typename"] == "DesignPreview" and preview["engine"] == "mocks" and preview["version"] == 1
    assert preview["stack"] == design["name"] and preview["project"] == f"skyloom-{world['a']['name']}"
    assert "import pulumi_aws" in preview["program"]
    planned = {r["componentId"] for r in preview["resources"]}
    assert {c["id"] for c in document["components"]} <= planned
    types = {r["type"] for r in preview["resources"]}
    assert {"aws:organizations/account:Account", "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet"} <= types
    assert all(r["urn"].startswith(f"urn:pulumi:{preview['stack']}::{preview['project']}::") for r in preview["resources"])
    audit = rows(pg, "SELECT detail->>'resources' FROM skyloom.audit_entry WHERE type = 'design.previewed' AND target = %s",
                 f"Design:{design['id']}")
    assert audit == [(str(len(preview["resources"])),)]


def test_validating_a_document_needs_no_design_and_an_anonymous_caller_gets_nothing(world: dict, server: Server) -> None:
    query = "query($d: JSON!) { designValidate(document: $d) { code componentId severity } }"
    document = example("gcp")
    of_kind(document, "Subnet")["properties"]["cidr"] = "not-a-cidr"
    problems = world["admin_a"].gql(query, {"d": document})["designValidate"]
    assert {"code": "CIDR_INVALID", "componentId": of_kind(document, "Subnet")["id"], "severity": "ERROR"} in problems
    assert world["admin_a"].gql(query, {"d": example("gcp")})["designValidate"] == []
    anonymous = httpx.post(f"{server.url}/graphql", json={"query": query, "variables": {"d": document}}).json()
    assert anonymous["data"] is None and anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_the_palette_offers_each_kind_in_both_terms_with_the_clouds_properties(world: dict) -> None:
    query = ("query($c: Cloud!) { designPalette(cloud: $c) { cloud defaultRegion kinds { kind display providerTerm "
             "properties { name required type default choices } } connections { source target meaning } } }")
    palette = world["viewer_a"].gql(query, {"c": "AZURE"})["designPalette"]
    kinds = {k["kind"]: k for k in palette["kinds"]}
    assert palette["cloud"] == "AZURE" and palette["defaultRegion"] == "westeurope"
    assert list(kinds) == ["Tenancy", "Compartment", "Network", "Subnet", "ComputeInstance", "Database", "ObjectStore",
                           "Identity"]
    assert kinds["Compartment"]["display"] == "Compartment (Resource Group)"
    assert kinds["Network"]["display"] == "Network (Virtual Network)"
    assert {"name": "billingScope", "required": True, "type": "text", "default": None, "choices": []} in kinds["Tenancy"]["properties"]
    assert {"name": "cidr", "required": True, "type": "cidr", "default": None, "choices": []} in kinds["Subnet"]["properties"]
    assert {"source": "Network", "target": "Subnet", "meaning": "contains"} in palette["connections"]
    assert {"source": "Identity", "target": "ComputeInstance", "meaning": "attaches"} in palette["connections"]
    assert ("Subnet", "Network") not in {(c["source"], c["target"]) for c in palette["connections"]}


def test_kubernetes_is_not_a_planner_cloud(world: dict, pg: Pg) -> None:
    before = rows(pg, "SELECT count(*) FROM skyloom.design")
    refused = created(world["admin_a"], world["a"]["id"], cloud="KUBERNETES")
    assert refused["__typename"] == "ValidationProblem" and "the planner draws for" in refused["message"]
    assert rows(pg, "SELECT count(*) FROM skyloom.design") == before
