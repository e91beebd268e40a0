"""GraphQL queries over HTTP against a real server and the demo data set."""

from __future__ import annotations

import pytest

from tests.conftest import Server

TREE = """
query {
  providers {
    name displayName
    cloudBackends { name cloud rootTenancies { name isRoot displayKind subTenancies { name } } }
    tenants { name subTenants { name tenant { name } } }
  }
}
"""


def tenancy_id(server: Server, name: str) -> str:
    data = server.gql("query($t: String!) { cis(filter: {kinds: [Tenancy], text: $t}) { edges { node { id name } } } }", {"t": name})
    [match] = [e["node"]["id"] for e in data["cis"]["edges"] if e["node"]["name"] == name]
    return match


def ci_id(server: Server, name: str) -> str:
    data = server.gql("query($t: String!) { cis(filter: {text: $t}, first: 100) { edges { node { id name } } } }", {"t": name})
    [match] = [e["node"]["id"] for e in data["cis"]["edges"] if e["node"]["name"] == name]
    return match


def test_provider_hierarchy_has_four_clouds_and_three_clients(server: Server) -> None:
    data = server.gql(TREE)
    [acme] = [p for p in data["providers"] if p["name"] == "acme-cloud"]
    assert acme["displayName"] == "Acme Cloud Services"
    clouds = {b["name"]: b for b in acme["cloudBackends"]}
    assert {n: b["cloud"] for n, b in clouds.items()} == {
        "acme-aws": "AWS", "acme-azure": "AZURE", "acme-gcp": "GCP", "acme-oci": "OCI",
    }
    azure_root = clouds["acme-azure"]["rootTenancies"][0]
    assert azure_root == {
        "name": "acme-azure-platform",
        "isRoot": True,
        "displayKind": "Tenancy (Subscription)",
        "subTenancies": [{"name": "contoso-finance-azure"}],
    }
    tenants = {t["name"]: [s["name"] for s in t["subTenants"]] for t in acme["tenants"]}
    assert tenants == {"contoso": ["contoso-finance", "contoso-web"], "fabrikam": ["fabrikam-research"], "northwind": []}
    contoso = next(t for t in acme["tenants"] if t["name"] == "contoso")
    assert {s["tenant"]["name"] for s in contoso["subTenants"]} == {"contoso"}


def test_node_by_id_returns_the_right_type_and_null_for_unknown(server: Server) -> None:
    tid = tenancy_id(server, "northwind-oci")
    data = server.gql(
        "query($id: ID!) { node(id: $id) { __typename id ... on Tenancy { name isRoot provider providerTerm owner { ... on Tenant { name } } } } }",
        {"id": tid},
    )
    assert data["node"] == {
        "__typename": "Tenancy", "id": tid, "name": "northwind-oci", "isRoot": False,
        "provider": "OCI", "providerTerm": "Tenancy", "owner": {"name": "northwind"},
    }
    missing = server.gql("{ node(id: \"00000000-0000-4000-8000-000000000000\") { id } }")
    assert missing == {"node": None}


def test_typed_lookup_of_the_wrong_type_is_null(server: Server) -> None:
    tid = tenancy_id(server, "northwind-oci")
    assert server.gql("query($id: ID!) { tenant(id: $id) { id } compartment(id: $id) { id } }", {"id": tid}) == {
        "tenant": None, "compartment": None,
    }


def test_compartment_tree_is_flat_parents_first_with_depth(server: Server) -> None:
    tid = tenancy_id(server, "contoso-prod")
    data = server.gql(
        "query($id: ID!) { compartmentTree(tenancyId: $id) { depth compartment { name displayKind parent { name } } } }",
        {"id": tid},
    )
    assert data["compartmentTree"] == [
        {"depth": 1, "compartment": {"name": "contoso-apps", "displayKind": "Compartment (Resource Group)", "parent": None}},
        {"depth": 1, "compartment": {"name": "contoso-network", "displayKind": "Compartment (Resource Group)", "parent": None}},
        {"depth": 2, "compartment": {"name": "contoso-apps-web", "displayKind": "Compartment (Resource Group)", "parent": {"name": "contoso-apps"}}},
    ]


