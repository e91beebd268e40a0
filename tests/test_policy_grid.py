"""The default policy as an allow/deny grid: every persona, every kind, every action; then the ABAC rules."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from skyloom.policy.actor import ANONYMOUS, Actor, AuthStrength, Binding, Tier
from skyloom.policy.adapter import Decision, Policy
from skyloom.policy.resources import ACTIONS, CI_KINDS, CONFIG_KINDS, PANEL_KINDS, Ci, ConfigObject, PanelObject

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)
REPO = Path(__file__).resolve().parent.parent


def person(name: str, *bindings: str, strength: AuthStrength = AuthStrength.MULTI_FACTOR,
           proof: bool = False, **attributes: str) -> Actor:
    """An actor from "role@scope_kind:scope_id" strings, as the policy tests write them."""
    parsed = []
    for text in bindings:
        role, scope = text.split("@")
        kind, scope_id = scope.split(":")
        parsed.append(Binding(role, kind, scope_id))
    return Actor(id=f"user:{name}", kind="user", name=name, bindings=tuple(parsed), attributes=attributes,
                 auth_strength=strength, proof_until=NOW + timedelta(minutes=5) if proof else None)


# The world: provider p1; tenant t1 > sub-tenant s1 > compartment c1; tenant t2 elsewhere.
PERSONAS = {
    "operator": person("operator", "provider-operator@provider:p1", strength=AuthStrength.HARDWARE, proof=True),
    "provider_auditor": person("provider_auditor", "auditor@provider:p1"),
    "tenant_admin": person("tenant_admin", "tenant-admin@tenant:t1"),
    "subtenant_admin": person("subtenant_admin", "subtenant-admin@subtenant:s1"),
    "user": person("user", "editor@subtenant:s1"),
    "viewer": person("viewer", "viewer@subtenant:s1"),
    "auditor": person("auditor", "auditor@tenant:t1"),
    "outsider": person("outsider", "tenant-admin@tenant:t2", strength=AuthStrength.HARDWARE, proof=True),
    "anonymous": ANONYMOUS,
}


def grid_resource(kind: str):
    """One object of each kind, placed where it lives in t1 / s1 / c1 (provider settings at p1)."""
    if kind in CI_KINDS:
        if kind == "Tenancy":
            return Ci(kind, "tenancy-1", "p1", "t1", "s1", (), {"environment": "staging"}, "eu-west-1", "aws")
        if kind == "Compartment":
            return Ci(kind, "c1", "p1", "t1", "s1", (), {"environment": "staging"}, "eu-west-1", "aws")
        return Ci(kind, f"{kind}-1", "p1", "t1", "s1", ("c1",), {"environment": "staging"}, "eu-west-1", "aws")
    return {
        "Provider": PanelObject("Provider", "p1", "p1"),
        "CloudBackend": PanelObject("CloudBackend", "cb1", "p1"),
        "Tenant": PanelObject("Tenant", "t1", "p1", "t1"),
        "SubTenant": PanelObject("SubTenant", "s1", "p1", "t1", "s1"),
        "Stack": PanelObject("Stack", "st1", "p1", "t1", "s1"),
        "User": ConfigObject("User", "u1", "p1", "t1", "s1"),
        "Group": ConfigObject("Group", "g1", "p1", "t1", "s1"),
        "RoleBinding": ConfigObject("RoleBinding", "rb1", "p1", "t1", "s1"),
        "IdentityProvider": ConfigObject("IdentityProvider", "idp1", "p1"),
        "PolicyFile": ConfigObject("PolicyFile", "pf1", "p1"),
        "HsmSettings": ConfigObject("HsmSettings", "hsm1", "p1"),
        "RegisteredKey": ConfigObject("RegisteredKey", "key1", "p1"),
        "IsolationSettings": ConfigObject("IsolationSettings", "iso1", "p1"),
        "ImpersonationSettings": ConfigObject("ImpersonationSettings", "imps1", "p1", "t1"),
        "ImpersonationRequest": ConfigObject("ImpersonationRequest", "impr1", "p1", "t1", "s1", created_by="user:someone"),
        "AuditEntry": ConfigObject("AuditEntry", "a1", "p1", "t1", "s1"),
        "Design": ConfigObject("Design", "d1", "p1", "t1"),
    }[kind]


CRUD = {"read", "create", "update", "delete"}
NONE: set[str] = set()
ACCESS = ("User", "Group", "RoleBinding")
PROVIDER_CONFIG = ("IdentityProvider", "PolicyFile", "HsmSettings", "RegisteredKey", "IsolationSettings")
ALL = CI_KINDS + PANEL_KINDS + CONFIG_KINDS


def table(default: set[str], **by_kind: set[str]) -> dict[str, set[str]]:
    return {kind: by_kind.get(kind, default) for kind in ALL}


EXPECTED: dict[str, dict[str, set[str]]] = {
    "operator": {
        **{k: CRUD for k in CI_KINDS},
        "Provider": {"read", "update", "configure", "read_audit"},
        "CloudBackend": CRUD | {"configure"},
        "Tenant": CRUD | {"configure", "read_audit"},
        "SubTenant": CRUD | {"configure", "read_audit", "impersonate"},
        "Stack": CRUD,
        **{k: CRUD for k in ACCESS},
        **{k: CRUD | {"configure"} for k in PROVIDER_CONFIG},
        "ImpersonationSettings": CRUD | {"configure"},
        "ImpersonationRequest": {"read", "create", "approve", "delete"},
        "AuditEntry": {"read"},
        "Design": CRUD | {"preview", "apply"},
    },
    "provider_auditor": table({"read"}, Provider={"read", "read_audit"}, Tenant={"read", "read_audit"},
                              SubTenant={"read", "read_audit"}),
    "tenant_admin": {
        **table(NONE),
        **{k: CRUD for k in CI_KINDS},
        "Tenant": {"read", "update", "configure", "read_audit"},
        "SubTenant": CRUD | {"configure", "read_audit"},
        "Stack": CRUD,
        **{k: CRUD for k in ACCESS},
        "ImpersonationSettings": {"read", "update", "configure"},
        "ImpersonationRequest": {"read", "approve"},
        "AuditEntry": {"read"},
        "Design": CRUD | {"preview"},
    },
    "subtenant_admin": {
        **table(NONE),
        **{k: CRUD for k in CI_KINDS},
        "SubTenant": {"read", "update", "read_audit"},
        "Stack": CRUD,
        **{k: CRUD for k in ACCESS},
        "ImpersonationRequest": {"read"},   # the settings live at the tenant, outside s1
        "AuditEntry": {"read"},
    },
    "user": {
        **table(NONE),
        **{k: CRUD for k in CI_KINDS},
        "Tenancy": {"read"},
        "SubTenant": {"read"},
        "Stack": {"read", "create", "update"},
    },
    "viewer": {**table(NONE), **{k: {"read"} for k in CI_KINDS}, "SubTenant": {"read"}, "Stack": {"read"}},
    "auditor": {
        **table({"read"}),
        **{k: NONE for k in ("Provider", "CloudBackend", *PROVIDER_CONFIG)},   # provider level: outside t1
        "Tenant": {"read", "read_audit"},
        "SubTenant": {"read", "read_audit"},
    },
    "outsider": table(NONE),
    "anonymous": table(NONE),
}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.load()


def test_ci_kinds_match_the_semantic_vocabulary():
    vocabulary = json.loads((REPO / "schema" / "vocabulary.json").read_text())
    assert CI_KINDS == tuple(k["kind"] for k in vocabulary["kinds"])


def test_the_grid_names_every_kind_for_every_persona():
    assert sorted(EXPECTED) == sorted(PERSONAS)
    for persona, kinds in EXPECTED.items():
        assert sorted(kinds) == sorted(ALL), persona


@pytest.mark.parametrize("persona", sorted(PERSONAS))
@pytest.mark.parametrize("kind", ALL)
def test_grid(policy: Policy, persona: str, kind: str):
    # given a persona and one object of the kind in the persona's world
    actor, resource = PERSONAS[persona], grid_resource(kind)
    # when every action is asked for
    allowed = policy.allowed_actions(actor, resource, now=NOW)
    # then exactly the expected actions are allowed
    assert allowed == frozenset(EXPECTED[persona][kind])
    assert allowed <= set(ACTIONS)


@pytest.mark.parametrize("kind", PROVIDER_CONFIG)
def test_provider_configuration_needs_a_fresh_proof(policy: Policy, kind: str):
    # given a provider operator whose proof has expired
    actor = replace(PERSONAS["operator"], proof_until=NOW - timedelta(seconds=1))
    resource = grid_resource(kind)
    # then changes ask for step-up, reading does not
    for action in ("create", "update", "delete", "configure"):
        assert policy.decide(actor, action, resource, now=NOW) == Decision(False, "needs_proof", needs_proof=True)
    assert policy.decide(actor, "read", resource, now=NOW) == Decision(True, "allowed")
    # and once the proof is fresh again, the change is allowed
    assert policy.decide(PERSONAS["operator"], "update", resource, now=NOW) == Decision(True, "allowed")


def test_the_root_group_needs_proof_and_tenant_groups_do_not(policy: Policy):
    actor = replace(PERSONAS["operator"], proof_until=None)
    root_group = ConfigObject("Group", "root", "p1")
    tenant_group = ConfigObject("Group", "g1", "p1", "t1")
    assert policy.decide(actor, "update", root_group, now=NOW) == Decision(False, "needs_proof", needs_proof=True)
    assert policy.decide(actor, "update", tenant_group, now=NOW) == Decision(True, "allowed")


def test_denials_say_why(policy: Policy):
    vm = grid_resource("ComputeInstance")
    assert policy.decide(ANONYMOUS, "read", vm, now=NOW) == Decision(False, "anonymous")
    assert policy.decide(PERSONAS["outsider"], "read", vm, now=NOW) == Decision(False, "denied")
    assert policy.decide(PERSONAS["auditor"], "update", vm, now=NOW) == Decision(False, "denied")


def test_restricted_cis_need_a_second_factor(policy: Policy):
    db = Ci("Database", "db1", "p1", "t1", "s1", ("c1",), {"data-classification": "restricted"})
    strong, weak = PERSONAS["tenant_admin"], replace(PERSONAS["tenant_admin"], auth_strength=AuthStrength.PASSWORD)
    assert policy.allowed(strong, "read", db, now=NOW) is True
    assert policy.allowed(weak, "read", db, now=NOW) is False
    assert policy.allowed(weak, "read", grid_resource("Database"), now=NOW) is True


def test_production_changes_need_a_tenant_admin(policy: Policy):
    vm = Ci("ComputeInstance", "vm1", "p1", "t1", "s1", ("c1",), {"environment": "production"})
    assert policy.allowed_actions(PERSONAS["user"], vm, now=NOW) == {"read"}
    assert policy.allowed_actions(PERSONAS["subtenant_admin"], vm, now=NOW) == {"read"}
    assert policy.allowed_actions(PERSONAS["tenant_admin"], vm, now=NOW) == CRUD
    assert policy.allowed_actions(PERSONAS["operator"], vm, now=NOW) == CRUD


def test_region_and_cloud_restrictions_come_from_actor_attributes(policy: Policy):
    actor = person("eu", "editor@subtenant:s1", regions="eu-west-1,eu-central-1", clouds="aws")
    def vm(region: str, cloud: str) -> Ci:
        return Ci("ComputeInstance", "vm", "p1", "t1", "s1", ("c1",), {}, region, cloud)
    assert policy.allowed(actor, "read", vm("eu-central-1", "aws"), now=NOW) is True
    assert policy.allowed(actor, "read", vm("us-east-1", "aws"), now=NOW) is False
    assert policy.allowed(actor, "read", vm("eu-west-1", "azure"), now=NOW) is False


def test_working_hours_window(policy: Policy):
    actor = person("day", "editor@subtenant:s1", hours="08-18")
    night = person("night", "editor@subtenant:s1", hours="22-06")
    vm = grid_resource("ComputeInstance")
    at = lambda hour: NOW.replace(hour=hour)   # noqa: E731
    assert [policy.allowed(actor, "read", vm, now=at(h)) for h in (7, 8, 17, 18)] == [False, True, True, False]
    assert [policy.allowed(night, "read", vm, now=at(h)) for h in (21, 22, 5, 6)] == [False, True, True, False]
    broken = person("typo", "editor@subtenant:s1", hours="8 to 6")
    assert policy.allowed(broken, "read", vm, now=at(12)) is False


def test_whoever_asked_for_impersonation_cannot_approve_it(policy: Policy):
    request = ConfigObject("ImpersonationRequest", "r1", "p1", "t1", "s1", created_by="user:tenant_admin")
    other = ConfigObject("ImpersonationRequest", "r2", "p1", "t1", "s1", created_by="user:operator")
    assert policy.allowed(PERSONAS["tenant_admin"], "approve", request, now=NOW) is False
    assert policy.allowed(PERSONAS["tenant_admin"], "approve", other, now=NOW) is True


def test_roles_bound_at_the_wrong_scope_grant_nothing(policy: Policy):
    misbound = person("misbound", "tenant-admin@compartment:c1", "editor@provider:p1", "unknown-role@tenant:t1")
    assert policy.allowed_actions(misbound, grid_resource("ComputeInstance"), now=NOW) == frozenset()


def test_the_system_actor_is_unrestricted_and_anonymous_gets_nothing(policy: Policy):
    system = Actor(id="system:ingest", kind="system")
    hsm = grid_resource("HsmSettings")
    assert policy.allowed(system, "delete", hsm, now=NOW) is True
    assert policy.allowed_actions(ANONYMOUS, hsm, now=NOW) == frozenset()


def test_tiers(policy: Policy):
    tiers = {name: policy.tier(actor) for name, actor in PERSONAS.items()}
    assert tiers == {
        "operator": Tier.PROVIDER_OPERATOR, "provider_auditor": Tier.AUDITOR, "tenant_admin": Tier.TENANT_ADMIN,
        "subtenant_admin": Tier.SUBTENANT_ADMIN, "user": Tier.USER, "viewer": Tier.AUDITOR,
        "auditor": Tier.AUDITOR, "outsider": Tier.TENANT_ADMIN, "anonymous": Tier.NONE,
    }
    assert policy.tier(Actor(id="system:x", kind="system")) == Tier.PROVIDER_OPERATOR
