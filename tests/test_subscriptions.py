"""Subscriptions over graphql-transport-ws with the protocol's reference client (npm graphql-ws)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ROOT, Pg, Server, unique
from tests.test_mutations import backend, compartment, provider, tenancy

CHANGES = """
subscription($after: ID, $f: CiChangeFilter) {
  ciChanges(after: $after, filter: $f) {
    eventId operation kind id version actor tenancyId
    before { name version ... on Compartment { tags { key value } } }
    after { name version deleted ... on Compartment { tags { key value } } }
  }
}
"""


def position(server: Server) -> str:
    return server.gql("{ changeFeedPosition }")["changeFeedPosition"]


def fresh_tenancy(server: Server) -> str:
    return tenancy(server, backend(server, provider(server)["id"])["id"])["id"]


def events(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line["payload"]["data"]["ciChanges"] for line in lines if line["event"] == "next"]


def test_a_second_connection_receives_a_change_with_before_and_after(server: Server, subscribe) -> None:
    tid = fresh_tenancy(server)
    sub = subscribe(server.ws_url, CHANGES, {"f": {"tenancyId": tid}}, count=2)
    sub.wait_connected()
    comp = compartment(server, tid, name="live-one")
    server.gql(
        'mutation($id: ID!) { compartmentUpdate(input: {id: $id, tags: [{key: "env", value: "dev"}]}) { __typename } }',
        {"id": comp["id"]},
    )
    code, lines = sub.results()
    assert code == 0, lines
    created, updated = events(lines)
    assert created["operation"] == "CREATE" and created["kind"] == "Compartment" and created["id"] == comp["id"]
    assert created["before"] is None
    assert created["after"] == {"name": "live-one", "version": 1, "deleted": False, "tags": [{"key": "managed-by", "value": "skyloom"}]}
    assert created["tenancyId"] == tid and created["actor"] == ROOT["actor"]
    assert updated["operation"] == "UPDATE" and updated["version"] == 2
    assert updated["before"] == {"name": "live-one", "version": 1, "tags": [{"key": "managed-by", "value": "skyloom"}]}
    assert updated["after"] == {"name": "live-one", "version": 2, "deleted": False, "tags": [{"key": "env", "value": "dev"}, {"key": "managed-by", "value": "skyloom"}]}
    assert int(updated["eventId"]) > int(created["eventId"])


def test_filters_keep_other_tenancies_out(server: Server, subscribe) -> None:
    mine, other = fresh_tenancy(server), fresh_tenancy(server)
    sub = subscribe(server.ws_url, CHANGES, {"f": {"tenancyId": mine}}, count=1)
    sub.wait_connected()
    compartment(server, other, name="not-for-you")
    compartment(server, mine, name="for-you")
    code, lines = sub.results()
    assert code == 0
    assert [e["after"]["name"] for e in events(lines)] == ["for-you"]


def test_every_replica_delivers_every_change(pg: Pg, server: Server, subscribe) -> None:
    replica = Server(pg.app_url)
    try:
        tid = fresh_tenancy(server)
        on_replica = subscribe(replica.ws_url, CHANGES, {"f": {"tenancyId": tid}}, count=1)
        on_origin = subscribe(server.ws_url, CHANGES, {"f": {"tenancyId": tid}}, count=1)
        on_replica.wait_connected()
        on_origin.wait_connected()
        comp = compartment(server, tid, name="made-on-origin")
        for sub in (on_replica, on_origin):
            code, lines = sub.results()
            assert code == 0, lines
            assert [(e["id"], e["after"]["name"]) for e in events(lines)] == [(comp["id"], "made-on-origin")]
    finally:
        replica.stop()


def test_reconnecting_client_gets_what_it_missed_in_order(server: Server, subscribe) -> None:
    tid = fresh_tenancy(server)
    start = position(server)
    names = [unique("missed") for _ in range(3)]
    for name in names:
        compartment(server, tid, name=name)
    late = subscribe(server.ws_url, CHANGES, {"after": start, "f": {"tenancyId": tid}}, count=3)
    late.wait_connected()
    code, lines = late.results()
    assert code == 0
    got = events(lines)
    assert [e["after"]["name"] for e in got] == names
    assert [int(e["eventId"]) for e in got] == sorted(int(e["eventId"]) for e in got)


def test_resume_then_live_without_duplicates(server: Server, subscribe) -> None:
    tid = fresh_tenancy(server)
    start = position(server)
    compartment(server, tid, name="before-connect")
    sub = subscribe(server.ws_url, CHANGES, {"after": start, "f": {"tenancyId": tid}}, count=2)
    sub.wait_connected()
    compartment(server, tid, name="after-connect")
    code, lines = sub.results()
    assert code == 0
    assert [e["after"]["name"] for e in events(lines)] == ["before-connect", "after-connect"]


def test_tenancy_changes_stream(server: Server, subscribe) -> None:
    b = backend(server, provider(server)["id"])
    start = position(server)
    sub = subscribe(
        server.ws_url, "subscription($a: ID) { tenancyChanges(after: $a) { operation kind after { name } } }", {"a": start}, count=1
    )
    sub.wait_connected()
    name = unique("Root")
    tenancy(server, b["id"], name=name)
    code, lines = sub.results()
    assert code == 0
    assert lines[-1]["payload"]["data"]["tenancyChanges"] == {"operation": "CREATE", "kind": "Tenancy", "after": {"name": name}}


@pytest.mark.parametrize("after", ["abc", "-5"])
def test_bad_resume_position_is_an_error(server: Server, subscribe, after: str) -> None:
    sub = subscribe(server.ws_url, CHANGES, {"after": after}, count=1)
    code, lines = sub.results()
    assert code == 1
    errors = lines[-1].get("error") or lines[-1]["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "INVALID_EVENT_ID"


def test_worker_processes_each_deliver_every_change(pg: Pg, server: Server, subscribe) -> None:
    multi = Server(pg.app_url, args=("--workers", "2"))
    try:
        tid = fresh_tenancy(multi)
        subs = [subscribe(multi.ws_url, CHANGES, {"f": {"tenancyId": tid}}, count=1) for _ in range(6)]
        for sub in subs:
            sub.wait_connected()
        comp = compartment(server, tid, name="seen-by-all-workers")
        for sub in subs:
            code, lines = sub.results()
            assert code == 0, lines
            assert [e["id"] for e in events(lines)] == [comp["id"]]
    finally:
        multi.stop()
