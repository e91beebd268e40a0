"""Step-up through the API: the viewer, the first-key bootstrap, HSM step-up of a real session, refused proofs.

The operator's key lives in a real SoftHSM2 token and signs through `skyloom proof sign`, the
server is a real `skyloom serve`, sessions are real session rows read on every request.
"""

from __future__ import annotations

import asyncio
import base64
import copy
from typing import Any

import pytest

from tests.access_world import (
    BEGIN,
    COMPLETE,
    KEY_ADD,
    Persona,
    Token,
    World,
    admin_rows,
    build_world,
    challenge,
    complete,
    counts,
    operator,
    register_key,
    softhsm_token,
    step_up,
)
from tests.conftest import ROOT, Pg, Server, unique

VIEWER = """{ viewer { id kind authenticated tier authStrength hasFreshProof proofUntil browserSession stepUpMethods
  homeTenantId bindings { role scopeKind scopeId tier } permissions { kind read write writeWithProof } } }"""
HSM_UPDATE = """mutation($ttl: Int!) { hsmSettingsUpdate(input: {modulePath: "/usr/lib/softhsm/libsofthsm2.so",
  tokenLabel: "ops-step-up", challengeTtlSeconds: $ttl, proofValiditySeconds: 300}) {
  __typename ... on HsmSettings { challengeTtlSeconds updatedBy } ... on Forbidden { code needsProof } ... on Problem { code } } }"""


@pytest.fixture(scope="module")
def world(server: Server, pg: Pg) -> World:
    return build_world(server, pg)


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Token:
    return softhsm_token(tmp_path_factory.mktemp("step-up-hsm"))


def perms(viewer: dict[str, Any]) -> dict[str, tuple[bool, bool, bool]]:
    return {p["kind"]: (p["read"], p["write"], p["writeWithProof"]) for p in viewer["permissions"]}


def audit_rows(pg: Pg, type_: str, actor: str) -> list[tuple]:
    return admin_rows(pg, "SELECT outcome, priority, detail FROM skyloom.audit_entry WHERE type = %s AND actor = %s "
                          "ORDER BY at, id", (type_, actor))


# --- the viewer ----------------------------------------------------------------------------------
def test_the_viewer_says_who_the_caller_is_and_what_pages_it_may_use(server: Server, world: World) -> None:
    p = world.personas
    root = p["root_op"].gql(server, VIEWER)["viewer"]
    assert (root["kind"], root["tier"], root["authStrength"], root["hasFreshProof"], root["browserSession"]) == (
        "user", "PROVIDER_OPERATOR", "MULTI_FACTOR", False, True)
    assert root["bindings"] == [{"role": "provider-operator", "scopeKind": "INSTALLATION", "scopeId": "*", "tier": "PROVIDER_OPERATOR"}]
    assert root["stepUpMethods"] == ["HSM"]
    # provider configuration: readable, writable only after a step-up
    assert perms(root)["HsmSettings"] == (True, False, True)
    assert perms(root)["User"] == (True, True, True)

    admin = p["tenant_admin"].gql(server, VIEWER)["viewer"]
    assert (admin["tier"], admin["homeTenantId"]) == ("TENANT_ADMIN", world.t1)
    assert perms(admin)["User"] == (True, True, True)
    assert perms(admin)["HsmSettings"] == (False, False, False)
    assert perms(admin)["IdentityProvider"] == (False, False, False)

    assert p["sub_admin"].gql(server, VIEWER)["viewer"]["tier"] == "SUBTENANT_ADMIN"
    assert p["editor"].gql(server, VIEWER)["viewer"]["tier"] == "USER"
    auditor = p["auditor"].gql(server, VIEWER)["viewer"]
    assert auditor["tier"] == "AUDITOR" and perms(auditor)["User"] == (True, False, False)

    anonymous = p["anonymous"].gql(server, VIEWER)["viewer"]
    assert (anonymous["authenticated"], anonymous["tier"], anonymous["authStrength"], anonymous["bindings"]) == (
        False, "NONE", "NONE", [])
    assert not any(r or w or wp for r, w, wp in perms(anonymous).values())

    # a bearer token is no browser session: it can never step up
    token_viewer = server.gql(VIEWER)["viewer"]
    assert (token_viewer["id"], token_viewer["browserSession"], token_viewer["authStrength"]) == (ROOT["actor"], False, "PASSWORD")


