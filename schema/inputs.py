"""Input types of queries and mutations. Only shapes here; rules live in `skyloom.resolvers.validation`."""

from __future__ import annotations

import strawberry

from skyloom.schema.enums import Cloud, SemanticKind


@strawberry.input
class TagInput:
    key: str
    value: str


@strawberry.input(description="CI search filters; all given filters must hold.")
class CiFilter:
    kinds: list[SemanticKind] | None = None
    providers: list[Cloud] | None = None
    regions: list[str] | None = None
    tenancy_id: strawberry.ID | None = None
    compartment_id: strawberry.ID | None = strawberry.field(
        default=None, description="The compartment and everything nested in it."
    )
    tags: list[TagInput] | None = None
    text: str | None = strawberry.field(default=None, description="Case-insensitive substring of the name.")
    include_deleted: bool = False


@strawberry.input
class CiChangeFilter:
    tenancy_id: strawberry.ID | None = None
    kinds: list[SemanticKind] | None = None
    ids: list[strawberry.ID] | None = None
    urns: list[str] | None = strawberry.field(default=None, description="Only CIs of these Pulumi URNs (at most "
                                                                          "5,000): the resources of one plan or stack.")


@strawberry.input
class ProviderCreateInput:
    name: str
    display_name: str | None = None


@strawberry.input
class ProviderUpdateInput:
    id: strawberry.ID
    name: str | None = None
    display_name: str | None = None


@strawberry.input
class TenantCreateInput:
    provider_id: strawberry.ID
    name: str
    display_name: str | None = None


@strawberry.input
class SubTenantCreateInput:
    tenant_id: strawberry.ID
    name: str
    display_name: str | None = None


@strawberry.input(description="Rename a tenant or sub-tenant, or change its display name.")
class TenantUpdateInput:
    id: strawberry.ID
    name: str | None = None
    display_name: str | None = None


@strawberry.input
class CloudBackendCreateInput:
    provider_id: strawberry.ID
    cloud: Cloud
    name: str
    display_name: str | None = None


@strawberry.input
class CloudBackendUpdateInput:
    id: strawberry.ID
    name: str | None = None
    display_name: str | None = None


@strawberry.input(description="A root tenancy (parent: a cloud backend) or a client sub-tenancy (parent: a root tenancy).")
class TenancyCreateInput:
    parent_id: strawberry.ID
    name: str
    owner_id: strawberry.ID | None = strawberry.field(
        default=None, description="Tenant or sub-tenant that owns it; required for a sub-tenancy."
    )
    region: str | None = None
    tags: list[TagInput] | None = None


@strawberry.input
class TenancyUpdateInput:
    id: strawberry.ID
    name: str | None = None
    owner_id: strawberry.ID | None = None
    tags: list[TagInput] | None = None


@strawberry.input(description="A compartment in a tenancy or nested in another compartment.")
class CompartmentCreateInput:
    parent_id: strawberry.ID
    name: str
    region: str | None = None
    tags: list[TagInput] | None = None


@strawberry.input
class CompartmentUpdateInput:
    id: strawberry.ID
    name: str | None = None
    tags: list[TagInput] | None = None
