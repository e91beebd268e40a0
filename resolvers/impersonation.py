"""Impersonation over GraphQL: settings, the request -> approve -> start -> end workflow, and its inbox.

Who may do what is the policy's (`impersonate` on the SubTenant, which needs a fresh hardware-key
proof; `approve` on the ImpersonationRequest, never by its requester); this module adds what the
policy cannot see: the tenant's settings, the request's status, the caller's session, and
whether two accounts are one person. Every step is audited with both identities: the entries of
a running impersonation name the target as `actor` and the real person as `impersonator`.

Re-authentication (a tenant's `requireReauth`): the impersonation starts only from a session
opened after the approval (or the request, when no approval is needed), at most
`REAUTH_WINDOW` ago, through another identity provider than the one behind the request, by the
same person (`graph.impersonation` explains "same person"). Two providers are two independent
proofs of who is at the keyboard; the hardware-key proof the policy asks for on top is a third.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import strawberry

from skyloom.graph import audit
from skyloom.graph import impersonation as store
from skyloom.graph.records import Vertex
from skyloom.policy.scopes import ALL_PROVIDERS
from skyloom.resolvers.mutations.kit import Refused, parse_id
from skyloom.schema import cursors
from skyloom.schema.common import PageInfo
from skyloom.schema.errors import Conflict, Forbidden, conflict, forbidden, invalid, not_found
from skyloom.schema.impersonation import (
    ImpersonationMapping,
    ImpersonationRequest,
    ImpersonationRequestConnection,
    ImpersonationRequestEdge,
    ImpersonationRequestResult,
    ImpersonationSettings,
    ImpersonationSettingsInput,
    ImpersonationSettingsResult,
    ImpersonationStatus,
    ImpersonationTargetMode,
)

REAUTH_WINDOW = timedelta(minutes=15)


def _forbid(ctx: Any, code: str, message: str) -> Refused:
    ctx.denied = True
    return Refused(Forbidden(code=code, message=message, needs_proof=False))


def _request_type(r: store.Request) -> ImpersonationRequest:
    return ImpersonationRequest(
        id=strawberry.ID(str(r.id)), requester=r.requester, tenant_id=strawberry.ID(r.tenant_id),
        sub_tenant_id=strawberry.ID(r.subtenant_id), target_user=r.target_actor, reason=r.reason, minutes=r.minutes,
        require_reauth=r.require_reauth, require_approval=r.require_approval, status=ImpersonationStatus(r.status),
        created_at=r.created_at, approver=r.approver, decided_at=r.decided_at, started_by=r.started_by,
        started_at=r.started_at, expires_at=r.expires_at, ended_at=r.ended_at,
    )


def _settings_type(s: store.Settings) -> ImpersonationSettings:
    return ImpersonationSettings(
        tenant_id=strawberry.ID(s.tenant_id), require_reauth=s.require_reauth, require_approval=s.require_approval,
        max_minutes=s.max_minutes, target_mode=ImpersonationTargetMode(s.target_mode),
        mapping=[ImpersonationMapping(sub_tenant_id=strawberry.ID(k), user_id=strawberry.ID(str(v)))
                 for k, v in sorted(s.mapping.items())],
        updated_by=s.updated_by, updated_at=s.updated_at,
    )


def _entry(ctx: Any, kind: str, r: store.Request, *, actor: str, impersonator: str | None, priority: str = "notice",
           **extra: Any) -> audit.Entry:
    return audit.Entry(
        type=f"impersonation.{kind}", actor=actor, impersonator=impersonator, priority=priority,  # type: ignore[arg-type]
        target=f"ImpersonationRequest:{r.id}", tenant=r.tenant_id, subtenant=r.subtenant_id,
        request_id=ctx.request_id, source=ctx.source, detail=store.detail(r, **extra),
    )


def expired_entries(ctx: Any, lapsed: list[store.Request]) -> list[audit.Entry]:
    """A lapsed running impersonation is the target's, driven by its starter; a lapsed approval or
    request is its requester's."""
    return [
        _entry(ctx, "expired", r, actor=r.target_actor if r.started_by else r.requester,
               impersonator=r.started_by, priority="warn" if r.started_by else "notice",
               was="active" if r.started_by else "not started")
        for r in lapsed
    ]


async def _sweep(ctx: Any) -> None:
    """Mark what lapsed before answering, so nobody acts on a request that is no longer live."""
    async with ctx.services.db.connection() as conn, conn.transaction():
        lapsed = await store.expire_due(conn)
        await audit.record(conn, expired_entries(ctx, lapsed))


