"""The tenant isolation setup assistant over GraphQL: status, capabilities, plan, and a verified switch.

The same steps as `skyloom setup` (`graph.isolation`), driven by the API's role: it reads the
counts and checksums itself and reaches the owner-only steps through the migration's SECURITY
DEFINER doors, after the policy said yes (IsolationSettings is provider configuration: changing
it needs a fresh hardware-key proof). The work is synchronous psycopg, run in a thread on a
connection of its own: a switch is one long transaction that the pool's connections should not
carry. The replica that switched forgets its cached panel shape at once; other replicas within
the cache's age (`ScopeReader.max_age`).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import psycopg
import strawberry

from skyloom.graph import isolation
from skyloom.graph.isolation import IsolationError, Mode
from skyloom.resolvers.access_views import config_view, guard_config, readable
from skyloom.resolvers.mutations.kit import Refused
from skyloom.schema.errors import PublicError, conflict, invalid
from skyloom.schema.isolation import (
    IsolationCapability,
    IsolationLabelCount,
    IsolationMode,
    IsolationModeInfo,
    IsolationPlan,
    IsolationStatus,
    IsolationSwitchReport,
    IsolationSwitchResult,
)

_VIEW = config_view("IsolationSettings", "isolation", None)


def _owner(conn: psycopg.Connection) -> str:
    (owner,) = conn.execute("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'skyloom'").fetchone()
    return owner


def _status(url: str) -> IsolationStatus:
    with psycopg.connect(url, autocommit=True) as conn:
        current = isolation.state(conn)
        (me,) = conn.execute("SELECT current_user").fetchone()
        found = isolation.capabilities(conn, me, setup_role=_owner(conn))
    return IsolationStatus(
        mode=IsolationMode(current.mode.value), changed_at=datetime.fromisoformat(current.changed_at),
        changed_by=current.changed_by, tenants=current.tenants, tenant_graphs=current.tenant_graphs,
        modes=[IsolationModeInfo(mode=IsolationMode(m.value), title=m.title, offered=m.offered, current=m is current.mode)
               for m in Mode],
        capabilities=[IsolationCapability(name=c.name, ok=c.ok, detail=c.detail) for c in found],
    )


def _plan(url: str, target: Mode) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return isolation.plan(isolation.state(conn), target)


def _switch(url: str, target: Mode, by_whom: str) -> IsolationSwitchReport:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        previous = isolation.state(conn).mode
        if previous is target:
            raise Refused(conflict("mode", f"the installation already runs in {target.value} ({target.title})"))
        after = isolation.switch(conn, target, by_whom)
        conn.execute("SELECT skyloom.isolation_analyze()")
    return IsolationSwitchReport(
        previous=IsolationMode(previous.value), mode=IsolationMode(target.value), verified=True,
        labels=[IsolationLabelCount(label=label, rows=s.rows) for label, s in sorted(after.items())],
        seconds=round(time.perf_counter() - started, 3),
    )


def _readable(ctx: Any) -> bool:
    return ctx.actor.is_authenticated and readable(ctx, _VIEW)


async def switch(ctx: Any, mode: IsolationMode, confirm: bool) -> IsolationSwitchResult:
    try:
        await guard_config(ctx, "configure", _VIEW, "isolation", "isolation settings")
        target = Mode(mode.value)
        if not target.offered:
            raise Refused(invalid("mode", f"{target.value} ({target.title}) is not offered by this release"))
        if not confirm:
            raise Refused(invalid("confirm", "read the plan (isolationPlan), then switch with confirm: true"))
        report = await asyncio.to_thread(_switch, ctx.services.db.url, target, ctx.actor.id)
    except Refused as refused:
        return refused.problem
    except IsolationError as exc:
        return conflict("mode", str(exc))
    ctx.services.scopes.invalidate()
    return report


@strawberry.type
class IsolationQuery:
    @strawberry.field(description="The installation's tenant isolation; null for callers who may not read it.")
    async def isolation(self, info: strawberry.Info) -> IsolationStatus | None:
        if not _readable(info.context):
            return None
        return await asyncio.to_thread(_status, info.context.services.db.url)

    @strawberry.field(description="What switching to `mode` would do, step by step (changes nothing).")
    async def isolation_plan(self, info: strawberry.Info, mode: IsolationMode) -> IsolationPlan | None:
        if not _readable(info.context):
            return None
        try:
            steps = await asyncio.to_thread(_plan, info.context.services.db.url, Mode(mode.value))
        except IsolationError as exc:
            raise PublicError(str(exc), "NOT_OFFERED") from None
        return IsolationPlan(target=mode, steps=steps)


@strawberry.type
class IsolationMutation:
    @strawberry.mutation(description="Switch the installation's isolation mode, moving the data in one transaction "
                                      "verified by counts and checksums (provider tier, needs a fresh proof).")
    async def isolation_switch(self, info: strawberry.Info, mode: IsolationMode, confirm: bool) -> IsolationSwitchResult:
        return await switch(info.context, mode, confirm)
