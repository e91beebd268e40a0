"""The CMDB's types: configuration items (tenancies, compartments, resources), relationships, history.

Plain fields are filled when an object is built from a stored property map, so they resolve
synchronously; anything that needs the database goes through the per-request dataloaders in
`info.context` (built by `skyloom.resolvers.context`), which batch a whole page into one query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Annotated

import strawberry

from skyloom.schema import vocabulary
from skyloom.schema.common import JSON, PageInfo, Tag, tags_of, when
from skyloom.schema.enums import ChangeOperation, Cloud, Direction, RelationType, SemanticKind
from skyloom.schema.panel import Node


def _cloud(value: str | None) -> Cloud | None:
    try:
        return Cloud(value) if value else None
    except ValueError:
        return None


def _ci_fields(props: dict[str, Any]) -> dict[str, Any]:
    kind = vocabulary.kinds().get(props.get("kind") or "", vocabulary.kinds()[vocabulary.FALLBACK_KIND])
    provider = props.get("provider")
    own_term = props.get("providerTerm") or kind.provider_term(provider)
    return dict(
        id=strawberry.ID(props["uid"]),
        kind=SemanticKind[kind.name],
        name=props["name"],
        provider=_cloud(provider),
        native_type=props.get("nativeType"),
        provider_term=own_term,
        semantic_term=kind.term,
        display_kind=f"{kind.term} ({own_term})" if own_term and own_term != kind.term else kind.term,
        urn=props.get("urn"),
        region=props.get("region"),
        deleted=bool(props.get("deleted")),
        version=props.get("version", 1),
        props=props,
        tenancy_id=props.get("tenancyUid"),
        compartment_id=props.get("compartmentUid"),
    )


@strawberry.type
class Relationship:
    type: RelationType
    direction: Direction
    node: Node


@strawberry.interface(description="A configuration item: anything the CMDB tracks in a cloud.")
class ConfigurationItem(Node):
    kind: SemanticKind
    name: str
    provider: Cloud | None
    native_type: str | None = strawberry.field(description="The provider's type token, e.g. aws:ec2/vpc:Vpc.")
    provider_term: str | None = strawberry.field(description="The cloud's own name for this kind, e.g. Resource Group.")
    semantic_term: str = strawberry.field(description="The default semantic name, e.g. Compartment.")
    display_kind: str = strawberry.field(description='Both together, e.g. "Compartment (Resource Group)".')
    urn: str | None
    region: str | None
    deleted: bool
    version: int
    # The stored map: fields that cost something to convert (timestamps, tags) are built from it
    # only when a query asks for them, which matters on pages of hundreds of CIs.
    props: strawberry.Private[dict[str, Any]]
    tenancy_id: strawberry.Private[str | None]
    compartment_id: strawberry.Private[str | None]

    @strawberry.field
    def tags(self) -> list[Tag]:
        return tags_of(self.props)

    @strawberry.field
    def first_seen(self) -> datetime | None:
        return when(self.props.get("firstSeen") or self.props.get("createdAt"))

    @strawberry.field
    def last_seen(self) -> datetime | None:
        return when(self.props.get("lastSeen") or self.props.get("updatedAt"))

    @strawberry.field
    def deleted_at(self) -> datetime | None:
        return when(self.props.get("deletedAt"))

    @strawberry.field(description="Provider-specific properties as recorded (outputs of the resource).")
    def attributes(self) -> JSON:
        return self.props.get("attributes") or {}

    @strawberry.field(description="The tenancy this CI lives in.")
    async def tenancy(self, info: strawberry.Info) -> Annotated["Tenancy", strawberry.lazy("skyloom.schema.cmdb")] | None:
        if not self.tenancy_id:
            return None
        vertex = await info.context.loaders.vertex.load(self.tenancy_id)
        return Tenancy.from_props(vertex.props) if vertex else None

    @strawberry.field(description="The compartment directly holding this CI.")
    async def compartment(
        self, info: strawberry.Info
    ) -> Annotated["Compartment", strawberry.lazy("skyloom.schema.cmdb")] | None:
        if not self.compartment_id:
            return None
        vertex = await info.context.loaders.vertex.load(self.compartment_id)
        return Compartment.from_props(vertex.props) if vertex else None

    @strawberry.field(description="Directly related nodes, both ways by default.")
    async def neighbours(
        self,
        info: strawberry.Info,
        types: list[RelationType] | None = None,
        direction: Direction = Direction.BOTH,
        first: int = 50,
    ) -> list[Relationship]:
        return await info.context.neighbours(self.id, types, direction, first)

    @strawberry.field(description="CIs that depend on this one, directly or transitively, up to `depth` hops.")
    async def impact(
        self, info: strawberry.Info, depth: int = 3, first: int = 50, after: str | None = None
    ) -> Annotated["ImpactConnection", strawberry.lazy("skyloom.schema.cmdb")]:
        return await info.context.impact(self.id, depth, first, after)

    @strawberry.field(description="Every stored version of this CI, oldest first.")
    async def history(
        self, info: strawberry.Info, first: int = 50, after: str | None = None
    ) -> Annotated["CiVersionConnection", strawberry.lazy("skyloom.schema.cmdb")]:
        return await info.context.history(self.id, first, after)


@strawberry.type(description='A tenancy: an account / subscription / project / OCI tenancy, e.g. "Tenancy (Subscription)".')
class Tenancy(ConfigurationItem):
    is_root: bool = strawberry.field(description="A provider's root tenancy (not a client's sub-tenancy).")
    parent_id: strawberry.Private[str | None]
    owner_id: strawberry.Private[str | None]

    @classmethod
    def from_props(cls, props: dict[str, Any]) -> "Tenancy":
        return cls(
            **_ci_fields(props),
            is_root=bool(props.get("isRoot")),
            parent_id=props.get("parentUid"),
            owner_id=props.get("ownerUid"),
        )

    @strawberry.field(description="For a root tenancy, the cloud backend it belongs to.")
    async def cloud_backend(self, info: strawberry.Info) -> Annotated["CloudBackend", strawberry.lazy("skyloom.schema.panel")] | None:
        from skyloom.schema.panel import CloudBackend

        if not self.is_root or not self.parent_id:
            return None
        vertex = await info.context.loaders.vertex.load(self.parent_id)
        return CloudBackend.from_props(vertex.props) if vertex else None

    @strawberry.field(description="For a client's sub-tenancy, the root tenancy it sits under.")
    async def parent_tenancy(self, info: strawberry.Info) -> "Tenancy | None":
        if self.is_root or not self.parent_id:
            return None
        vertex = await info.context.loaders.vertex.load(self.parent_id)
        return Tenancy.from_props(vertex.props) if vertex else None

    @strawberry.field(description="Client sub-tenancies under this root tenancy.")
    async def sub_tenancies(self, info: strawberry.Info) -> list["Tenancy"]:
        found = await info.context.loaders.children("Tenancy").load(self.id)
        return [Tenancy.from_props(v.props) for v in found]

    @strawberry.field(description="The tenant or sub-tenant that owns this tenancy.")
    async def owner(self, info: strawberry.Info) -> Node | None:
        if not self.owner_id:
            return None
        vertex = await info.context.loaders.vertex.load(self.owner_id)
        return info.context.to_node(vertex) if vertex else None

    @strawberry.field(description="Top-level compartments.")
    async def compartments(self, info: strawberry.Info) -> list["Compartment"]:
        found = await info.context.loaders.children("Compartment").load(self.id)
        return [Compartment.from_props(v.props) for v in found]

    @strawberry.field(description="All compartments of the tenancy as a flat list, parents before children.")
    async def compartment_tree(self, info: strawberry.Info) -> list["CompartmentTreeEntry"]:
        return await info.context.compartment_tree(self.id)


@strawberry.type(description='A compartment: resource group / folder / OCI compartment / namespace; nestable.')
class Compartment(ConfigurationItem):
    parent_id: strawberry.Private[str | None]

    @classmethod
    def from_props(cls, props: dict[str, Any]) -> "Compartment":
        return cls(**_ci_fields(props), parent_id=props.get("parentUid"))

    @strawberry.field(description="The enclosing compartment; null for a top-level one.")
    async def parent(self, info: strawberry.Info) -> "Compartment | None":
        if not self.compartment_id:
            return None
        vertex = await info.context.loaders.vertex.load(self.compartment_id)
        return Compartment.from_props(vertex.props) if vertex else None

    @strawberry.field
    async def children(self, info: strawberry.Info) -> list["Compartment"]:
        found = await info.context.loaders.children("Compartment").load(self.id)
        return [Compartment.from_props(v.props) for v in found]

    @strawberry.field(description="Every CI in this compartment and the compartments nested in it.")
    async def descendants(
        self, info: strawberry.Info, first: int = 50, after: str | None = None
    ) -> "CiConnection":
        return await info.context.descendants(self.id, first, after)


@strawberry.type(description="A cloud resource of any other semantic kind (see `kind`).")
class Resource(ConfigurationItem):
    @classmethod
    def from_props(cls, props: dict[str, Any]) -> "Resource":
        return cls(**_ci_fields(props))


@strawberry.type
class CompartmentTreeEntry:
    depth: int
    parent_id: strawberry.ID | None
    compartment: Compartment


@strawberry.type
class CiEdge:
    cursor: str
    node: ConfigurationItem


@strawberry.type
class CiConnection:
    edges: list[CiEdge]
    page_info: PageInfo
    count: strawberry.Private[Any]  # async () -> int, run only when totalCount is asked for

    @strawberry.field(description="Matches in all pages (computed only when asked for).")
    async def total_count(self) -> int:
        return await self.count()


@strawberry.type
class ImpactEdge:
    cursor: str
    depth: int
    node: ConfigurationItem


@strawberry.type
class ImpactConnection:
    edges: list[ImpactEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type(description="One version of a CI as the change log recorded it.")
class CiVersion:
    event_id: strawberry.ID
    version: int
    at: datetime
    operation: ChangeOperation
    actor: str
    before: JSON | None
    after: JSON | None
    changed_fields: list[str]


@strawberry.type
class CiVersionEdge:
    cursor: str
    node: CiVersion


@strawberry.type
class CiVersionConnection:
    edges: list[CiVersionEdge]
    page_info: PageInfo


@strawberry.type(description="A change to a CI, as delivered to subscribers; `eventId` resumes a stream.")
class CiChange:
    event_id: strawberry.ID
    at: datetime
    operation: ChangeOperation
    kind: SemanticKind
    id: strawberry.ID = strawberry.field(description="The id of the CI that changed.")
    version: int
    actor: str
    tenancy_id: strawberry.ID | None
    before: ConfigurationItem | None
    after: ConfigurationItem | None


def ci_from_props(label: str, props: dict[str, Any]) -> ConfigurationItem:
    if label == "Tenancy":
        return Tenancy.from_props(props)
    if label == "Compartment":
        return Compartment.from_props(props)
    return Resource.from_props(props)
