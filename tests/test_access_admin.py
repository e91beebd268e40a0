"""The configuration API against a real server: an allow/deny grid per persona, privilege escalation, tokens,
scoped lists, identity providers and the policy reload.

Every refusal is checked twice: the exact answer, and that nothing an access change could touch has
changed (`counts`).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from skyloom.graph import identity as idn
from skyloom.graph.pool import Database
from skyloom.policy.actor import Actor, Binding
from skyloom.policy.adapter import DEFAULT_POLICY_DIR, Policy
from skyloom.policy.escalation import first_outranked
from skyloom.policy.resources import ConfigObject
from tests.access_world import (
    Persona,
    Token,
    World,
    admin_rows,
    build_world,
    counts,
    proven_operator,
    softhsm_token,
)
from tests.conftest import GRAPH, Pg, Server, unique

RESULT = "__typename ... on Forbidden { code needsProof } ... on Problem { code }"


@pytest.fixture(scope="module")
def world(server: Server, pg: Pg) -> World:
    return build_world(server, pg)


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Token:
    return softhsm_token(tmp_path_factory.mktemp("access-hsm"))


@pytest.fixture(scope="module")
def proven(server: Server, world: World, pg: Pg, token: Token) -> Persona:
    """An installation operator whose session holds a fresh hardware-key proof."""
    return proven_operator(server, pg, world, token, "proven")


def store(pg: Pg, work: Callable[[Database], Any]) -> Any:
    async def run() -> Any:
        db = Database(pg.app_url, GRAPH, min_size=1, max_size=1)
        await db.open()
        try:
            return await work(db)
        finally:
            await db.close()
    return asyncio.run(run())


def new_user(pg: Pg, world: World, idp: str = "t1", subtenant: str | None = None,
             bindings: tuple[tuple[str, str, str], ...] = ()) -> UUID:
    async def make(db: Database) -> UUID:
        user = await idn.provision(db, idn.ProvisionRequest(world.idps[idp], unique("u"), display_name="someone",
                                                            home_subtenant=subtenant))
        for role, kind, scope in bindings:
            await idn.create_binding(db, "user", user.id, role, kind, scope, "system:tests")
        return user.id
    return store(pg, make)


def new_service(pg: Pg, world: World, bindings: tuple[tuple[str, str, str], ...] = ()) -> UUID:
    async def make(db: Database) -> UUID:
        account = await idn.create_service_account(db, unique("svc"), "system:tests", home_provider=world.provider,
                                                   home_tenant=world.t1)
        for role, kind, scope in bindings:
            await idn.create_binding(db, "service", account.id, role, kind, scope, "system:tests")
        return account.id
    return store(pg, make)


# --- the grid ---------------------------------------------------------------------------------
# Each cell prepares a fresh target, runs one mutation, and returns the mutation's answer.
def bind_editor_t1(server: Server, pg: Pg, w: World, p: Persona) -> dict:
    q = f"mutation($u: ID!, $t: String!) {{ roleBindingCreate(input: {{subjectKind: USER, subjectId: $u, role: \"editor\", " \
        f"scopeKind: TENANT, scopeId: $t}}) {{ {RESULT} }} }}"
    return p.gql(server, q, {"u": str(new_user(pg, w)), "t": w.t1})["roleBindingCreate"]


def bind_editor_s1(server: Server, pg: Pg, w: World, p: Persona) -> dict:
    q = f"mutation($u: ID!, $s: String!) {{ roleBindingCreate(input: {{subjectKind: USER, subjectId: $u, role: \"editor\", " \
        f"scopeKind: SUB_TENANT, scopeId: $s}}) {{ {RESULT} }} }}"
    return p.gql(server, q, {"u": str(new_user(pg, w, subtenant=w.s1)), "s": w.s1})["roleBindingCreate"]


def bind_auditor_provider(server: Server, pg: Pg, w: World, p: Persona) -> dict:
    q = f"mutation($u: ID!, $p: String!) {{ roleBindingCreate(input: {{subjectKind: USER, subjectId: $u, role: \"auditor\", " \
        f"scopeKind: PROVIDER, scopeId: $p}}) {{ {RESULT} }} }}"
    return p.gql(server, q, {"u": str(new_user(pg, w, "p")), "p": w.provider})["roleBindingCreate"]


def service_account_t1(server: Server, pg: Pg, w: World, p: Persona) -> dict:
    q = f"mutation($t: String!) {{ serviceAccountCreate(name: \"robot\", home: {{scopeKind: TENANT, scopeId: $t}}) {{ {RESULT} }} }}"
    return p.gql(server, q, {"t": w.t1})["serviceAccountCreate"]


def disable_t1_user(server: Server, pg: Pg, w: World, p: Persona) -> dict:
    q = f"mutation($u: ID!) {{ userDisable(id: $u) {{ {RESULT} }} }}"
    return p.gql(server, q, {"u": str(new_user(pg, w))})["userDisable"]


def member_add_t1(server: Server, pg: Pg, w: World, p: Persona) -> dict:
    q = f"mutation($g: ID!, $u: ID!) {{ groupMemberAdd(groupId: $g, userId: $u) {{ {RESULT} }} }}"
    return p.gql(server, q, {"g": str(w.group_t1), "u": str(new_user(pg, w))})["groupMemberAdd"]


def token_for_t1_service(server: Server, pg: Pg, w: World, p: Persona) -> dict:
    q = f"mutation($u: ID!) {{ apiTokenCreate(userId: $u, name: \"ci\") {{ {RESULT} }} }}"
    return p.gql(server, q, {"u": str(new_service(pg, w))})["apiTokenCreate"]


def idp_rename(server: Server, pg: Pg, w: World, p: Persona) -> dict:
    q = f"mutation($i: String!) {{ identityProviderUpdate(input: {{id: $i, name: \"renamed\"}}) {{ {RESULT} }} }}"
    return p.gql(server, q, {"i": w.idps["t1"]})["identityProviderUpdate"]


def hsm_update(server: Server, pg: Pg, w: World, p: Persona) -> dict:
    q = f"mutation {{ hsmSettingsUpdate(input: {{challengeTtlSeconds: 120, proofValiditySeconds: 300}}) {{ {RESULT} }} }}"
    return p.gql(server, q)["hsmSettingsUpdate"]


def policy_reload(server: Server, pg: Pg, w: World, p: Persona) -> dict:
    return p.gql(server, f"mutation {{ policyReload {{ {RESULT} }} }}")["policyReload"]


OK, NF, FB, PR = "ok", "NOT_FOUND", "FORBIDDEN", "PROOF_REQUIRED"
CELLS = {
    #                       root_op provider_op tenant_admin sub_admin editor viewer auditor outsider anonymous
    "bind_editor_t1":        (OK, OK, OK, NF, NF, NF, FB, NF, NF),
    "bind_editor_s1":        (OK, OK, OK, OK, NF, NF, FB, NF, NF),
    "bind_auditor_provider": (PR, PR, NF, NF, NF, NF, NF, NF, NF),
    "service_account_t1":    (OK, OK, OK, NF, FB, FB, FB, NF, NF),
    "disable_t1_user":       (OK, OK, OK, NF, NF, NF, FB, NF, NF),
    "member_add_t1":         (OK, OK, OK, NF, NF, NF, FB, NF, NF),
    "token_for_t1_service":  (OK, OK, OK, NF, NF, NF, FB, NF, NF),
    "idp_rename":            (PR, PR, NF, NF, NF, NF, FB, NF, NF),
    "hsm_update":            (PR, NF, NF, NF, NF, NF, NF, NF, NF),
    "policy_reload":         (PR, NF, NF, NF, NF, NF, NF, NF, NF),
}
PERSONA_ORDER = ("root_op", "provider_op", "tenant_admin", "sub_admin", "editor", "viewer", "auditor", "outsider", "anonymous")
GRID = [(cell, name, expected) for cell, row in CELLS.items() for name, expected in zip(PERSONA_ORDER, row)]


@pytest.mark.parametrize(("cell", "persona", "expected"), GRID, ids=[f"{c}-{p}" for c, p, _ in GRID])
def test_the_allow_deny_grid(server: Server, world: World, pg: Pg, cell: str, persona: str, expected: str) -> None:
    mutation = globals()[cell]
    before = counts(pg)
    answer = mutation(server, pg, world, world.personas[persona])
    if expected == OK:
        assert answer["__typename"] not in ("Forbidden", "NotFound", "ValidationProblem", "Conflict"), answer
        return
    assert answer["code"] == expected, answer
    if expected == PR:
        assert answer["needsProof"] is True
    # the targets a cell made are new rows of its own; beyond them, nothing changed
    after = counts(pg)
    assert (after[0], after[2], after[4], after[5], after[7], after[8], after[9], after[10]) == (
        before[0], before[2], before[4], before[5], before[7], before[8], before[9], before[10])


@pytest.mark.parametrize("cell", ["bind_auditor_provider", "idp_rename", "hsm_update"])
def test_with_a_fresh_proof_the_operator_changes_provider_configuration(server: Server, world: World, pg: Pg,
                                                                         proven: Persona, cell: str) -> None:
    answer = globals()[cell](server, pg, world, proven)
    assert answer["__typename"] in ("RoleBinding", "IdentityProvider", "HsmSettings"), answer


# --- privilege escalation ------------------------------------------------------------------------
GRANT = f"""mutation($k: SubjectKind!, $u: ID!, $r: String!, $sk: ScopeKind!, $s: String!) {{ roleBindingCreate(input: {{
  subjectKind: $k, subjectId: $u, role: $r, scopeKind: $sk, scopeId: $s}}) {{ {RESULT} ... on Forbidden {{ message }} }} }}"""


def escalations(pg: Pg, actor: str) -> list[dict]:
    return [d for (d,) in admin_rows(pg, "SELECT detail FROM skyloom.audit_entry WHERE type = 'access.escalation_refused' "
                                         "AND actor = %s ORDER BY at, id", (actor,))]


def test_nobody_grants_above_their_tier_or_outside_their_scope(server: Server, world: World, pg: Pg) -> None:
    admin, sub = world.personas["tenant_admin"], world.personas["sub_admin"]
    me = str(admin.user_id)
    before = counts(pg)
    # A tenant admin making itself provider operator of the installation, of the provider, tenant admin elsewhere
    assert admin.gql(server, GRANT, {"k": "USER", "u": me, "r": "provider-operator", "sk": "INSTALLATION", "s": "*"}
                     )["roleBindingCreate"]["code"] == FB
    assert admin.gql(server, GRANT, {"k": "USER", "u": me, "r": "provider-operator", "sk": "PROVIDER", "s": world.provider}
                     )["roleBindingCreate"]["code"] == NF
    assert admin.gql(server, GRANT, {"k": "USER", "u": me, "r": "tenant-admin", "sk": "TENANT", "s": world.t2}
                     )["roleBindingCreate"]["code"] == NF
    # ... or provider operator "of its own tenant": the policy lets it manage the tenant's bindings, the
    # escalation rule refuses the role
    answer = admin.gql(server, GRANT, {"k": "USER", "u": me, "r": "provider-operator", "sk": "TENANT", "s": world.t1}
                       )["roleBindingCreate"]
    assert (answer["code"], answer["needsProof"]) == (FB, False) and "above what you hold" in answer["message"]
    # A sub-tenant admin granting a tenant-tier role in its own sub-tenant
    s1_user = str(new_user(pg, world, subtenant=world.s1))
    assert sub.gql(server, GRANT, {"k": "USER", "u": s1_user, "r": "tenant-admin", "sk": "SUB_TENANT", "s": world.s1}
                   )["roleBindingCreate"]["code"] == FB
    assert counts(pg)[0] == before[0]
    # (the installation grant was the policy's refusal; the one at its own tenant is the escalation rule's)
    assert [d["role"] for d in escalations(pg, admin.actor)] == ["provider-operator"]
    assert [d["role"] for d in escalations(pg, sub.actor)] == ["tenant-admin"]
    # while a peer-tier grant inside its scope is fine
    assert sub.gql(server, GRANT, {"k": "USER", "u": s1_user, "r": "subtenant-admin", "sk": "SUB_TENANT", "s": world.s1}
                   )["roleBindingCreate"]["__typename"] == "RoleBinding"


def test_roles_do_not_leak_through_groups_tokens_or_disabling(server: Server, world: World, pg: Pg) -> None:
    admin = world.personas["tenant_admin"]
    # Given a T1 group that an operator bound as tenant admin of T2, a T1 service account that holds
    # provider operator, and a T1 person who is an installation operator
    async def group(db: Database) -> UUID:
        gid = await idn.create_local_group(db, unique("bridge"), "system:tests", home_provider=world.provider,
                                           home_tenant=world.t1)
        await idn.create_binding(db, "group", gid, "tenant-admin", "tenant", world.t2, "system:tests")
        return gid
    bridge = store(pg, group)
    robot = new_service(pg, world, (("provider-operator", "provider", world.provider),))
    boss = new_user(pg, world, bindings=(("provider-operator", "installation", "*"),))
    before = counts(pg)
    # When the tenant admin joins the group, mints a token for the robot, or disables the boss: refused
    joined = admin.gql(server, f"mutation($g: ID!, $u: ID!) {{ groupMemberAdd(groupId: $g, userId: $u) {{ {RESULT} }} }}",
                       {"g": str(bridge), "u": str(admin.user_id)})["groupMemberAdd"]
    minted = admin.gql(server, f"mutation($u: ID!) {{ apiTokenCreate(userId: $u, name: \"x\") {{ {RESULT} }} }}",
                       {"u": str(robot)})["apiTokenCreate"]
    disabled = admin.gql(server, f"mutation($u: ID!) {{ userDisable(id: $u) {{ {RESULT} }} }}", {"u": str(boss)})["userDisable"]
    assert [joined["code"], minted["code"], disabled["code"]] == [FB, FB, FB]
    # Then nothing changed, and each attempt is in the audit trail
    assert counts(pg) == before
    assert [d["attempt"].split(" ")[0] for d in escalations(pg, admin.actor)][-3:] == ["add", "make", "disable"]
    # And a token for another person is never made, even by a tenant admin over its own tenant's people
    person = admin.gql(server, "mutation($u: ID!) { apiTokenCreate(userId: $u, name: \"x\") { __typename ... on Problem { code } } }",
                       {"u": str(new_user(pg, world))})["apiTokenCreate"]
    assert person == {"__typename": "ValidationProblem", "code": "INVALID_INPUT"}


def test_the_escalation_rule_itself() -> None:
    policy = Policy.load()
    admin = Actor(id="user:a", kind="user", bindings=(Binding("tenant-admin", "tenant", "t1"),))
    at_t1 = ConfigObject("RoleBinding", "new", "p1", "t1")
    at_s1 = ConfigObject("RoleBinding", "new", "p1", "t1", "s1")
    at_t2 = ConfigObject("RoleBinding", "new", "p1", "t2")
    assert first_outranked(admin, policy, [("editor", at_t1, "t1"), ("subtenant-admin", at_s1, "s1")]) is None
    assert first_outranked(admin, policy, [("tenant-admin", at_t1, "t1")]) is None
    assert first_outranked(admin, policy, [("provider-operator", at_t1, "t1")]).role == "provider-operator"
    assert first_outranked(admin, policy, [("editor", at_t2, "t2")]).place == "t2"
    assert first_outranked(admin, policy, [("root", at_t1, "t1")]).reason == "role 'root' has no tier in the policy"
    system = Actor(id="system:x", kind="system")
    assert first_outranked(system, policy, [("provider-operator", at_t2, "t2")]) is None


# --- tokens ------------------------------------------------------------------------------------
def test_a_token_is_shown_once_works_and_is_refused_at_once_after_revocation(server: Server, world: World, pg: Pg) -> None:
    admin = world.personas["tenant_admin"]
    robot = new_service(pg, world, (("editor", "tenant", world.t1),))
    made = admin.gql(server, """mutation($u: ID!) { apiTokenCreate(userId: $u, name: "deploy", expiresInDays: 30) {
        __typename ... on ApiTokenCreated { token apiToken { id name userId expiresAt } } } }""", {"u": str(robot)})["apiTokenCreate"]
    raw, info = made["token"], made["apiToken"]
    assert raw.startswith("sky_") and (info["name"], info["userId"]) == ("deploy", str(robot)) and info["expiresAt"]
    # The listing never shows it again, and neither does the audit trail
    listed = admin.gql(server, "query($u: ID!) { apiTokens(userId: $u) { id name } }", {"u": str(robot)})["apiTokens"]
    assert listed == [{"id": info["id"], "name": "deploy"}] and raw not in json.dumps(listed)
    trail = admin_rows(pg, "SELECT detail::text FROM skyloom.audit_entry WHERE type = 'access.token_created' AND actor = %s",
                       (admin.actor,))
    assert trail and not any(raw in d or raw[4:20] in d for (d,) in trail)
    # It works as the robot
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {raw}"}) as client:
        assert client.post("/graphql", json={"query": "{ viewer { id tier } }"}).json()["data"]["viewer"] == {
            "id": f"service:{robot}", "tier": "USER"}
        revoked = admin.gql(server, "mutation($i: ID!) { apiTokenRevoke(id: $i) { __typename ... on ApiToken { revokedAt } } }",
                            {"i": info["id"]})["apiTokenRevoke"]
        assert revoked["__typename"] == "ApiToken" and revoked["revokedAt"]
        # Revoked: 401 on the very next request
        refused = client.post("/graphql", json={"query": "{ viewer { id } }"})
        assert refused.status_code == 401
    # An outsider cannot see, mint or revoke the robot's tokens
    outsider = world.personas["outsider"]
    assert outsider.gql(server, "query($u: ID!) { apiTokens(userId: $u) { id } }", {"u": str(robot)})["apiTokens"] == []
    assert outsider.gql(server, f"mutation($i: ID!) {{ apiTokenRevoke(id: $i) {{ {RESULT} }} }}",
                        {"i": info["id"]})["apiTokenRevoke"]["code"] == NF


# --- lists ------------------------------------------------------------------------------------
USERS = "query($a: String) { users(first: 2, after: $a, filter: {includeDisabled: true}) { edges { node { id homeTenantId homeSubTenantId } } pageInfo { hasNextPage endCursor } } }"


def all_users(server: Server, persona: Persona) -> list[dict]:
    found, after = [], None
    while True:
        page = persona.gql(server, USERS, {"a": after})["users"]
        found += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


def test_lists_show_each_admin_its_own_people_only(server: Server, world: World, pg: Pg) -> None:
    p = world.personas
    t1_people = all_users(server, p["tenant_admin"])
    assert t1_people and {u["homeTenantId"] for u in t1_people} == {world.t1}
    assert str(p["sub_admin"].user_id) in {u["id"] for u in t1_people}
    s1_people = all_users(server, p["sub_admin"])
    assert s1_people and {u["homeSubTenantId"] for u in s1_people} == {world.s1}
    assert {u["homeTenantId"] for u in all_users(server, p["outsider"])} == {world.t2}
    assert all_users(server, p["editor"]) == [] and all_users(server, p["anonymous"]) == []
    everyone = {u["id"] for u in all_users(server, p["root_op"])}
    assert {u["id"] for u in t1_people} < everyone
    # bindings: the tenant admin sees T1's and S1's, never T2's or the provider's
    bindings = p["tenant_admin"].gql(server, "{ roleBindings(first: 100) { edges { node { scopeKind scopeId } } } }")
    scopes = {(e["node"]["scopeKind"], e["node"]["scopeId"]) for e in bindings["roleBindings"]["edges"]}
    assert ("TENANT", world.t1) in scopes and ("SUB_TENANT", world.s1) in scopes
    assert not {s for s in scopes if s[1] in (world.t2, world.provider, "*")}
    groups = p["tenant_admin"].gql(server, "{ groups(first: 100) { edges { node { id homeTenantId } } } }")["groups"]["edges"]
    assert str(world.group_t1) in {g["node"]["id"] for g in groups} and {g["node"]["homeTenantId"] for g in groups} == {world.t1}
    assert p["outsider"].gql(server, "query($g: ID!) { groupMembers(groupId: $g) { user { id } } }",
                             {"g": str(world.group_t1)})["groupMembers"] == []


def test_a_users_groups_are_listed_as_far_as_the_caller_sees_them(server: Server, world: World, pg: Pg) -> None:
    # Given the person of T1 in T1's group, added by hand
    query = "query($u: ID!) { userGroups(userId: $u) { source group { id homeTenantId } } }"
    target, group = str(world.target_user), str(world.group_t1)
    add = "mutation($g: ID!, $u: ID!) { groupMemberAdd(groupId: $g, userId: $u) { __typename } }"
    assert server.gql(add, {"g": group, "u": target})["groupMemberAdd"]["__typename"] == "GroupMembership"
    p = world.personas
    # Then the operator and T1's admin see that membership, and T2's admin sees nothing of T1's person
    expected = {"source": "manual", "group": {"id": group, "homeTenantId": world.t1}}
    assert expected in server.gql(query, {"u": target})["userGroups"]
    assert expected in p["tenant_admin"].gql(server, query, {"u": target})["userGroups"]
    assert p["outsider"].gql(server, query, {"u": target})["userGroups"] == []
    assert p["viewer"].gql(server, query, {"u": target})["userGroups"] == []
    assert server.gql(query, {"u": "00000000-0000-4000-8000-000000000009"})["userGroups"] == []


# --- identity providers -----------------------------------------------------------------------
IDP_CREATE = """mutation($i: IdentityProviderCreateInput!) { identityProviderCreate(input: $i) {
  __typename ... on IdentityProvider { id settings autoCreateUsers } ... on Problem { code message } } }"""


@pytest.mark.parametrize("idp_settings", [
    {"issuer": "https://idp.example.test", "client_id": "x", "client_secret": "hunter2"},
    {"issuer": "https://idp.example.test", "client_id": "x", "client_secret_env": "s3cr3t value!"},
    {"issuer": "https://idp.example.test", "client_id": "-----BEGIN PRIVATE KEY-----abc"},
    {"issuer": "https://idp.example.test", "client_id": "x", "clientSecretEnv": "X"},
    {"client_id": "x"},
])
def test_idp_settings_refuse_secrets_and_unknown_keys(server: Server, world: World, pg: Pg, proven: Persona,
                                                      idp_settings: dict) -> None:
    before = counts(pg)
    answer = proven.gql(server, IDP_CREATE, {"i": {"id": unique("idp"), "kind": "OIDC", "name": "n",
                                                   "providerId": world.provider, "settings": idp_settings}})
    assert answer["identityProviderCreate"]["code"] == "INVALID_INPUT"
    assert counts(pg) == before


def test_an_operator_with_proof_configures_an_idp_and_its_group_mappings(server: Server, world: World, pg: Pg,
                                                                         proven: Persona) -> None:
    idp = unique("okta")
    settings = {"issuer": "https://idp.example.test", "client_id": "skyloom", "client_secret_env": "OKTA_SECRET",
                "scopes": ["openid", "groups"], "claims": {"groups": ["roles"]}}
    made = proven.gql(server, IDP_CREATE, {"i": {"id": idp, "kind": "OIDC", "name": "Okta", "providerId": world.provider,
                                                 "tenantId": world.t1, "settings": settings, "autoCreateUsers": True}})
    assert made["identityProviderCreate"] == {"__typename": "IdentityProvider", "id": idp, "settings": settings,
                                              "autoCreateUsers": True}
    mapping = proven.gql(server, """mutation($i: String!, $t: String!) { groupRoleMappingAdd(input: {idpId: $i,
        groupName: "ops", role: "tenant-admin", scopeKind: TENANT, scopeId: $t}) { __typename ... on GroupRoleMapping { id role } } }""",
                         {"i": idp, "t": world.t1})["groupRoleMappingAdd"]
    assert mapping["__typename"] == "GroupRoleMapping"
    listed = {i["id"]: i for i in proven.gql(server, "{ identityProviders { id groupMappings { role scopeId } } }")["identityProviders"]}
    assert listed[idp]["groupMappings"] == [{"role": "tenant-admin", "scopeId": world.t1}]
    # the tenant admin sees no identity provider configuration at all
    assert not {i["id"] for i in world.personas["tenant_admin"].gql(server, "{ identityProviders { id } }")["identityProviders"]}
    trail = admin_rows(pg, "SELECT type, detail::text FROM skyloom.audit_entry WHERE actor = %s AND type LIKE 'idp.%%' "
                           "ORDER BY at, id", (proven.actor,))
    assert [t for t, _ in trail][-2:] == ["idp.created", "idp.mapping_added"]


# --- the policy -------------------------------------------------------------------------------
POLICY_RELOAD = "mutation { policyReload { __typename ... on PolicyReport { ok applied error casesRun } ... on Problem { code } } }"
POLICY_CHECK = "query($f: [PolicyFileInput!]!) { policyCheck(files: $f) { ok applied error casesRun failures { case } } }"


def test_policy_check_and_a_reload_that_never_swaps_in_a_broken_policy(server: Server, world: World, pg: Pg, proven: Persona,
                                                                       tmp_path: Path) -> None:
    files = [{"name": f.name, "text": f.read_text()} for f in sorted(DEFAULT_POLICY_DIR.iterdir())
             if f.suffix == ".polar" or f.name.endswith(".tests.toml")]
    good = proven.gql(server, POLICY_CHECK, {"f": files})["policyCheck"]
    assert (good["ok"], good["applied"], good["failures"]) == (True, False, []) and good["casesRun"] > 0
    broken = [dict(f, text=f["text"] + "\nallow_at(x, y, z if") if f["name"] == "main.polar" else f for f in files]
    report = proven.gql(server, POLICY_CHECK, {"f": broken})["policyCheck"]
    assert report["ok"] is False and report["error"].startswith("policy does not compile")
    denied = world.personas["tenant_admin"].call(server, POLICY_CHECK, {"f": files}).json()
    assert denied["data"] is None and denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # Given a server serving a policy from files an author edits
    policy_dir = tmp_path / "policy"
    shutil.copytree(DEFAULT_POLICY_DIR, policy_dir, ignore=shutil.ignore_patterns("__pycache__"))
    served = Server(pg.app_url, {"SKYLOOM_POLICY": str(policy_dir)})
    try:
        main = policy_dir / "main.polar"
        text = main.read_text()
        # When the author breaks the policy and the operator reloads, Then it is refused and the old one serves
        main.write_text(text + "\nallow_at(x, y, z if")
        refused = proven.gql(served, POLICY_RELOAD)["policyReload"]
        assert (refused["ok"], refused["applied"]) == (False, False) and "does not compile" in refused["error"]
        assert proven.gql(served, "{ viewer { tier } }")["viewer"]["tier"] == "PROVIDER_OPERATOR"
        assert proven.gql(served, "{ policyStatus { ok } }")["policyStatus"] == {"ok": True}
        # When it is fixed and reloaded, Then it is applied
        main.write_text(text)
        assert proven.gql(served, POLICY_RELOAD)["policyReload"]["applied"] is True
        # And a tenant admin may not reload at all
        assert world.personas["tenant_admin"].gql(served, POLICY_RELOAD)["policyReload"]["code"] == NF
    finally:
        served.stop()
    changes = admin_rows(pg, "SELECT outcome, priority FROM skyloom.audit_entry WHERE type = 'policy.change' AND actor = %s "
                             "ORDER BY at, id", (proven.actor,))
    assert changes[-2:] == [("failure", "warn"), ("success", "warn")]