def test_compartment_descendants_include_nested_compartments(server: Server) -> None:
    tid = tenancy_id(server, "contoso-prod")
    tree = server.gql("query($id: ID!) { tenancy(id: $id) { compartments { id name children { name } } } }", {"id": tid})
    apps = next(c for c in tree["tenancy"]["compartments"] if c["name"] == "contoso-apps")
    assert apps["children"] == [{"name": "contoso-apps-web"}]
    data = server.gql(
        "query($id: ID!) { compartment(id: $id) { descendants(first: 100) { totalCount edges { node { name kind } } } } }",
        {"id": apps["id"]},
    )
    names = sorted((e["node"]["kind"], e["node"]["name"]) for e in data["compartment"]["descendants"]["edges"])
    assert names == [
        ("Compartment", "contoso-apps-web"), ("ComputeInstance", "contoso-web-1"), ("Database", "contoso-orders-db"),
        ("LoadBalancer", "contoso-alb"), ("ObjectStore", "contoso-assets"),
    ]
    assert data["compartment"]["descendants"]["totalCount"] == 5


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"kinds": ["Database"]}, {"contoso-orders-db", "sql-ledger", "erp-adb"}),
        ({"kinds": ["Subnet"], "providers": ["GCP", "OCI"]}, {"research-subnet", "northwind-app-subnet"}),
        ({"text": "ML-"}, {"ml-trainer", "ml-datasets", "ml-jobs"}),
        ({"text": "100%"}, set()),
        ({"regions": ["westeurope"], "kinds": ["Network"]}, {"vnet-finance"}),
        ({"tags": [{"key": "client", "value": "northwind"}], "kinds": ["ComputeInstance", "Volume"]}, {"erp-app-1", "erp-app-1-boot"}),
    ],
)
def test_ci_search_filters(server: Server, filter_: dict, expected: set[str]) -> None:
    # Scoped to the demo's client tenancies: other tests add CIs of their own to the same database.
    names: set[str] = set()
    total = 0
    for tenancy in ("contoso-prod", "contoso-finance-azure", "fabrikam-research-gcp", "northwind-oci"):
        scoped = {**filter_, "tenancyId": tenancy_id(server, tenancy)}
        data = server.gql("query($f: CiFilter) { cis(filter: $f, first: 100) { totalCount edges { node { name } } } }", {"f": scoped})
        names |= {e["node"]["name"] for e in data["cis"]["edges"]}
        total += data["cis"]["totalCount"]
    assert names == expected
    assert total == len(expected)


def test_ci_search_by_tenancy_and_compartment_scope(server: Server) -> None:
    tid = tenancy_id(server, "fabrikam-research-gcp")
    by_tenancy = server.gql(
        "query($t: ID!) { cis(filter: {tenancyId: $t}, first: 100) { edges { node { name } } } }", {"t": tid}
    )
    assert {e["node"]["name"] for e in by_tenancy["cis"]["edges"]} == {
        "research", "research-ml", "research-vpc", "research-subnet", "ml-trainer", "ml-datasets", "ml-jobs",
    }
    ml = ci_id(server, "research-ml")
    in_ml = server.gql("query($c: ID!) { cis(filter: {compartmentId: $c}, first: 100) { edges { node { name } } } }", {"c": ml})
    assert {e["node"]["name"] for e in in_ml["cis"]["edges"]} == {"ml-trainer", "ml-datasets", "ml-jobs"}


