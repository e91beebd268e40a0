"""No N+1: the number of SQL statements a page costs does not grow with the page size."""

from __future__ import annotations

import psycopg

from tests.conftest import Pg, Server

PAGE = """
query($n: Int!) {
  cis(first: $n, filter: {kinds: [Network, Subnet, Database, ComputeInstance, ObjectStore]}) {
    edges { node {
      id name kind displayKind tags { key value }
      tenancy { name owner { id } }
      compartment { name parent { name } }
      neighbours { type direction node { id } }
      history(first: 2) { edges { node { version operation } } }
    } }
  }
}
"""


def statements(pg: Pg) -> int:
    with psycopg.connect(pg.admin_url) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        (calls,) = conn.execute(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
            "WHERE d.datname = current_database() AND s.userid = 'skyloom_app'::regrole"
            # Reads of the graph only: the audit sealer's clock and the pool's new connections
            # (BEGIN, SET, type lookups) come and go with time, not with the page.
            " AND s.query LIKE '%%cmdb%%'"
        ).fetchone()
    return int(calls)


def cost(server: Server, pg: Pg, n: int) -> int:
    server.gql(PAGE, {"n": n})  # warm: connections made, caches filled
    before = statements(pg)
    data = server.gql(PAGE, {"n": n})
    assert len(data["cis"]["edges"]) == n
    return statements(pg) - before


def test_nested_fields_are_batched(server: Server, pg: Pg) -> None:
    # Resources only: every one has a tenancy and a compartment, so both pages nest equally deep.
    small, large = cost(server, pg, 3), cost(server, pg, 15)
    assert large == small, f"{small} statements for 3 CIs but {large} for 15"
    assert small <= 30
