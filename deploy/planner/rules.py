"""The rules about a drawing as a whole: one tenancy, one container each, no cycles, addresses that fit.

Each rule reports on the component that has to change (the later of two overlapping subnets, the
compartment nested too deep), so the canvas can mark it. Provider-specific rules are at the end.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from skyloom.deploy.planner.model import (
    ATTACHES, CONTAINS, HOSTED, MAX_NESTING, WARNING, Component, Design, Problem,
)

PREFIXES = {"aws": (16, 28), "azure": (8, 29), "gcp": (8, 29), "oci": (16, 30)}  # allowed prefix lengths
PRIVATE = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"))
NEEDS = {"Subnet": "SUBNET_NEEDS_NETWORK", "ComputeInstance": "INSTANCE_NEEDS_SUBNET",
         "Database": "DATABASE_NEEDS_SUBNET"}


def cidr_problem(value: Any) -> str | None:
    """Why `value` is not an IPv4 CIDR block written in canonical form, or None."""
    if not isinstance(value, str) or "/" not in value or len(value) > 18:
        return f"{str(value)[:40]!r} is not a CIDR block such as 10.0.0.0/16"
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"{value!r} is not a CIDR block such as 10.0.0.0/16"
    if network.version != 4:
        return "only IPv4 blocks are planned"
    if str(network) != value:
        return f"{value!r} has host bits set: the block is {network}"
    return None


def not_allowed(pair: tuple[str, str], self_loop: bool) -> str:
    if self_loop:
        return "a component cannot hold itself"
    holder, held = pair
    holds = sorted({b for a, b in CONTAINS | ATTACHES if a == holder})
    return f"a {holder} cannot hold a {held} (a {holder} holds {', '.join(holds) if holds else 'nothing'})"


def check(design: Design, problems: list[Problem]) -> None:
    tenancies = design.of_kind("Tenancy")
    if not tenancies:
        problems.append(Problem("TENANCY_MISSING", "a design has one Tenancy: the client's account, subscription, "
                                                   "project or compartment"))
    for extra in tenancies[1:]:
        problems.append(Problem("TENANCY_DUPLICATE", "a design has exactly one Tenancy", extra.id))
    parents = _containers(design, problems)
    _cycles_and_depth(design, parents, problems)
    _identities(design, problems)
    _names(design, problems)
    _addresses(design, parents, problems)
    if design.provider in PROVIDER_RULES:
        PROVIDER_RULES[design.provider](design, parents, problems)


def _incoming(design: Design) -> dict[str, list[tuple[str, str]]]:
    """For each component, its containers as (container id, container kind)."""
    out: dict[str, list[tuple[str, str]]] = {c.id: [] for c in design.components}
    for a, b in design.connections:
        pair = (design.by_id[a].kind, design.by_id[b].kind)
        if pair in CONTAINS:
            out[b].append((a, pair[0]))
    return out


def _containers(design: Design, problems: list[Problem]) -> dict[str, str]:
    """Each component's one container (its subnet, for an instance or database); reports none or several."""
    parents: dict[str, str] = {}
    for c, incoming in ((design.by_id[i], v) for i, v in _incoming(design).items()):
        if c.kind == "Tenancy":
            continue
        owners = [a for a, kind in incoming if c.kind in HOSTED and kind == "Compartment"]
        placed = [a for a, kind in incoming if not (c.kind in HOSTED and kind == "Compartment")]
        holders = sorted({a for a, b in CONTAINS if b == c.kind and not (c.kind in HOSTED and a == "Compartment")})
        if not placed:
            problems.append(Problem(NEEDS.get(c.kind, "CONTAINER_MISSING"),
                                    f"a {c.kind} belongs in a {' or a '.join(holders)}: connect one to it", c.id))
        elif len(placed) > 1 or len(owners) > 1:
            several = placed if len(placed) > 1 else owners
            problems.append(Problem("MULTIPLE_CONTAINERS", f"a {c.kind} has one container, this one has "
                                                           f"{len(several)}: {', '.join(map(repr, several))}", c.id))
        else:
            parents[c.id] = placed[0]
    return parents


def _cycles_and_depth(design: Design, parents: dict[str, str], problems: list[Problem]) -> None:
    state: dict[str, int] = {}  # 1 being walked, 2 done
    depth: dict[str, int] = {}
    for start in parents:
        path: list[str] = []
        node: str | None = start
        while node is not None and state.get(node) is None:
            state[node] = 1
            path.append(node)
            node = parents.get(node)
        if node is not None and state[node] == 1:  # walked back into this very path: a cycle
            loop = path[path.index(node):]
            for member in loop:
                problems.append(Problem("CYCLE", f"{member!r} contains itself through "
                                                 f"{' -> '.join(map(repr, loop + [loop[0]]))}", member))
                depth[member] = 0
        for member in reversed(path):
            state[member] = 2
            if member not in depth:
                above = depth.get(parents.get(member, ""), 0)
                depth[member] = above + (design.by_id[member].kind == "Compartment")
    for c in design.of_kind("Compartment"):
        if depth.get(c.id, 0) > MAX_NESTING:
            problems.append(Problem("NESTING_TOO_DEEP", f"compartments nest at most {MAX_NESTING} deep; "
                                                        f"this one is at depth {depth[c.id]}", c.id))


