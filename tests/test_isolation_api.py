"""The isolation setup assistant over GraphQL (the console's page) against a real `skyloom serve`: status,
capabilities, plan, and a verified switch that needs a fresh hardware proof (SoftHSM2); refusals
change nothing. The module switches the shared test database and always switches it back.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from skyloom.graph import isolation as iso
from tests.access_world import Persona, World, build_world, proven_operator, softhsm_token
from tests.conftest import GRAPH, Pg, Server

STATUS = ("{ isolation { mode changedBy tenants tenantGraphs modes { mode title offered current } "
          "capabilities { name ok detail } } }")
PLAN = "query($m: IsolationMode!) { isolationPlan(mode: $m) { target steps } }"
SWITCH = ("mutation($m: IsolationMode!, $c: Boolean!) { isolationSwitch(mode: $m, confirm: $c) { __typename "
          "... on Forbidden { code needsProof } ... on Problem { code message } "
          "... on IsolationSwitchReport { previous mode verified seconds labels { label rows } } } }")


@pytest.fixture(scope="module")
def world(server: Server, pg: Pg) -> World:
    return build_world(server, pg)


@pytest.fixture(scope="module")
def proven(server: Server, world: World, pg: Pg, tmp_path_factory: pytest.TempPathFactory) -> Persona:
    return proven_operator(server, pg, world, softhsm_token(tmp_path_factory.mktemp("isolation-hsm")), "iso-op")


def sums(pg: Pg) -> dict[str, iso.LabelSum]:
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute('SET search_path = ag_catalog, "$user", public')
        return iso.sums(conn, GRAPH)


def mode(pg: Pg) -> str:
    with psycopg.connect(pg.admin_url) as conn:
        return conn.execute("SELECT mode FROM skyloom.isolation").fetchone()[0]


def test_the_provider_sees_the_mode_the_capabilities_and_a_plan(server: Server) -> None:
    status = server.gql(STATUS)["isolation"]
    assert status["mode"] == "GRAPH_RLS"
    assert [(m["mode"], m["offered"], m["current"]) for m in status["modes"]] == [
        ("DATABASE", False, False), ("GRAPH", True, False), ("RLS", True, False), ("GRAPH_RLS", True, True)]
    caps = {c["name"]: c["ok"] for c in status["capabilities"]}
    assert caps["API role is neither superuser nor an owner"] is True
    assert caps["setup role may create tenant roles"] is True       # the owner, whose functions switch
    assert caps["database per tenant"] is False
    plan = server.gql(PLAN, {"m": "RLS"})["isolationPlan"]
    assert plan["target"] == "RLS" and plan["steps"][-1].startswith("compare every CI and edge label")
    refused = server.post({"query": PLAN, "variables": {"m": "DATABASE"}}).json()
    assert refused["errors"][0]["extensions"]["code"] == "NOT_OFFERED"


def switches(pg: Pg) -> int:
    with psycopg.connect(pg.admin_url) as conn:
        return conn.execute("SELECT count(*) FROM skyloom.audit_entry WHERE type = 'isolation.changed'").fetchone()[0]


def test_refusals_change_nothing(server: Server, world: World, pg: Pg, proven: Persona) -> None:
    before = (mode(pg), sums(pg), switches(pg))
    no_proof = server.gql(SWITCH, {"m": "RLS", "c": True})["isolationSwitch"]
    assert (no_proof["__typename"], no_proof["code"], no_proof["needsProof"]) == ("Forbidden", "PROOF_REQUIRED", True)
    admin = world.personas["tenant_admin"]
    assert admin.gql(server, STATUS) == {"isolation": None}
    hidden = admin.gql(server, SWITCH, {"m": "RLS", "c": True})["isolationSwitch"]
    assert hidden["__typename"] == "NotFound"
    unconfirmed = proven.gql(server, SWITCH, {"m": "RLS", "c": False})["isolationSwitch"]
    assert unconfirmed["__typename"] == "ValidationProblem" and "isolationPlan" in unconfirmed["message"]
    database = proven.gql(server, SWITCH, {"m": "DATABASE", "c": True})["isolationSwitch"]
    assert database["__typename"] == "ValidationProblem" and "not offered" in database["message"]
    same = proven.gql(server, SWITCH, {"m": "GRAPH_RLS", "c": True})["isolationSwitch"]
    assert same["__typename"] == "Conflict"
    assert (mode(pg), sums(pg), switches(pg)) == before


def test_a_proven_operator_switches_and_every_row_stays(server: Server, world: World, pg: Pg, proven: Persona) -> None:
    start = sums(pg)
    tenancies = server.gql("{ tenancies(first: 100) { edges { node { id name } } } }")
    try:
        report = proven.gql(server, SWITCH, {"m": "RLS", "c": True})["isolationSwitch"]
        assert report["__typename"] == "IsolationSwitchReport", report
        assert (report["previous"], report["mode"], report["verified"]) == ("GRAPH_RLS", "RLS", True)
        assert {r["label"]: r["rows"] for r in report["labels"]} == {k: v.rows for k, v in start.items()}
        assert mode(pg) == "rls" and sums(pg) == start
        assert server.gql(STATUS)["isolation"]["mode"] == "RLS"
        assert server.gql("{ tenancies(first: 100) { edges { node { id name } } } }") == tenancies
        with psycopg.connect(pg.admin_url) as conn:
            entry = conn.execute("SELECT actor, detail ->> 'from', detail ->> 'to' FROM skyloom.audit_entry"
                                 " WHERE type = 'isolation.changed' ORDER BY id DESC LIMIT 1").fetchone()
        assert entry == (proven.actor, "graph_rls", "rls")
    finally:
        back = proven.gql(server, SWITCH, {"m": "GRAPH_RLS", "c": True})["isolationSwitch"]
    assert back["__typename"] == "IsolationSwitchReport" and back["mode"] == "GRAPH_RLS"
    assert mode(pg) == "graph_rls" and sums(pg) == start
