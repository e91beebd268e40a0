"""Comparing design documents: by component id, properties by name, layout ignored, drafts tolerated."""

from __future__ import annotations

from skyloom.deploy.planner.compare import ComponentDiff, ComponentRef, FieldDiff, compare

BEFORE = {
    "provider": "aws", "region": "eu-west-1",
    "components": [
        {"id": "t", "kind": "Tenancy", "name": "acme", "properties": {"email": "ops@acme.example"}, "x": 1, "y": 1},
        {"id": "n", "kind": "Network", "name": "main", "properties": {"cidr": "10.0.0.0/16"}, "x": 2, "y": 2},
        {"id": "s", "kind": "Subnet", "name": "front", "properties": {"cidr": "10.0.1.0/24"}},
    ],
    "connections": [{"from": "t", "to": "n"}, {"from": "n", "to": "s"}],
}


def test_identical_documents_and_moved_boxes_compare_empty() -> None:
    moved = {**BEFORE, "components": [{**c, "x": 500, "y": 500} for c in BEFORE["components"]]}
    assert compare(BEFORE, BEFORE).empty
    assert compare(BEFORE, moved).empty


def test_a_rename_is_one_change_of_one_component_not_a_removal() -> None:
    after = {**BEFORE, "components": [BEFORE["components"][0], {**BEFORE["components"][1], "name": "core"},
                                      BEFORE["components"][2]]}
    diff = compare(BEFORE, after)
    assert diff.added == [] and diff.removed == []
    assert diff.changed == [ComponentDiff("n", "Network", "core", (FieldDiff("name", "main", "core"),))]


def test_property_changes_name_the_property_and_additions_removals_and_links_are_listed() -> None:
    after = {
        "provider": "aws", "region": "eu-central-1",
        "components": [
            BEFORE["components"][0],
            {"id": "n", "kind": "Network", "name": "main", "properties": {"cidr": "10.1.0.0/16", "dns": True}},
            {"id": "b", "kind": "ObjectStore", "name": "logs", "properties": {}},
        ],
        "connections": [{"from": "t", "to": "n"}, {"from": "t", "to": "b"}],
    }
    diff = compare(BEFORE, after)
    assert diff.added == [ComponentRef("b", "ObjectStore", "logs")]
    assert diff.removed == [ComponentRef("s", "Subnet", "front")]
    assert diff.changed == [ComponentDiff("n", "Network", "main", (
        FieldDiff("properties.cidr", "10.0.0.0/16", "10.1.0.0/16"), FieldDiff("properties.dns", None, True)))]
    assert diff.connections_added == [("t", "b")] and diff.connections_removed == [("n", "s")]
    assert diff.settings == [FieldDiff("region", "eu-west-1", "eu-central-1")]


def test_drafts_of_any_shape_compare_without_raising() -> None:
    junk = {"components": [1, "x", {"id": 5}, {"kind": "Network"}, {"id": "n", "properties": "odd"}],
            "connections": [{"from": 1}, "x"]}
    diff = compare(junk, [])
    assert diff.removed == [ComponentRef("n", "", "")] and diff.connections_removed == []
    assert compare(None, BEFORE).added == [ComponentRef("t", "Tenancy", "acme"), ComponentRef("n", "Network", "main"),
                                           ComponentRef("s", "Subnet", "front")]