def _person(ctx: Any) -> None:
    """Impersonation is between people: not service accounts, and not from inside an impersonation."""
    if ctx.actor.impersonator is not None:
        raise _forbid(ctx, "IMPERSONATING", "end the running impersonation first")
    if ctx.actor.kind != "user":
        raise _forbid(ctx, "FORBIDDEN", "only people may take part in impersonation")


async def _visible(ctx: Any, node_id: Any, label: str, field: str, what: str) -> Vertex:
    uid = parse_id(field, node_id)
    vertex = await ctx.loaders.vertex.load(uid)
    if vertex is None or vertex.label != label or vertex.props.get("deleted"):
        raise Refused(not_found(uid, what))
    return vertex


async def _allowed(ctx: Any, action: str, view: Any) -> None:
    decision = await ctx.access.decide(action, view)
    if not decision.allowed:
        ctx.denied = True
        raise Refused(forbidden(action, view.kind, decision.needs_proof))


def _request_view(ctx: Any, r: store.Request) -> Any:
    return ctx.access.config("ImpersonationRequest", provider=r.provider_id, tenant=r.tenant_id,
                             subtenant=r.subtenant_id, created_by=r.requester)


async def _load(ctx: Any, conn: Any, request_id: Any) -> store.Request:
    """The request, if the caller may read it (otherwise it does not exist for them)."""
    rid = uuid.UUID(parse_id("id", request_id))
    found = await store.get_request(conn, rid)
    if found is None or not (await ctx.access.decide("read", _request_view(ctx, found))).allowed:
        raise Refused(not_found(str(rid), "impersonation request"))
    return found


def _inbox_scope(ctx: Any) -> store.Scope:
    f = ctx.access.filter("approve", "ImpersonationRequest")
    parts = (f, *f.alternatives)
    if any(p.everything or ALL_PROVIDERS in p.provider_ids for p in parts):
        return store.Scope(everything=True)
    return store.Scope(
        providers=frozenset(i for p in parts for i in p.provider_ids),
        tenants=frozenset(i for p in parts for i in p.tenant_ids),
        subtenants=frozenset(i for p in parts for i in p.subtenant_ids),
    )


@strawberry.type
class ImpersonationQuery:
    @strawberry.field(description="A tenant's impersonation settings (the strict defaults until set); null when unseen.")
    async def impersonation_settings(self, info: strawberry.Info, tenant_id: strawberry.ID) -> ImpersonationSettings | None:
        ctx = info.context
        tenant = await ctx.loaders.vertex.load(cursors.parse_id(tenant_id, "tenantId"))
        if tenant is None or tenant.label != "Tenant":
            return None
        view = ctx.access.config("ImpersonationSettings", provider=tenant.props.get("parentUid"), tenant=tenant.uid)
        if not (await ctx.access.decide("read", view)).allowed:
            return None
        async with ctx.services.db.connection() as conn:
            return _settings_type(await store.get_settings(conn, tenant.uid))

    @strawberry.field(description="Impersonation requests, newest first: by default the caller's approval inbox "
                                  "(what they may approve, never their own); with `mine`, their own requests.")
    async def impersonation_requests(
        self, info: strawberry.Info, status: ImpersonationStatus | None = ImpersonationStatus.REQUESTED,
        mine: bool = False, first: int = 50, after: str | None = None,
    ) -> ImpersonationRequestConnection:
        ctx = info.context
        first = ctx.page_size(first)
        position = cursors.decode(after)
        await _sweep(ctx)
        statuses = (status.value,) if status is not None else store.STATUSES
        real = ctx.actor.impersonator or ctx.actor
        scope = store.Scope(everything=True) if mine else _inbox_scope(ctx)
        if ctx.actor.impersonator is not None and not mine:
            scope = store.Scope()     # nobody approves from inside an impersonation
        async with ctx.services.db.connection() as conn:
            rows, has_next = await store.list_requests(
                conn, scope, statuses=statuses, not_by=None if mine else real.id, by=real.id if mine else None,
                first=first, after_seq=position[0] if position else None,
            )
        if not mine:   # the policy's own answer on each row, as a second lock on the SQL scope
            f = ctx.access.filter("approve", "ImpersonationRequest")
            rows = [r for r in rows if f.matches(_request_view(ctx, r))]
        edges = [ImpersonationRequestEdge(cursor=cursors.encode(r.seq), node=_request_type(r)) for r in rows]
        return ImpersonationRequestConnection(edges=edges, page_info=PageInfo.of(edges, has_next))


