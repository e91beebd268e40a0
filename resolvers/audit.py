"""Queries and mutations of the audit trail: filtered pages, the chain check, retention."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

import strawberry

from skyloom.graph import audit, audit_reads
from skyloom.policy.scopes import ALL_PROVIDERS
from skyloom.schema import cursors
from skyloom.schema.audit import (
    AuditBrokenLink,
    AuditEntry,
    AuditEntryConnection,
    AuditEntryEdge,
    AuditFilter,
    AuditOutcome,
    AuditPriority,
    AuditRetention,
    AuditVerification,
)
from skyloom.schema.common import PageInfo
from skyloom.schema.errors import Forbidden, PublicError, ValidationProblem, forbidden, invalid

MAX_TYPES = 20
AuditRetentionResult = Annotated[AuditRetention | ValidationProblem | Forbidden, strawberry.union("AuditRetentionResult")]


async def _scope(info: strawberry.Info) -> audit_reads.AuditScope:
    """What the caller may read of the trail: the installation's readers all of it; a provider's,
    its tenants' entries; a tenant's or sub-tenant's, their own. Provider-level entries (no
    tenant) belong to the installation."""
    access = info.context.access
    f = access.filter("read", "AuditEntry")
    parts = (f, *f.alternatives)
    if any(p.everything or ALL_PROVIDERS in p.provider_ids for p in parts):
        return audit_reads.AuditScope(everything=True)
    providers = {i for p in parts for i in p.provider_ids}
    tenants = {i for p in parts for i in p.tenant_ids}
    if providers:
        hierarchy = await access.hierarchy()
        tenants |= {t for t, provider in hierarchy.tenant_provider.items() if provider in providers}
    return audit_reads.AuditScope(tenants=frozenset(tenants), subtenants=frozenset(i for p in parts for i in p.subtenant_ids))


def _filter(f: AuditFilter | None) -> audit_reads.AuditFilter:
    if f is None:
        return audit_reads.AuditFilter()
    types = tuple(f.types or ())
    if len(types) > MAX_TYPES or any(not 0 < len(t) <= 64 for t in types):
        raise PublicError(f"at most {MAX_TYPES} types of 1 to 64 characters", "INVALID_FILTER")
    tenant = cursors.parse_id(f.tenant_id, "tenantId") if f.tenant_id is not None else None
    return audit_reads.AuditFilter(
        priorities=tuple(p.value for p in f.priorities or ()), types=types, actor=f.actor, target=f.target,
        outcome=f.outcome.value if f.outcome else None, tenant=tenant, request_id=f.request_id,
        since=f.since, until=f.until,
    )


def _micros(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def _entry(row: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        id=strawberry.ID(str(row["id"])), at=row["at"], type=row["type"], priority=AuditPriority(row["priority"]),
        actor=row["actor"], impersonator=row["impersonator"], tenant_id=row["tenant"], sub_tenant_id=row["subtenant"],
        target=row["target"], request_id=row["request_id"], source=row["source"], outcome=AuditOutcome(row["outcome"]),
        detail=audit_reads.detail_of(row), position=row["position"],
    )


@strawberry.type
class AuditQuery:
    @strawberry.field(description="The audit trail, newest first, filtered and scoped to what the caller may see.")
    async def audit_trail(
        self, info: strawberry.Info, filter: AuditFilter | None = None, first: int = 50, after: str | None = None
    ) -> AuditEntryConnection:
        first = info.context.page_size(first)
        position = cursors.decode(after, arity=2)
        after_key = (datetime.fromtimestamp(position[0] / 1_000_000, tz=timezone.utc), position[1]) if position else None
        rows, has_next = await audit_reads.page(info.context.services.db, _filter(filter), await _scope(info), first, after_key)
        edges = [AuditEntryEdge(cursor=cursors.encode(_micros(r["at"]), r["id"]), node=_entry(r)) for r in rows]
        return AuditEntryConnection(edges=edges, page_info=PageInfo.of(edges, has_next))

    @strawberry.field(description="Check every hash chain of the trail; reports the first broken link, if any.")
    async def audit_verify(self, info: strawberry.Info) -> AuditVerification:
        if not (await _scope(info)).everything:
            info.context.denied = True
            raise PublicError("only the installation's auditors and operators check the whole trail", "FORBIDDEN")
        result = await audit_reads.verify(info.context.services.db)

        def link(b: audit_reads.Broken) -> AuditBrokenLink:
            entry = strawberry.ID(str(b.entry_id)) if b.entry_id is not None else None
            return AuditBrokenLink(priority=AuditPriority(b.priority), position=b.position, entry_id=entry, reason=b.reason)

        return AuditVerification(
            ok=result.ok, checked=result.checked, unsealed=result.unsealed,
            first_broken=link(result.first_broken) if result.first_broken else None,
            broken_chains=[link(b) for b in result.broken_chains],
        )

    @strawberry.field(description="How long each priority's entries are kept, in days.")
    async def audit_retention(self, info: strawberry.Info) -> list[AuditRetention]:
        rows = await audit_reads.retention(info.context.services.db)
        return [AuditRetention(priority=AuditPriority(p), keep_days=d) for p, d in rows]


@strawberry.type
class AuditMutation:
    @strawberry.mutation(description="Keep one priority's entries this many days (1 to 36500); the change is audited.")
    async def audit_retention_set(
        self, info: strawberry.Info, priority: AuditPriority, keep_days: int
    ) -> AuditRetentionResult:
        if not 1 <= keep_days <= 36500:
            return invalid("keepDays", "keepDays must be between 1 and 36500")
        ctx = info.context
        decision = await ctx.access.decide("configure", ctx.access.installation())
        if not decision.allowed:
            ctx.denied = True
            return forbidden("configure", "installation", decision.needs_proof)
        entry = audit.Entry(
            type="audit.retention_changed", actor=ctx.actor.id, impersonator=ctx.actor.impersonator.id if ctx.actor.impersonator else None, priority="notice", target=f"retention:{priority.value}",
            request_id=ctx.request_id, source=ctx.source, detail={"priority": priority.value, "keepDays": keep_days},
        )
        async with ctx.services.db.connection() as conn:
            async with conn.transaction():
                await audit.set_retention(conn, priority.value, keep_days, entry)
        return AuditRetention(priority=priority, keep_days=keep_days)
