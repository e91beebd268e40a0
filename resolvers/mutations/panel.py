"""Mutations of the panel hierarchy: providers, tenants, sub-tenants and cloud backends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skyloom.graph import labels
from skyloom.graph.store import DuplicateName
from skyloom.resolvers import validation
from skyloom.resolvers.context import Context, to_node
from skyloom.resolvers.mutations.kit import Refused, admit, guard, guard_view, live_vertex, parse_id, refuse_if_live
from skyloom.schema.errors import duplicate


@dataclass(frozen=True)
class PanelKind:
    label: str
    what: str
    parent_label: str | None
    # (label or None for any CI, property pointing at the entity, what it is) that block a delete
    dependents: tuple[tuple[str | None, str, str], ...]


PROVIDER = PanelKind("Provider", "provider", None, (("Tenant", "parentUid", "tenants"), ("CloudBackend", "parentUid", "cloud backends")))
TENANT = PanelKind("Tenant", "tenant", "Provider", (("SubTenant", "parentUid", "sub-tenants"), ("Tenancy", "ownerUid", "tenancies")))
SUB_TENANT = PanelKind("SubTenant", "sub-tenant", "Tenant", (("Tenancy", "ownerUid", "tenancies"),))
CLOUD_BACKEND = PanelKind("CloudBackend", "cloud backend", "Provider", (("Tenancy", "parentUid", "root tenancies"),))


def _check_names(name: str | None, display: str | None) -> None:
    problem = validation.first_problem(
        validation.slug("name", name) if name is not None else None,
        validation.display_name("displayName", display),
    )
    if problem:
        raise Refused(problem)


async def create(ctx: Context, kind: PanelKind, parent_id: Any, name: str, display: str | None, **extra: Any):
    try:
        _check_names(name, display)
        async with ctx.writing() as w:
            parent = None
            if kind.parent_label:
                field = {"Provider": "providerId", "Tenant": "tenantId"}[kind.parent_label]
                parent = await live_vertex(w, field, parent_id, (kind.parent_label,), kind.parent_label.lower())
                await guard(ctx, "read", parent, kind.parent_label.lower())
            await guard_view(ctx, "create", await ctx.access.prospective(kind.label, parent))
            under = {"SubTenant": "tenant_id", "Tenant": "provider_id", "CloudBackend": "provider_id"}.get(kind.label)
            admitted = await admit(
                ctx, w, "create", kind.label, {"name": name, **({under: parent.uid} if under and parent else {})},
                quota={"parentUid": parent.uid} if parent else None,
            )
            name = admitted["name"]
            props = {"name": name, "displayName": display or name, "parentUid": parent.uid if parent else None, **extra}
            vertex = await w.create(kind.label, props)
            if parent:
                await w.relate(labels.CONTAINS, parent, vertex)
    except Refused as refused:
        return refused.problem
    except DuplicateName:
        return duplicate("name", f"a {kind.what} named {name!r} already exists there")
    return to_node(vertex)


async def update(ctx: Context, kind: PanelKind, node_id: Any, name: str | None, display: str | None):
    try:
        _check_names(name, display)
        uid = parse_id("id", node_id)
        changes = {k: v for k, v in (("name", name), ("displayName", display)) if v is not None}
        async with ctx.writing() as w:
            current = await live_vertex(w, "id", uid, (kind.label,), kind.what)
            await guard(ctx, "update", current, kind.what)
            admitted = await admit(ctx, w, "update", kind.label, {"name": changes.get("name", current.props.get("name"))})
            if "name" in changes:
                changes["name"] = admitted["name"]
            vertex = await w.update(kind.label, uid, changes)
    except Refused as refused:
        return refused.problem
    except DuplicateName:
        return duplicate("name", f"a {kind.what} named {name!r} already exists there")
    return to_node(vertex)


async def delete(ctx: Context, kind: PanelKind, node_id: Any):
    """Soft delete: the entity keeps its history and disappears from lists."""
    try:
        async with ctx.writing() as w:
            vertex = await live_vertex(w, "id", node_id, (kind.label,), kind.what)
            await guard(ctx, "delete", vertex, kind.what)
            await refuse_if_live(w, [(label, {prop: vertex.uid}, what) for label, prop, what in kind.dependents])
            vertex = await w.soft_delete(kind.label, vertex.uid)
    except Refused as refused:
        return refused.problem
    return to_node(vertex)