@strawberry.type
class ImpersonationMutation:
    @strawberry.mutation(description="Set a tenant's impersonation settings (its tenant admins, or a provider operator).")
    async def impersonation_settings_set(
        self, info: strawberry.Info, input: ImpersonationSettingsInput
    ) -> ImpersonationSettingsResult:
        ctx = info.context
        try:
            tenant = await _visible(ctx, input.tenant_id, "Tenant", "tenantId", "tenant")
            view = ctx.access.config("ImpersonationSettings", provider=tenant.props.get("parentUid"), tenant=tenant.uid)
            await _allowed(ctx, "configure", view)
            if not 1 <= input.max_minutes <= store.MAX_MINUTES:
                raise Refused(invalid("maxMinutes", f"maxMinutes must be between 1 and {store.MAX_MINUTES}"))
            mapping: dict[str, str] = {}
            async with ctx.services.db.connection() as conn, conn.transaction():
                for m in input.mapping or []:
                    sub = await _visible(ctx, m.sub_tenant_id, "SubTenant", "mapping.subTenantId", "sub-tenant")
                    if sub.props.get("parentUid") != tenant.uid:
                        raise Refused(invalid("mapping.subTenantId", "the sub-tenant is not this tenant's"))
                    user = uuid.UUID(parse_id("mapping.userId", m.user_id))
                    if not await store.belongs_to(conn, user, sub.uid):
                        raise Refused(invalid("mapping.userId", "the user is not an enabled member of that sub-tenant"))
                    mapping[sub.uid] = str(user)
                saved = await store.set_settings(conn, store.Settings(
                    tenant.uid, input.require_reauth, input.require_approval, input.max_minutes,
                    input.target_mode.value, mapping,
                ), ctx.actor.id)
                await audit.record(conn, [audit.Entry(
                    type="impersonation.settings_changed", actor=ctx.actor.id, priority="notice",
                    impersonator=ctx.actor.impersonator.id if ctx.actor.impersonator else None,
                    target=f"ImpersonationSettings:{tenant.uid}", tenant=tenant.uid, request_id=ctx.request_id,
                    source=ctx.source, detail={"requireReauth": saved.require_reauth, "requireApproval": saved.require_approval,
                                               "maxMinutes": saved.max_minutes, "targetMode": saved.target_mode,
                                               "mapping": dict(saved.mapping)},
                )])
            return _settings_type(saved)
        except Refused as refused:
            return refused.problem

    @strawberry.mutation(description="Ask to act inside a sub-tenancy as its root user for `minutes`.")
    async def impersonation_request(
        self, info: strawberry.Info, sub_tenant_id: strawberry.ID, reason: str, minutes: int
    ) -> ImpersonationRequestResult:
        ctx = info.context
        try:
            _person(ctx)
            sub = await _visible(ctx, sub_tenant_id, "SubTenant", "subTenantId", "sub-tenant")
            place = await ctx.access.view(sub)
            await _allowed(ctx, "create", ctx.access.config(
                "ImpersonationRequest", provider=place.provider_id, tenant=place.tenant_id, subtenant=sub.uid,
                created_by=ctx.actor.id))
            may = await ctx.access.decide("impersonate", place)
            if not (may.allowed or may.needs_proof):   # the proof is asked for at the start
                ctx.denied = True
                raise Refused(forbidden("impersonate", "SubTenant", False))
            reason = reason.strip()
            if not 3 <= len(reason) <= 1000:
                raise Refused(invalid("reason", "give a reason of 3 to 1000 characters"))
            async with ctx.services.db.connection() as conn, conn.transaction():
                settings = await store.get_settings(conn, place.tenant_id)
                if not 1 <= minutes <= settings.max_minutes:
                    raise Refused(invalid("minutes", f"minutes must be between 1 and {settings.max_minutes}"))
                target = await store.target_for(conn, settings, sub.uid)
                if target is None or f"user:{target}" == ctx.actor.id:
                    raise Refused(conflict("subTenantId", "the sub-tenant has no root user to act as"))
                made = await store.create_request(
                    conn, requester=ctx.actor.id, requester_idp=await store.idp_of(conn, ctx.actor.id),
                    provider_id=place.provider_id, tenant_id=place.tenant_id, subtenant_id=sub.uid, target_user=target,
                    reason=reason, minutes=minutes, settings=settings,
                )
                await audit.record(conn, [_entry(
                    ctx, "requested", made, actor=ctx.actor.id, impersonator=None, reason=reason,
                    requireApproval=made.require_approval, requireReauth=made.require_reauth)])
            return _request_type(made)
        except Refused as refused:
            return refused.problem

    @strawberry.mutation(description="Approve someone else's impersonation request.")
    async def impersonation_approve(self, info: strawberry.Info, id: strawberry.ID) -> ImpersonationRequestResult:
        return await _decide(info.context, id, True)

    @strawberry.mutation(description="Deny someone else's impersonation request.")
    async def impersonation_deny(self, info: strawberry.Info, id: strawberry.ID) -> ImpersonationRequestResult:
        return await _decide(info.context, id, False)

    @strawberry.mutation(description="Start an approved impersonation on this browser session (not with API tokens).")
    async def impersonation_start(self, info: strawberry.Info, id: strawberry.ID) -> ImpersonationRequestResult:
        ctx = info.context
        try:
            await _sweep(ctx)
            _person(ctx)
            if ctx.actor.session_id is None:
                raise _forbid(ctx, "SESSION_REQUIRED", "impersonation runs in a browser session; API tokens cannot impersonate")
            async with ctx.services.db.connection() as conn, conn.transaction():
                r = await _load(ctx, conn, id)
                sub = await ctx.loaders.vertex.load(r.subtenant_id)
                if sub is None:
                    raise Refused(not_found(r.subtenant_id, "sub-tenant"))
                await _allowed(ctx, "impersonate", await ctx.access.view(sub))
                if r.require_approval and r.status == "requested":
                    raise _forbid(ctx, "APPROVAL_REQUIRED", "another authorised person must approve this request first")
                if r.status not in ("approved", "requested"):
                    raise Refused(conflict("id", f"the request is {r.status}"))
                await _check_starter(ctx, conn, r)
                settings = await store.get_settings(conn, r.tenant_id)
                started = await store.start(
                    conn, r.id, started_by=ctx.actor.id, session_id=ctx.actor.session_id,
                    user_id=uuid.UUID(ctx.actor.id.removeprefix("user:")), minutes=min(r.minutes, settings.max_minutes),
                )
                if started is None:
                    raise Refused(conflict("id", "the request changed meanwhile; look again"))
                await audit.record(conn, [_entry(
                    ctx, "started", started, actor=started.target_actor, impersonator=ctx.actor.id, priority="warn",
                    expiresAt=started.expires_at.isoformat(), session=str(started.session_id))])
            return _request_type(started)
        except Refused as refused:
            return refused.problem

    @strawberry.mutation(description="End this session's impersonation; the session is its own user's again.")
    async def impersonation_end(self, info: strawberry.Info) -> ImpersonationRequestResult:
        ctx = info.context
        real = ctx.actor.impersonator
        if real is None or ctx.actor.session_id is None:
            return Conflict(code="NOT_IMPERSONATING", message="this session is not impersonating anyone", field="session")
        async with ctx.services.db.connection() as conn, conn.transaction():
            ended = await store.end(conn, ctx.actor.session_id, real.id)
            if ended is None:
                return Conflict(code="NOT_IMPERSONATING", message="no running impersonation on this session", field="session")
            await audit.record(conn, [_entry(ctx, "ended", ended, actor=ctx.actor.id, impersonator=real.id)])
        return _request_type(ended)


