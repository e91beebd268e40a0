"""Tenants never see or touch each other's data: personas against a real server, by id, by search,
by nested field, by subscription and by mutation; and bad credentials are refused and audited."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from skyloom.graph import identity
from skyloom.graph.pool import Database
from tests.conftest import GRAPH, Pg, Server, make_token
from tests.test_mutations import RESULT, backend, compartment, provider, tenancy, tenant
from tests.test_subscriptions import CHANGES, events

NAMES = "query($t: String!) { cis(filter: {kinds: [Tenancy, Compartment], text: $t}, first: 100) { edges { node { name } } } }"


@dataclass
class World:
    prefix: str
    ids: dict[str, str]
    tokens: dict[str, str]

    def name(self, short: str) -> str:
        return f"{self.prefix}-{short}"


def ask(server: Server, token: str | None, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {"Authorization": ""}
    return httpx.post(f"{server.url}/graphql", json={"query": query, "variables": variables or {}}, headers=headers, timeout=30)


def data(server: Server, token: str | None, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    r = ask(server, token, query, variables)
    body = r.json()
    assert r.status_code == 200 and not body.get("errors"), body
    return body["data"]


@pytest.fixture(scope="module")
def world(server: Server, pg: Pg) -> World:
    """Provider P with one AWS root tenancy; tenant t1 (sub-tenant s1, sub-tenancy ty1 with
    compartments c1 > c1a, c1-restricted, c1-prod) and tenant t2 (s2, ty2 with c2)."""
    prefix = f"acz{secrets.token_hex(3)}"
    p = provider(server)
    root = tenancy(server, backend(server, p["id"], "AWS")["id"], name=f"{prefix}-root")
    t1, t2 = tenant(server, p["id"]), tenant(server, p["id"])
    s1 = server.gql(f'mutation($t: ID!) {{ subTenantCreate(input: {{tenantId: $t, name: "{prefix}-s1"}}) {{ ... on SubTenant {{ id }} }} }}',
                    {"t": t1["id"]})["subTenantCreate"]
    s2 = server.gql(f'mutation($t: ID!) {{ subTenantCreate(input: {{tenantId: $t, name: "{prefix}-s2"}}) {{ ... on SubTenant {{ id }} }} }}',
                    {"t": t2["id"]})["subTenantCreate"]
    ty1 = tenancy(server, root["id"], owner_id=s1["id"], name=f"{prefix}-ty1")
    ty2 = tenancy(server, root["id"], owner_id=s2["id"], name=f"{prefix}-ty2")
    c1 = compartment(server, ty1["id"], name=f"{prefix}-c1")
    c1a = compartment(server, c1["id"], name=f"{prefix}-c1a")
    restricted = compartment(server, c1["id"], name=f"{prefix}-c1-restricted",
                             tags=[{"key": "data-classification", "value": "restricted"}])
    prod = compartment(server, c1["id"], name=f"{prefix}-c1-prod", tags=[{"key": "environment", "value": "production"}])
    c2 = compartment(server, ty2["id"], name=f"{prefix}-c2")
    ids = {"p": p["id"], "root": root["id"], "t1": t1["id"], "t2": t2["id"], "s1": s1["id"], "s2": s2["id"],
           "ty1": ty1["id"], "ty2": ty2["id"], "c1": c1["id"], "c1a": c1a["id"], "c1-restricted": restricted["id"],
           "c1-prod": prod["id"], "c2": c2["id"]}
    personas = {
        "operator": [("provider-operator", "provider", ids["p"])],
        "tenant_admin": [("tenant-admin", "tenant", ids["t1"])],
        "subtenant_admin": [("subtenant-admin", "subtenant", ids["s1"])],
        "editor": [("editor", "compartment", ids["c1"])],
        "viewer": [("viewer", "tenant", ids["t1"])],
        "auditor": [("auditor", "tenant", ids["t1"])],
        "outsider": [("tenant-admin", "tenant", ids["t2"])],
    }
    tokens = {who: make_token(pg.app_url, f"{prefix}-{who}", bindings)[0] for who, bindings in personas.items()}
    return World(prefix, ids, tokens)


def names(server: Server, world: World, token: str | None) -> set[str]:
    found = data(server, token, NAMES, {"t": world.prefix})["cis"]["edges"]
    return {e["node"]["name"].removeprefix(world.prefix + "-") for e in found}


TENANT_ONE = {"ty1", "c1", "c1a", "c1-prod"}   # service tokens are password-strength: restricted CIs stay hidden


@pytest.mark.parametrize(("persona", "expected"), [
    ("operator", {"root", "ty1", "ty2", "c1", "c1a", "c1-prod", "c2"}),
    ("tenant_admin", TENANT_ONE),
    ("subtenant_admin", TENANT_ONE),
    ("viewer", TENANT_ONE),
    ("auditor", TENANT_ONE),
    ("editor", {"c1", "c1a", "c1-prod"}),       # a compartment binding reaches its subtree, not the tenancy
    ("outsider", {"ty2", "c2"}),
])
def test_search_returns_exactly_the_callers_scope(server: Server, world: World, persona: str, expected: set[str]) -> None:
    assert names(server, world, world.tokens[persona]) == expected


def test_anonymous_callers_see_nothing(server: Server, world: World) -> None:
    assert names(server, world, None) == set()
    assert data(server, None, "{ providers { id } tenants { edges { node { id } } } }") == {
        "providers": [], "tenants": {"edges": []}}


def test_another_tenants_objects_are_absent_by_id(server: Server, world: World) -> None:
    query = "query($id: ID!) { node(id: $id) { id } compartment(id: $id) { name } ci(id: $id) { name } }"
    for short in ("c2", "ty2", "s2", "t2"):
        assert data(server, world.tokens["tenant_admin"], query, {"id": world.ids[short]}) == {
            "node": None, "compartment": None, "ci": None}
    assert data(server, world.tokens["outsider"], query, {"id": world.ids["c2"]})["compartment"] == {"name": world.name("c2")}
    # A restricted CI is absent even inside the caller's own tenant without a second factor.
    assert data(server, world.tokens["tenant_admin"], query, {"id": world.ids["c1-restricted"]})["node"] is None


def test_nested_fields_never_reach_past_the_scope(server: Server, world: World) -> None:
    query = """query($t: ID!, $s: ID!) {
      tenant(id: $t) { subTenants { name } tenancies { name } }
      subTenant(id: $s) { tenancies { name } }
      compartmentTree(tenancyId: "%s") { compartment { name } }
    }""" % world.ids["ty1"]
    mine = data(server, world.tokens["tenant_admin"], query, {"t": world.ids["t1"], "s": world.ids["s1"]})
    assert mine["tenant"]["subTenants"] == [{"name": world.name("s1")}]
    assert [c["compartment"]["name"] for c in mine["compartmentTree"]] == [
        world.name(n) for n in ("c1", "c1-prod", "c1a")]   # parents first, then by name
    theirs = data(server, world.tokens["outsider"], query, {"t": world.ids["t1"], "s": world.ids["s1"]})
    assert theirs == {"tenant": None, "subTenant": None, "compartmentTree": []}
    # Tenants list: each tenant admin sees its own tenant only; providers are not theirs to see.
    listed = data(server, world.tokens["outsider"], "{ providers { id } tenants(first: 100) { edges { node { id } } } }")
    assert listed == {"providers": [], "tenants": {"edges": [{"node": {"id": world.ids["t2"]}}]}}


def current_name(server: Server, uid: str) -> tuple[str, int]:
    found = server.gql("query($id: ID!) { compartment(id: $id) { name version } }", {"id": uid})["compartment"]
    return found["name"], found["version"]


UPDATE = f"mutation($i: CompartmentUpdateInput!) {{ compartmentUpdate(input: $i) {{ {RESULT} ... on Forbidden {{ needsProof }} }} }}"


@pytest.mark.parametrize(("persona", "target", "code"), [
    ("outsider", "c1", "NOT_FOUND"),          # another tenant's: it does not exist for them
    ("viewer", "c1", "FORBIDDEN"),            # visible, read-only
    ("auditor", "c1", "FORBIDDEN"),
    ("editor", "c1-prod", "FORBIDDEN"),       # production changes need a tenant admin
    ("tenant_admin", "c2", "NOT_FOUND"),
])
def test_refused_updates_change_nothing(server: Server, world: World, persona: str, target: str, code: str) -> None:
    before = current_name(server, world.ids[target])
    r = data(server, world.tokens[persona], UPDATE, {"i": {"id": world.ids[target], "name": "taken-over"}})
    assert r["compartmentUpdate"]["code"] == code
    assert current_name(server, world.ids[target]) == before


def test_allowed_updates_within_the_scope(server: Server, world: World) -> None:
    r = data(server, world.tokens["editor"], UPDATE, {"i": {"id": world.ids["c1a"], "tags": [{"key": "team", "value": "web"}]}})
    assert r["compartmentUpdate"]["__typename"] == "Compartment"
    r = data(server, world.tokens["tenant_admin"], UPDATE,
             {"i": {"id": world.ids["c1-prod"], "tags": [{"key": "environment", "value": "production"}, {"key": "x", "value": "y"}]}})
    assert r["compartmentUpdate"]["__typename"] == "Compartment"


def test_cross_tenant_creates_deletes_and_moves_are_refused_and_change_nothing(server: Server, world: World) -> None:
    create = f'mutation($p: ID!) {{ compartmentCreate(input: {{parentId: $p, name: "{world.prefix}-intruder"}}) {{ {RESULT} }} }}'
    assert data(server, world.tokens["outsider"], create, {"p": world.ids["c1"]})["compartmentCreate"]["code"] == "NOT_FOUND"
    delete = f"mutation($id: ID!) {{ compartmentDelete(id: $id) {{ {RESULT} }} }}"
    assert data(server, world.tokens["outsider"], delete, {"id": world.ids["c1a"]})["compartmentDelete"]["code"] == "NOT_FOUND"
    move = f"mutation($i: TenancyUpdateInput!) {{ tenancyUpdate(input: $i) {{ {RESULT} }} }}"
    moved = data(server, world.tokens["tenant_admin"], move, {"i": {"id": world.ids["ty1"], "ownerId": world.ids["s2"]}})
    assert moved["tenancyUpdate"]["code"] == "NOT_FOUND"       # the destination is another tenant's
    owner = server.gql("query($id: ID!) { tenancy(id: $id) { owner { ... on SubTenant { id } } } }", {"id": world.ids["ty1"]})
    assert owner["tenancy"]["owner"] == {"id": world.ids["s1"]}
    assert names(server, world, world.tokens["operator"]) == {"root", "ty1", "ty2", "c1", "c1a", "c1-prod", "c2"}


def test_only_the_root_group_creates_providers(server: Server, world: World) -> None:
    query = f'mutation {{ providerCreate(input: {{name: "{world.prefix}-np"}}) {{ {RESULT} }} }}'
    assert data(server, world.tokens["operator"], query)["providerCreate"]["code"] == "FORBIDDEN"
    assert data(server, None, query)["providerCreate"]["code"] == "FORBIDDEN"
    assert server.gql(query)["providerCreate"]["__typename"] == "Provider"


def test_subscriptions_deliver_only_the_callers_tenant(server: Server, world: World, subscribe) -> None:
    mine = subscribe(server.ws_url, CHANGES, {}, count=1, token=world.tokens["outsider"])
    theirs = subscribe(server.ws_url, CHANGES, {}, count=1, token=world.tokens["tenant_admin"])
    mine.wait_connected()
    theirs.wait_connected()
    compartment(server, world.ids["ty1"], name=f"{world.prefix}-live-1")
    compartment(server, world.ids["ty2"], name=f"{world.prefix}-live-2")
    code, lines = mine.results()
    assert code == 0 and [e["after"]["name"] for e in events(lines)] == [f"{world.prefix}-live-2"]
    code, lines = theirs.results()
    assert code == 0 and [e["after"]["name"] for e in events(lines)] == [f"{world.prefix}-live-1"]


def test_a_websocket_with_a_forged_token_is_refused(server: Server, world: World, subscribe) -> None:
    sub = subscribe(server.ws_url, CHANGES, {}, count=1, token="sky_" + "A" * 46)
    code, lines = sub.results()
    assert code == 1 and lines[0]["event"] == "error" and lines[0]["error"]["code"] == 4403


def audit_failures(pg: Pg, request_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        return cur.execute("SELECT * FROM skyloom.audit_entry WHERE type = 'auth.failure' AND request_id = %s",
                           (request_id,)).fetchall()


@pytest.mark.parametrize("credential", ["Bearer sky_" + "A" * 46, "Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer"])
def test_forged_tokens_are_401_audited_and_change_nothing(server: Server, pg: Pg, world: World, credential: str) -> None:
    request_id = f"forged-{secrets.token_hex(4)}"
    query = f'mutation {{ providerCreate(input: {{name: "{world.prefix}-forged"}}) {{ __typename }} }}'
    r = httpx.post(f"{server.url}/graphql", json={"query": query},
                   headers={"Authorization": credential, "X-Request-ID": request_id}, timeout=30)
    assert r.status_code == 401 and r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    [entry] = audit_failures(pg, request_id)
    assert (entry["outcome"], entry["priority"], entry["actor"]) == ("denied", "warn", "anonymous")
    assert server.gql("{ providers { name } }")["providers"] and world.name("forged") not in {
        p["name"] for p in server.gql("{ providers { name } }")["providers"]}


def test_a_tampered_or_revoked_token_stops_working_at_once(server: Server, pg: Pg, world: World) -> None:
    token, actor = make_token(pg.app_url, f"{world.prefix}-revoked", [("viewer", "tenant", world.ids["t1"])])
    seen = names(server, world, token)
    assert TENANT_ONE <= seen and not seen & {"root", "ty2", "c2", "c1-restricted"}
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert ask(server, tampered, NAMES, {"t": world.prefix}).status_code == 401

    async def revoke() -> None:
        db = Database(pg.app_url, GRAPH, min_size=1, max_size=1)
        await db.open()
        try:
            [info] = await identity.list_api_tokens(db, __import__("uuid").UUID(actor.split(":", 1)[1]))
            await identity.revoke_api_token(db, info.id)
        finally:
            await db.close()

    asyncio.run(revoke())
    assert ask(server, token, NAMES, {"t": world.prefix}).status_code == 401


def test_the_audit_trail_is_scoped_to_the_callers_tenant(server: Server, world: World) -> None:
    # Changes in both tenants, then each tenant's admin reads the trail.
    compartment(server, world.ids["ty1"], name=f"{world.prefix}-audit-1")
    compartment(server, world.ids["ty2"], name=f"{world.prefix}-audit-2")
    time.sleep(0.2)
    query = "{ auditTrail(filter: {types: [\"ci.create\"]}, first: 100) { edges { node { tenantId subTenantId detail } } } }"
    for persona, own_tenant, own_name in (("tenant_admin", "t1", "audit-1"), ("outsider", "t2", "audit-2")):
        seen = [e["node"] for e in data(server, world.tokens[persona], query)["auditTrail"]["edges"]]
        assert seen and {n["tenantId"] for n in seen} == {world.ids[own_tenant]}
        assert world.name(own_name) in {n["detail"].get("name") for n in seen}
    assert data(server, None, query)["auditTrail"]["edges"] == []
    r = ask(server, world.tokens["tenant_admin"], "{ auditVerify { ok } }")
    assert r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def browser_session(pg: Pg, world: World, who: str, strength: Any) -> tuple[str, str]:
    """A signed-in person (as the login routes would make one): tenant admin of t1, with a session
    of the given authentication strength. Returns (session cookie, CSRF token)."""
    from datetime import timedelta

    async def make() -> tuple[str, str]:
        db = Database(pg.app_url, GRAPH, min_size=1, max_size=1)
        await db.open()
        try:
            idp_id = f"{world.prefix}-idp"
            if await identity.get_idp(db, idp_id) is None:
                await identity.create_idp(db, identity.IdentityProvider(
                    idp_id, "oidc", "test idp", world.ids["p"], world.ids["t1"], {}, auto_create_users=True))
            user = await identity.provision(db, identity.ProvisionRequest(idp_id, who, f"{who}@example.test", who))
            await identity.create_binding(db, "user", user.id, "tenant-admin", "tenant", world.ids["t1"], "system:tests")
            return await identity.open_session(db, user.id, strength, timedelta(minutes=10))
        finally:
            await db.close()

    return asyncio.run(make())


def test_restricted_cis_need_a_second_factor_and_sessions_need_csrf(server: Server, pg: Pg, world: World) -> None:
    from skyloom.policy.actor import AuthStrength

    strong, strong_csrf = browser_session(pg, world, f"{world.prefix}-mfa", AuthStrength.MULTI_FACTOR)
    weak, _ = browser_session(pg, world, f"{world.prefix}-pwd", AuthStrength.PASSWORD)
    query = "query($id: ID!) { compartment(id: $id) { name } }"
    params = {"query": query, "variables": '{"id": "%s"}' % world.ids["c1-restricted"]}

    def get(session: str) -> Any:
        r = httpx.get(f"{server.url}/graphql", params=params, cookies={"skyloom_session": session}, timeout=30)
        return r.json()["data"]["compartment"]

    assert get(strong) == {"name": world.name("c1-restricted")}
    assert get(weak) is None
    # A state-changing POST with the cookie alone is refused (cross-site request forgery) ...
    post = {"query": UPDATE, "variables": {"i": {"id": world.ids["c1a"], "name": f"{world.prefix}-csrf"}}}
    r = httpx.post(f"{server.url}/graphql", json=post, cookies={"skyloom_session": strong}, timeout=30)
    assert r.status_code == 401 and r.json()["errors"][0]["extensions"]["code"] == "CSRF"
    assert current_name(server, world.ids["c1a"])[0] == world.name("c1a")
    # ... and accepted with the session's CSRF token.
    r = httpx.post(f"{server.url}/graphql", json=post, cookies={"skyloom_session": strong},
                   headers={"X-CSRF-Token": strong_csrf}, timeout=30)
    assert r.json()["data"]["compartmentUpdate"]["__typename"] == "Compartment"
    data(server, world.tokens["tenant_admin"], UPDATE, {"i": {"id": world.ids["c1a"], "name": world.name("c1a")}})


def test_admission_refuses_a_bad_name_and_an_unknown_tag_value_and_keeps_quotas(server: Server, world: World) -> None:
    create = f"mutation($i: CompartmentCreateInput!) {{ compartmentCreate(input: $i) {{ {RESULT} }} }}"
    bad_tag = data(server, world.tokens["tenant_admin"], create, {"i": {
        "parentId": world.ids["ty1"], "name": f"{world.prefix}-tagged", "tags": [{"key": "environment", "value": "prod"}]}})
    assert bad_tag["compartmentCreate"] == {"__typename": "ValidationProblem", "code": "TAG_VALUE_INVALID",
                                            "message": bad_tag["compartmentCreate"]["message"], "field": "tags"}
    tenant_name = f'mutation($p: ID!) {{ tenantCreate(input: {{providerId: $p, name: "x"}}) {{ {RESULT} }} }}'
    assert server.gql(tenant_name, {"p": world.ids["p"]})["tenantCreate"]["code"] in ("INVALID_INPUT", "NAME_INVALID")
    assert names(server, world, world.tokens["operator"]) >= {"c1"} and "tagged" not in names(server, world, world.tokens["operator"])


def test_a_quota_from_the_admission_rules_refuses_the_next_create(pg: Pg, world: World, tmp_path: Any) -> None:
    import json

    from skyloom.policy.admission import DEFAULT_RULES

    rules = json.loads(open(DEFAULT_RULES).read())
    rules["validate"] = [s for s in rules["validate"] if s["step"] != "quota"] + [
        {"step": "quota", "kinds": ["Compartment"], "per": "tenancy_id", "max": 2}]
    (tmp_path / "admission.json").write_text(json.dumps(rules))
    limited = Server(pg.app_url, {"SKYLOOM_ADMISSION": str(tmp_path / "admission.json")})
    try:
        tenancy_id = tenancy(limited, world.ids["root"], owner_id=world.ids["s2"], name=f"{world.prefix}-quota")["id"]
        made = [compartment(limited, tenancy_id, name=f"{world.prefix}-q{i}")["__typename"] for i in range(2)]
        third = compartment(limited, tenancy_id, name=f"{world.prefix}-q3")
        assert made == ["Compartment", "Compartment"]
        assert (third["__typename"], third["code"], third["field"]) == ("ValidationProblem", "QUOTA_EXCEEDED", "tenancyId")
        tree = limited.gql("query($t: ID!) { compartmentTree(tenancyId: $t) { compartment { name } } }", {"t": tenancy_id})
        assert len(tree["compartmentTree"]) == 2
    finally:
        limited.stop()


# Every CMDB and panel mutation, per persona: what it answers. "ok" is the object; a refusal is a
# code, and a refusal changes nothing (checked by counting what the mutation would have made).
MUTATIONS = {
    "tenantCreate": ('mutation($p: ID!, $n: String!) { r: tenantCreate(input: {providerId: $p, name: $n}) { %s } }', "p"),
    "subTenantCreate": ('mutation($p: ID!, $n: String!) { r: subTenantCreate(input: {tenantId: $p, name: $n}) { %s } }', "t1"),
    "cloudBackendCreate": ('mutation($p: ID!, $n: String!) { r: cloudBackendCreate(input: {providerId: $p, name: $n, cloud: GCP}) '
                           '{ %s } }', "p"),
    "tenancyCreate": ('mutation($p: ID!, $n: String!, $o: ID!) { r: tenancyCreate(input: {parentId: $p, name: $n, ownerId: $o}) '
                      '{ %s } }', "root"),
    "compartmentCreate": ('mutation($p: ID!, $n: String!) { r: compartmentCreate(input: {parentId: $p, name: $n}) { %s } }', "ty1"),
    "tenantUpdate": ('mutation($p: ID!, $n: String!) { r: tenantUpdate(input: {id: $p, displayName: $n}) { %s } }', "t1"),
    "providerUpdate": ('mutation($p: ID!, $n: String!) { r: providerUpdate(input: {id: $p, displayName: $n}) { %s } }', "p"),
    "semanticMappingSet": ('mutation($p: ID!) { r: semanticMappingSet(input: {providerId: $p, '
                           'tokenPattern: "acme:*", kind: Database}) { %s } }', "p"),
    "auditRetentionSet": ('mutation { r: auditRetentionSet(priority: DEBUG, keepDays: 399) { %s } }', None),
}
NF, FB = "NOT_FOUND", "FORBIDDEN"
GRID = {   # persona: outcome per mutation, in the order of MUTATIONS
    "operator":        ["ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", FB],
    "tenant_admin":    [NF, "ok", NF, NF, "ok", "ok", NF, NF, FB],
    "subtenant_admin": [NF, NF, NF, NF, "ok", NF, NF, NF, FB],
    "editor":          [NF, NF, NF, NF, NF, NF, NF, NF, FB],
    "viewer":          [NF, FB, NF, NF, FB, FB, NF, NF, FB],
    "auditor":         [NF, FB, NF, NF, FB, FB, NF, NF, FB],
    "outsider":        [NF, NF, NF, NF, NF, NF, NF, NF, FB],
    "anonymous":       [NF, NF, NF, NF, NF, NF, NF, NF, FB],
}
COUNTS = """query($p: ID!, $t: ID!, $ty: ID!) { provider(id: $p) { tenants { id } cloudBackends { id } }
  tenant(id: $t) { subTenants { id } } compartmentTree(tenancyId: $ty) { depth }
  tenancies(first: 100) { edges { node { id } } } auditRetention { priority keepDays } }"""


def world_counts(server: Server, world: World) -> dict[str, Any]:
    return server.gql(COUNTS, {"p": world.ids["p"], "t": world.ids["t1"], "ty": world.ids["ty1"]})


@pytest.mark.parametrize("persona", list(GRID))
def test_every_cmdb_mutation_by_every_persona(server: Server, world: World, persona: str) -> None:
    token = world.tokens.get(persona)
    for (name, (query, target)), expected in zip(MUTATIONS.items(), GRID[persona]):
        variables: dict[str, Any] = {}
        if "$n" in query:
            variables["n"] = f"{world.prefix}-{persona.replace('_', '-')}-{name.lower()}"[:40]
        if target is not None:
            variables["p"] = world.ids[target]
        if name == "tenancyCreate":
            variables["o"] = world.ids["s1"]
        selection = RESULT if "$n" in query else "__typename ... on Problem { code message }"
        before = world_counts(server, world)
        answer = data(server, token, query % selection, variables)["r"]
        if expected == "ok":
            assert "code" not in answer, (persona, name, answer)
        else:
            assert answer.get("code") == expected, (persona, name, answer)
            assert world_counts(server, world) == before, (persona, name)


def test_an_expired_token_is_refused(server: Server, pg: Pg, world: World) -> None:
    from datetime import timedelta

    async def expired() -> str:
        db = Database(pg.app_url, GRAPH, min_size=1, max_size=1)
        await db.open()
        try:
            account = await identity.create_service_account(db, f"{world.prefix}-expired", "system:tests")
            await identity.create_binding(db, "service", account.id, "viewer", "tenant", world.ids["t1"], "system:tests")
            token, _ = await identity.create_api_token(db, account.id, "short", "system:tests", expires_in=timedelta(seconds=1))
            return token
        finally:
            await db.close()

    token = asyncio.run(expired())
    assert TENANT_ONE <= names(server, world, token)
    time.sleep(1.2)
    r = ask(server, token, NAMES, {"t": world.prefix})
    assert r.status_code == 401 and r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_a_tenants_pages_walk_every_kind_and_tenancy_in_order(server: Server, pg: Pg, world: World) -> None:
    # Given a tenant with two sub-tenancies, each with compartments (made in alternating order)
    ty1b = tenancy(server, world.ids["root"], owner_id=world.ids["s1"], name=f"{world.prefix}-ty1b")["id"]
    made = [compartment(server, t, name=f"{world.prefix}-walk{i}")["id"]
            for i, t in enumerate([world.ids["ty1"], ty1b] * 3)]
    token, _ = make_token(pg.app_url, f"{world.prefix}-walker", [("viewer", "tenant", world.ids["t1"])])
    # When it pages through every CI it may see, two at a time
    seen, after = [], None
    query = "query($a: String) { cis(filter: {kinds: [Tenancy, Compartment], text: \"%s-walk\"}, first: 2, after: $a) " \
            "{ edges { node { id } } pageInfo { hasNextPage endCursor } } }" % world.prefix
    while True:
        page = data(server, token, query, {"a": after})["cis"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # Then it gets each exactly once, oldest first, across both tenancies
    assert seen == made
    # And the other tenant's walker sees none of them
    assert data(server, world.tokens["outsider"], query, {"a": None})["cis"]["edges"] == []
