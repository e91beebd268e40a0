"""An installation's own semantic layer through GraphQL, and its effect on what is ingested next."""

from __future__ import annotations

from tests.conftest import Pg, Server
from tests.test_ingest_reconcile import ingest
from tests.test_ingest_translate import STATES
from tests.test_mutations import backend, provider, tenancy, tenant

RESULT = "__typename ... on Problem { code message } ... on ValidationProblem { field } ... on NotFound { id }"

VM_STATE = next(p for p in STATES if p.name == "azure-native-networked-vm.json")


def terms_of(server: Server, provider_id: str, kind: str) -> dict[str, dict]:
    data = server.gql(
        "query($p: ID!) { semanticVocabulary(providerId: $p) { kind term container cloudTerms { cloud term defaultTerm overridden } } }",
        {"p": provider_id},
    )["semanticVocabulary"]
    [info] = [k for k in data if k["kind"] == kind]
    return {t["cloud"]: t for t in info["cloudTerms"]} | {"_": info}


def test_vocabulary_shows_each_clouds_term(server: Server) -> None:
    p = provider(server)
    compartment = terms_of(server, p["id"], "Compartment")
    assert compartment["_"]["term"] == "Compartment" and compartment["_"]["container"] is True
    assert compartment["AZURE"] == {"cloud": "AZURE", "term": "Resource Group", "defaultTerm": "Resource Group", "overridden": False}
    assert compartment["OCI"]["term"] == "Compartment" and compartment["KUBERNETES"]["term"] == "Namespace"


def test_overrides_change_what_is_ingested_next(pg: Pg, server: Server) -> None:
    p = provider(server)
    tenancy(server, backend(server, p["id"], "AZURE")["id"])
    owner = tenant(server, p["id"])["id"]
    term = server.gql(
        "mutation($i: SemanticTermInput!) { semanticTermSet(input: $i) { __typename ... on CloudTerm { term defaultTerm overridden } } }",
        {"i": {"providerId": p["id"], "kind": "Compartment", "cloud": "AZURE", "term": "Ressourcengruppe"}},
    )["semanticTermSet"]
    assert term == {"__typename": "CloudTerm", "term": "Ressourcengruppe", "defaultTerm": "Resource Group", "overridden": True}
    rule = server.gql(
        f"mutation($i: SemanticMappingInput!) {{ semanticMappingSet(input: $i) {{ {RESULT} ... on SemanticMapping {{ tokenPattern kind }} }} }}",
        {"i": {"providerId": p["id"], "tokenPattern": "azure-native:network:PublicIPAddress", "kind": "NetworkInterface"}},
    )["semanticMappingSet"]
    assert rule == {"__typename": "SemanticMapping", "tokenPattern": "azure-native:network:PublicIPAddress", "kind": "NetworkInterface"}
    classified = server.gql(
        "query($p: ID!) { semanticClassify(providerId: $p, tokens: [\"azure-native:network:PublicIPAddress\", \"acme:x:Y\"]) { token kind mapped } }",
        {"p": p["id"]},
    )["semanticClassify"]
    assert classified == [
        {"token": "azure-native:network:PublicIPAddress", "kind": "NetworkInterface", "mapped": True},
        {"token": "acme:x:Y", "kind": "Resource", "mapped": False},
    ]
    result = ingest(pg, [VM_STATE], owner, "--organization", "semantics-test")
    assert result.returncode == 0, result.stderr
    tenancies = server.gql("query($id: ID!) { tenant(id: $id) { tenancies { id } } }", {"id": owner})["tenant"]["tenancies"]
    found = server.gql(
        "query($t: ID!) { cis(filter: {tenancyId: $t}, first: 50) { edges { node { name kind displayKind } } } }",
        {"t": tenancies[0]["id"]},
    )["cis"]["edges"]
    by_name = {e["node"]["name"]: e["node"] for e in found}
    assert by_name["rg8baa4592"]["displayKind"] == "Compartment (Ressourcengruppe)"
    assert by_name["publicIp"]["kind"] == "NetworkInterface"


def test_mappings_are_listed_and_removed(server: Server) -> None:
    p = provider(server)
    set_rule = "mutation($i: SemanticMappingInput!) { semanticMappingSet(input: $i) { __typename } }"
    server.gql(set_rule, {"i": {"providerId": p["id"], "tokenPattern": "acme:*", "kind": "Function"}})
    listed = server.gql("query($p: ID!) { semanticMappings(providerId: $p) { tokenPattern kind } }", {"p": p["id"]})
    assert listed["semanticMappings"] == [{"tokenPattern": "acme:*", "kind": "Function"}]
    remove = "mutation($p: ID!) { semanticMappingDelete(providerId: $p, tokenPattern: \"acme:*\") { ... on Removed { removed } } }"
    assert server.gql(remove, {"p": p["id"]})["semanticMappingDelete"] == {"removed": True}
    assert server.gql(remove, {"p": p["id"]})["semanticMappingDelete"] == {"removed": False}
    assert server.gql("query($p: ID!) { semanticMappings(providerId: $p) { tokenPattern } }", {"p": p["id"]})["semanticMappings"] == []


def test_bad_overrides_are_refused_and_change_nothing(server: Server) -> None:
    p = provider(server)
    query = f"mutation($i: SemanticMappingInput!) {{ semanticMappingSet(input: $i) {{ {RESULT} }} }}"
    bad = server.gql(query, {"i": {"providerId": p["id"], "tokenPattern": "aws:ec2/*; DROP", "kind": "Network"}})["semanticMappingSet"]
    assert bad["__typename"] == "ValidationProblem" and bad["field"] == "tokenPattern"
    nobody = server.gql(query, {"i": {"providerId": "00000000-0000-4000-8000-00000000beef", "tokenPattern": "aws:*", "kind": "Network"}})
    assert nobody["semanticMappingSet"]["__typename"] == "NotFound"
    term = server.gql(
        f"mutation($i: SemanticTermInput!) {{ semanticTermSet(input: $i) {{ {RESULT} }} }}",
        {"i": {"providerId": p["id"], "kind": "Network", "cloud": "AWS", "term": "   "}},
    )["semanticTermSet"]
    assert term["__typename"] == "ValidationProblem" and term["field"] == "term"
    _, errors, _ = server.errors(
        "mutation($i: SemanticMappingInput!) { semanticMappingSet(input: $i) { __typename } }",
        {"i": {"providerId": p["id"], "tokenPattern": "aws:*", "kind": "Spaceship"}},
    )
    assert "Spaceship" in errors[0]["message"]
    assert server.gql("query($p: ID!) { semanticMappings(providerId: $p) { tokenPattern } }", {"p": p["id"]})["semanticMappings"] == []
    assert terms_of(server, p["id"], "Network")["AWS"]["overridden"] is False
