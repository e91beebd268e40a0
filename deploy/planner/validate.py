"""Read a raw design document into a `Design` and the problems found in it: never raises, whatever it is given.

The checks run from the outside in: the document's shape and size, then each component (id,
kind, name, properties) and each connection, then the drawing as a whole (`rules`). A component
whose id or kind is unusable is left out of the drawing, and connections to it are not reported
again, so each mistake is reported once, where it is.
"""

from __future__ import annotations

import math
from typing import Any

from skyloom.deploy.planner import naming, properties, rules
from skyloom.deploy.planner.model import (
    ATTACHES, CONTAINS, ERROR, ID_RE, KINDS, MAX_COMPONENTS, MAX_CONNECTIONS, MAX_COORDINATE, MAX_DOCUMENT_BYTES,
    MAX_NAME, MAX_PROPERTIES, PROVIDERS, WARNING, Component, Design, Problem, json_size,
)

TOP_LEVEL = frozenset({"provider", "region", "components", "connections", "version"})
COMPONENT_FIELDS = frozenset({"id", "kind", "name", "properties", "x", "y"})
CONNECTION_FIELDS = frozenset({"from", "to", "id"})


def _show(value: Any, limit: int = 60) -> str:
    """A value for a message: repr'd and cut short (messages are read by people, and must stay small)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate(document: Any) -> list[Problem]:
    """Every problem of a design document (an empty list when it is good to generate)."""
    return check(document)[1]


def check(document: Any) -> tuple[Design | None, list[Problem]]:
    """The design as far as it could be read, and its problems (the design is None when nothing could be read)."""
    if not isinstance(document, dict):
        return None, [Problem("DESIGN_INVALID", "a design document is a JSON object")]
    size = json_size(document)
    if size is None:
        return None, [Problem("DESIGN_INVALID", "a design document holds only JSON values (no NaN, no infinity)")]
    if size > MAX_DOCUMENT_BYTES:
        return None, [Problem("TOO_LARGE", f"a design document is at most {MAX_DOCUMENT_BYTES} bytes of JSON, "
                                           f"this one is {size}")]
    problems: list[Problem] = []
    for key in sorted(str(k) for k in document if k not in TOP_LEVEL)[:20]:
        problems.append(Problem("FIELD_UNKNOWN", f"the field {_show(key)} is not part of a design and is ignored",
                                severity=WARNING))
    if "version" in document and (type(document["version"]) is not int or document["version"] != 1):
        problems.append(Problem("VERSION_UNSUPPORTED", "this planner reads version 1 design documents"))
    provider = _provider(document, problems)
    region = _region(document, provider, problems)
    raw_components = _list(document, "components", MAX_COMPONENTS, problems)
    raw_connections = _list(document, "connections", MAX_CONNECTIONS, problems)
    if raw_components is None or raw_connections is None:
        return None, problems
    components: dict[str, Component] = {}
    unusable: set[str] = set()  # ids of components left out (unknown kind, duplicate): their connections too
    taken: set[str] = set()  # ids seen, case-folded
    for index, raw in enumerate(raw_components):
        _component(raw, index, provider, components, unusable, taken, problems)
    connections = _connections(raw_connections, components, unusable, problems)
    design = Design(provider or "", region or "", tuple(components.values()), tuple(connections))
    rules.check(design, problems)
    return design, problems


def _provider(document: dict[str, Any], problems: list[Problem]) -> str | None:
    provider = document.get("provider")
    if provider in PROVIDERS:
        return provider
    problems.append(Problem("PROVIDER_UNKNOWN", f"provider is one of {', '.join(PROVIDERS)}, not {_show(provider)}"))
    return None


def _region(document: dict[str, Any], provider: str | None, problems: list[Problem]) -> str | None:
    region = document.get("region")
    if not isinstance(region, str) or not region.strip():
        problems.append(Problem("REGION_INVALID", "region is required: the provider's region name"))
        return None
    region = region.strip()
    why = naming.region_problem(provider, region) if provider else None
    if len(region) > 64 or why:
        problems.append(Problem("REGION_INVALID", f"{_show(region)} is not a region: {why or 'too long'}"))
        return None
    return region


def _list(document: dict[str, Any], key: str, limit: int, problems: list[Problem]) -> list[Any] | None:
    value = document.get(key, [])
    if not isinstance(value, list):
        problems.append(Problem("FIELD_INVALID", f"{key} is a list"))
        return []
    if len(value) > limit:
        problems.append(Problem("TOO_LARGE", f"a design has at most {limit} {key}, this one has {len(value)}"))
        return None
    return value


def _component(raw: Any, index: int, provider: str | None, components: dict[str, Component], unusable: set[str],
               taken: set[str], problems: list[Problem]) -> None:
    if not isinstance(raw, dict):
        problems.append(Problem("FIELD_INVALID", f"components[{index}] is not an object"))
        return
    cid = raw.get("id")
    if not isinstance(cid, str) or not ID_RE.fullmatch(cid):
        shown = cid if isinstance(cid, str) and len(cid) <= 100 else None
        problems.append(Problem("ID_INVALID", f"components[{index}] has the id {_show(cid)}: an id is 1 to 40 "
                                              "letters, digits, '_' or '-'", shown))
        return
    if cid.casefold() in taken:
        problems.append(Problem("DUPLICATE_ID", f"another component has the id {cid!r} (ids differ in more than case)",
                                cid))
        if cid not in components:
            unusable.add(cid)
        return
    taken.add(cid.casefold())
    kind = raw.get("kind")
    if kind not in KINDS:
        problems.append(Problem("KIND_UNKNOWN", f"{_show(kind)} is not a kind: one of {', '.join(KINDS)}", cid))
        unusable.add(cid)
        return
    for key in sorted(str(k) for k in raw if k not in COMPONENT_FIELDS)[:20]:
        problems.append(Problem("FIELD_UNKNOWN", f"the field {_show(key)} is not part of a component and is ignored",
                                cid, WARNING))
    for axis in ("x", "y"):
        value = raw.get(axis)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or abs(value) > MAX_COORDINATE):
            problems.append(Problem("FIELD_INVALID", f"{axis} is a canvas coordinate (a number)", cid))
    name = _name(raw.get("name"), provider, kind, cid, problems)
    props = _properties(raw.get("properties", {}), provider, kind, cid, problems)
    components[cid] = Component(cid, kind, name, props)


def _name(raw: Any, provider: str | None, kind: str, cid: str, problems: list[Problem]) -> str:
    if not isinstance(raw, str) or not raw.strip():
        problems.append(Problem("NAME_INVALID", f"a {kind} needs a name", cid))
        return ""
    name = raw.strip()
    if len(name) > MAX_NAME:
        problems.append(Problem("NAME_INVALID", f"a name is at most {MAX_NAME} characters", cid))
    elif provider and (why := naming.name_problem(provider, kind, name)):
        problems.append(Problem("NAME_INVALID", f"{_show(name)} is not a valid name: {why}", cid))
    return name


def _properties(raw: Any, provider: str | None, kind: str, cid: str, problems: list[Problem]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        problems.append(Problem("FIELD_INVALID", "properties is an object of names to values", cid))
        return {}
    if len(raw) > MAX_PROPERTIES:
        problems.append(Problem("TOO_LARGE", f"a component has at most {MAX_PROPERTIES} properties", cid))
        return {}
    if provider is None:
        return dict(raw)
    specs = {p.name: p for p in properties.specs(provider, kind)}
    for key, value in raw.items():
        spec = specs.get(key)
        if spec is None:
            known = ", ".join(specs) or "none"
            problems.append(Problem("PROPERTY_UNKNOWN", f"a {kind} at {provider} has no property {_show(key)} "
                                                        f"(it takes: {known})", cid))
        elif spec.type == "cidr":
            if (why := rules.cidr_problem(value)) is not None:
                problems.append(Problem("CIDR_INVALID", f"{spec.name}: {why}", cid))
        elif (why := spec.problem(value)) is not None:
            problems.append(Problem("PROPERTY_INVALID", f"{why} (got {_show(value)})", cid))
    for spec in specs.values():
        if spec.required and spec.name not in raw:
            problems.append(Problem("MISSING_PROPERTY", f"a {kind} at {provider} needs {spec.name}: {spec.help}", cid))
    return dict(raw)


def _connections(raw: list[Any], components: dict[str, Component], unusable: set[str],
                 problems: list[Problem]) -> list[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    out: list[tuple[str, str]] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("from"), str) or not isinstance(item.get("to"), str):
            problems.append(Problem("CONNECTION_INVALID", f"connections[{index}] is not an object with 'from' and "
                                                          "'to' component ids", connection=index))
            continue
        a, b = item["from"], item["to"]
        for key in sorted(str(k) for k in item if k not in CONNECTION_FIELDS)[:5]:
            problems.append(Problem("FIELD_UNKNOWN", f"the field {_show(key)} is not part of a connection",
                                    severity=WARNING, connection=index))
        if a in unusable or b in unusable:
            continue  # the component is reported already
        missing = next((end for end in (a, b) if end not in components), None)
        if missing is not None:
            problems.append(Problem("UNKNOWN_COMPONENT", f"connections[{index}] refers to {_show(missing)}, which is "
                                                         "not a component of this design", connection=index))
            continue
        pair = (components[a].kind, components[b].kind)
        if a == b or pair not in CONTAINS | ATTACHES:
            problems.append(Problem("CONNECTION_NOT_ALLOWED", rules.not_allowed(pair, a == b), b, connection=index))
            continue
        if (a, b) in seen:
            problems.append(Problem("DUPLICATE_CONNECTION", f"{a!r} is connected to {b!r} twice", b, WARNING, index))
            continue
        seen.add((a, b))
        out.append((a, b))
    return out


__all__ = ["check", "validate", "ERROR", "WARNING"]
