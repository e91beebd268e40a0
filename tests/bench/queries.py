"""The benchmarked reads, each twice: as the GraphQL operation a client sends, and as hand-written SQL.

The SQL is what a careful person would write straight against the label tables for the same
answer (same rows, same page, same total), run through psycopg with the agtype codec; it is the
baseline the API is measured against. Before timing, `run.py` checks that both sides return the
same ids, so the comparison is between equivalent work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from skyloom.graph import agtype, labels
from skyloom.graph.agtype import Agtype
from skyloom.graph.records import table, vertex_parent

GRAPH = "cmdb"
PAGE = 100
IMPACT_DEPTH = 3
SEARCH_KINDS = ("ComputeInstance", "Database", "Volume")
SEARCH_TAGS = {"environment": "production"}


@dataclass(frozen=True)
class Case:
    name: str
    gql: str
    variables: Callable[[str], dict[str, Any]]  # probe -> GraphQL variables
    gql_answer: Callable[[dict[str, Any]], tuple[int | None, list[str]]]  # data -> (total, ids of the page)
    sql: tuple[str, ...]  # statements, run in order on one connection; the first returns the page
    params: Callable[[str], dict[str, Any]]  # probe -> SQL parameters
    sql_answer: Callable[[list[list[tuple]]], tuple[int | None, list[str]]]  # rows of each statement -> (total, ids)


def _ci_union(kinds: tuple[str, ...]) -> str:
    return " UNION ALL ".join(f"SELECT id, properties FROM {table(GRAPH, k)}" for k in kinds)


_LIVE = "(properties ->> 'deleted'::text) = 'false'"

# -- node by id ---------------------------------------------------------------------------------
NODE = Case(
    name="node by id",
    gql="query($id: ID!) { node(id: $id) { id ... on ConfigurationItem { name kind } } }",
    variables=lambda uid: {"id": uid},
    gql_answer=lambda data: (None, [data["node"]["id"]] if data["node"] else []),
    sql=(
        f"SELECT id, properties FROM {vertex_parent(GRAPH)} WHERE (properties ->> 'uid'::text) = %(uid)s",
    ),
    params=lambda uid: {"uid": uid},
    sql_answer=lambda res: (None, [props["uid"] for _, props in res[0]]),
)

# -- compartment subtree ------------------------------------------------------------------------
_SUBTREE_CTE = (
    "WITH RECURSIVE sub(uid) AS ("
    f" SELECT properties ->> 'uid'::text FROM {table(GRAPH, 'Compartment')} WHERE (properties ->> 'uid'::text) = %(uid)s"
    " UNION"
    f" SELECT c.properties ->> 'uid'::text FROM {table(GRAPH, 'Compartment')} c"
    "  JOIN sub ON (c.properties ->> 'parentUid'::text) = sub.uid) "
)
_IN_SUBTREE = f"(properties ->> 'compartmentUid'::text) = ANY(ARRAY(SELECT uid FROM sub)) AND {_LIVE}"

SUBTREE = Case(
    name="compartment subtree (~5k CIs)",
    gql=(
        "query($id: ID!) { compartment(id: $id) { descendants(first: %d) {"
        " totalCount edges { node { id name kind } } } } }" % PAGE
    ),
    variables=lambda uid: {"id": uid},
    gql_answer=lambda data: (
        data["compartment"]["descendants"]["totalCount"],
        [e["node"]["id"] for e in data["compartment"]["descendants"]["edges"]],
    ),
    sql=(
        _SUBTREE_CTE + f"SELECT id, properties FROM ({_ci_union(labels.ci_labels())}) v WHERE {_IN_SUBTREE} ORDER BY id LIMIT {PAGE}",
        _SUBTREE_CTE + f"SELECT count(*) FROM ({_ci_union(labels.ci_labels())}) v WHERE {_IN_SUBTREE}",
    ),
    params=lambda uid: {"uid": uid},
    sql_answer=lambda res: (res[1][0][0], [props["uid"] for _, props in res[0]]),
)

# -- impact set ---------------------------------------------------------------------------------
IMPACT = Case(
    name=f"impact set, depth {IMPACT_DEPTH}",
    gql=(
        "query($id: ID!) { ci(id: $id) { impact(depth: %d, first: %d) {"
        " totalCount edges { depth node { id name kind } } } } }" % (IMPACT_DEPTH, PAGE)
    ),
    variables=lambda uid: {"id": uid},
    gql_answer=lambda data: (data["ci"]["impact"]["totalCount"], [e["node"]["id"] for e in data["ci"]["impact"]["edges"]]),
    sql=(
        "WITH RECURSIVE start AS ("
        f" SELECT id FROM {vertex_parent(GRAPH)} WHERE (properties ->> 'uid'::text) = %(uid)s),"
        " r(gid, depth) AS ("
        "  SELECT id, 0 FROM start"
        "  UNION"
        f"  SELECT e.start_id, r.depth + 1 FROM r JOIN {table(GRAPH, labels.DEPENDS_ON)} e ON e.end_id = r.gid"
        f"  WHERE r.depth < {IMPACT_DEPTH}),"
        " ranked AS (SELECT gid, min(depth) AS d FROM r WHERE depth > 0 AND gid <> (SELECT id FROM start) GROUP BY gid),"
        f" page AS (SELECT gid, d FROM ranked ORDER BY d, gid LIMIT {PAGE})"
        " SELECT p.d, v.properties, (SELECT count(*) FROM ranked)"
        f" FROM page p JOIN {vertex_parent(GRAPH)} v ON v.id = p.gid"
        # Without this the planner hashes every vertex table in full to join 100 ids.
        "  WHERE v.id = ANY(ARRAY(SELECT gid FROM page))"
        " ORDER BY p.d, p.gid",
    ),
    params=lambda uid: {"uid": uid},
    sql_answer=lambda res: (res[0][0][2] if res[0] else 0, [props["uid"] for _, props, _ in res[0]]),
)

# -- filtered search ----------------------------------------------------------------------------
SEARCH = Case(
    name="search page (tenancy + kinds + tag)",
    gql=(
        "query($f: CiFilter) { cis(filter: $f, first: %d) {"
        " edges { node { id name kind } } pageInfo { hasNextPage endCursor } } }" % PAGE
    ),
    variables=lambda tenancy: {
        "f": {"tenancyId": tenancy, "kinds": list(SEARCH_KINDS), "tags": [{"key": k, "value": v} for k, v in SEARCH_TAGS.items()]}
    },
    gql_answer=lambda data: (None, [e["node"]["id"] for e in data["cis"]["edges"]]),
    sql=(
        f"SELECT id, properties FROM ({_ci_union(SEARCH_KINDS)}) v"
        f" WHERE (properties ->> 'tenancyUid'::text) = %(tenancy)s AND properties @> %(tags)s AND {_LIVE}"
        f" ORDER BY id LIMIT {PAGE}",
    ),
    params=lambda tenancy: {"tenancy": tenancy, "tags": Agtype({"tags": SEARCH_TAGS})},
    sql_answer=lambda res: (None, [props["uid"] for _, props in res[0]]),
)

CASES = (NODE, SUBTREE, IMPACT, SEARCH)


def register(conn: psycopg.Connection) -> None:
    """The agtype codec the API uses, so both sides parse the same property maps."""
    agtype.register_sync(conn)


def run_sql(conn: psycopg.Connection, case: Case, probe: str) -> list[list[tuple]]:
    params = case.params(probe)
    return [conn.execute(statement, params).fetchall() for statement in case.sql]