async def _check_starter(ctx: Any, conn: Any, r: store.Request) -> None:
    """Only the requester starts: as themselves, or (re-authentication) through a twin account of
    another identity provider, logged in after the approval and not long ago."""
    if not r.require_reauth:
        if ctx.actor.id != r.requester:
            raise _forbid(ctx, "NOT_REQUESTER", "only the requester may start this impersonation")
        return
    facts = await store.session_facts(conn, ctx.actor.session_id)
    since = r.decided_at if r.require_approval else r.created_at
    fresh = (facts is not None and since is not None and facts.opened_at > since
             and facts.age_seconds <= REAUTH_WINDOW.total_seconds())
    other_idp = facts is not None and facts.idp_id is not None and facts.idp_id != r.requester_idp
    if not await store.same_person(conn, r.requester, ctx.actor.id):
        raise _forbid(ctx, "NOT_REQUESTER", "only the requester may start this impersonation")
    if not (fresh and other_idp):
        raise _forbid(ctx, "REAUTH_REQUIRED",
                      "log in again through another identity provider than the request's, then start")


async def _decide(ctx: Any, request_id: Any, approve: bool) -> Any:
    try:
        await _sweep(ctx)
        _person(ctx)
        async with ctx.services.db.connection() as conn, conn.transaction():
            r = await _load(ctx, conn, request_id)
            await _allowed(ctx, "approve", _request_view(ctx, r))
            if await store.same_person(conn, r.requester, ctx.actor.id):
                raise _forbid(ctx, "OWN_REQUEST", "nobody decides their own request, under any account")
            decided = await store.decide(conn, r.id, ctx.actor.id, approve)
            if decided is None:
                raise Refused(conflict("id", f"the request is {r.status}, not awaiting a decision"))
            await audit.record(conn, [_entry(ctx, "approved" if approve else "denied", decided,
                                             actor=ctx.actor.id, impersonator=None)])
        return _request_type(decided)
    except Refused as refused:
        return refused.problem
