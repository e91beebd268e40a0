"""GraphQL types of the audit trail: entries, their filter, and the chain check's report."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from skyloom.schema.common import JSON, PageInfo


@strawberry.enum(description="How much an entry matters, lowest first (syslog severities).")
class AuditPriority(Enum):
    DEBUG = "debug"
    INFO = "info"
    NOTICE = "notice"
    WARN = "warn"
    ERROR = "error"
    CRITICAL = "critical"


@strawberry.enum
class AuditOutcome(Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"
    ERROR = "error"


@strawberry.type(description="One recorded event. Entries are never changed; `sealed` once chained.")
class AuditEntry:
    id: strawberry.ID
    at: datetime
    type: str
    priority: AuditPriority
    actor: str = strawberry.field(description="Who caused it (always set).")
    impersonator: str | None = strawberry.field(description="The root user acting as `actor`, if any.")
    tenant_id: strawberry.ID | None
    sub_tenant_id: strawberry.ID | None
    target: str | None
    request_id: str | None
    source: str | None = strawberry.field(description="The caller's network address.")
    outcome: AuditOutcome
    detail: JSON
    position: int | None = strawberry.field(description="Place in its priority's hash chain; null until sealed.")

    @strawberry.field
    def sealed(self) -> bool:
        return self.position is not None


@strawberry.type
class AuditEntryEdge:
    cursor: str
    node: AuditEntry


@strawberry.type
class AuditEntryConnection:
    edges: list[AuditEntryEdge]
    page_info: PageInfo


@strawberry.input
class AuditFilter:
    priorities: list[AuditPriority] | None = None
    types: list[str] | None = strawberry.field(default=None, description="Exact types, or families such as `login.*`.")
    actor: str | None = None
    target: str | None = None
    outcome: AuditOutcome | None = None
    tenant_id: strawberry.ID | None = None
    request_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@strawberry.type
class AuditBrokenLink:
    priority: AuditPriority
    position: int
    entry_id: strawberry.ID | None
    reason: str


@strawberry.type(description="The hash chains checked from their anchors to their heads.")
class AuditVerification:
    ok: bool
    checked: int
    unsealed: int = strawberry.field(description="Entries committed but not chained yet (sealed within a second).")
    first_broken: AuditBrokenLink | None
    broken_chains: list[AuditBrokenLink]


@strawberry.type
class AuditRetention:
    priority: AuditPriority
    keep_days: int
