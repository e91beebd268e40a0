"""GraphQL types of impersonation: a tenant's settings, requests to act inside a sub-tenancy, and their results."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from skyloom.schema.common import PageInfo
from skyloom.schema.errors import Conflict, Forbidden, NotFound, ValidationProblem


@strawberry.enum(description="Whom an impersonation acts as inside a sub-tenancy.")
class ImpersonationTargetMode(Enum):
    SUBTENANT_ROOT = "subtenant-root"   # the sub-tenant's root user (its subtenant-admin)
    MAPPED = "mapped"                   # the user the settings' mapping names (else the root user)


@strawberry.enum
class ImpersonationStatus(Enum):
    REQUESTED = "requested"
    APPROVED = "approved"
    DENIED = "denied"
    ACTIVE = "active"
    ENDED = "ended"
    EXPIRED = "expired"


@strawberry.type
class ImpersonationMapping:
    sub_tenant_id: strawberry.ID
    user_id: strawberry.ID


@strawberry.type(description="What it takes to impersonate inside one tenant's sub-tenancies.")
class ImpersonationSettings:
    tenant_id: strawberry.ID
    require_reauth: bool = strawberry.field(
        description="Start only from a fresh login through another identity provider than the request's."
    )
    require_approval: bool = strawberry.field(description="Start only after another authorised person approved.")
    max_minutes: int
    target_mode: ImpersonationTargetMode
    mapping: list[ImpersonationMapping]
    updated_by: str | None = strawberry.field(description="Null while the tenant uses the (strict) defaults.")
    updated_at: datetime | None


@strawberry.input
class ImpersonationMappingInput:
    sub_tenant_id: strawberry.ID
    user_id: strawberry.ID


@strawberry.input
class ImpersonationSettingsInput:
    tenant_id: strawberry.ID
    require_reauth: bool
    require_approval: bool
    max_minutes: int
    target_mode: ImpersonationTargetMode = ImpersonationTargetMode.SUBTENANT_ROOT
    mapping: list[ImpersonationMappingInput] | None = None


@strawberry.type(description="One request to act inside a sub-tenancy as its root user, with its whole life.")
class ImpersonationRequest:
    id: strawberry.ID
    requester: str
    tenant_id: strawberry.ID
    sub_tenant_id: strawberry.ID
    target_user: str = strawberry.field(description="The actor id acted as.")
    reason: str
    minutes: int
    require_reauth: bool
    require_approval: bool
    status: ImpersonationStatus
    created_at: datetime
    approver: str | None
    decided_at: datetime | None
    started_by: str | None = strawberry.field(description="The (re-authenticated) identity that started it.")
    started_at: datetime | None
    expires_at: datetime | None
    ended_at: datetime | None


@strawberry.type
class ImpersonationRequestEdge:
    cursor: str
    node: ImpersonationRequest


@strawberry.type
class ImpersonationRequestConnection:
    edges: list[ImpersonationRequestEdge]
    page_info: PageInfo


ImpersonationSettingsResult = Annotated[
    ImpersonationSettings | ValidationProblem | NotFound | Forbidden, strawberry.union("ImpersonationSettingsResult")
]
ImpersonationRequestResult = Annotated[
    ImpersonationRequest | ValidationProblem | NotFound | Conflict | Forbidden, strawberry.union("ImpersonationRequestResult")
]
