"""Plain records the graph layer hands upwards, and the small helpers every query module shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from psycopg import sql

from skyloom.graph import labels
from skyloom.schema import vocabulary


@dataclass(slots=True)
class Vertex:
    """One vertex as stored: its graphid, label and property map."""

    id: int
    label: str
    props: dict[str, Any]

    @property
    def uid(self) -> str:
        return self.props["uid"]


@dataclass(slots=True)
class Change:
    """One row of the change log: a version of a vertex, as the history and the feeds see it."""

    event_id: int
    at: datetime
    topic: str
    uid: str
    label: str
    tenancy_uid: str | None
    version: int
    operation: str
    actor: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    # What readers derive from this change once and share (e.g. the API's event object, built
    # once for all subscribers of a process instead of once per subscriber).
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


CHANGE_COLUMNS = "id, at, topic, uid::text, label, tenancy_uid::text, version, operation, actor, before, after"


def change_from_row(row: tuple) -> Change:
    return Change(*row)


@cache
def table(graph: str, label: str) -> str:
    """Quoted `graph."Label"`: both names are checked against closed sets before they get here."""
    labels.check_graph_name(graph)
    labels.check_label(label)
    return sql.Identifier(graph, label).as_string(None)


@cache
def vertex_parent(graph: str) -> str:
    """The table every vertex label inherits from: a query on it reads all labels at once."""
    return sql.Identifier(labels.check_graph_name(graph), "_ag_label_vertex").as_string(None)


@cache
def by_uids_sql(graph: str) -> str:
    """Where the vertices with a uid in `%(uids)s` are, in one statement.

    Rows (graphid, properties, NULL, NULL, NULL) come from the installation graph's own label
    tables (`ONLY`: not the tenant graphs that inherit them); rows (NULL, NULL, graph, label, uid)
    from `skyloom.vertex_home`, for each vertex that settled into a tenant graph, to be read from
    exactly that table. Through `_ag_label_vertex` the same lookup would read every label table of
    every tenant (graph isolation modes).
    """
    own = (
        f"SELECT id::text::bigint, properties, NULL::text, NULL::text, NULL::text FROM ONLY {table(graph, label)}"
        " WHERE (properties ->> 'uid'::text) = ANY(%(uids)s)"
        for label in labels.vertex_labels()
    )
    return " UNION ALL ".join(
        [*own, "SELECT NULL, NULL, graph::text, label::text, uid FROM skyloom.vertex_home WHERE uid = ANY(%(uids)s)"]
    )


@cache
def edge_parent(graph: str) -> str:
    return sql.Identifier(labels.check_graph_name(graph), "_ag_label_edge").as_string(None)


def now_iso() -> str:
    """Timestamps live in agtype maps as ISO 8601 UTC strings, which sort as they read."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def ci_properties(
    kind: str, name: str, provider: str, region: str | None, tags: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    """The property map of a new CI, with its cloud's own term for the kind; `extra` adds containment etc."""
    stamp = now_iso()
    return {
        "kind": kind,
        "name": name,
        "provider": provider,
        "providerTerm": vocabulary.kinds()[kind].provider_term(provider),
        "region": region,
        "tags": tags or {},
        "firstSeen": stamp,
        "lastSeen": stamp,
        **extra,
    }
