"""Cypher through AGE's `cypher()` function: constant query text, values only in its one parameter map.

AGE takes parameters only as the third argument of `cypher()`, an agtype map bound as `$1`
(`%s` here); inside the query they are `$name`. The query text itself is a constant of the
caller's code: it is checked for the dollar-quote that would end it, never built from values.
"""

from __future__ import annotations

import re
from typing import Any

from psycopg import AsyncConnection, sql

from skyloom.graph import labels
from skyloom.graph.agtype import Agtype

_COLUMN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


async def cypher(
    conn: AsyncConnection, graph: str, query: str, params: dict[str, Any], columns: tuple[str, ...]
) -> list[tuple[Any, ...]]:
    """Run a read or write Cypher query; rows come back decoded by the agtype loader."""
    labels.check_graph_name(graph)
    if "$$" in query:
        raise ValueError("Cypher text must not contain $$")
    if not columns or not all(_COLUMN.match(c) for c in columns):
        raise ValueError(f"invalid result columns {columns!r}")
    statement = sql.SQL("SELECT * FROM ag_catalog.cypher({graph}, $$ {query} $$, %s) AS ({columns})").format(
        graph=sql.Literal(graph),
        query=sql.SQL(query),  # constant text of our own code, checked above
        columns=sql.SQL(", ").join(sql.SQL("{} ag_catalog.agtype").format(sql.Identifier(c)) for c in columns),
    )
    cur = await conn.execute(statement, (Agtype(params),))
    return await cur.fetchall()
