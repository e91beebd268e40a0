"""Admission control: mutating steps patch the object, validating steps refuse it with codes and field paths."""

from __future__ import annotations

import pytest

from skyloom.policy.admission import Admission, AdmissionConfigError, AdmissionResult, Problem


@pytest.fixture(scope="module")
def admission() -> Admission:
    return Admission.load()


def counts(existing: int, calls: list | None = None):
    def count(kind: str, per: str, scope_id: str) -> int:
        if calls is not None:
            calls.append((kind, per, scope_id))
        return existing
    return count


def test_names_are_normalised_and_default_tags_added(admission: Admission):
    # given a sub-tenant with a sloppy name, and a CI without the managed-by tag
    subtenant = {"name": "  Acme Corp_EU ", "tenant_id": "t1"}
    vm = {"name": " web-1 ", "cloud": "aws", "tags": {"environment": "staging", "owner": "team-a"}}
    # when both are admitted
    first = admission.admit("create", "SubTenant", subtenant, count=counts(0))
    second = admission.admit("create", "ComputeInstance", vm)
    # then the patched objects come back and the inputs are untouched
    assert first == AdmissionResult({"name": "acme-corp-eu", "tenant_id": "t1"})
    assert second == AdmissionResult({"name": "web-1", "cloud": "aws",
                                      "tags": {"environment": "staging", "owner": "team-a", "managed-by": "skyloom"}})
    assert subtenant == {"name": "  Acme Corp_EU ", "tenant_id": "t1"}
    assert vm["tags"] == {"environment": "staging", "owner": "team-a"}


def test_default_tags_do_not_override_the_callers(admission: Admission):
    result = admission.admit("create", "Network", {"name": "n", "tags": {"environment": "production", "managed-by": "terraform"}})
    assert result.object["tags"] == {"environment": "production", "managed-by": "terraform"}


@pytest.mark.parametrize(("cloud", "name", "ok"), [
    ("azure", "rg-prod_01(eu)", True),
    ("azure", "rg.", False),
    ("azure", "has space", False),
    ("oci", "Prod.Compartment-1", True),
    ("oci", "x" * 101, False),
    ("kubernetes", "team-a", True),
    ("kubernetes", "Team-A", False),
    ("gcp", "ab", False),
    ("aws", "anything goes here", True),      # no naming rule for AWS compartments
])
def test_compartment_naming_per_cloud(admission: Admission, cloud: str, name: str, ok: bool):
    result = admission.admit("create", "Compartment", {"name": name, "cloud": cloud, "tenancy_id": "ten1"}, count=counts(0))
    assert result.ok is ok
    assert [(p.code, p.path) for p in result.problems] == ([] if ok else [("name_invalid", "name")])


def test_bucket_names_follow_s3_rules(admission: Admission):
    tags = {"environment": "staging"}
    assert admission.admit("create", "ObjectStore", {"name": "logs.example-1", "cloud": "aws", "tags": tags}).ok
    bad = admission.admit("create", "ObjectStore", {"name": "Logs_Bucket", "cloud": "aws", "tags": tags})
    assert [(p.code, p.path) for p in bad.problems] == [("name_invalid", "name")]
    assert bad.object is None


def test_all_problems_are_reported_with_codes_and_paths(admission: Admission):
    result = admission.admit("create", "Database", {"name": "", "tags": {"environment": "prod", "data-classification": "secret"}})
    assert result.object is None
    assert [(p.code, p.path) for p in result.problems] == [
        ("required", "name"),
        ("tag_required", "tags.owner"),
        ("tag_value_invalid", "tags.environment"),
        ("tag_value_invalid", "tags.data-classification"),
    ]
    assert result.problems[2] == Problem("tag_value_invalid", "tags.environment",
                                         "tag 'environment' must be one of development, staging, production")


def test_tenancies_and_compartments_need_no_environment_tag(admission: Admission):
    assert admission.admit("create", "Tenancy", {"name": "acct"}).ok
    assert admission.admit("create", "Compartment", {"name": "rg", "cloud": "azure", "tenancy_id": "x"}, count=counts(3)).ok


def test_quota_on_sub_tenants_per_tenant(admission: Admission):
    calls: list = []
    below = admission.admit("create", "SubTenant", {"name": "s-49", "tenant_id": "t1"}, count=counts(49, calls))
    at_limit = admission.admit("create", "SubTenant", {"name": "s-50", "tenant_id": "t1"}, count=counts(50))
    assert below.ok
    assert calls == [("SubTenant", "tenant_id", "t1")]
    assert at_limit.problems == (Problem("quota_exceeded", "tenant_id", "at most 50 SubTenant objects per tenant"),)
    # updates are not counted again
    assert admission.admit("update", "SubTenant", {"name": "s-50", "tenant_id": "t1"}, count=counts(50)).ok


def test_quota_on_compartments_per_tenancy(admission: Admission):
    result = admission.admit("create", "Compartment", {"name": "rg", "cloud": "azure", "tenancy_id": "ten1"}, count=counts(200))
    assert [(p.code, p.path) for p in result.problems] == [("quota_exceeded", "tenancy_id")]
    missing = admission.admit("create", "Compartment", {"name": "rg", "cloud": "azure"}, count=counts(0))
    assert [(p.code, p.path) for p in missing.problems] == [("required", "tenancy_id")]


def test_a_quota_without_a_counter_is_a_programming_error(admission: Admission):
    with pytest.raises(TypeError, match="pass count="):
        admission.admit("create", "SubTenant", {"name": "s", "tenant_id": "t1"})


def test_unknown_kind(admission: Admission):
    assert admission.admit("create", "Spaceship", {"name": "x"}).problems == (Problem("kind_unknown", "kind", "unknown kind 'Spaceship'"),)


@pytest.mark.parametrize(("rules", "message"), [
    ({"mutate": [{"step": "teleport", "kinds": ["*"]}]}, "'teleport' is not a mutate step"),
    ({"validate": [{"step": "default_tags", "kinds": ["*"], "tags": {}}]}, "'default_tags' is not a validate step"),
    ({"validate": [{"step": "required", "kinds": ["Spaceship"], "fields": ["name"]}]}, "unknown kind 'Spaceship'"),
    ({"validate": [{"step": "quota", "kinds": ["Tenant"], "per": "provider_id", "max": 1, "min": 0}]}, "unknown keys ['min']"),
])
def test_broken_rules_are_refused_at_load(rules: dict, message: str):
    with pytest.raises(AdmissionConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Admission(rules)
