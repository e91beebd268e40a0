"""Compare two design documents: components added, removed and changed (by id), connections, settings.

Components are matched by their id and listed in document order, which the canvas keeps stable across saves and copies, so a
renamed subnet is one change (its name), not a removal and an addition. Canvas positions are not
changes of the architecture and are left out. The documents may be invalid (drafts are compared
too): whatever is not shaped like a component or a connection is skipped, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Where a component sits on the canvas: layout, not architecture.
_LAYOUT = frozenset({"x", "y"})
_SETTINGS = ("provider", "region")


@dataclass(frozen=True, slots=True)
class FieldDiff:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class ComponentRef:
    id: str
    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class ComponentDiff:
    id: str
    kind: str
    name: str
    changes: tuple[FieldDiff, ...]


@dataclass(frozen=True, slots=True)
class Comparison:
    added: list[ComponentRef] = field(default_factory=list)
    removed: list[ComponentRef] = field(default_factory=list)
    changed: list[ComponentDiff] = field(default_factory=list)
    connections_added: list[tuple[str, str]] = field(default_factory=list)
    connections_removed: list[tuple[str, str]] = field(default_factory=list)
    settings: list[FieldDiff] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.connections_added or self.connections_removed
                    or self.settings)


def _components(document: Any) -> dict[str, dict[str, Any]]:
    items = document.get("components") if isinstance(document, dict) else None
    out: dict[str, dict[str, Any]] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"] not in out:
            out[item["id"]] = item
    return out


def _connections(document: Any) -> set[tuple[str, str]]:
    items = document.get("connections") if isinstance(document, dict) else None
    return {
        (c["from"], c["to"]) for c in (items if isinstance(items, list) else [])
        if isinstance(c, dict) and isinstance(c.get("from"), str) and isinstance(c.get("to"), str)
    }


def _ref(component: dict[str, Any]) -> ComponentRef:
    return ComponentRef(component["id"], str(component.get("kind", "")), str(component.get("name", "")))


def _flatten(component: dict[str, Any]) -> dict[str, Any]:
    """`properties.cidr` and friends as their own fields, so a change names the property that moved."""
    flat = {k: v for k, v in component.items() if k not in _LAYOUT and k not in ("id", "properties")}
    properties = component.get("properties")
    if isinstance(properties, dict):
        flat.update({f"properties.{k}": v for k, v in properties.items()})
    elif properties is not None:
        flat["properties"] = properties
    return flat


def _field_diffs(before: dict[str, Any], after: dict[str, Any]) -> tuple[FieldDiff, ...]:
    return tuple(FieldDiff(k, before.get(k), after.get(k))
                 for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k))


def compare(before: Any, after: Any) -> Comparison:
    old, new = _components(before), _components(after)
    result = Comparison(
        added=[_ref(c) for i, c in new.items() if i not in old],
        removed=[_ref(c) for i, c in old.items() if i not in new],
    )
    for i in (i for i in new if i in old):
        changes = _field_diffs(_flatten(old[i]), _flatten(new[i]))
        if changes:
            ref = _ref(new[i])
            result.changed.append(ComponentDiff(ref.id, ref.kind, ref.name, changes))
    old_links, new_links = _connections(before), _connections(after)
    result.connections_added.extend(sorted(new_links - old_links))
    result.connections_removed.extend(sorted(old_links - new_links))
    settings_before = {k: before.get(k) for k in _SETTINGS} if isinstance(before, dict) else {}
    settings_after = {k: after.get(k) for k in _SETTINGS} if isinstance(after, dict) else {}
    result.settings.extend(_field_diffs(settings_before, settings_after))
    return result
