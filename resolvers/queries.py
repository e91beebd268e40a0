"""The Query root: node lookups, the panel hierarchy, tenancies, compartment trees and CI search."""

from __future__ import annotations

import strawberry

from skyloom.graph.reads import CiQuery
from skyloom.resolvers.access_admin import AccessQuery
from skyloom.resolvers.audit import AuditQuery
from skyloom.resolvers.impersonation import ImpersonationQuery
from skyloom.resolvers.isolation import IsolationQuery
from skyloom.resolvers.planner import PlannerQuery
from skyloom.resolvers.planner_runs import PlannerRunQuery
from skyloom.resolvers.semantics import SemanticQuery
from skyloom.schema import cursors
from skyloom.schema.cmdb import CiConnection, Compartment, CompartmentTreeEntry, ConfigurationItem, Tenancy, ci_from_props
from skyloom.schema.common import PageInfo
from skyloom.schema.connections import TenantConnection, TenantEdge
from skyloom.schema.errors import PublicError
from skyloom.schema.inputs import CiFilter
from skyloom.schema.panel import CloudBackend, Node, Provider, SubTenant, Tenant

MAX_NODES = 100


async def _typed(info: strawberry.Info, node_id: strawberry.ID, labels: tuple[str, ...]):
    vertex = await info.context.loaders.vertex.load(cursors.parse_id(node_id))
    if vertex is None or vertex.label not in labels:
        return None
    return info.context.to_node(vertex)


async def _compartment_scope(info: strawberry.Info, compartment_id: strawberry.ID | None) -> tuple[str, ...] | None:
    if compartment_id is None:
        return None
    return await info.context.reader.compartment_subtree(cursors.parse_id(compartment_id, "compartmentId"))


@strawberry.type
class Query(SemanticQuery, AuditQuery, ImpersonationQuery, AccessQuery, PlannerQuery, PlannerRunQuery, IsolationQuery):
    @strawberry.field(description="Any node by its id; null when there is none.")
    async def node(self, info: strawberry.Info, id: strawberry.ID) -> Node | None:
        vertex = await info.context.loaders.vertex.load(cursors.parse_id(id))
        return info.context.to_node(vertex) if vertex else None

    @strawberry.field(description=f"Several nodes by id, in the order asked (at most {MAX_NODES}).")
    async def nodes(self, info: strawberry.Info, ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > MAX_NODES:
            raise PublicError(f"at most {MAX_NODES} ids per call", "TOO_MANY_IDS")
        found = await info.context.loaders.vertex.load_many([cursors.parse_id(i, "ids") for i in ids])
        return [info.context.to_node(v) if v else None for v in found]

    @strawberry.field(
        description="The newest change event id: subscribe with `after:` set to it to miss nothing from now on."
    )
    async def change_feed_position(self, info: strawberry.Info) -> strawberry.ID:
        return strawberry.ID(str(await info.context.reader.latest_event_id()))

    @strawberry.field
    async def providers(self, info: strawberry.Info) -> list[Provider]:
        page = await info.context.visible_page("Provider", info.context.limits.max_page_size, None)
        return [Provider.from_props(v.props) for v in page.items]

    @strawberry.field
    async def provider(self, info: strawberry.Info, id: strawberry.ID) -> Provider | None:
        return await _typed(info, id, ("Provider",))

    @strawberry.field(description="Top-level tenants (clients), oldest first.")
    async def tenants(self, info: strawberry.Info, first: int = 50, after: str | None = None) -> TenantConnection:
        first = info.context.page_size(first)
        position = cursors.decode(after)
        page = await info.context.visible_page("Tenant", first, position[0] if position else None)
        edges = [TenantEdge(cursor=cursors.encode(v.id), node=Tenant.from_props(v.props)) for v in page.items]
        return TenantConnection(
            edges=edges, page_info=PageInfo.of(edges, page.has_next)
        )

    @strawberry.field
    async def tenant(self, info: strawberry.Info, id: strawberry.ID) -> Tenant | None:
        return await _typed(info, id, ("Tenant",))

    @strawberry.field
    async def sub_tenant(self, info: strawberry.Info, id: strawberry.ID) -> SubTenant | None:
        return await _typed(info, id, ("SubTenant",))

    @strawberry.field
    async def cloud_backend(self, info: strawberry.Info, id: strawberry.ID) -> CloudBackend | None:
        return await _typed(info, id, ("CloudBackend",))

    @strawberry.field(description="Tenancies, root and client, oldest first.")
    async def tenancies(
        self, info: strawberry.Info, first: int = 50, after: str | None = None, include_deleted: bool = False
    ) -> CiConnection:
        return await info.context.search(CiQuery(kinds=("Tenancy",), include_deleted=include_deleted), first, after)

    @strawberry.field
    async def tenancy(self, info: strawberry.Info, id: strawberry.ID) -> Tenancy | None:
        return await _typed(info, id, ("Tenancy",))

    @strawberry.field
    async def compartment(self, info: strawberry.Info, id: strawberry.ID) -> Compartment | None:
        return await _typed(info, id, ("Compartment",))

    @strawberry.field(description="A tenancy's compartments as a flat list, parents before children.")
    async def compartment_tree(self, info: strawberry.Info, tenancy_id: strawberry.ID) -> list[CompartmentTreeEntry]:
        return await info.context.compartment_tree(cursors.parse_id(tenancy_id, "tenancyId"))

    @strawberry.field(description="A configuration item of any kind by id.")
    async def ci(self, info: strawberry.Info, id: strawberry.ID) -> ConfigurationItem | None:
        vertex = await info.context.loaders.vertex.load(cursors.parse_id(id))
        if vertex is None or "kind" not in vertex.props:
            return None
        return ci_from_props(vertex.label, vertex.props)

    @strawberry.field(description="Search configuration items; ordered by creation, cursor-paginated.")
    async def cis(
        self, info: strawberry.Info, filter: CiFilter | None = None, first: int = 50, after: str | None = None
    ) -> CiConnection:
        f = filter or CiFilter()
        if f.text is not None and len(f.text) > 200:
            raise PublicError("text filter is at most 200 characters", "INVALID_FILTER")
        query = CiQuery(
            kinds=tuple(k.value for k in f.kinds or ()),
            providers=tuple(p.value for p in f.providers or ()),
            regions=tuple(f.regions or ()),
            tenancy_uid=cursors.parse_id(f.tenancy_id, "tenancyId") if f.tenancy_id else None,
            compartment_uids=await _compartment_scope(info, f.compartment_id),
            tags=tuple((t.key, t.value) for t in f.tags or ()),
            text=f.text or None,
            include_deleted=f.include_deleted,
        )
        return await info.context.search(query, first, after)