def test_the_viewer_lists_every_action_per_kind_with_and_without_a_step_up(server: Server, world: World) -> None:
    query = "{ viewer { permissions { kind actions actionsWithProof } } }"

    def actions(persona: str) -> dict[str, tuple[list[str], list[str]]]:
        found = world.personas[persona].gql(server, query)["viewer"]["permissions"]
        return {p["kind"]: (p["actions"], p["actionsWithProof"]) for p in found}

    root, admin, viewer = actions("root_op"), actions("tenant_admin"), actions("viewer")
    # provisioning from a design is provider tier and needs a proof; a client's admin previews, never applies
    assert root["Design"] == (["read", "create", "update", "delete", "preview"],
                              ["read", "create", "update", "delete", "preview", "apply"])
    assert admin["Design"] == (["read", "create", "update", "delete", "preview"],) * 2
    assert viewer["Design"] == ([], [])
    assert "approve" in admin["ImpersonationRequest"][0] and "approve" not in viewer["ImpersonationRequest"][0]
    assert root["HsmSettings"] == (["read"], ["read", "create", "update", "delete", "configure"])


# --- the first key ----------------------------------------------------------------------------
def test_an_operator_registers_a_first_key_without_proof_and_the_second_needs_one(
    server: Server, world: World, pg: Pg, token: Token
) -> None:
    # Given an installation operator with no key
    op = asyncio.run(operator(pg, world, "bootstrapper"))
    # When it registers its first key without any proof, Then it is accepted, and audited as a bootstrap
    first = register_key(server, op, token, unique("first"))
    assert (first["__typename"], first["method"], first["owner"]) == ("RegisteredKey", "HSM", op.actor)
    assert [(o, pr, d["bootstrap"]) for o, pr, d in audit_rows(pg, "key.registered", op.actor)] == [("success", "warn", True)]
    # When it registers a second key without a proof, Then a step-up is asked for and nothing is stored
    before = counts(pg)
    second = op.gql(server, KEY_ADD, {"l": "second", "k": token.keygen(unique("second"))})["registeredKeyAdd"]
    assert second == {"__typename": "Forbidden", "code": "PROOF_REQUIRED", "needsProof": True}
    assert counts(pg) == before
    # When it steps up with the first key, Then the second key is accepted (and not as a bootstrap)
    step_up(server, op, token, first["label"])
    third_label = unique("third")
    third = register_key(server, op, token, third_label)
    assert third["__typename"] == "RegisteredKey"
    assert [d["bootstrap"] for _, _, d in audit_rows(pg, "key.registered", op.actor)] == [True, False]
    listed = op.gql(server, "{ registeredKeys { label method revokedAt } }")["registeredKeys"]
    assert [k["label"] for k in listed] == [first["label"], third_label]


@pytest.mark.parametrize("name", ["tenant_admin", "sub_admin", "editor", "auditor", "outsider", "anonymous"])
def test_nobody_below_the_provider_tier_registers_a_key(server: Server, world: World, pg: Pg, token: Token, name: str) -> None:
    before = counts(pg)
    answer = world.personas[name].gql(server, KEY_ADD, {"l": "mine", "k": token.keygen(unique(name))})["registeredKeyAdd"]
    assert answer == {"__typename": "Forbidden", "code": "FORBIDDEN", "needsProof": False}
    assert counts(pg) == before


