"""Mutations of the CMDB's containers: tenancies (root and client sub-tenancies) and compartments.

Resources themselves arrive through ingest (issue 3); these are the containers a provider sets up
by hand or through the planner. Containment is kept twice on purpose: as CONTAINS / OWNS edges for
graph queries, and as `parentUid` / `tenancyUid` / `compartmentUid` properties (stored ancestry)
so that subtree reads are index lookups instead of traversals.
"""

from __future__ import annotations

from typing import Any

from skyloom.graph import labels
from skyloom.graph.records import ci_properties
from skyloom.graph.store import DuplicateName
from skyloom.resolvers import validation
from skyloom.resolvers.context import Context
from skyloom.resolvers.mutations.kit import Refused, admit, guard, guard_view, live_vertex, parse_id, refuse_if_live
from skyloom.schema.cmdb import Compartment, Tenancy
from skyloom.schema.errors import duplicate, invalid
from skyloom.schema.inputs import CompartmentCreateInput, CompartmentUpdateInput, TenancyCreateInput, TenancyUpdateInput


def _checked(name: str | None, region: str | None, tags: Any) -> dict[str, str] | None:
    problem = validation.first_problem(
        validation.cloud_name("name", name) if name is not None else None,
        validation.region("region", region),
    )
    if problem:
        raise Refused(problem)
    if tags is None:
        return None
    checked = validation.tags("tags", tags)
    if not isinstance(checked, dict):
        raise Refused(checked)
    return checked


async def tenancy_create(ctx: Context, data: TenancyCreateInput):
    try:
        tags = _checked(data.name, data.region, data.tags)
        async with ctx.writing() as w:
            parent = await live_vertex(w, "parentId", data.parent_id, ("CloudBackend", "Tenancy"), "cloud backend or root tenancy")
            owner = None
            if parent.label == "Tenancy":
                if not parent.props.get("isRoot"):
                    raise Refused(invalid("parentId", "a client's sub-tenancy sits under a root tenancy, not under another sub-tenancy"))
                if data.owner_id is None:
                    raise Refused(invalid("ownerId", "a sub-tenancy needs the tenant or sub-tenant that owns it"))
            if data.owner_id is not None:
                owner = await live_vertex(w, "ownerId", data.owner_id, ("Tenant", "SubTenant"), "tenant or sub-tenant")
                await guard(ctx, "read", owner, "tenant or sub-tenant")
            await guard(ctx, "read", parent, "cloud backend or root tenancy")
            await guard_view(ctx, "create", await ctx.access.prospective("Tenancy", parent, owner))
            provider = parent.props["cloud"] if parent.label == "CloudBackend" else parent.props["provider"]
            admitted = await admit(ctx, w, "create", "Tenancy", {"name": data.name, "tags": tags or {}, "cloud": provider})
            props = ci_properties("Tenancy", admitted["name"], provider, data.region, admitted.get("tags") or tags)
            props.update(
                isRoot=parent.label == "CloudBackend",
                parentUid=parent.uid,
                backendUid=parent.uid if parent.label == "CloudBackend" else parent.props.get("backendUid"),
                ownerUid=owner.uid if owner else None,
            )
            vertex = await w.create("Tenancy", props)
            await w.relate(labels.CONTAINS, parent, vertex)
            if owner:
                await w.relate(labels.OWNS, owner, vertex)
    except Refused as refused:
        return refused.problem
    except DuplicateName:
        return duplicate("name", f"a tenancy named {data.name!r} already exists there")
    return Tenancy.from_props(vertex.props)


async def tenancy_update(ctx: Context, data: TenancyUpdateInput):
    try:
        tags = _checked(data.name, None, data.tags)
        uid = parse_id("id", data.id)
        async with ctx.writing() as w:
            current = await live_vertex(w, "id", uid, ("Tenancy",), "tenancy")
            await guard(ctx, "update", current, "tenancy")
            await admit(ctx, w, "update", "Tenancy", {"name": data.name or current.props.get("name"),
                                                      "tags": tags if tags is not None else current.props.get("tags") or {},
                                                      "cloud": current.props.get("provider")})
            changes: dict[str, Any] = {}
            if data.name is not None:
                changes["name"] = data.name
            if tags is not None:
                changes["tags"] = tags
            if data.owner_id is not None:
                if current.props.get("isRoot"):
                    raise Refused(invalid("ownerId", "a root tenancy belongs to the provider, not to a tenant"))
                owner = await live_vertex(w, "ownerId", data.owner_id, ("Tenant", "SubTenant"), "tenant or sub-tenant")
                # A move is a create at the destination: the new owner's side must allow it too.
                await guard(ctx, "read", owner, "tenant or sub-tenant")
                parent = await w.find_for_update(current.props["parentUid"])
                await guard_view(ctx, "create", await ctx.access.prospective("Tenancy", parent, owner))
                old_owner = current.props.get("ownerUid")
                if old_owner != owner.uid:
                    if old_owner:
                        previous = await w.find_for_update(old_owner)
                        if previous is not None:
                            await w.unrelate(labels.OWNS, previous, current)
                    await w.relate(labels.OWNS, owner, current)
                    changes["ownerUid"] = owner.uid
            vertex = await w.update("Tenancy", uid, changes)
    except Refused as refused:
        return refused.problem
    except DuplicateName:
        return duplicate("name", f"a tenancy named {data.name!r} already exists there")
    return Tenancy.from_props(vertex.props)


