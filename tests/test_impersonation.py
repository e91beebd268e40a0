"""Impersonation against a real `skyloom serve`: browser sessions from a real OpenID provider and a real
SAML IdP, request -> approve -> (re-authenticate) -> start -> act -> end, and every refusal changing nothing.

People: alice is a provider operator with an account at each IdP (the same e-mail: one person);
bob is another operator; carol is the tenant admin of another tenant; each sub-tenant has a root
user (its subtenant-admin). The hardware-key step-up the policy asks for is recorded on a session
with the step-up store functions (`proofs.insert_key`, `identity_sessions.record_step_up`), as the
step-up mutation does after checking a signature; the signature check itself is tested elsewhere.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from skyloom.graph import identity as idn
from skyloom.graph import impersonation as store
from skyloom.graph import proofs
from skyloom.graph.identity_model import digest
from skyloom.graph.identity_sessions import record_step_up
from skyloom.graph.pool import Database
from tests.conftest import Pg, unique
from tests.test_login import (  # noqa: F401 - module fixtures: the real IdPs and a panel wired to them
    Panel, admin_rows, call, db, oidc_finish, oidc_id, oidc_provider, oidc_start, panel, saml_post, saml_start,
    session_of, who,
)
from tests.test_mutations import backend, create, provider, tenancy, tenant

RESULT = "__typename ... on Problem { code message } ... on ImpersonationRequest { id status requester targetUser approver startedBy expiresAt }"
REQUEST = f"mutation($s: ID!, $r: String!, $m: Int!) {{ impersonationRequest(subTenantId: $s, reason: $r, minutes: $m) {{ {RESULT} }} }}"
APPROVE = f"mutation($id: ID!) {{ impersonationApprove(id: $id) {{ {RESULT} }} }}"
START = f"mutation($id: ID!) {{ impersonationStart(id: $id) {{ {RESULT} }} }}"
END = f"mutation {{ impersonationEnd {{ {RESULT} }} }}"
INBOX = "query { impersonationRequests { edges { node { id status requester } } } }"
SETTINGS = ("mutation($i: ImpersonationSettingsInput!) { impersonationSettingsSet(input: $i) { __typename "
            "... on Problem { code } ... on ImpersonationSettings { requireReauth requireApproval maxMinutes updatedBy } } }")


@dataclass
class World:
    panel: Panel
    t1: str
    t2: str
    t3: str                 # a tenant that needs neither approval nor re-authentication
    s1: str
    s2: str
    s3: str
    tenancy1: str
    tenancy2: str
    root1: str              # actor ids of the sub-tenants' root users
    root3: str
    users: dict[str, str]   # person -> actor id of their account


async def person(panel: Panel, db: Database, who_: str, via: str) -> tuple[dict[str, str], str]:
    """A fresh browser login: (its cookies, the account's actor id)."""
    if via == "oidc":
        key, callback = await oidc_start(panel, who_, f"{who_}-pw", None)
        response = oidc_finish(panel, key, callback)
        idp = panel.oidc
    else:
        request = saml_start(panel, panel.saml)
        answer = panel.saml_idp.respond(request, who_, [], email=f"{who_}@example.test", name=who_.title())
        response = saml_post(panel, panel.saml, answer, request.relay_state)
        idp = panel.saml
    assert response.status_code == 303, response.text
    user = await idn.find_user(db, idp, who_)
    return session_of(response), user.actor_id


async def bind(db: Database, actor: str, role: str, scope_kind: str, scope_id: str) -> None:
    await idn.create_binding(db, "user", uuid.UUID(actor.removeprefix("user:")), role, scope_kind, scope_id, "system:tests")


async def step_up(db: Database, cookies: dict[str, str], actor: str) -> None:
    async with db.connection() as conn, conn.transaction():
        cur = await conn.execute("SELECT id FROM skyloom.user_session WHERE token_hash = %s", (digest(cookies["skyloom_session"]),))
        (session_id,) = await cur.fetchone()
        key = await proofs.insert_key(conn, actor, "pkcs11", "test key", hashlib.sha256(secrets.token_bytes(16)).digest(),
                                      public_key=secrets.token_bytes(32))
        assert await record_step_up(conn, session_id, uuid.UUID(key.id), datetime.now(timezone.utc) + timedelta(minutes=5))


def gql(panel: Panel, cookies: dict[str, str] | None, query: str, variables: dict[str, Any] | None = None, *,
        token: str | None = None, request_id: str | None = None) -> dict[str, Any]:
    headers = {"X-CSRF-Token": cookies["skyloom_csrf"]} if cookies else {"Authorization": f"Bearer {token}"}
    r = call(panel.server, "POST", "/graphql", cookies=cookies, headers=headers, request_id=request_id,
             json={"query": query, "variables": variables or {}})
    body = r.json()
    assert r.status_code == 200 and not body.get("errors"), body
    return body["data"]


async def audit_of(pg: Pg, where: str, params: tuple) -> list[tuple]:
    return await admin_rows(pg, f"SELECT type, actor, impersonator, priority, outcome FROM skyloom.audit_entry WHERE {where} ORDER BY id", params)


async def status(pg: Pg, request_id: str) -> tuple:
    [row] = await admin_rows(pg, "SELECT status, approver, started_at FROM skyloom.impersonation_request WHERE id = %s", (request_id,))
    return row


@pytest.fixture(scope="module")
async def world(panel: Panel, db: Database) -> World:
    server = panel.server          # the test session's root operator (a service account, by token)
    p = provider(server)["id"]
    t1, t2, t3 = (tenant(server, p)["id"] for _ in range(3))
    sub = lambda t: create(server, "subTenantCreate", "SubTenantCreateInput", "... on SubTenant { id }", {"tenantId": t, "name": unique("st")})["id"]  # noqa: E731
    s1, s2, s3 = sub(t1), sub(t1), sub(t3)
    root = tenancy(server, backend(server, p)["id"])["id"]
    tenancy1, tenancy2 = tenancy(server, root, owner_id=s1)["id"], tenancy(server, root, owner_id=s2)["id"]
    tenancy(server, root, owner_id=s3)
    roots = {}
    for name, scope in (("root1", s1), ("root3", s3)):
        user = await idn.provision(db, idn.ProvisionRequest(panel.saml, unique(name), f"{name}@example.test", name))
        roots[name] = user.actor_id
        await bind(db, user.actor_id, "subtenant-admin", "subtenant", scope)
    users = {}
    for name, via in (("alice", "oidc"), ("alice-saml", "saml"), ("bob", "oidc"), ("carol", "oidc")):
        _, users[name] = await person(panel, db, name.removesuffix("-saml") if via == "saml" else name, via)
    for name in ("alice", "alice-saml", "bob"):
        await bind(db, users[name], "provider-operator", "installation", "*")
    await bind(db, users["carol"], "tenant-admin", "tenant", t2)
    settings = {"tenantId": t3, "requireReauth": False, "requireApproval": False, "maxMinutes": 5}
    assert server.gql(SETTINGS, {"i": settings})["impersonationSettingsSet"]["__typename"] == "ImpersonationSettings"
    return World(panel, t1, t2, t3, s1, s2, s3, tenancy1, tenancy2, roots["root1"], roots["root3"], users)


async def operator(world: World, db: Database, name: str = "alice", via: str = "oidc") -> dict[str, str]:
    cookies, _ = await person(world.panel, db, name, via)
    await step_up(db, cookies, world.users[name if via == "oidc" else f"{name}-saml"])
    return cookies


# --- the whole way -------------------------------------------------------------------------------

async def test_request_approve_reauthenticate_start_act_and_end(world: World, db: Database, pg: Pg) -> None:
    panel, u = world.panel, world.users
    alice = await operator(world, db)
    # Given alice asks to act inside sub-tenant 1 (the tenant keeps the strict defaults)
    made = gql(panel, alice, REQUEST, {"s": world.s1, "r": "ticket 4711: broken stack", "m": 10})["impersonationRequest"]
    assert (made["status"], made["requester"], made["targetUser"], made["approver"]) == ("REQUESTED", u["alice"], world.root1, None)
    rid = made["id"]
    # Then she may not approve it herself, not even through her other account
    own = gql(panel, alice, APPROVE, {"id": rid})["impersonationApprove"]
    assert (own["__typename"], own["code"]) == ("Forbidden", "FORBIDDEN")
    twin = await operator(world, db, "alice", "saml")
    assert gql(panel, twin, APPROVE, {"id": rid})["impersonationApprove"]["code"] == "OWN_REQUEST"
    # and a tenant admin of another tenant does not even see it
    carol, _ = await person(panel, db, "carol", "oidc")
    assert gql(panel, carol, APPROVE, {"id": rid})["impersonationApprove"]["code"] == "NOT_FOUND"
    assert gql(panel, carol, INBOX)["impersonationRequests"]["edges"] == []
    # and starting before approval is refused
    alice = await operator(world, db)
    assert gql(panel, alice, START, {"id": rid})["impersonationStart"]["code"] == "APPROVAL_REQUIRED"
    assert await status(pg, rid) == ("requested", None, None)
    assert who(panel, alice).json()["impersonator"] is None
    # When bob, who finds it in his inbox, approves
    bob, _ = await person(panel, db, "bob", "oidc")
    assert {"id": rid, "status": "REQUESTED", "requester": u["alice"]} in [e["node"] for e in gql(panel, bob, INBOX)["impersonationRequests"]["edges"]]
    assert rid not in [e["node"]["id"] for e in gql(panel, alice, INBOX)["impersonationRequests"]["edges"]]
    approved = gql(panel, bob, APPROVE, {"id": rid})["impersonationApprove"]
    assert (approved["status"], approved["approver"]) == ("APPROVED", u["bob"])
    assert gql(panel, bob, APPROVE, {"id": rid})["impersonationApprove"]["code"] == "CONFLICT"
    # Then alice's session from the same identity provider is not a re-authentication
    assert gql(panel, alice, START, {"id": rid})["impersonationStart"]["code"] == "REAUTH_REQUIRED"
    again = await operator(world, db)
    assert gql(panel, again, START, {"id": rid})["impersonationStart"]["code"] == "REAUTH_REQUIRED"
    # and a fresh login through the other IdP still needs the hardware-key proof
    fresh, _ = await person(panel, db, "alice", "saml")
    assert gql(panel, fresh, START, {"id": rid})["impersonationStart"]["code"] == "PROOF_REQUIRED"
    assert await status(pg, rid) == ("approved", u["bob"], None)
    # When she steps up on it and starts
    await step_up(db, fresh, u["alice-saml"])
    started = gql(panel, fresh, START, {"id": rid})["impersonationStart"]
    assert (started["status"], started["startedBy"]) == ("ACTIVE", u["alice-saml"])
    left = datetime.fromisoformat(started["expiresAt"]) - datetime.now(timezone.utc)
    assert timedelta(minutes=9) < left <= timedelta(minutes=10)
    # Then her session is the sub-tenant root's, with her as impersonator
    assert (who(panel, fresh).json()["actor"], who(panel, fresh).json()["impersonator"]) == (world.root1, u["alice-saml"])
    # and she sees only that sub-tenant's data
    seen = gql(panel, fresh, "query($a: ID!, $b: ID!, $s: ID!, $o: ID!, $t: ID!) { a: node(id: $a) { id } b: node(id: $b) { id } "
               "s: subTenant(id: $s) { id } o: subTenant(id: $o) { id } t: tenant(id: $t) { id } }",
               {"a": world.tenancy1, "b": world.tenancy2, "s": world.s1, "o": world.s2, "t": world.t2})
    assert seen == {"a": {"id": world.tenancy1}, "b": None, "s": {"id": world.s1}, "o": None, "t": None}
    # and what she changes and asks is audited with both identities
    call_id = unique("req")
    made_rg = gql(panel, fresh, "mutation($i: CompartmentCreateInput!) { compartmentCreate(input: $i) { __typename ... on Compartment { id } } }",
                  {"i": {"parentId": world.tenancy1, "name": unique("rg")}}, request_id=call_id)["compartmentCreate"]
    assert made_rg["__typename"] == "Compartment"
    rows = await audit_of(pg, "request_id = %s", (call_id,))
    assert ("ci.create", world.root1, u["alice-saml"], "info", "success") in rows
    assert ("api.mutation", world.root1, u["alice-saml"], "notice", "success") in rows
    # and nobody approves or starts anything from inside an impersonation
    assert gql(panel, fresh, START, {"id": rid})["impersonationStart"]["code"] == "IMPERSONATING"
    # When she ends it, Then her session is her own again
    ended = gql(panel, fresh, END)["impersonationEnd"]
    assert ended["status"] == "ENDED"
    assert (who(panel, fresh).json()["actor"], who(panel, fresh).json()["impersonator"]) == (u["alice-saml"], None)
    assert gql(panel, fresh, END)["impersonationEnd"]["code"] == "NOT_IMPERSONATING"
    assert await audit_of(pg, "target = %s", (f"ImpersonationRequest:{rid}",)) == [
        ("impersonation.requested", u["alice"], None, "notice", "success"),
        ("impersonation.approved", u["bob"], None, "notice", "success"),
        ("impersonation.started", world.root1, u["alice-saml"], "warn", "success"),
        ("impersonation.ended", world.root1, u["alice-saml"], "notice", "success"),
    ]


async def test_without_approval_it_starts_at_once_and_expires(world: World, db: Database, pg: Pg) -> None:
    panel, u = world.panel, world.users
    alice = await operator(world, db)
    # Given a tenant that needs neither approval nor re-authentication, at most 5 minutes
    too_long = gql(panel, alice, REQUEST, {"s": world.s3, "r": "checking a quota", "m": 6})["impersonationRequest"]
    assert (too_long["__typename"], too_long["code"]) == ("ValidationProblem", "INVALID_INPUT")
    rid = gql(panel, alice, REQUEST, {"s": world.s3, "r": "checking a quota", "m": 2})["impersonationRequest"]["id"]
    # When she starts it straight away
    assert gql(panel, alice, START, {"id": rid})["impersonationStart"]["status"] == "ACTIVE"
    assert who(panel, alice).json()["actor"] == world.root3
    # and its time runs out
    await admin_rows(pg, "UPDATE skyloom.impersonation_request SET started_at = now() - interval '3 minutes', "
                         "expires_at = now() - interval '1 minute' WHERE id = %s", (rid,))
    await admin_rows(pg, "UPDATE skyloom.user_session SET impersonation_until = now() - interval '1 minute' "
                         "WHERE token_hash = %s", (digest(alice["skyloom_session"]),))
    # Then her session is hers again, and the next look marks the request expired, audited
    assert (who(panel, alice).json()["actor"], who(panel, alice).json()["impersonator"]) == (u["alice"], None)
    gql(panel, alice, INBOX)
    assert (await status(pg, rid))[0] == "expired"
    assert await audit_of(pg, "target = %s AND type = 'impersonation.expired'", (f"ImpersonationRequest:{rid}",)) == [
        ("impersonation.expired", world.root3, u["alice"], "warn", "success")]


async def test_api_tokens_and_service_accounts_cannot_impersonate(world: World, db: Database, pg: Pg) -> None:
    panel, u = world.panel, world.users
    alice = await operator(world, db)
    rid = gql(panel, alice, REQUEST, {"s": world.s3, "r": "by token", "m": 1})["impersonationRequest"]["id"]
    token, _ = await idn.create_api_token(db, uuid.UUID(u["alice"].removeprefix("user:")), "alice cli", "system:tests")
    refused = gql(panel, None, START, {"id": rid}, token=token)["impersonationStart"]
    assert (refused["__typename"], refused["code"]) == ("Forbidden", "SESSION_REQUIRED")
    assert await status(pg, rid) == ("requested", None, None)
    by_root = panel.server.gql(REQUEST, {"s": world.s3, "r": "a service", "m": 1})["impersonationRequest"]
    assert by_root["code"] == "FORBIDDEN"


async def test_someone_else_cannot_start_a_request(world: World, db: Database, pg: Pg) -> None:
    alice = await operator(world, db)
    rid = gql(world.panel, alice, REQUEST, {"s": world.s3, "r": "alice's own", "m": 1})["impersonationRequest"]["id"]
    bob = await operator(world, db, "bob")
    assert gql(world.panel, bob, START, {"id": rid})["impersonationStart"]["code"] == "NOT_REQUESTER"
    assert await status(pg, rid) == ("requested", None, None)
    # and once denied, not even the requester starts it
    denied = gql(world.panel, bob, f"mutation($id: ID!) {{ impersonationDeny(id: $id) {{ {RESULT} }} }}", {"id": rid})
    assert (denied["impersonationDeny"]["status"], denied["impersonationDeny"]["approver"]) == ("DENIED", world.users["bob"])
    refused = gql(world.panel, alice, START, {"id": rid})["impersonationStart"]
    assert (refused["__typename"], refused["code"], refused["message"]) == ("Conflict", "CONFLICT", "the request is denied")
    assert (await status(pg, rid))[0] == "denied"
    assert who(world.panel, alice).json()["impersonator"] is None


# --- settings ----------------------------------------------------------------------------------

async def test_settings_belong_to_their_tenant_admins_and_operators(world: World, db: Database, pg: Pg) -> None:
    carol, _ = await person(world.panel, db, "carol", "oidc")
    mine = {"tenantId": world.t2, "requireReauth": True, "requireApproval": True, "maxMinutes": 15}
    assert gql(world.panel, carol, SETTINGS, {"i": mine})["impersonationSettingsSet"] == {
        "__typename": "ImpersonationSettings", "requireReauth": True, "requireApproval": True, "maxMinutes": 15,
        "updatedBy": world.users["carol"]}
    before = await admin_rows(pg, "SELECT * FROM skyloom.impersonation_settings ORDER BY tenant_id")
    theirs = {**mine, "tenantId": world.t3, "requireReauth": False}
    assert gql(world.panel, carol, SETTINGS, {"i": theirs})["impersonationSettingsSet"]["code"] == "NOT_FOUND"
    assert gql(world.panel, carol, "query($t: ID!) { impersonationSettings(tenantId: $t) { maxMinutes } }", {"t": world.t3}) == {
        "impersonationSettings": None}
    mapped = {**mine, "targetMode": "MAPPED", "mapping": [{"subTenantId": world.s1, "userId": world.root1.removeprefix("user:")}]}
    assert gql(world.panel, carol, SETTINGS, {"i": mapped})["impersonationSettingsSet"]["code"] == "NOT_FOUND"
    wrong = {**mine, "maxMinutes": 481}
    assert gql(world.panel, carol, SETTINGS, {"i": wrong})["impersonationSettingsSet"]["code"] == "INVALID_INPUT"
    assert await admin_rows(pg, "SELECT * FROM skyloom.impersonation_settings ORDER BY tenant_id") == before


# --- the store's guarantees --------------------------------------------------------------------

async def test_two_approvers_racing_approve_once(world: World, db: Database, pg: Pg) -> None:
    alice = await operator(world, db)
    rid = uuid.UUID(gql(world.panel, alice, REQUEST, {"s": world.s1, "r": "racing", "m": 5})["impersonationRequest"]["id"])
    bob_actor, twin_actor = world.users["bob"], world.users["alice-saml"]
    race = Database(pg.app_url, "cmdb", min_size=2, max_size=2)
    await race.open()
    try:
        async def approve(actor: str) -> Any:
            async with race.connection() as conn, conn.transaction():
                return await store.decide(conn, rid, actor, True)

        won = await asyncio.gather(approve(bob_actor), approve(bob_actor))
        assert sum(r is not None for r in won) == 1
        async with race.connection() as conn:   # and the requester's twin account is never an approver
            assert await store.decide(conn, rid, twin_actor, False) is None
    finally:
        await race.close()
    assert (await status(pg, rid))[:2] == ("approved", bob_actor)


async def test_the_api_role_cannot_rewrite_or_delete_requests(world: World, db: Database) -> None:
    async with db.connection() as conn:
        for statement in ("DELETE FROM skyloom.impersonation_request", "UPDATE skyloom.impersonation_request SET requester = 'x'",
                          "UPDATE skyloom.impersonation_request SET target_user = NULL", "DELETE FROM skyloom.impersonation_settings"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                await conn.execute(statement)


async def test_a_tenant_admin_of_that_tenant_may_approve(world: World, db: Database, pg: Pg) -> None:
    dave, dave_actor = await person(world.panel, db, "dave", "saml")
    await bind(db, dave_actor, "tenant-admin", "tenant", world.t1)
    alice = await operator(world, db)
    rid = gql(world.panel, alice, REQUEST, {"s": world.s1, "r": "tenant admin approves", "m": 5})["impersonationRequest"]["id"]
    approved = gql(world.panel, dave, APPROVE, {"id": rid})["impersonationApprove"]
    assert (approved["status"], approved["approver"]) == ("APPROVED", dave_actor)
    # while the tenant admin may not ask to impersonate (that is the provider operator's)
    asked = gql(world.panel, dave, REQUEST, {"s": world.s1, "r": "me too", "m": 5})["impersonationRequest"]
    assert (asked["__typename"], asked["code"]) == ("Forbidden", "FORBIDDEN")
    assert (await status(pg, rid))[:2] == ("approved", dave_actor)