# --- step-up ---------------------------------------------------------------------------------
def test_step_up_allows_a_provider_tier_change_until_proof_until(server: Server, world: World, pg: Pg, token: Token) -> None:
    # Given an operator with a registered key, whose session holds no proof
    op = asyncio.run(operator(pg, world, "stepper"))
    label = unique("k")
    key = register_key(server, op, token, label)
    assert op.gql(server, HSM_UPDATE, {"ttl": 90})["hsmSettingsUpdate"] == {
        "__typename": "Forbidden", "code": "PROOF_REQUIRED", "needsProof": True}
    # When it steps up with the key
    begun = challenge(server, op)
    assert (begun["method"], begun["challenge"]["purpose"], begun["challenge"]["actorId"]) == ("HSM", "step-up", op.actor)
    viewer = complete(server, op, begun["challengeId"], token.sign(label, begun["challenge"]))
    # Then the session holds the hardware tier, on its row and in every later request
    assert (viewer["__typename"], viewer["hasFreshProof"], viewer["authStrength"], viewer["tier"]) == (
        "Viewer", True, "HARDWARE", "PROVIDER_OPERATOR")
    row = admin_rows(pg, "SELECT auth_strength, proof_key::text, proof_until IS NOT NULL FROM skyloom.user_session "
                         "WHERE user_id = %s", (op.user_id,))
    assert row == [(3, key["id"], True)]
    again = op.gql(server, "{ viewer { hasFreshProof authStrength } }")["viewer"]
    assert again == {"hasFreshProof": True, "authStrength": "HARDWARE"}
    assert [(o, d["method"], d["keyId"]) for o, _, d in audit_rows(pg, "session.step_up", op.actor)] == [
        ("success", "pkcs11", key["id"])]
    # And a provider-tier change now succeeds, and is audited
    assert op.gql(server, HSM_UPDATE, {"ttl": 90})["hsmSettingsUpdate"] == {
        "__typename": "HsmSettings", "challengeTtlSeconds": 90, "updatedBy": op.actor}
    assert audit_rows(pg, "hsm.settings_changed", op.actor)[0][:2] == ("success", "warn")
    # When proof_until has passed, Then the same change needs a proof again and nothing changes
    admin_rows(pg, "UPDATE skyloom.user_session SET proof_until = now() - interval '1 second' WHERE user_id = %s "
                   "RETURNING 1", (op.user_id,))
    before = counts(pg)
    assert op.gql(server, HSM_UPDATE, {"ttl": 100})["hsmSettingsUpdate"] == {
        "__typename": "Forbidden", "code": "PROOF_REQUIRED", "needsProof": True}
    assert counts(pg) == before
    # And the next challenge uses the settings just written
    assert challenge(server, op)["tokenLabel"] == "ops-step-up"


def test_forged_replayed_and_misdirected_proofs_are_refused_and_audited(server: Server, world: World, pg: Pg,
                                                                         token: Token) -> None:
    # Given an operator with a key and two sessions of its own, and another operator
    op = asyncio.run(operator(pg, world, "victim"))
    label = unique("k")
    register_key(server, op, token, label)
    other = asyncio.run(operator(pg, world, "intruder"))

    def proof_until() -> list[tuple]:
        return admin_rows(pg, "SELECT proof_until FROM skyloom.user_session WHERE user_id = %s", (op.user_id,))

    begun = challenge(server, op)
    proof = token.sign(label, begun["challenge"])
    # When the signature is tampered with, Then BAD_SIGNATURE, nothing raised
    forged = copy.deepcopy(proof)
    sig = bytearray(base64.urlsafe_b64decode(forged["signature"] + "=="))
    sig[-1] ^= 1
    forged["signature"] = base64.urlsafe_b64encode(bytes(sig)).decode().rstrip("=")
    assert complete(server, op, begun["challengeId"], forged) == {
        "__typename": "ProofRefused", "code": "PROOF_REFUSED", "reason": "BAD_SIGNATURE"}
    # When somebody else presents the proof in their session, Then it is not theirs
    assert complete(server, other, begun["challengeId"], proof)["reason"] == "WRONG_ACTOR"
    # When a proof names another challenge than the one being completed, Then it is malformed
    assert complete(server, op, challenge(server, op)["challengeId"], proof)["reason"] == "MALFORMED_PROOF"
    assert proof_until() == [(None,)]
    # When the real proof is presented, it is accepted once; replayed, Then REPLAYED
    assert complete(server, op, begun["challengeId"], proof)["__typename"] == "Viewer"
    assert complete(server, op, begun["challengeId"], proof)["reason"] == "REPLAYED"
    # When a proof made for one session is completed in another session of the same person, Then the
    # payload (the session id) does not match
    second = Persona("victim-2", op.actor, op.user_id, *asyncio.run(_second_session(pg, op)))
    elsewhere = challenge(server, op)
    assert complete(server, second, elsewhere["challengeId"], token.sign(label, elsewhere["challenge"]))["reason"] == (
        "PAYLOAD_MISMATCH")
    # Then every refusal is in the audit trail as denied, with its reason
    refused = [(o, pr, d["reason"]) for o, pr, d in audit_rows(pg, "session.step_up", op.actor) if o == "denied"]
    assert refused == [("denied", "warn", r) for r in ("BAD_SIGNATURE", "MALFORMED_PROOF", "REPLAYED", "PAYLOAD_MISMATCH")]
    assert [d["reason"] for o, _, d in audit_rows(pg, "session.step_up", other.actor)] == ["WRONG_ACTOR"]


