"""List filters: exact ScopeFilters per persona, and ScopeFilter.matches agreeing with allowed() object by object."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from skyloom.policy.actor import Actor, AuthStrength
from skyloom.policy.adapter import Policy
from skyloom.policy.resources import ACTIONS, Ci, ConfigObject, PanelObject
from skyloom.policy.scopes import FieldIn, FieldIsSet, FieldNotEquals, ScopeFilter, TagEquals, TagNotEquals
from tests.test_policy_grid import NOW, PERSONAS, person

RESTRICTED = TagNotEquals("data-classification", "restricted")
NOT_PRODUCTION = TagNotEquals("environment", "production")


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.load()


def test_scope_filters_per_persona(policy: Policy):
    # when each persona asks which ComputeInstances it may read
    got = {name: policy.read_filter(actor, "read", "ComputeInstance", now=NOW) for name, actor in PERSONAS.items()}
    # then each filter names exactly the persona's scope
    assert got == {
        "operator": ScopeFilter(provider_ids=frozenset({"p1"})),
        "provider_auditor": ScopeFilter(provider_ids=frozenset({"p1"})),
        "tenant_admin": ScopeFilter(tenant_ids=frozenset({"t1"})),
        "subtenant_admin": ScopeFilter(subtenant_ids=frozenset({"s1"})),
        "user": ScopeFilter(subtenant_ids=frozenset({"s1"})),
        "viewer": ScopeFilter(subtenant_ids=frozenset({"s1"})),
        "auditor": ScopeFilter(tenant_ids=frozenset({"t1"})),
        "outsider": ScopeFilter(tenant_ids=frozenset({"t2"})),
        "anonymous": ScopeFilter.nothing(),
    }
    assert got["anonymous"].is_nothing and not got["user"].is_nothing


def test_compartment_bindings_filter_by_subtree_and_never_reach_panel_objects(policy: Policy):
    actor = person("c", "editor@compartment:c1", "viewer@compartment:c7")
    assert policy.read_filter(actor, "read", "Network", now=NOW) == ScopeFilter(compartment_ids=frozenset({"c1", "c7"}))
    assert policy.read_filter(actor, "read", "Tenancy", now=NOW) == ScopeFilter.nothing()
    assert policy.read_filter(actor, "read", "Stack", now=NOW) == ScopeFilter.nothing()
    # only the editor binding grants writes
    assert policy.read_filter(actor, "update", "Network", now=NOW) == ScopeFilter(
        compartment_ids=frozenset({"c1"}), predicates=(NOT_PRODUCTION,))


def test_abac_predicates_in_filters(policy: Policy):
    weak = replace(PERSONAS["tenant_admin"], auth_strength=AuthStrength.PASSWORD)
    assert policy.read_filter(weak, "read", "Database", now=NOW) == ScopeFilter(
        tenant_ids=frozenset({"t1"}), predicates=(RESTRICTED,))
    # ABAC on CIs only: the same actor lists tenants without predicates
    assert policy.read_filter(weak, "read", "Tenant", now=NOW) == ScopeFilter(tenant_ids=frozenset({"t1"}))
    eu = person("eu", "editor@subtenant:s1", regions="eu-west-1", clouds="aws,azure")
    assert policy.read_filter(eu, "read", "Volume", now=NOW) == ScopeFilter(
        subtenant_ids=frozenset({"s1"}),
        predicates=(FieldIn("cloud", frozenset({"aws", "azure"})), FieldIn("region", frozenset({"eu-west-1"}))))


def test_bindings_with_different_predicates_become_alternatives(policy: Policy):
    actor = person("mixed", "editor@compartment:c1", "tenant-admin@tenant:t2")
    assert policy.read_filter(actor, "delete", "ComputeInstance", now=NOW) == ScopeFilter(
        tenant_ids=frozenset({"t2"}),
        alternatives=(ScopeFilter(compartment_ids=frozenset({"c1"}), predicates=(NOT_PRODUCTION,)),))


def test_actor_level_conditions_empty_the_filter(policy: Policy):
    no_proof = replace(PERSONAS["operator"], proof_until=None)
    assert policy.read_filter(no_proof, "update", "HsmSettings", now=NOW) == ScopeFilter.nothing()
    assert policy.read_filter(PERSONAS["operator"], "update", "HsmSettings", now=NOW) == ScopeFilter(
        provider_ids=frozenset({"p1"}))
    assert policy.read_filter(no_proof, "update", "Group", now=NOW) == ScopeFilter(
        provider_ids=frozenset({"p1"}), predicates=(FieldIsSet("tenant_id"),))
    day = person("day", "editor@subtenant:s1", hours="08-18")
    assert policy.read_filter(day, "read", "Network", now=NOW.replace(hour=20)).is_nothing
    assert policy.read_filter(PERSONAS["tenant_admin"], "approve", "ImpersonationRequest", now=NOW) == ScopeFilter(
        tenant_ids=frozenset({"t1"}), predicates=(FieldNotEquals("created_by", "user:tenant_admin"),))


def test_the_system_actor_sees_everything(policy: Policy):
    assert policy.read_filter(Actor(id="system:ingest", kind="system"), "read", "Secret", now=NOW) == ScopeFilter.unrestricted()


def test_scope_filter_matches_semantics():
    vm = Ci("ComputeInstance", "vm", "p1", "t1", "s1", ("c1", "c2"), {"environment": "production"}, "eu-west-1")
    compartment = Ci("Compartment", "c2", "p1", "t1", "s1", ("c1",))
    assert ScopeFilter(compartment_ids=frozenset({"c2"})).matches(vm)
    assert ScopeFilter(compartment_ids=frozenset({"c2"})).matches(compartment)       # the subtree root itself
    assert not ScopeFilter(compartment_ids=frozenset({"c3"})).matches(vm)
    assert not ScopeFilter(tenant_ids=frozenset({"t1"}), predicates=(NOT_PRODUCTION,)).matches(vm)
    assert ScopeFilter(tenant_ids=frozenset({"t1"}), predicates=(TagEquals("environment", "production"),)).matches(vm)
    assert not ScopeFilter(predicates=(TagEquals("environment", "production"),)).matches(vm)   # no scope: nothing
    assert ScopeFilter(alternatives=(ScopeFilter(subtenant_ids=frozenset({"s1"})),)).matches(vm)
    assert not ScopeFilter(tenant_ids=frozenset({"t1"})).matches(PanelObject("Provider", "p1", "p1"))
    assert ScopeFilter.unrestricted().matches(vm) and not ScopeFilter.nothing().matches(vm)
    with pytest.raises(ValueError):
        FieldIn("password", frozenset({"x"}))


# --- cross-check: every object a filter admits is allowed, and every allowed object is admitted --

LOCATIONS = [  # (provider, tenant, subtenant, compartment path)
    ("p1", "t1", "s1", ("c1",)), ("p1", "t1", "s1", ("c1", "c2")), ("p1", "t1", "s1", ("c9",)),
    ("p1", "t1", "s1", ()), ("p1", "t2", "s2", ("c5",)), ("p2", "t3", "s3", ("c1x",)),
]
TAGS = [{}, {"environment": "production"}, {"data-classification": "restricted", "environment": "staging"}]


def generated_resources() -> list:
    resources = {}
    for kind in ("Tenancy", "Compartment", "ComputeInstance"):
        for (p, t, s, path), tags, (region, cloud) in itertools.product(
                LOCATIONS, TAGS, (("eu-west-1", "aws"), ("us-east-1", "oci"))):
            if kind == "Tenancy" and path:
                continue
            ident = path[-1] if kind == "Compartment" and path else f"{kind}-{len(resources)}"
            parents = path[:-1] if kind == "Compartment" else path
            resources[(kind, ident, repr(tags), region)] = Ci(kind, ident, p, t, s, parents, tags, region, cloud)
    for p, t, s, _ in LOCATIONS:
        others = [PanelObject("Tenant", t, p, t), PanelObject("SubTenant", s, p, t, s), PanelObject("Stack", f"st-{s}", p, t, s),
                  PanelObject("Provider", p, p), PanelObject("CloudBackend", f"cb-{p}", p),
                  ConfigObject("Group", f"g-{p}", p), ConfigObject("HsmSettings", f"hsm-{p}", p),
                  ConfigObject("ImpersonationSettings", f"is-{t}", p, t)]
        others += [ConfigObject(k, f"{k}-{s}", p, t, s) for k in ("User", "Group", "AuditEntry")]
        others += [ConfigObject("ImpersonationRequest", f"r-{s}-{who}", p, t, s, created_by=f"user:{who}")
                   for who in ("tenant_admin", "operator")]
        resources.update({(o.kind, o.id): o for o in others})
    return list(resources.values())


CROSS_PERSONAS = {
    **PERSONAS,
    "operator_without_proof": replace(PERSONAS["operator"], proof_until=None),
    "compartment_user_password": person("cu", "editor@compartment:c1", strength=AuthStrength.PASSWORD),
    "eu_oci_user": person("eu", "editor@compartment:c1", "viewer@tenant:t2", regions="eu-west-1", clouds="oci"),
    "mixed": person("mixed", "editor@compartment:c2", "tenant-admin@tenant:t2", "auditor@subtenant:s1"),
    "night_user": person("night", "editor@subtenant:s1", hours="20-23"),
}


@pytest.mark.parametrize("persona", sorted(CROSS_PERSONAS))
def test_filters_agree_with_single_decisions(policy: Policy, persona: str):
    # given a persona and a generated set of objects of many kinds, places, tags, regions, clouds
    actor, resources = CROSS_PERSONAS[persona], generated_resources()
    disagreements, allowed_count = [], 0
    for action in ACTIONS:
        filters: dict[str, ScopeFilter] = {}
        for resource in resources:
            # when the list filter and the single decision are both asked
            if resource.kind not in filters:
                filters[resource.kind] = policy.read_filter(actor, action, resource.kind, now=NOW)
            scope = filters[resource.kind]
            allowed = policy.allowed(actor, action, resource, now=NOW)
            allowed_count += allowed
            if scope.matches(resource) != allowed:
                disagreements.append((action, resource, allowed))
    # then they agree on every object
    assert disagreements == []
    # and the set is not trivial for this persona: some objects allowed, some not
    total = len(resources) * len(ACTIONS)
    if persona in ("anonymous", "night_user"):
        assert allowed_count == 0
    else:
        assert 0 < allowed_count < total
