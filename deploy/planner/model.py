"""The design document's vocabulary: providers, kinds, allowed connections, limits, the Problem and the parsed Design.

A design is what an operator drew on the planner's canvas. Validation turns the raw JSON into a
`Design` (typed, with its containment tree worked out once) and a list of `Problem`s placed on the
component or connection they concern, so the canvas can draw them where they belong.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

PROVIDERS = ("aws", "azure", "gcp", "oci")
KINDS = ("Tenancy", "Compartment", "Network", "Subnet", "ComputeInstance", "Database", "ObjectStore", "Identity")
DEFAULT_REGIONS = {"aws": "eu-west-1", "azure": "westeurope", "gcp": "europe-west1", "oci": "eu-frankfurt-1"}

# Bounds that keep one validation (and one generated program) cheap whatever a caller sends.
MAX_COMPONENTS = 500
MAX_CONNECTIONS = 2_000
MAX_DOCUMENT_BYTES = 192 * 1024
MAX_NESTING = 5  # compartments inside compartments (OCI allows six levels below the tenancy; keep one spare)
MAX_NAME = 255
MAX_PROPERTY_TEXT = 512
MAX_PROPERTIES = 32
MAX_COORDINATE = 1_000_000

ID_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")

# A connection goes from a container (or host) to what it holds or serves.
CONTAINS = frozenset({
    ("Tenancy", "Compartment"),
    ("Compartment", "Compartment"),
    ("Compartment", "Network"), ("Compartment", "ObjectStore"), ("Compartment", "Identity"),
    ("Compartment", "ComputeInstance"), ("Compartment", "Database"),
    ("Network", "Subnet"),
    ("Subnet", "ComputeInstance"), ("Subnet", "Database"),
})
ATTACHES = frozenset({("Identity", "ComputeInstance")})  # the instance runs as that identity; not its container
# Instances and databases sit in a subnet; a Compartment may own them apart from their network's compartment
# (a shared network), which is how OCI, Azure and AWS (shared VPCs) let teams place things.
HOSTED = frozenset({"ComputeInstance", "Database"})

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a design, on the component (or connection index) it concerns."""

    code: str
    message: str
    component_id: str | None = None
    severity: str = ERROR
    connection: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message, "componentId": self.component_id,
                               "severity": self.severity}
        if self.connection is not None:
            out["connection"] = self.connection
        return out


def has_errors(problems: list[Problem]) -> bool:
    return any(p.severity == ERROR for p in problems)


@dataclass(frozen=True, slots=True)
class Component:
    id: str
    kind: str
    name: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class Design:
    """A parsed design; `parent`/`children` are only meaningful once validation found no errors."""

    provider: str
    region: str
    components: tuple[Component, ...]
    connections: tuple[tuple[str, str], ...] = field(default=())

    @cached_property
    def by_id(self) -> dict[str, Component]:
        return {c.id: c for c in self.components}

    @cached_property
    def _parents(self) -> dict[str, str]:
        kinds = {c.id: c.kind for c in self.components}
        return {b: a for a, b in self.connections
                if (kinds.get(a), kinds.get(b)) in CONTAINS and not _owns(kinds.get(a), kinds.get(b))}

    @cached_property
    def _owners(self) -> dict[str, str]:
        kinds = {c.id: c.kind for c in self.components}
        return {b: a for a, b in self.connections if _owns(kinds.get(a), kinds.get(b))}

    @cached_property
    def _attached(self) -> dict[str, str]:
        kinds = {c.id: c.kind for c in self.components}
        return {b: a for a, b in self.connections if (kinds.get(a), kinds.get(b)) in ATTACHES}

    @property
    def tenancy(self) -> Component:
        return next(c for c in self.components if c.kind == "Tenancy")

    def parent(self, component: Component) -> Component | None:
        pid = self._parents.get(component.id)
        return self.by_id[pid] if pid else None

    def children(self, component: Component, kind: str | None = None) -> list[Component]:
        return [c for c in self.components if self._parents.get(c.id) == component.id and kind in (None, c.kind)]

    def of_kind(self, kind: str) -> list[Component]:
        return [c for c in self.components if c.kind == kind]

    def identity_of(self, instance: Component) -> Component | None:
        iid = self._attached.get(instance.id)
        return self.by_id[iid] if iid else None

    def instances_of(self, identity: Component) -> list[Component]:
        return [c for c in self.components if self._attached.get(c.id) == identity.id]

    def ancestor(self, component: Component, kind: str) -> Component | None:
        """The nearest container of `kind` (a subnet's network, an instance's compartment)."""
        current = self.parent(component)
        while current is not None and current.kind != kind:
            current = self.parent(current)
        return current

    def compartment_of(self, component: Component) -> Component | None:
        """The Compartment a resource belongs to: its own (for a hosted one that names one) or its container's."""
        owner = self._owners.get(component.id)
        return self.by_id[owner] if owner else self.ancestor(component, "Compartment")

    def compartment_depth(self, component: Component) -> int:
        depth, current = 0, self.parent(component)
        while current is not None:
            depth += current.kind == "Compartment"
            current = self.parent(current)
        return depth

    def in_order(self) -> list[Component]:
        """Containers before what they hold (tenancy, compartments by depth, then the rest), drawing order within."""
        rank = {kind: i for i, kind in enumerate(
            ("Tenancy", "Compartment", "Network", "Subnet", "Identity", "ObjectStore", "ComputeInstance", "Database"))}
        return sorted(self.components, key=lambda c: (rank[c.kind], self.compartment_depth(c)))


def _owns(container: str | None, kind: str | None) -> bool:
    return container == "Compartment" and kind in HOSTED


def json_size(document: Any) -> int | None:
    """The document's size as compact UTF-8 JSON (what a save stores), or None when it is not JSON at all."""
    try:
        return len(json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode())
    except (TypeError, ValueError, RecursionError):
        return None


def document_size(document: Any) -> int:
    """As `json_size`, with what cannot be encoded counted as too large (so a size check refuses it)."""
    size = json_size(document)
    return MAX_DOCUMENT_BYTES + 1 if size is None else size