async def _second_session(pg: Pg, persona: Persona) -> tuple[str, str]:
    from skyloom.graph import identity
    from skyloom.graph.pool import Database
    from skyloom.policy.actor import AuthStrength
    from tests.access_world import SESSION_TTL
    db = Database(pg.app_url, "cmdb", min_size=1, max_size=1)
    await db.open()
    try:
        return await identity.open_session(db, persona.user_id, AuthStrength.MULTI_FACTOR, SESSION_TTL)
    finally:
        await db.close()


def test_only_a_browser_session_of_a_key_holder_steps_up(server: Server, world: World) -> None:
    # A bearer token has no session to raise
    begun = server.gql(BEGIN, {"m": "HSM"})["stepUpBegin"]
    assert (begun["__typename"], begun["code"]) == ("ValidationProblem", "SESSION_REQUIRED")
    # Without a registered key there is nothing to sign with
    begun = world.personas["tenant_admin"].gql(server, BEGIN, {"m": "HSM"})["stepUpBegin"]
    assert (begun["__typename"], begun["code"]) == ("ValidationProblem", "NO_KEY")
    # Anonymous callers have no session
    assert world.personas["anonymous"].gql(server, BEGIN, {"m": "HSM"})["stepUpBegin"]["code"] == "SESSION_REQUIRED"
    # An unknown challenge is refused like any other bad proof
    done = world.personas["tenant_admin"].gql(server, COMPLETE, {"c": "00000000-0000-4000-8000-000000000000", "p": {}})
    assert done["stepUpComplete"]["reason"] == "UNKNOWN_CHALLENGE"


def test_security_keys_only_when_the_server_runs_with_debug(server: Server, world: World, pg: Pg) -> None:
    op = asyncio.run(operator(pg, world, "yubikey"))
    register = 'mutation { webauthnRegisterBegin(label: "yubi") { __typename ... on StepUpChallenge { publicKeyOptions } ' \
               '... on Problem { code } } }'
    # Without --debug: refused
    assert op.gql(server, BEGIN, {"m": "WEBAUTHN"})["stepUpBegin"]["code"] == "WEBAUTHN_DISABLED"
    assert op.gql(server, register)["webauthnRegisterBegin"]["code"] == "WEBAUTHN_DISABLED"
    # With --debug: offered, and a registration starts for the panel's origin
    port_server = Server(pg.app_url, {"SKYLOOM_PUBLIC_URL": "http://localhost:8443"}, args=("--debug",))
    try:
        assert op.gql(port_server, "{ viewer { stepUpMethods } }")["viewer"]["stepUpMethods"] == ["HSM", "WEBAUTHN"]
        options = op.gql(port_server, register)["webauthnRegisterBegin"]["publicKeyOptions"]["publicKey"]
        assert (options["rp"]["id"], options["user"]["name"]) == ("localhost", "yubikey")
        assert op.gql(port_server, BEGIN, {"m": "WEBAUTHN"})["stepUpBegin"]["code"] == "NO_KEY"
        # and a tenant admin still may not register a security key
        assert world.personas["tenant_admin"].gql(port_server, register)["webauthnRegisterBegin"]["code"] == "FORBIDDEN"
    finally:
        port_server.stop()


def test_revoking_a_key_needs_a_proof_and_a_revoked_key_signs_nothing(server: Server, world: World, pg: Pg,
                                                                      token: Token) -> None:
    op = asyncio.run(operator(pg, world, "revoker"))
    first, second = unique("k1"), unique("k2")
    key = register_key(server, op, token, first)
    revoke = "mutation($id: ID!) { registeredKeyRevoke(id: $id) { __typename ... on RegisteredKey { revokedAt } " \
             "... on Forbidden { code } ... on Problem { code } } }"
    assert op.gql(server, revoke, {"id": key["id"]})["registeredKeyRevoke"] == {"__typename": "Forbidden", "code": "PROOF_REQUIRED"}
    # a tenant admin cannot even see the operator's key
    assert world.personas["tenant_admin"].gql(server, revoke, {"id": key["id"]})["registeredKeyRevoke"]["code"] == "NOT_FOUND"
    step_up(server, op, token, first)
    assert register_key(server, op, token, second)["__typename"] == "RegisteredKey"
    revoked = op.gql(server, revoke, {"id": key["id"]})["registeredKeyRevoke"]
    assert revoked["__typename"] == "RegisteredKey" and revoked["revokedAt"]
    begun = challenge(server, op)
    assert complete(server, op, begun["challengeId"], token.sign(first, begun["challenge"]))["reason"] == "KEY_REVOKED"
    assert audit_rows(pg, "key.revoked", op.actor)[0][:2] == ("success", "warn")
