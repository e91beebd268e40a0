"""Mutations over HTTP: the panel hierarchy and CMDB containers, with every refusal leaving data untouched."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ROOT, Server, unique

RESULT = "__typename ... on Problem { code message } ... on ValidationProblem { field } ... on Conflict { field } ... on NotFound { id }"


def provider(server: Server) -> dict[str, Any]:
    name = unique("prov")
    data = server.gql(
        f"mutation($i: ProviderCreateInput!) {{ providerCreate(input: $i) {{ {RESULT} ... on Provider {{ id name displayName version }} }} }}",
        {"i": {"name": name}},
    )
    return data["providerCreate"]


def create(server: Server, field: str, input_type: str, fields: str, values: dict[str, Any]) -> dict[str, Any]:
    query = f"mutation($i: {input_type}!) {{ {field}(input: $i) {{ {RESULT} {fields} }} }}"
    return server.gql(query, {"i": values})[field]


def tenant(server: Server, provider_id: str, name: str | None = None) -> dict[str, Any]:
    return create(server, "tenantCreate", "TenantCreateInput", "... on Tenant { id name displayName }", {"providerId": provider_id, "name": unique("t") if name is None else name})


def backend(server: Server, provider_id: str, cloud: str = "AZURE") -> dict[str, Any]:
    return create(
        server, "cloudBackendCreate", "CloudBackendCreateInput", "... on CloudBackend { id name cloud }",
        {"providerId": provider_id, "name": unique("be"), "cloud": cloud},
    )


def tenancy(server: Server, parent_id: str, owner_id: str | None = None, name: str | None = None) -> dict[str, Any]:
    values = {"parentId": parent_id, "name": name or unique("Tenancy"), "ownerId": owner_id}
    return create(server, "tenancyCreate", "TenancyCreateInput", "... on Tenancy { id name isRoot provider displayKind version }", values)


def compartment(server: Server, parent_id: str, name: str | None = None, tags: list[dict] | None = None) -> dict[str, Any]:
    values = {"parentId": parent_id, "name": name or unique("rg"), "tags": tags}
    return create(server, "compartmentCreate", "CompartmentCreateInput", "... on Compartment { id name tags { key value } parent { id } tenancy { id } }", values)


def count_tenants(server: Server, provider_id: str) -> int:
    return len(server.gql("query($id: ID!) { provider(id: $id) { tenants { id } } }", {"id": provider_id})["provider"]["tenants"])


def test_full_hierarchy_can_be_built(server: Server) -> None:
    p = provider(server)
    assert p["__typename"] == "Provider" and p["version"] == 1 and p["displayName"] == p["name"]
    t = tenant(server, p["id"])
    sub = create(server, "subTenantCreate", "SubTenantCreateInput", "... on SubTenant { id tenant { id } }", {"tenantId": t["id"], "name": "finance"})
    assert sub["tenant"] == {"id": t["id"]}
    b = backend(server, p["id"])
    root = tenancy(server, b["id"])
    assert root["isRoot"] is True and root["provider"] == "AZURE" and root["displayKind"] == "Tenancy (Subscription)"
    client = tenancy(server, root["id"], owner_id=sub["id"])
    assert client["isRoot"] is False
    top = compartment(server, client["id"], tags=[{"key": "env", "value": "prod"}])
    nested = compartment(server, top["id"])
    assert nested["parent"] == {"id": top["id"]} and nested["tenancy"] == {"id": client["id"]}
    # Admission's mutating step marks what the panel creates (policy/admission.json).
    assert top["tags"] == [{"key": "env", "value": "prod"}, {"key": "managed-by", "value": "skyloom"}]
    owned = server.gql("query($id: ID!) { subTenant(id: $id) { tenancies { id parentTenancy { id } cloudBackend { id } } } }", {"id": sub["id"]})
    assert owned["subTenant"]["tenancies"] == [{"id": client["id"], "parentTenancy": {"id": root["id"]}, "cloudBackend": None}]


@pytest.mark.parametrize("bad", ["", "UPPER", "-lead", "trail-", "with space", "x" * 64, "ünïcode", "a_b"])
def test_invalid_tenant_names_are_refused_and_nothing_is_created(server: Server, bad: str) -> None:
    p = provider(server)
    result = tenant(server, p["id"], name=bad)
    assert result == {
        "__typename": "ValidationProblem",
        "code": "INVALID_INPUT",
        "message": "use 1-63 lower-case letters, digits and hyphens, starting and ending with a letter or digit",
        "field": "name",
    }
    assert count_tenants(server, p["id"]) == 0


def test_duplicate_names_conflict_case_insensitively_for_cloud_names(server: Server) -> None:
    p = provider(server)
    first = tenant(server, p["id"], name="acme")
    again = tenant(server, p["id"], name="acme")
    assert first["__typename"] == "Tenant"
    assert again["__typename"] == "Conflict" and again["code"] == "DUPLICATE" and again["field"] == "name"
    assert count_tenants(server, p["id"]) == 1
    b = backend(server, p["id"])
    root = tenancy(server, b["id"])
    compartment(server, root["id"], name="Shared-RG")
    clash = compartment(server, root["id"], name="shared-rg")
    assert clash["__typename"] == "Conflict"
    tree = server.gql("query($id: ID!) { compartmentTree(tenancyId: $id) { compartment { name } } }", {"id": root["id"]})
    assert tree["compartmentTree"] == [{"compartment": {"name": "Shared-RG"}}]


def test_same_name_under_different_parents_is_fine(server: Server) -> None:
    p1, p2 = provider(server), provider(server)
    assert tenant(server, p1["id"], name="same")["__typename"] == "Tenant"
    assert tenant(server, p2["id"], name="same")["__typename"] == "Tenant"


def test_unknown_and_malformed_parent_ids(server: Server) -> None:
    missing = tenant(server, "00000000-0000-4000-8000-000000000001")
    assert missing["__typename"] == "NotFound" and missing["id"] == "00000000-0000-4000-8000-000000000001"
    malformed = tenant(server, "not-an-id")
    assert malformed["__typename"] == "ValidationProblem" and malformed["field"] == "providerId"


def test_parent_of_the_wrong_kind_is_refused(server: Server) -> None:
    p = provider(server)
    t = tenant(server, p["id"])
    wrong = tenancy(server, t["id"])
    assert wrong["__typename"] == "ValidationProblem" and wrong["field"] == "parentId"


def test_sub_tenancy_needs_an_owner_and_a_root_parent(server: Server) -> None:
    p = provider(server)
    root = tenancy(server, backend(server, p["id"])["id"])
    no_owner = tenancy(server, root["id"])
    assert no_owner["__typename"] == "ValidationProblem" and no_owner["field"] == "ownerId"
    t = tenant(server, p["id"])
    client = tenancy(server, root["id"], owner_id=t["id"])
    nested = tenancy(server, client["id"], owner_id=t["id"])
    assert nested["__typename"] == "ValidationProblem" and nested["field"] == "parentId"
    subs = server.gql("query($id: ID!) { tenancy(id: $id) { subTenancies { id } } }", {"id": root["id"]})
    assert subs["tenancy"]["subTenancies"] == [{"id": client["id"]}]


def test_update_renames_and_keeps_history(server: Server) -> None:
    p = provider(server)
    root = tenancy(server, backend(server, p["id"])["id"])
    comp = compartment(server, root["id"], name="before")
    updated = server.gql(
        f"mutation($i: CompartmentUpdateInput!) {{ compartmentUpdate(input: $i) {{ {RESULT} ... on Compartment {{ name version tags {{ key value }} }} }} }}",
        {"i": {"id": comp["id"], "name": "after", "tags": [{"key": "owner", "value": "ops"}]}},
    )["compartmentUpdate"]
    assert updated == {"__typename": "Compartment", "name": "after", "version": 2, "tags": [{"key": "managed-by", "value": "skyloom"}, {"key": "owner", "value": "ops"}]}
    history = server.gql(
        "query($id: ID!) { ci(id: $id) { history { edges { node { version operation actor changedFields before after } } } } }",
        {"id": comp["id"]},
    )["ci"]["history"]["edges"]
    assert [h["node"]["version"] for h in history] == [1, 2]
    assert [h["node"]["operation"] for h in history] == ["CREATE", "UPDATE"]
    assert history[0]["node"]["before"] is None and history[0]["node"]["after"]["name"] == "before"
    assert history[1]["node"]["before"]["name"] == "before" and history[1]["node"]["after"]["name"] == "after"
    assert history[1]["node"]["changedFields"] == ["name", "tags"]
    assert {h["node"]["actor"] for h in history} == {ROOT["actor"]}


def test_update_of_unknown_id_is_not_found(server: Server) -> None:
    result = server.gql(
        f"mutation {{ tenantUpdate(input: {{id: \"00000000-0000-4000-8000-0000000000aa\", displayName: \"x\"}}) {{ {RESULT} }} }}"
    )["tenantUpdate"]
    assert result["__typename"] == "NotFound"


def test_invalid_display_name_and_tags_are_refused(server: Server) -> None:
    p = provider(server)
    bad_display = server.gql(
        f"mutation($i: TenantUpdateInput!) {{ tenantUpdate(input: $i) {{ {RESULT} }} }}",
        {"i": {"id": tenant(server, p["id"])["id"], "displayName": "line\nbreak"}},
    )["tenantUpdate"]
    assert bad_display["__typename"] == "ValidationProblem" and bad_display["field"] == "displayName"
    root = tenancy(server, backend(server, p["id"])["id"])
    too_many = compartment(server, root["id"], tags=[{"key": f"k{i}", "value": "v"} for i in range(51)])
    twice = compartment(server, root["id"], tags=[{"key": "k", "value": "1"}, {"key": "k", "value": "2"}])
    assert too_many["field"] == "tags" and twice["field"] == "tags"
    assert server.gql("query($id: ID!) { compartmentTree(tenancyId: $id) { depth } }", {"id": root["id"]})["compartmentTree"] == []


def test_delete_is_refused_while_children_live_and_changes_nothing(server: Server) -> None:
    p = provider(server)
    t = tenant(server, p["id"])
    create(server, "subTenantCreate", "SubTenantCreateInput", "... on SubTenant { id }", {"tenantId": t["id"], "name": "unit"})
    refused = server.gql(f"mutation($id: ID!) {{ tenantDelete(id: $id) {{ {RESULT} }} }}", {"id": t["id"]})["tenantDelete"]
    assert refused["__typename"] == "Conflict" and "sub-tenants" in refused["message"]
    still = server.gql("query($id: ID!) { tenant(id: $id) { deleted version subTenants { name } } }", {"id": t["id"]})
    assert still["tenant"] == {"deleted": False, "version": 1, "subTenants": [{"name": "unit"}]}


def test_soft_delete_hides_from_lists_but_keeps_node_and_history(server: Server) -> None:
    p = provider(server)
    root = tenancy(server, backend(server, p["id"])["id"])
    comp = compartment(server, root["id"])
    deleted = server.gql(
        f"mutation($id: ID!) {{ compartmentDelete(id: $id) {{ {RESULT} ... on Compartment {{ deleted deletedAt version }} }} }}",
        {"id": comp["id"]},
    )["compartmentDelete"]
    assert deleted["deleted"] is True and deleted["deletedAt"] and deleted["version"] == 2
    assert server.gql("query($id: ID!) { tenancy(id: $id) { compartments { id } } }", {"id": root["id"]})["tenancy"]["compartments"] == []
    node = server.gql("query($id: ID!) { ci(id: $id) { deleted history { edges { node { operation } } } } }", {"id": comp["id"]})
    assert node["ci"]["deleted"] is True
    assert [e["node"]["operation"] for e in node["ci"]["history"]["edges"]] == ["CREATE", "DELETE"]
    again = server.gql(f"mutation($id: ID!) {{ compartmentDelete(id: $id) {{ {RESULT} }} }}", {"id": comp["id"]})["compartmentDelete"]
    assert again["__typename"] == "NotFound"
    # The name is free again once the old compartment is deleted.
    assert compartment(server, root["id"], name=server.gql("query($id: ID!) { ci(id: $id) { name } }", {"id": comp["id"]})["ci"]["name"])["__typename"] == "Compartment"


def test_deleted_items_can_be_searched_explicitly(server: Server) -> None:
    p = provider(server)
    root = tenancy(server, backend(server, p["id"])["id"])
    name = unique("gone")
    comp = compartment(server, root["id"], name=name)
    server.gql("mutation($id: ID!) { compartmentDelete(id: $id) { __typename } }", {"id": comp["id"]})
    query = "query($t: String!, $d: Boolean!) { cis(filter: {text: $t, includeDeleted: $d}) { edges { node { id deleted } } } }"
    assert server.gql(query, {"t": name, "d": False})["cis"]["edges"] == []
    assert server.gql(query, {"t": name, "d": True})["cis"]["edges"] == [{"node": {"id": comp["id"], "deleted": True}}]


def test_tenancy_owner_can_move_between_tenants(server: Server) -> None:
    p = provider(server)
    root = tenancy(server, backend(server, p["id"])["id"])
    a, b = tenant(server, p["id"]), tenant(server, p["id"])
    client = tenancy(server, root["id"], owner_id=a["id"])
    moved = server.gql(
        f"mutation($i: TenancyUpdateInput!) {{ tenancyUpdate(input: $i) {{ {RESULT} ... on Tenancy {{ owner {{ id }} }} }} }}",
        {"i": {"id": client["id"], "ownerId": b["id"]}},
    )["tenancyUpdate"]
    assert moved["owner"] == {"id": b["id"]}
    owned = server.gql("query($a: ID!, $b: ID!) { a: tenant(id: $a) { tenancies { id } } b: tenant(id: $b) { tenancies { id } } }", {"a": a["id"], "b": b["id"]})
    assert owned == {"a": {"tenancies": []}, "b": {"tenancies": [{"id": client["id"]}]}}