def _identities(design: Design, problems: list[Problem]) -> None:
    count: dict[str, int] = {}
    for a, b in design.connections:
        if (design.by_id[a].kind, design.by_id[b].kind) in ATTACHES:
            count[b] = count.get(b, 0) + 1
    for instance, n in count.items():
        if n > 1:
            problems.append(Problem("MULTIPLE_IDENTITIES", f"an instance runs as one Identity, this one has {n}",
                                    instance))


def _names(design: Design, problems: list[Problem]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for c in design.components:
        key = (c.kind, c.name.casefold())
        if not c.name:
            continue
        if key in seen:
            problems.append(Problem("NAME_DUPLICATE", f"the {c.kind} {seen[key]!r} has the name {c.name!r} already",
                                    c.id))
        else:
            seen[key] = c.id


def _network(c: Component) -> ipaddress.IPv4Network | None:
    value = c.properties.get("cidr")
    return ipaddress.IPv4Network(value) if cidr_problem(value) is None else None


def _overlaps(items: Iterable[tuple[Component, ipaddress.IPv4Network]], order: dict[str, int],
              what: str, problems: list[Problem]) -> None:
    """Report each block that overlaps an earlier one (a sweep over the blocks sorted by start address)."""
    widest: tuple[Component, ipaddress.IPv4Network] | None = None
    for c, net in sorted(items, key=lambda item: (int(item[1].network_address), -item[1].num_addresses)):
        if widest is not None and int(net.network_address) <= int(widest[1].broadcast_address):
            later, earlier = sorted((widest, (c, net)), key=lambda item: order[item[0].id], reverse=True)
            problems.append(Problem("CIDR_OVERLAP", f"{later[1]} overlaps {earlier[1]} of the {what} "
                                                    f"{earlier[0].name!r}", later[0].id))
        if widest is None or int(net.broadcast_address) > int(widest[1].broadcast_address):
            widest = (c, net)


def _addresses(design: Design, parents: dict[str, str], problems: list[Problem]) -> None:
    order = {c.id: i for i, c in enumerate(design.components)}
    blocks = {c.id: net for c in design.components if c.kind in ("Network", "Subnet") and (net := _network(c))}
    low, high = PREFIXES.get(design.provider, (0, 32))
    for cid, net in blocks.items():
        if not low <= net.prefixlen <= high:
            problems.append(Problem("CIDR_SIZE", f"{net} is a /{net.prefixlen}: {design.provider} takes /{low} to "
                                                 f"/{high} here", cid))
        if not any(net.subnet_of(p) for p in PRIVATE):
            problems.append(Problem("CIDR_NOT_PRIVATE", f"{net} is not a private range (RFC 1918 or 100.64.0.0/10)",
                                    cid, WARNING))
    networks = [(c, blocks[c.id]) for c in design.of_kind("Network") if c.id in blocks]
    _overlaps(networks, order, "Network", problems)
    by_network: dict[str, list[tuple[Component, ipaddress.IPv4Network]]] = {}
    for c in design.of_kind("Subnet"):
        parent = parents.get(c.id)
        if c.id in blocks and parent in blocks:
            if not blocks[c.id].subnet_of(blocks[parent]):
                problems.append(Problem("CIDR_OUTSIDE_NETWORK", f"{blocks[c.id]} is not inside its network's "
                                                                f"{blocks[parent]}", c.id))
            else:
                by_network.setdefault(parent, []).append((c, blocks[c.id]))
    for subnets in by_network.values():
        _overlaps(subnets, order, "Subnet", problems)


def _aws(design: Design, parents: dict[str, str], problems: list[Problem]) -> None:
    for db in design.of_kind("Database"):
        network = parents.get(parents.get(db.id, ""), "")
        if network and sum(1 for s, p in parents.items() if p == network and design.by_id[s].kind == "Subnet") < 2:
            problems.append(Problem("DATABASE_NEEDS_TWO_SUBNETS", "an RDS database needs a network with two subnets "
                                                                  "(in two availability zones)", db.id))


def _azure(design: Design, parents: dict[str, str], problems: list[Problem]) -> None:
    for c in design.of_kind("Compartment"):
        parent = parents.get(c.id)
        if parent and design.by_id[parent].kind == "Compartment":
            problems.append(Problem("NESTING_FLATTENED", "Azure resource groups do not nest: this one is made beside "
                                                         "its parent, tagged with it", c.id, WARNING))


def _oci(design: Design, parents: dict[str, str], problems: list[Problem]) -> None:
    tenancy = next(iter(design.of_kind("Tenancy")), None)
    if tenancy is None or not design.of_kind("Identity") or "tenancyId" in tenancy.properties:
        return
    if str(tenancy.properties.get("parentCompartmentId")).startswith("ocid1.compartment."):
        problems.append(Problem("MISSING_PROPERTY", "groups live at the tenancy: give tenancyId (the tenancy's OCID) "
                                                    "when parentCompartmentId is a compartment", tenancy.id))


PROVIDER_RULES: dict[str, Callable[[Design, dict[str, str], list[Problem]], None]] = {
    "aws": _aws, "azure": _azure, "oci": _oci,
}