def test_cursor_pagination_visits_every_ci_once(server: Server) -> None:
    total = server.gql("{ cis(first: 1) { totalCount } }")["cis"]["totalCount"]
    seen: list[str] = []
    after = None
    while True:
        page = server.gql(
            "query($a: String) { cis(first: 7, after: $a) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }",
            {"a": after},
        )["cis"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == total == len(set(seen))
    assert total >= 4 + 4 + 9 + 22  # root + client tenancies, compartments, demo resources


def test_neighbours_show_both_directions_and_filter_by_type(server: Server) -> None:
    subnet = ci_id(server, "contoso-private-a")
    data = server.gql(
        """query($id: ID!) { ci(id: $id) {
             all: neighbours { type direction node { ... on ConfigurationItem { name } } }
             deps: neighbours(types: [DEPENDS_ON], direction: INCOMING) { node { ... on ConfigurationItem { name } } }
           } }""",
        {"id": subnet},
    )
    got = {(n["type"], n["direction"], n["node"]["name"]) for n in data["ci"]["all"]}
    assert got == {
        ("CONTAINS", "INCOMING", "contoso-network"),
        ("DEPENDS_ON", "OUTGOING", "contoso-vpc"),
        ("DEPENDS_ON", "INCOMING", "contoso-alb"),
        ("DEPENDS_ON", "INCOMING", "contoso-web-1"),
        ("DEPENDS_ON", "INCOMING", "contoso-orders-db"),
    }
    assert {n["node"]["name"] for n in data["ci"]["deps"]} == {"contoso-alb", "contoso-web-1", "contoso-orders-db"}


def test_impact_set_is_transitive_and_bounded_by_depth(server: Server) -> None:
    vpc = ci_id(server, "contoso-vpc")
    query = "query($id: ID!, $d: Int!) { ci(id: $id) { impact(depth: $d) { totalCount edges { depth node { name } } } } }"
    one = server.gql(query, {"id": vpc, "d": 1})["ci"]["impact"]
    assert {(e["depth"], e["node"]["name"]) for e in one["edges"]} == {(1, "contoso-private-a"), (1, "contoso-web-sg")}
    three = server.gql(query, {"id": vpc, "d": 3})["ci"]["impact"]
    assert {(e["depth"], e["node"]["name"]) for e in three["edges"]} == {
        (1, "contoso-private-a"), (1, "contoso-web-sg"),
        (2, "contoso-alb"), (2, "contoso-web-1"), (2, "contoso-orders-db"),
    }
    assert three["totalCount"] == 5
    depths = [e["depth"] for e in three["edges"]]
    assert depths == sorted(depths)


def test_impact_pages_do_not_overlap(server: Server) -> None:
    vpc = ci_id(server, "contoso-vpc")
    query = "query($id: ID!, $a: String) { ci(id: $id) { impact(depth: 3, first: 2, after: $a) { edges { node { name } } pageInfo { hasNextPage endCursor } } } }"
    names: list[str] = []
    after = None
    for _ in range(5):
        page = server.gql(query, {"id": vpc, "a": after})["ci"]["impact"]
        names += [e["node"]["name"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(names) == 5 == len(set(names))


def test_semantic_and_provider_terms_side_by_side(server: Server) -> None:
    rg = ci_id(server, "rg-finance-core")
    aks = ci_id(server, "aks-finance")
    data = server.gql(
        "query($a: ID!, $b: ID!) { a: ci(id: $a) { semanticTerm providerTerm displayKind } b: ci(id: $b) { kind nativeType displayKind tenancy { name } compartment { name } } }",
        {"a": rg, "b": aks},
    )
    assert data["a"] == {"semanticTerm": "Compartment", "providerTerm": "Resource Group", "displayKind": "Compartment (Resource Group)"}
    assert data["b"] == {
        "kind": "KubernetesCluster",
        "nativeType": "azure-native:containerservice:ManagedCluster",
        "displayKind": "Kubernetes Cluster (AKS Cluster)",
        "tenancy": {"name": "contoso-finance-azure"},
        "compartment": {"name": "rg-finance-core"},
    }


def test_tenants_connection_pages(server: Server) -> None:
    first = server.gql("{ tenants(first: 2) { edges { node { id name } } pageInfo { hasNextPage endCursor } } }")["tenants"]
    assert len(first["edges"]) == 2 and first["pageInfo"]["hasNextPage"] is True
    rest = server.gql(
        "query($a: String) { tenants(first: 100, after: $a) { edges { node { id name } } } }", {"a": first["pageInfo"]["endCursor"]}
    )["tenants"]
    ids = [e["node"]["id"] for e in first["edges"] + rest["edges"]]
    assert len(ids) == len(set(ids))
    assert {"contoso", "fabrikam", "northwind"} <= {e["node"]["name"] for e in first["edges"] + rest["edges"]}


def test_impact_of_a_ci_nothing_depends_on_is_empty(server: Server) -> None:
    leaf = ci_id(server, "contoso-alb")
    data = server.gql("query($id: ID!) { ci(id: $id) { impact { totalCount edges { depth } pageInfo { hasNextPage endCursor } } } }", {"id": leaf})
    assert data["ci"]["impact"] == {"totalCount": 0, "edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}


def test_impact_past_the_last_page_still_counts_the_whole_set(server: Server) -> None:
    vpc = ci_id(server, "contoso-vpc")
    query = "query($id: ID!, $a: String) { ci(id: $id) { impact(depth: 3, first: 5, after: $a) { totalCount edges { depth } pageInfo { endCursor } } } }"
    full = server.gql(query, {"id": vpc, "a": None})["ci"]["impact"]
    beyond = server.gql(query, {"id": vpc, "a": full["pageInfo"]["endCursor"]})["ci"]["impact"]
    assert beyond == {"totalCount": 5, "edges": [], "pageInfo": {"endCursor": None}}
