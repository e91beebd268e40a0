"""The Mutation root: `<noun><Verb>` fields, each answering with the object or a typed problem."""

from __future__ import annotations

import strawberry

from skyloom.resolvers.mutations import cmdb, panel
from skyloom.resolvers.access_admin import AccessMutation
from skyloom.resolvers.audit import AuditMutation
from skyloom.resolvers.impersonation import ImpersonationMutation
from skyloom.resolvers.isolation import IsolationMutation
from skyloom.resolvers.planner import PlannerMutation
from skyloom.resolvers.planner_runs import PlannerRunMutation
from skyloom.resolvers.semantics import SemanticMutation
from skyloom.schema.inputs import (
    CloudBackendCreateInput,
    CloudBackendUpdateInput,
    CompartmentCreateInput,
    CompartmentUpdateInput,
    ProviderCreateInput,
    ProviderUpdateInput,
    SubTenantCreateInput,
    TenancyCreateInput,
    TenancyUpdateInput,
    TenantCreateInput,
    TenantUpdateInput,
)
from skyloom.schema.results import (
    CloudBackendResult,
    CompartmentResult,
    ProviderResult,
    SubTenantResult,
    TenancyResult,
    TenantResult,
)


@strawberry.type
class Mutation(SemanticMutation, AuditMutation, ImpersonationMutation, AccessMutation, PlannerMutation, PlannerRunMutation, IsolationMutation):
    @strawberry.mutation
    async def provider_create(self, info: strawberry.Info, input: ProviderCreateInput) -> ProviderResult:
        return await panel.create(info.context, panel.PROVIDER, None, input.name, input.display_name)

    @strawberry.mutation
    async def provider_update(self, info: strawberry.Info, input: ProviderUpdateInput) -> ProviderResult:
        return await panel.update(info.context, panel.PROVIDER, input.id, input.name, input.display_name)

    @strawberry.mutation
    async def tenant_create(self, info: strawberry.Info, input: TenantCreateInput) -> TenantResult:
        return await panel.create(info.context, panel.TENANT, input.provider_id, input.name, input.display_name)

    @strawberry.mutation
    async def tenant_update(self, info: strawberry.Info, input: TenantUpdateInput) -> TenantResult:
        return await panel.update(info.context, panel.TENANT, input.id, input.name, input.display_name)

    @strawberry.mutation(description="Soft delete; refused while the tenant has live sub-tenants or tenancies.")
    async def tenant_delete(self, info: strawberry.Info, id: strawberry.ID) -> TenantResult:
        return await panel.delete(info.context, panel.TENANT, id)

    @strawberry.mutation
    async def sub_tenant_create(self, info: strawberry.Info, input: SubTenantCreateInput) -> SubTenantResult:
        return await panel.create(info.context, panel.SUB_TENANT, input.tenant_id, input.name, input.display_name)

    @strawberry.mutation
    async def sub_tenant_update(self, info: strawberry.Info, input: TenantUpdateInput) -> SubTenantResult:
        return await panel.update(info.context, panel.SUB_TENANT, input.id, input.name, input.display_name)

    @strawberry.mutation(description="Soft delete; refused while the sub-tenant owns live tenancies.")
    async def sub_tenant_delete(self, info: strawberry.Info, id: strawberry.ID) -> SubTenantResult:
        return await panel.delete(info.context, panel.SUB_TENANT, id)

    @strawberry.mutation
    async def cloud_backend_create(self, info: strawberry.Info, input: CloudBackendCreateInput) -> CloudBackendResult:
        return await panel.create(
            info.context, panel.CLOUD_BACKEND, input.provider_id, input.name, input.display_name, cloud=input.cloud.value
        )

    @strawberry.mutation
    async def cloud_backend_update(self, info: strawberry.Info, input: CloudBackendUpdateInput) -> CloudBackendResult:
        return await panel.update(info.context, panel.CLOUD_BACKEND, input.id, input.name, input.display_name)

    @strawberry.mutation(description="Soft delete; refused while the backend has live root tenancies.")
    async def cloud_backend_delete(self, info: strawberry.Info, id: strawberry.ID) -> CloudBackendResult:
        return await panel.delete(info.context, panel.CLOUD_BACKEND, id)

    @strawberry.mutation
    async def tenancy_create(self, info: strawberry.Info, input: TenancyCreateInput) -> TenancyResult:
        return await cmdb.tenancy_create(info.context, input)

    @strawberry.mutation
    async def tenancy_update(self, info: strawberry.Info, input: TenancyUpdateInput) -> TenancyResult:
        return await cmdb.tenancy_update(info.context, input)

    @strawberry.mutation(description="Soft delete; refused while the tenancy holds live sub-tenancies, compartments or CIs.")
    async def tenancy_delete(self, info: strawberry.Info, id: strawberry.ID) -> TenancyResult:
        return await cmdb.tenancy_delete(info.context, id)

    @strawberry.mutation
    async def compartment_create(self, info: strawberry.Info, input: CompartmentCreateInput) -> CompartmentResult:
        return await cmdb.compartment_create(info.context, input)

    @strawberry.mutation
    async def compartment_update(self, info: strawberry.Info, input: CompartmentUpdateInput) -> CompartmentResult:
        return await cmdb.compartment_update(info.context, input)

    @strawberry.mutation(description="Soft delete; refused while the compartment holds live compartments or CIs.")
    async def compartment_delete(self, info: strawberry.Info, id: strawberry.ID) -> CompartmentResult:
        return await cmdb.compartment_delete(info.context, id)
