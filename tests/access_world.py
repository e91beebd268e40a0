"""A small world for the configuration API's tests: provider P with tenants T1 (sub-tenant S1) and T2, and personas.

Personas are real people with real browser sessions (users provisioned through identity providers
configured in the store, sessions opened by the store as a login would), calling a real
`skyloom serve` with the session cookie and its X-CSRF-Token. The operator's hardware key is a
key pair in a SoftHSM2 token of this test's own, made and used through `skyloom proof keygen` /
`skyloom proof sign` in subprocesses, as an operator would (each subprocess loads PKCS#11 afresh).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg

from skyloom.graph import identity as idn
from skyloom.graph.pool import Database
from skyloom.policy.actor import AuthStrength
from tests.conftest import GRAPH, Pg, Server, unique

SESSION_TTL = timedelta(hours=1)
PERSONAS = ("root_op", "provider_op", "tenant_admin", "sub_admin", "editor", "viewer", "auditor", "outsider")


@dataclass
class Persona:
    name: str
    actor: str = ""                     # "user:<uuid>"; "" for anonymous
    user_id: UUID | None = None
    session: str | None = None
    csrf: str | None = None

    def call(self, server: Server, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if self.session:
            headers["Cookie"] = f"skyloom_session={self.session}"
            headers["X-CSRF-Token"] = self.csrf or ""
        with httpx.Client(base_url=server.url, timeout=30) as client:
            return client.post("/graphql", headers=headers, content=json.dumps({"query": query, "variables": variables or {}}))

    def gql(self, server: Server, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.call(server, query, variables)
        body = r.json()
        assert r.status_code == 200 and not body.get("errors"), body
        return body["data"]


@dataclass
class World:
    provider: str
    t1: str
    t2: str
    s1: str
    idps: dict[str, str]
    personas: dict[str, Persona] = field(default_factory=dict)
    target_user: UUID | None = None          # a plain person homed in T1
    service_t1: UUID | None = None           # a service account homed in T1
    group_t1: UUID | None = None             # a local group homed in T1


def root_gql(server: Server, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    return server.gql(query, variables)


def build_world(server: Server, pg: Pg) -> World:
    """Given the panel hierarchy (made through the API by the test session's root token) and the personas."""
    p = root_gql(server, "mutation($n: String!) { providerCreate(input: {name: $n}) { ... on Provider { id } } }",
                 {"n": unique("acc-p")})["providerCreate"]["id"]
    tenant = "mutation($p: ID!, $n: String!) { tenantCreate(input: {providerId: $p, name: $n}) { ... on Tenant { id } } }"
    t1 = root_gql(server, tenant, {"p": p, "n": unique("acc-t1")})["tenantCreate"]["id"]
    t2 = root_gql(server, tenant, {"p": p, "n": unique("acc-t2")})["tenantCreate"]["id"]
    s1 = root_gql(server, "mutation($t: ID!, $n: String!) { subTenantCreate(input: {tenantId: $t, name: $n}) "
                          "{ ... on SubTenant { id } } }", {"t": t1, "n": unique("acc-s1")})["subTenantCreate"]["id"]
    world = World(p, t1, t2, s1, {"p": unique("acc-idp-p"), "t1": unique("acc-idp-t1"), "t2": unique("acc-idp-t2")})
    asyncio.run(_people(pg, world))
    return world


async def _people(pg: Pg, world: World) -> None:
    db = Database(pg.app_url, GRAPH, min_size=1, max_size=2)
    await db.open()
    try:
        for key, tenant in (("p", None), ("t1", world.t1), ("t2", world.t2)):
            await idn.create_idp(db, idn.IdentityProvider(id=world.idps[key], kind="oidc", name=key, provider_id=world.provider,
                                                          tenant_id=tenant, settings={"issuer": "https://idp.example.test",
                                                                                      "client_id": "skyloom"},
                                                          auto_create_users=True, auto_create_groups=True))
        plan = {
            "root_op": ("p", None, [("provider-operator", "installation", "*")]),
            "provider_op": ("p", None, [("provider-operator", "provider", world.provider)]),
            "tenant_admin": ("t1", None, [("tenant-admin", "tenant", world.t1)]),
            "sub_admin": ("t1", world.s1, [("subtenant-admin", "subtenant", world.s1)]),
            "editor": ("t1", None, [("editor", "tenant", world.t1)]),
            "viewer": ("t1", None, [("viewer", "tenant", world.t1)]),
            "auditor": ("t1", None, [("auditor", "tenant", world.t1)]),
            "outsider": ("t2", None, [("tenant-admin", "tenant", world.t2)]),
        }
        for name, (idp, subtenant, bindings) in plan.items():
            world.personas[name] = await person(db, world.idps[idp], name, bindings, subtenant)
        world.personas["anonymous"] = Persona("anonymous")
        target = await idn.provision(db, idn.ProvisionRequest(world.idps["t1"], unique("target"), display_name="target"))
        world.target_user = target.id
        service = await idn.create_service_account(db, unique("svc"), "system:tests", home_provider=world.provider,
                                                   home_tenant=world.t1)
        world.service_t1 = service.id
        world.group_t1 = await idn.create_local_group(db, unique("grp"), "system:tests", home_provider=world.provider,
                                                      home_tenant=world.t1)
    finally:
        await db.close()


async def person(db: Database, idp: str, name: str, bindings: list[tuple[str, str, str]], subtenant: str | None = None,
                 strength: AuthStrength = AuthStrength.MULTI_FACTOR) -> Persona:
    user = await idn.provision(db, idn.ProvisionRequest(idp, unique(name), email=f"{name}@example.test", display_name=name,
                                                        auth_strength=strength, home_subtenant=subtenant))
    for role, scope_kind, scope_id in bindings:
        await idn.create_binding(db, "user", user.id, role, scope_kind, scope_id, "system:tests")
    token, csrf = await idn.open_session(db, user.id, strength, SESSION_TTL)
    return Persona(name, f"user:{user.id}", user.id, token, csrf)


def admin_rows(pg: Pg, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(pg.admin_url) as conn:
        return conn.execute(sql, params).fetchall()


def counts(pg: Pg) -> tuple:
    """Everything a configuration change could touch, counted (a refusal must leave all of it as it was)."""
    return admin_rows(pg, """
        SELECT (SELECT count(*) FROM skyloom.role_binding WHERE revoked_at IS NULL),
               (SELECT count(*) FROM skyloom.identity_user), (SELECT count(*) FROM skyloom.identity_user WHERE disabled_at IS NOT NULL),
               (SELECT count(*) FROM skyloom.identity_group),
               (SELECT count(*) FROM skyloom.group_membership WHERE removed_at IS NULL),
               (SELECT count(*) FROM skyloom.api_token WHERE revoked_at IS NULL),
               (SELECT count(*) FROM skyloom.identity_provider), (SELECT md5(string_agg(settings::text || name, ',' ORDER BY id)) FROM skyloom.identity_provider),
               (SELECT count(*) FROM skyloom.group_role_mapping WHERE removed_at IS NULL),
               (SELECT count(*) FROM skyloom.proof_key WHERE revoked_at IS NULL),
               (SELECT row(module_path, token_label, challenge_ttl_seconds, proof_validity_seconds)::text FROM skyloom.hsm_settings)
    """)[0]


# -- the operator's hardware token ----------------------------------------------------------------
@dataclass
class Token:
    env: dict[str, str]
    label: str
    pin_env: str = "SKYLOOM_TEST_TOKEN_PIN"

    def proof_cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([sys.executable, "-m", "skyloom.cli", "proof", *args, "--token-label", self.label,
                               "--pin-env", self.pin_env], input=stdin, capture_output=True, text=True, env=self.env,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def keygen(self, key_label: str) -> str:
        return self.proof_cli("keygen", "--key-label", key_label)

    def sign(self, key_label: str, challenge: dict[str, Any]) -> dict[str, Any]:
        return json.loads(self.proof_cli("sign", "--key-label", key_label, "--challenge", "-", stdin=json.dumps(challenge)))


def softhsm_token(root: Path) -> Token:
    """A SoftHSM2 token in `root` with a made-up PIN (never written to the repo)."""
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    pin, label = secrets.token_hex(6), "ops-step-up"
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin",
                    secrets.token_hex(6)], check=True, capture_output=True, env={**os.environ, "SOFTHSM2_CONF": str(conf)})
    return Token({**os.environ, "SOFTHSM2_CONF": str(conf), "SKYLOOM_TEST_TOKEN_PIN": pin}, label)


# -- step-up, as the console does it ----------------------------------------------------------------
KEY_ADD = """mutation($l: String!, $k: String!) { registeredKeyAdd(label: $l, publicKeyPem: $k) {
  __typename ... on RegisteredKey { id method label owner } ... on Forbidden { code needsProof } ... on Problem { code } } }"""
BEGIN = """mutation($m: StepUpMethod!) { stepUpBegin(method: $m) { __typename
  ... on StepUpChallenge { challengeId method challenge publicKeyOptions tokenLabel } ... on Problem { code message } } }"""
COMPLETE = """mutation($c: ID!, $p: JSON!) { stepUpComplete(challengeId: $c, proof: $p) { __typename
  ... on Viewer { id hasFreshProof proofUntil authStrength tier } ... on ProofRefused { code reason } ... on Problem { code } } }"""


def register_key(server: Server, persona: Persona, token: Token, key_label: str) -> dict[str, Any]:
    pem = token.keygen(key_label)
    return persona.gql(server, KEY_ADD, {"l": key_label, "k": pem})["registeredKeyAdd"]


def challenge(server: Server, persona: Persona) -> dict[str, Any]:
    begun = persona.gql(server, BEGIN, {"m": "HSM"})["stepUpBegin"]
    assert begun["__typename"] == "StepUpChallenge", begun
    return begun


def complete(server: Server, persona: Persona, challenge_id: str, proof: dict[str, Any]) -> dict[str, Any]:
    return persona.gql(server, COMPLETE, {"c": challenge_id, "p": proof})["stepUpComplete"]


def step_up(server: Server, persona: Persona, token: Token, key_label: str) -> dict[str, Any]:
    """Raise the persona's session to the hardware tier: challenge, sign in the token, complete."""
    begun = challenge(server, persona)
    done = complete(server, persona, begun["challengeId"], token.sign(key_label, begun["challenge"]))
    assert done["__typename"] == "Viewer" and done["hasFreshProof"], done
    return done


def proven_operator(server: Server, pg: Pg, world: World, token: Token, name: str) -> Persona:
    """An installation operator whose session holds a fresh hardware-key proof (a key in `token`)."""
    op = asyncio.run(operator(pg, world, name))
    label = unique("key")
    register_key(server, op, token, label)
    step_up(server, op, token, label)
    return op


async def operator(pg: Pg, world: World, name: str, scope: tuple[str, str] = ("installation", "*")) -> Persona:
    """A fresh provider operator (installation-wide by default) with a session and no key yet."""
    db = Database(pg.app_url, GRAPH, min_size=1, max_size=1)
    await db.open()
    try:
        return await person(db, world.idps["p"], name, [("provider-operator", *scope)])
    finally:
        await db.close()
