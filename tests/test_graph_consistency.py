"""What the graph layer writes into label tables is a real AGE graph: Cypher walks it hop by hop."""

from __future__ import annotations

import pytest

from skyloom.graph.cypher import cypher
from skyloom.graph.pool import Database


@pytest.fixture
async def db(pg, demo_loaded):
    database = Database(pg.app_url, "cmdb", min_size=1, max_size=2)
    await database.open()
    yield database
    await database.close()


async def test_fixed_hop_cypher_sees_containment_and_dependencies(db: Database) -> None:
    async with db.connection() as conn:
        rows = await cypher(
            conn,
            "cmdb",
            "MATCH (t:Tenancy {name: $tenancy})-[:CONTAINS]->(c:Compartment)-[:CONTAINS]->(r)"
            " RETURN c.name, r.name, label(r) ORDER BY r.name",
            {"tenancy": "northwind-oci"},
            ("compartment", "resource", "kind"),
        )
    assert rows == [
        ("northwind", "northwind-app-subnet", "Subnet"),
        ("northwind", "northwind-erp", "Compartment"),
        ("northwind", "northwind-vcn", "Network"),
    ]
    async with db.connection() as conn:
        deps = await cypher(
            conn,
            "cmdb",
            "MATCH (a {name: $name})-[:DEPENDS_ON]->(b) RETURN b.name ORDER BY b.name",
            {"name": "erp-app-1"},
            ("dependency",),
        )
    assert deps == [("northwind-app-subnet",)]


async def test_owner_edges_match_owner_properties(db: Database) -> None:
    async with db.connection() as conn:
        rows = await cypher(
            conn,
            "cmdb",
            "MATCH (o)-[:OWNS]->(t:Tenancy) RETURN o.uid = t.ownerUid, o.name, t.name ORDER BY t.name",
            {},
            ("consistent", "owner", "tenancy"),
        )
    assert ("contoso-finance", "contoso-finance-azure") in {(r[1], r[2]) for r in rows}
    assert all(r[0] is True for r in rows)


async def test_cypher_text_cannot_escape_its_quotes(db: Database) -> None:
    async with db.connection() as conn:
        with pytest.raises(ValueError):
            await cypher(conn, "cmdb", "RETURN 1 $$) AS (x agtype); DROP TABLE x; --", {}, ("x",))
        with pytest.raises(ValueError):
            await cypher(conn, "cmdb", "RETURN 1", {}, ("x; DROP",))