async def tenancy_delete(ctx: Context, node_id: Any):
    try:
        async with ctx.writing() as w:
            vertex = await live_vertex(w, "id", node_id, ("Tenancy",), "tenancy")
            await guard(ctx, "delete", vertex, "tenancy")
            await refuse_if_live(
                w,
                [
                    ("Tenancy", {"parentUid": vertex.uid}, "sub-tenancies"),
                    ("Compartment", {"parentUid": vertex.uid}, "compartments"),
                    (None, {"tenancyUid": vertex.uid}, "configuration items"),
                ],
            )
            vertex = await w.soft_delete("Tenancy", vertex.uid)
    except Refused as refused:
        return refused.problem
    return Tenancy.from_props(vertex.props)


async def compartment_create(ctx: Context, data: CompartmentCreateInput):
    try:
        tags = _checked(data.name, data.region, data.tags)
        async with ctx.writing() as w:
            parent = await live_vertex(w, "parentId", data.parent_id, ("Tenancy", "Compartment"), "tenancy or compartment")
            await guard(ctx, "read", parent, "tenancy or compartment")
            await guard_view(ctx, "create", await ctx.access.prospective("Compartment", parent))
            in_tenancy = parent.label == "Tenancy"
            tenancy_uid = parent.uid if in_tenancy else parent.props["tenancyUid"]
            admitted = await admit(
                ctx, w, "create", "Compartment",
                {"name": data.name, "tags": tags or {}, "cloud": parent.props["provider"], "tenancy_id": tenancy_uid},
                quota={"tenancyUid": tenancy_uid},
            )
            props = ci_properties("Compartment", admitted["name"], parent.props["provider"], data.region, admitted.get("tags") or tags)
            props.update(
                parentUid=parent.uid,
                tenancyUid=tenancy_uid,
                compartmentUid=None if in_tenancy else parent.uid,
            )
            vertex = await w.create("Compartment", props)
            await w.relate(labels.CONTAINS, parent, vertex)
    except Refused as refused:
        return refused.problem
    except DuplicateName:
        return duplicate("name", f"a compartment named {data.name!r} already exists there")
    return Compartment.from_props(vertex.props)


async def compartment_update(ctx: Context, data: CompartmentUpdateInput):
    try:
        tags = _checked(data.name, None, data.tags)
        uid = parse_id("id", data.id)
        changes: dict[str, Any] = {}
        if data.name is not None:
            changes["name"] = data.name
        if tags is not None:
            changes["tags"] = tags
        async with ctx.writing() as w:
            current = await live_vertex(w, "id", uid, ("Compartment",), "compartment")
            await guard(ctx, "update", current, "compartment")
            merged = {"name": current.props.get("name"), "tags": current.props.get("tags") or {},
                      "cloud": current.props.get("provider"), **changes}
            admitted = await admit(ctx, w, "update", "Compartment", merged)
            changes = {k: admitted[k] for k in changes}
            vertex = await w.update("Compartment", uid, changes)
    except Refused as refused:
        return refused.problem
    except DuplicateName:
        return duplicate("name", f"a compartment named {data.name!r} already exists there")
    return Compartment.from_props(vertex.props)


async def compartment_delete(ctx: Context, node_id: Any):
    try:
        async with ctx.writing() as w:
            vertex = await live_vertex(w, "id", node_id, ("Compartment",), "compartment")
            await guard(ctx, "delete", vertex, "compartment")
            await refuse_if_live(w, [(None, {"compartmentUid": vertex.uid}, "compartments or configuration items")])
            vertex = await w.soft_delete("Compartment", vertex.uid)
    except Refused as refused:
        return refused.problem
    return Compartment.from_props(vertex.props)
