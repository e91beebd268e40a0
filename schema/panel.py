"""The panel's own hierarchy: Provider -> Tenant -> SubTenant, the provider's cloud backends, stacks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from skyloom.schema.common import JSON, when
from skyloom.schema.enums import Cloud

if TYPE_CHECKING:
    from skyloom.schema.cmdb import CiVersionConnection, Tenancy

TenancyRef = Annotated["Tenancy", strawberry.lazy("skyloom.schema.cmdb")]


@strawberry.interface(description="Anything with a global id; fetch any of them with `node(id:)`.")
class Node:
    id: strawberry.ID


@strawberry.interface(description="An entity of the panel itself (not a cloud resource).")
class PanelEntity(Node):
    name: str
    display_name: str
    created_at: datetime
    updated_at: datetime
    deleted: bool
    deleted_at: datetime | None
    version: int


def _panel_fields(props: dict[str, Any]) -> dict[str, Any]:
    return dict(
        id=strawberry.ID(props["uid"]),
        name=props["name"],
        display_name=props.get("displayName") or props["name"],
        created_at=when(props["createdAt"]),
        updated_at=when(props["updatedAt"]),
        deleted=bool(props.get("deleted")),
        deleted_at=when(props.get("deletedAt")),
        version=props["version"],
    )


@strawberry.type(description="The provider (MSP / platform team) that runs this panel.")
class Provider(PanelEntity):
    @classmethod
    def from_props(cls, props: dict[str, Any]) -> "Provider":
        return cls(**_panel_fields(props))

    @strawberry.field(description="Clouds this provider is connected to.")
    async def cloud_backends(self, info: strawberry.Info) -> list["CloudBackend"]:
        found = await info.context.loaders.children("CloudBackend").load(self.id)
        return [CloudBackend.from_props(v.props) for v in found]

    @strawberry.field(description="The provider's clients (top-level tenants).")
    async def tenants(self, info: strawberry.Info) -> list["Tenant"]:
        found = await info.context.loaders.children("Tenant").load(self.id)
        return [Tenant.from_props(v.props) for v in found]

    @strawberry.field(description="Pulumi stacks the provider owns (its own platform stacks).")
    async def stacks(self, info: strawberry.Info) -> list["Stack"]:
        return await _owned_stacks(info, self.id)


@strawberry.type(description="A cloud connection of the provider: one AWS organisation, Azure tenant, GCP organisation or OCI tenancy.")
class CloudBackend(PanelEntity):
    cloud: Cloud
    provider_id: strawberry.Private[str]

    @classmethod
    def from_props(cls, props: dict[str, Any]) -> "CloudBackend":
        return cls(**_panel_fields(props), cloud=Cloud(props["cloud"]), provider_id=props["parentUid"])

    @strawberry.field
    async def provider(self, info: strawberry.Info) -> Provider | None:
        vertex = await info.context.loaders.vertex.load(self.provider_id)
        return Provider.from_props(vertex.props) if vertex else None

    @strawberry.field(description="The provider's root tenancies in this cloud.")
    async def root_tenancies(self, info: strawberry.Info) -> list[TenancyRef]:
        from skyloom.schema.cmdb import Tenancy

        found = await info.context.loaders.children("Tenancy").load(self.id)
        return [Tenancy.from_props(v.props) for v in found]


async def _owned_tenancies(info: strawberry.Info, owner_id: str) -> list[Any]:
    from skyloom.schema.cmdb import Tenancy

    found = await info.context.loaders.owned.load(owner_id)
    return [Tenancy.from_props(v.props) for v in found if v.label == "Tenancy"]


async def _owned_stacks(info: strawberry.Info, owner_id: str) -> list["Stack"]:
    found = await info.context.loaders.owned.load(owner_id)
    return sorted((Stack.from_props(v.props) for v in found if v.label == "Stack"), key=lambda s: s.name)


@strawberry.type(description="A client of the provider.")
class Tenant(PanelEntity):
    provider_id: strawberry.Private[str]

    @classmethod
    def from_props(cls, props: dict[str, Any]) -> "Tenant":
        return cls(**_panel_fields(props), provider_id=props["parentUid"])

    @strawberry.field
    async def provider(self, info: strawberry.Info) -> Provider | None:
        vertex = await info.context.loaders.vertex.load(self.provider_id)
        return Provider.from_props(vertex.props) if vertex else None

    @strawberry.field
    async def sub_tenants(self, info: strawberry.Info) -> list["SubTenant"]:
        found = await info.context.loaders.children("SubTenant").load(self.id)
        return [SubTenant.from_props(v.props) for v in found]

    @strawberry.field(description="Tenancies (client sub-tenancies) this tenant owns.")
    async def tenancies(self, info: strawberry.Info) -> list[TenancyRef]:
        return await _owned_tenancies(info, self.id)

    @strawberry.field(description="Pulumi stacks this tenant owns.")
    async def stacks(self, info: strawberry.Info) -> list["Stack"]:
        return await _owned_stacks(info, self.id)


@strawberry.type(description="A unit of a client (department, project); the hierarchy ends here.")
class SubTenant(PanelEntity):
    tenant_id: strawberry.Private[str]

    @classmethod
    def from_props(cls, props: dict[str, Any]) -> "SubTenant":
        return cls(**_panel_fields(props), tenant_id=props["parentUid"])

    @strawberry.field
    async def tenant(self, info: strawberry.Info) -> Tenant | None:
        vertex = await info.context.loaders.vertex.load(self.tenant_id)
        return Tenant.from_props(vertex.props) if vertex else None

    @strawberry.field(description="Tenancies this sub-tenant owns.")
    async def tenancies(self, info: strawberry.Info) -> list[TenancyRef]:
        return await _owned_tenancies(info, self.id)

    @strawberry.field(description="Pulumi stacks this sub-tenant owns.")
    async def stacks(self, info: strawberry.Info) -> list["Stack"]:
        return await _owned_stacks(info, self.id)


@strawberry.type(description="A finished Pulumi update (up, refresh, destroy) of a stack.")
class StackUpdate:
    version: int
    kind: str
    result: str
    started_at: datetime | None
    ended_at: datetime | None
    message: str | None
    resource_changes: JSON
    author: str | None

    @classmethod
    def from_props(cls, update: dict[str, Any]) -> "StackUpdate":
        return cls(
            version=update["version"],
            kind=update["kind"],
            result=update["result"],
            started_at=_epoch(update.get("startTime")),
            ended_at=_epoch(update.get("endTime")),
            message=update.get("message"),
            resource_changes=update.get("resourceChanges") or {},
            author=update.get("author"),
        )


def _epoch(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


@strawberry.type(description="A Pulumi stack that manages configuration items.")
class Stack(PanelEntity):
    last_update: StackUpdate | None = strawberry.field(description="The newest update recorded from the stack's history.")

    @classmethod
    def from_props(cls, props: dict[str, Any]) -> "Stack":
        update = props.get("lastUpdate")
        return cls(**_panel_fields(props), last_update=StackUpdate.from_props(update) if update else None)

    @strawberry.field(description="Every recorded version of the stack: one per update applied from its history.")
    async def history(
        self, info: strawberry.Info, first: int = 50, after: str | None = None
    ) -> Annotated["CiVersionConnection", strawberry.lazy("skyloom.schema.cmdb")]:
        return await info.context.history(self.id, first, after)
