"""Bad and abusive requests: each gets a clear error with a code, and nothing leaks or changes."""

from __future__ import annotations

import pytest

from tests.conftest import Server, unique


def codes(errors: list[dict]) -> list[str | None]:
    return [(e.get("extensions") or {}).get("code") for e in errors]


def test_malformed_graphql_is_a_syntax_error(server: Server) -> None:
    status, errors, data = server.errors("{ providers { name ")
    assert status == 200 and data is None
    assert errors[0]["message"].startswith("Syntax Error")


def test_unknown_field_is_a_validation_error(server: Server) -> None:
    status, errors, _ = server.errors("{ providers { password } }")
    assert "Cannot query field 'password'" in errors[0]["message"]


def test_wrong_variable_type_is_refused(server: Server) -> None:
    status, errors, data = server.errors("query($n: Int!) { cis(first: $n) { totalCount } }", {"n": "ten"})
    assert data is None and "Int cannot represent" in errors[0]["message"]


def test_over_deep_query_is_refused(server: Server) -> None:
    nested = "name " + "children { name " * 12 + "}" * 12
    status, errors, data = server.errors(f"{{ compartment(id: \"00000000-0000-4000-8000-000000000000\") {{ {nested} }} }}")
    assert data is None and "exceeds maximum operation depth" in errors[0]["message"]


def test_too_many_aliases_are_refused(server: Server) -> None:
    aliases = " ".join(f"a{i}: providers {{ name }}" for i in range(31))
    _, errors, data = server.errors(f"{{ {aliases} }}")
    assert data is None and "aliases found" in errors[0]["message"]


def test_too_many_tokens_are_refused(server: Server) -> None:
    fields = " ".join("name" for _ in range(3100))
    _, errors, data = server.errors(f"{{ providers {{ {fields} }} }}")
    assert data is None and errors[0]["message"] == "Syntax Error: Document contains more than 3000 tokens. Parsing aborted."


@pytest.mark.parametrize("first", [0, -1, 101, 100000])
def test_page_size_outside_limits_is_refused(server: Server, first: int) -> None:
    _, errors, data = server.errors("query($n: Int!) { cis(first: $n) { totalCount } }", {"n": first})
    assert data is None and codes(errors) == ["PAGE_SIZE"]
    assert errors[0]["message"] == "first must be between 1 and 100"


def test_batches_over_the_limit_are_refused(server: Server) -> None:
    r = server.post([{"query": "{ providers { name } }"}] * 11)
    assert r.status_code == 400
    assert "Too many operations" in r.text


def test_small_batch_works(server: Server) -> None:
    r = server.post([{"query": "{ providers { name } }"}, {"query": "{ tenants(first: 1) { edges { node { name } } } }"}])
    body = r.json()
    assert r.status_code == 200 and len(body) == 2 and all("data" in b and not b.get("errors") for b in body)


def test_oversized_body_is_refused_before_parsing(server: Server) -> None:
    r = server.http.post("/graphql", content=b'{"query": "' + b"x" * 300_000 + b'"}', headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"


def test_non_json_body_is_refused(server: Server) -> None:
    r = server.http.post("/graphql", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400


@pytest.mark.parametrize("bad_id", ["abc", "1234", "'; DROP TABLE x; --", ""])
def test_malformed_ids_are_refused_with_a_code(server: Server, bad_id: str) -> None:
    _, errors, data = server.errors("query($id: ID!) { node(id: $id) { id } }", {"id": bad_id})
    assert data == {"node": None} and codes(errors) == ["INVALID_ID"]


def test_malformed_cursor_is_refused(server: Server) -> None:
    _, errors, data = server.errors('{ cis(after: "!!!not-a-cursor") { totalCount } }')
    assert data is None and codes(errors) == ["INVALID_CURSOR"]


def test_impact_depth_is_bounded(server: Server) -> None:
    any_ci = server.gql("{ cis(first: 1) { edges { node { id } } } }")["cis"]["edges"][0]["node"]["id"]
    _, errors, _ = server.errors("query($id: ID!) { ci(id: $id) { impact(depth: 9) { totalCount } } }", {"id": any_ci})
    assert codes(errors) == ["DEPTH"]


def test_mutation_over_get_is_refused_and_creates_nothing(server: Server) -> None:
    name = unique("viaget")
    r = server.http.get("/graphql", params={"query": f'mutation {{ providerCreate(input: {{name: "{name}"}}) {{ __typename }} }}'})
    assert r.status_code == 400 and "mutations are not allowed" in r.text.lower()
    assert name not in {p["name"] for p in server.gql("{ providers { name } }")["providers"]}


def test_text_filter_is_bounded(server: Server) -> None:
    _, errors, data = server.errors("query($t: String!) { cis(filter: {text: $t}) { totalCount } }", {"t": "x" * 201})
    assert data is None and codes(errors) == ["INVALID_FILTER"]


def test_like_wildcards_in_text_are_literal(server: Server) -> None:
    everything = server.gql("{ cis(first: 1) { totalCount } }")["cis"]["totalCount"]
    assert everything > 0
    assert server.gql('{ cis(filter: {text: "%"}) { totalCount } }')["cis"]["totalCount"] == 0
    assert server.gql('{ cis(filter: {text: "_"}) { totalCount } }')["cis"]["totalCount"] == 0
