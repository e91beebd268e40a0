"""The planner's design rules: each rule reports its code on the component that has to change, and
whatever a caller sends (wrong types, junk, huge documents) comes back as problems, never as an exception.

Pure Python: no database, no Pulumi. The four example designs are the known-good starting points.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

from skyloom.deploy.planner import MAX_DOCUMENT_BYTES, Problem, document_size, validate

EXAMPLES = Path(__file__).resolve().parent.parent / "deploy" / "planner" / "examples"
CLOUDS = ("aws", "azure", "gcp", "oci")


def example(cloud: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{cloud}.json").read_text())


def component(document: dict[str, Any], cid: str) -> dict[str, Any]:
    return next(c for c in document["components"] if c["id"] == cid)


def found(document: Any) -> set[tuple[str, str | None, str]]:
    """(code, component id, severity) of every problem."""
    return {(p.code, p.component_id, p.severity) for p in validate(document)}


def add(document: dict[str, Any], parent: str, *components: dict[str, Any]) -> dict[str, Any]:
    for c in components:
        document["components"].append(c)
        document["connections"].append({"from": parent, "to": c["id"]})
    return document


@pytest.mark.parametrize("cloud", CLOUDS)
def test_each_example_is_a_valid_design_without_warnings(cloud: str) -> None:
    assert validate(example(cloud)) == []


def test_a_problem_reads_as_the_api_and_canvas_expect() -> None:
    document = example("gcp")
    document["connections"].append({"from": "ghost", "to": "vpc"})
    [problem] = validate(document)
    assert problem.to_dict() == {"code": "UNKNOWN_COMPONENT", "componentId": None, "severity": "error",
                                 "connection": 9, "message": problem.message}
    assert "'ghost'" in problem.message
    assert Problem("X", "m", "c1").to_dict() == {"code": "X", "message": "m", "componentId": "c1", "severity": "error"}


# --- containment -----------------------------------------------------------------------------------------


def test_a_subnet_without_its_network_needs_one() -> None:
    document = example("gcp")
    document["connections"].remove({"from": "vpc", "to": "front"})
    assert found(document) == {("SUBNET_NEEDS_NETWORK", "front", "error")}


def test_instances_and_databases_need_a_subnet() -> None:
    document = example("gcp")
    document["connections"].remove({"from": "front", "to": "web-1"})
    document["connections"].remove({"from": "data", "to": "orders-db"})
    assert found(document) == {("INSTANCE_NEEDS_SUBNET", "web-1", "error"),
                               ("DATABASE_NEEDS_SUBNET", "orders-db", "error")}


def test_an_instance_owned_by_a_compartment_still_needs_a_subnet() -> None:
    document = example("gcp")
    document["connections"].remove({"from": "front", "to": "web-1"})
    document["connections"].append({"from": "web", "to": "web-1"})
    assert found(document) == {("INSTANCE_NEEDS_SUBNET", "web-1", "error")}


def test_an_instance_in_a_subnet_may_be_owned_by_another_compartment() -> None:
    document = add(example("aws"), "account", {"id": "ops", "kind": "Compartment", "name": "acme-ops"})
    document["connections"].append({"from": "ops", "to": "web-1"})
    assert validate(document) == []


def test_a_network_bucket_or_identity_outside_any_compartment_is_missing_its_container() -> None:
    document = example("oci")
    for target in ("vcn", "assets", "web-instances"):
        document["connections"].remove({"from": "web", "to": target})
    assert found(document) == {("CONTAINER_MISSING", "vcn", "error"), ("CONTAINER_MISSING", "assets", "error"),
                               ("CONTAINER_MISSING", "web-instances", "error")}


def test_two_containers_for_one_component_are_refused() -> None:
    document = example("azure")
    document["connections"].append({"from": "data", "to": "web-1"})
    assert found(document) == {("MULTIPLE_CONTAINERS", "web-1", "error")}


def test_an_instance_runs_as_one_identity() -> None:
    document = add(example("aws"), "web", {"id": "second", "kind": "Identity", "name": "acme-second"})
    document["connections"].append({"from": "second", "to": "web-1"})
    assert found(document) == {("MULTIPLE_IDENTITIES", "web-1", "error")}


@pytest.mark.parametrize("source, target", [
    ("front", "vpc"),       # a subnet cannot hold its network
    ("account", "vpc"),     # a network sits in a compartment, not directly in the tenancy
    ("web-1", "orders-db"),
    ("web-role", "orders-db"),  # an identity attaches to instances only
    ("web", "account"),     # nothing holds the tenancy
])
def test_a_connection_outside_the_allowed_pairs_is_refused_on_its_target(source: str, target: str) -> None:
    document = example("aws")
    document["connections"].append({"from": source, "to": target})
    problems = validate(document)
    assert [(p.code, p.component_id, p.connection) for p in problems] == [
        ("CONNECTION_NOT_ALLOWED", target, len(document["connections"]) - 1)]


def test_a_component_connected_to_itself_is_refused() -> None:
    document = example("aws")
    document["connections"].append({"from": "web", "to": "web"})
    assert found(document) == {("CONNECTION_NOT_ALLOWED", "web", "error")}


def test_a_connection_to_a_missing_component_names_its_index() -> None:
    document = example("aws")
    document["connections"].append({"from": "web", "to": "nowhere"})
    problems = validate(document)
    assert [(p.code, p.component_id, p.connection) for p in problems] == [("UNKNOWN_COMPONENT", None, 9)]


def test_a_connection_drawn_twice_is_a_warning() -> None:
    document = example("aws")
    document["connections"].append({"from": "vpc", "to": "front"})
    assert found(document) == {("DUPLICATE_CONNECTION", "front", "warning")}


def test_compartments_holding_each_other_are_a_cycle() -> None:
    document = example("gcp")
    document["components"] += [{"id": "a", "kind": "Compartment", "name": "A"},
                               {"id": "b", "kind": "Compartment", "name": "B"}]
    document["connections"] += [{"from": "a", "to": "b"}, {"from": "b", "to": "a"}]
    assert found(document) == {("CYCLE", "a", "error"), ("CYCLE", "b", "error")}


def test_compartments_nest_five_deep_at_most() -> None:
    document, parent = example("gcp"), "web"   # web is at depth 1
    for depth in range(2, 7):
        add(document, parent, {"id": f"d{depth}", "kind": "Compartment", "name": f"Level {depth}"})
        parent = f"d{depth}"
    assert found(document) == {("NESTING_TOO_DEEP", "d6", "error")}


def test_a_design_has_exactly_one_tenancy() -> None:
    document = example("gcp")
    document["components"].append({**component(document, "project"), "id": "project2", "name": "acme-prod-second"})
    assert found(document) == {("TENANCY_DUPLICATE", "project2", "error")}
    missing = example("gcp")
    missing["components"].pop(0)
    missing["connections"].pop(0)
    assert found(missing) == {("TENANCY_MISSING", None, "error"), ("CONTAINER_MISSING", "web", "error")}


# --- addresses -------------------------------------------------------------------------------------------


def test_overlapping_subnets_of_one_network_are_reported_on_the_later_one() -> None:
    document = example("gcp")
    component(document, "data")["properties"]["cidr"] = "10.40.1.128/25"
    problems = validate(document)
    assert [(p.code, p.component_id) for p in problems] == [("CIDR_OVERLAP", "data")]
    assert "10.40.1.0/24" in problems[0].message and "'acme-front'" in problems[0].message


def test_overlapping_networks_are_reported() -> None:
    document = add(example("oci"), "web", {"id": "vcn2", "kind": "Network", "name": "second",
                                           "properties": {"cidr": "10.50.128.0/17"}})
    assert found(document) == {("CIDR_OVERLAP", "vcn2", "error")}


def test_a_subnet_outside_its_network_is_reported() -> None:
    document = example("azure")
    component(document, "front")["properties"]["cidr"] = "10.31.1.0/24"
    assert found(document) == {("CIDR_OUTSIDE_NETWORK", "front", "error")}


@pytest.mark.parametrize("cidr, fragment", [
    ("not-a-cidr", "not a CIDR block"),
    ("10.20.1.0", "not a CIDR block"),        # a prefix length is required
    ("10.20.1.0/33", "not a CIDR block"),
    ("300.20.1.0/24", "not a CIDR block"),
    ("10.20.1.1/24", "the block is 10.20.1.0/24"),
    ("fd00::/64", "only IPv4"),
    (24, "not a CIDR block"),
])
def test_a_cidr_that_is_no_ipv4_block_is_invalid(cidr: Any, fragment: str) -> None:
    document = example("aws")
    component(document, "front")["properties"]["cidr"] = cidr
    problems = validate(document)
    assert [(p.code, p.component_id) for p in problems] == [("CIDR_INVALID", "front")]
    assert fragment in problems[0].message


def test_block_sizes_follow_the_provider() -> None:
    aws = example("aws")
    component(aws, "front")["properties"]["cidr"] = "10.20.1.0/29"   # AWS subnets are /16 to /28
    assert found(aws) == {("CIDR_SIZE", "front", "error")}
    azure = example("azure")
    component(azure, "front")["properties"]["cidr"] = "10.30.1.0/29"   # Azure takes /29
    assert validate(azure) == []


def test_public_ranges_are_a_warning_not_an_error() -> None:
    document = example("gcp")
    for cid, cidr in (("vpc", "11.0.0.0/16"), ("front", "11.0.1.0/24"), ("data", "11.0.2.0/24")):
        component(document, cid)["properties"]["cidr"] = cidr
    assert found(document) == {("CIDR_NOT_PRIVATE", "vpc", "warning"), ("CIDR_NOT_PRIVATE", "front", "warning"),
                               ("CIDR_NOT_PRIVATE", "data", "warning")}


# --- names and properties --------------------------------------------------------------------------------


@pytest.mark.parametrize("cloud, cid, bad, good", [
    ("aws", "assets", "Acme_Assets", "acme.assets-2"),
    ("aws", "assets", "192.168.1.10", "acme-192-168"),
    ("aws", "assets", "xn--acme", "acme-xn"),
    ("aws", "assets", "acme..assets", "acme.assets"),
    ("aws", "assets", "acme-s3alias", "acme-s3"),
    ("aws", "orders-db", "acme--orders", "acme-orders-2"),
    ("aws", "orders-db", "1orders", "orders1"),
    ("aws", "web", "AWS-web", "web-aws"),
    ("aws", "web-role", "role with spaces", "role+with=chars@x"),
    ("aws", "account", "x" * 51, "Acme Production (EU)"),
    ("azure", "assets", "acme-assets", "acmeassets2"),
    ("azure", "assets", "ab", "abc"),
    ("azure", "web", "acme-web.", "acme-web.(eu)"),
    ("azure", "vnet", "v", "v1"),
    ("azure", "orders-db", "Acme-Orders", "acme-orders"),
    ("azure", "web-1", "-web", "web-2"),
    ("gcp", "project", "acme", "acme-1"),
    ("gcp", "project", "google-prod-1", "acme-prod-2"),
    ("gcp", "project", "acme-prod-", "acme-prod-3"),
    ("gcp", "vpc", "Main", "main-2"),
    ("gcp", "web", "_web", "Web Shop_1"),
    ("gcp", "assets", "goog-assets", "assets-goog"),
    ("gcp", "web-sa", "sa", "sa-web-1"),
    ("oci", "orders-db", "acme-orders", "acmeOrders2"),
    ("oci", "orders-db", "a" * 31, "a" * 30),
    ("oci", "web", "acme web", "acme.web_2"),
    ("oci", "vcn", "line\nbreak", "any 'quoted' \"name\" é"),
])
def test_names_follow_each_providers_rules(cloud: str, cid: str, bad: str, good: str) -> None:
    document = example(cloud)
    component(document, cid)["name"] = bad
    problems = validate(document)
    assert [(p.code, p.component_id) for p in problems] == [("NAME_INVALID", cid)], problems
    component(document, cid)["name"] = good
    assert validate(document) == []


def test_names_are_stripped_and_must_not_be_empty_or_huge() -> None:
    document = example("aws")
    component(document, "vpc")["name"] = "  acme-main  "
    assert validate(document) == []
    for name in ("   ", "", None, 42, "n" * 256):
        component(document, "vpc")["name"] = name
        assert found(document) == {("NAME_INVALID", "vpc", "error")}, name


def test_names_are_unique_per_kind_whatever_the_case() -> None:
    document = example("gcp")
    component(document, "data")["name"] = "ACME-FRONT".lower()
    assert found(document) == {("NAME_DUPLICATE", "data", "error")}
    document = example("azure")
    component(document, "data")["name"] = "Front"
    assert found(document) == {("NAME_DUPLICATE", "data", "error")}


@pytest.mark.parametrize("cloud, cid, missing", [
    ("aws", "account", "email"), ("aws", "account", "parentId"), ("azure", "subscription", "billingScope"),
    ("gcp", "project", "billingAccount"), ("gcp", "project", "folderId"), ("oci", "client", "parentCompartmentId"),
    ("gcp", "vpc", "cidr"), ("oci", "front", "cidr"),
])
def test_required_properties_are_reported_missing(cloud: str, cid: str, missing: str) -> None:
    document = example(cloud)
    del component(document, cid)["properties"][missing]
    problems = validate(document)
    assert [(p.code, p.component_id) for p in problems] == [("MISSING_PROPERTY", cid)]
    assert missing in problems[0].message


@pytest.mark.parametrize("cloud, cid, prop, value", [
    ("aws", "account", "parentId", "ou-x"),
    ("aws", "account", "email", "not-an-email"),
    ("aws", "web-1", "size", "huge"),
    ("aws", "web-1", "image", "ubuntu"),
    ("aws", "orders-db", "engine", "oracle"),
    ("aws", "orders-db", "storageGb", 5),
    ("aws", "orders-db", "storageGb", "20"),
    ("aws", "orders-db", "storageGb", True),
    ("azure", "subscription", "billingScope", "/subscriptions/123"),
    ("azure", "subscription", "workload", "Test"),
    ("azure", "web-1", "image", "Canonical:ubuntu"),
    ("gcp", "project", "billingAccount", "01abcd-23ef45-67ab89"),
    ("gcp", "project", "folderId", "folders/12"),
    ("oci", "client", "parentCompartmentId", "ocid1.vcn.oc1.eu-frankfurt-1.aaaaaaaa3kxbqzrvn7w2cyhp5o"),
    ("oci", "orders-db", "size", 1),
    ("oci", "web", "description", "two\nlines"),
    ("oci", "web", "description", "x" * 513),
    ("gcp", "web-1", "image", {"nested": "object"}),
])
def test_property_values_are_checked(cloud: str, cid: str, prop: str, value: Any) -> None:
    document = example(cloud)
    component(document, cid)["properties"][prop] = value
    assert found(document) == {("PROPERTY_INVALID", cid, "error")}


def test_defaults_fill_optional_properties_and_unknown_properties_are_refused() -> None:
    document = example("aws")
    component(document, "web-1")["properties"] = {}
    assert validate(document) == []
    component(document, "vpc")["properties"]["dns"] = True
    problems = validate(document)
    assert [(p.code, p.component_id) for p in problems] == [("PROPERTY_UNKNOWN", "vpc")]
    assert "cidr" in problems[0].message   # says what it takes


def test_provider_specific_rules() -> None:
    aws = example("aws")   # RDS needs two subnets in its network
    aws["components"] = [c for c in aws["components"] if c["id"] not in ("front", "web-1")]
    aws["connections"] = [c for c in aws["connections"] if not {"front", "web-1"} & set(c.values())]
    assert found(aws) == {("DATABASE_NEEDS_TWO_SUBNETS", "orders-db", "error")}

    azure = add(example("azure"), "web", {"id": "inner", "kind": "Compartment", "name": "acme-inner-rg"})
    assert found(azure) == {("NESTING_FLATTENED", "inner", "warning")}

    oci = example("oci")   # groups live at the tenancy: its OCID is needed when the parent is a compartment
    compartment = "ocid1.compartment.oc1..aaaaaaaa3kxbqzrvn7w2cyhp5ojd4tfkqmx6ulnrgs5e2ovbwyzt4ihapfkq"
    component(oci, "client")["properties"]["parentCompartmentId"] = compartment
    assert found(oci) == {("MISSING_PROPERTY", "client", "error")}
    component(oci, "client")["properties"]["tenancyId"] = compartment.replace("compartment", "tenancy")
    assert validate(oci) == []


# --- the document itself ---------------------------------------------------------------------------------


def test_provider_region_and_version() -> None:
    assert found({**example("aws"), "provider": "alibaba"}) == {("PROVIDER_UNKNOWN", None, "error")}
    assert found({**example("aws"), "region": "westeurope"}) == {("REGION_INVALID", None, "error")}
    assert found({**example("azure"), "region": "westeurope"}) == set()
    assert found({k: v for k, v in example("gcp").items() if k != "region"}) == {("REGION_INVALID", None, "error")}
    assert found({**example("oci"), "version": 2}) == {("VERSION_UNSUPPORTED", None, "error")}
    assert validate({**example("oci"), "version": 1}) == []


def test_unknown_fields_are_warnings() -> None:
    document = {**example("aws"), "title": "Acme"}
    component(document, "vpc")["colour"] = "blue"
    assert found(document) == {("FIELD_UNKNOWN", None, "warning"), ("FIELD_UNKNOWN", "vpc", "warning")}


def test_ids_are_short_safe_and_unique_regardless_of_case() -> None:
    document = example("aws")
    document["components"].append({**component(document, "vpc"), "id": "VPC"})
    assert found(document) == {("DUPLICATE_ID", "VPC", "error")}
    for bad in ("a b", "x" * 41, "a.b", "a'b", ""):
        document = example("aws")
        component(document, "assets")["id"] = bad
        problems = validate(document)
        assert problems[0].code == "ID_INVALID", bad
        assert {p.code for p in problems} == {"ID_INVALID", "UNKNOWN_COMPONENT"}   # the old connection dangles


@pytest.mark.parametrize("document, code", [
    (None, "DESIGN_INVALID"), ([], "DESIGN_INVALID"), ("design", "DESIGN_INVALID"), (42, "DESIGN_INVALID"),
    ({"provider": "aws", "region": "eu-west-1", "components": float("nan")}, "DESIGN_INVALID"),
    ({"provider": "aws", "region": "eu-west-1", "components": "all"}, "FIELD_INVALID"),
    ({"provider": "aws", "region": "eu-west-1", "components": [], "connections": {"a": 1}}, "FIELD_INVALID"),
])
def test_malformed_documents_give_problems(document: Any, code: str) -> None:
    assert code in {p.code for p in validate(document)}


def test_malformed_components_and_connections_give_problems_where_they_are() -> None:
    document = {"provider": "aws", "region": "eu-west-1", "components": [
        1, {"id": 5}, {"id": "k", "kind": "Router", "name": "r"},
        {"id": "p", "kind": "Network", "name": "p", "properties": "odd", "x": "left", "y": 10**9},
    ], "connections": [{"from": 1}, "x", {"from": "k", "to": "p"}, {"from": "p", "to": "ghost"}]}
    problems = {(p.code, p.component_id, p.connection) for p in validate(document)}
    assert problems >= {
        ("FIELD_INVALID", None, None), ("ID_INVALID", None, None), ("KIND_UNKNOWN", "k", None),
        ("FIELD_INVALID", "p", None), ("CONNECTION_INVALID", None, 0), ("CONNECTION_INVALID", None, 1),
        ("UNKNOWN_COMPONENT", None, 3), ("TENANCY_MISSING", None, None),
    }
    assert ("UNKNOWN_COMPONENT", None, 2) not in problems   # 'k' was reported already, not again


def test_oversized_designs_are_refused_before_any_work() -> None:
    document = example("aws")
    document["components"] += [{"id": f"x{i}", "kind": "Subnet", "name": f"s{i}"} for i in range(492)]
    assert found(document) == {("TOO_LARGE", None, "error")}   # 501 components
    document = example("aws")
    document["connections"] += [{"from": "vpc", "to": "front"}] * 1992
    assert found(document) == {("TOO_LARGE", None, "error")}   # 2,001 connections
    huge = {"provider": "aws", "components": [{"id": "x", "kind": "Network", "name": "n" * 200_000}]}
    assert document_size(huge) > MAX_DOCUMENT_BYTES
    assert found(huge) == {("TOO_LARGE", None, "error")}
    many = example("aws")
    component(many, "vpc")["properties"] = {f"p{i}": i for i in range(33)}
    assert found(many) == {("TOO_LARGE", "vpc", "error")}


def test_random_damage_to_valid_designs_never_raises() -> None:
    junk = [None, True, 0, -1, 2**70, 1.5, "", " ", "x" * 300, [], [1], {}, {"from": "x"}, "10.0.0.0/8", "🙂"]
    rng = random.Random(20240611)

    def damage(value: Any) -> Any:
        if isinstance(value, (dict, list)) and value and rng.random() < 0.75:
            key = rng.choice(list(value)) if isinstance(value, dict) else rng.randrange(len(value))
            value[key] = damage(value[key]) if rng.random() < 0.6 else rng.choice(junk)
            return value
        return rng.choice(junk)

    checked = 0
    for _ in range(600):
        document = copy.deepcopy(example(rng.choice(CLOUDS)))
        for _ in range(rng.randint(1, 3)):
            document = damage(document)
        problems = validate(document)
        assert all(isinstance(p, Problem) and p.severity in ("error", "warning") for p in problems)
        checked += 1
    assert checked == 600
