"""Mutation results: the changed object, or one of the typed problems."""

from __future__ import annotations

from typing import Annotated

import strawberry

from skyloom.schema.cmdb import Compartment, Tenancy
from skyloom.schema.errors import Conflict, Forbidden, NotFound, ValidationProblem
from skyloom.schema.panel import CloudBackend, Provider, SubTenant, Tenant

ProviderResult = Annotated[Provider | ValidationProblem | NotFound | Conflict | Forbidden, strawberry.union("ProviderResult")]
TenantResult = Annotated[Tenant | ValidationProblem | NotFound | Conflict | Forbidden, strawberry.union("TenantResult")]
SubTenantResult = Annotated[SubTenant | ValidationProblem | NotFound | Conflict | Forbidden, strawberry.union("SubTenantResult")]
CloudBackendResult = Annotated[
    CloudBackend | ValidationProblem | NotFound | Conflict | Forbidden, strawberry.union("CloudBackendResult")
]
TenancyResult = Annotated[Tenancy | ValidationProblem | NotFound | Conflict | Forbidden, strawberry.union("TenancyResult")]
CompartmentResult = Annotated[
    Compartment | ValidationProblem | NotFound | Conflict | Forbidden, strawberry.union("CompartmentResult")
]
