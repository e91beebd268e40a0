"""The closed set of vertex and edge labels: the only names ever placed into SQL or Cypher text.

Values always travel as bound parameters; identifiers cannot, so they come from here and
nowhere else (a name outside this set is a programming error, not user input).
"""

from __future__ import annotations

import re
from functools import cache

from skyloom.schema import vocabulary

# The panel's own hierarchy: provider -> tenant -> sub-tenant, the provider's cloud backends, and
# the Pulumi stacks that manage CIs.
PANEL_LABELS = ("Provider", "CloudBackend", "Tenant", "SubTenant", "Stack")

# Relationship types (UPPER_SNAKE verbs).
CONTAINS = "CONTAINS"      # hierarchy: provider > tenant > sub-tenant, tenancy > compartment > CI
OWNS = "OWNS"              # a tenant or sub-tenant owns its tenancy
DEPENDS_ON = "DEPENDS_ON"  # a CI needs another CI
PARENT_OF = "PARENT_OF"    # Pulumi's parent / child (component resources)
MANAGED_BY = "MANAGED_BY"  # a CI is managed by a Pulumi stack
EDGE_LABELS = (CONTAINS, OWNS, DEPENDS_ON, PARENT_OF, MANAGED_BY)

_GRAPH_NAME = re.compile(r"^[a-z][a-z0-9_]{2,62}$")


@cache
def ci_labels() -> tuple[str, ...]:
    """Every semantic kind is a vertex label: Tenancy, Compartment, then the resource kinds."""
    return tuple(vocabulary.kinds())


@cache
def vertex_labels() -> tuple[str, ...]:
    return PANEL_LABELS + ci_labels()


def label_role(label: str) -> str:
    if label in PANEL_LABELS:
        return "panel"
    if label in vocabulary.container_kinds():
        return "container"
    if label in ci_labels():
        return "resource"
    raise ValueError(f"{label!r} is not a Skyloom vertex label")


def topic_of(label: str) -> str:
    """Which change feed a label's changes go to."""
    if label == "Tenancy":
        return "tenancy"
    return "panel" if label in PANEL_LABELS else "ci"


def check_label(label: str) -> str:
    if label not in vertex_labels() and label not in EDGE_LABELS:
        raise ValueError(f"{label!r} is not a Skyloom label")
    return label


def check_graph_name(name: str) -> str:
    """AGE graph names are schema names; ours are lower-case and at least three characters long."""
    if not _GRAPH_NAME.match(name):
        raise ValueError(f"invalid graph name {name!r}: use 3-63 of a-z, 0-9 and _, starting with a letter")
    return name
