"""Role bindings through the API: list them by scope, grant (TenantRoleBinding / RoleBinding) and revoke.

Three checks stand before a binding is written, in this order, all inside the transaction that
writes it and its `access.binding_created` audit entry:
1. the scope exists and the caller can see it (NotFound otherwise), and so can the subject;
2. the policy lets the caller create a RoleBinding placed there (Forbidden, or PROOF_REQUIRED for
   provider-level bindings, which carry no tenant);
3. the escalation rule (`policy.escalation`): the caller holds, at a scope covering the target,
   a role of at least the granted role's tier. Step 2 alone would let a tenant admin make
   itself provider operator "of its tenant"; step 3 is what stops that, and it is audited.
Revoking is checked the same way: nobody ends a grant they could not have made.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import strawberry
from psycopg import AsyncConnection

from skyloom.graph import audit, identity_lists
from skyloom.graph.identity_access import create_binding_on, revoke_binding_on
from skyloom.resolvers.access_views import (
    binding_view,
    entry,
    expand,
    group_view,
    guard_config,
    in_transaction,
    parse_uuid,
    place_of,
    read_scope,
    readable,
    require_outranks,
    user_view,
)
from skyloom.resolvers.mutations.kit import Refused, guard_view
from skyloom.schema import cursors
from skyloom.schema.access import ScopeKind
from skyloom.schema.common import PageInfo
from skyloom.schema.errors import not_found
from skyloom.schema.identity_admin import (
    RoleBinding,
    RoleBindingConnection,
    RoleBindingCreateInput,
    RoleBindingEdge,
    RoleBindingFilter,
    RoleBindingResult,
    SubjectKind,
)


def binding_type(record: Any) -> RoleBinding:
    return RoleBinding(
        id=strawberry.ID(str(record.id)), subject_kind=SubjectKind(record.subject_kind),
        subject_id=strawberry.ID(str(record.subject_id)), role=record.role, scope_kind=ScopeKind(record.scope_kind),
        scope_id=record.scope_id, created_by=record.created_by, created_at=record.created_at,
        mapping_id=strawberry.ID(str(record.mapping_id)) if record.mapping_id else None,
    )


def encode(created_at: Any, row_id: UUID) -> str:
    return cursors.encode(int(created_at.timestamp() * 1_000_000), row_id.int)


def decode(after: str | None) -> Any:
    position = cursors.decode(after, arity=2)
    if position is None:
        return None
    return datetime.fromtimestamp(position[0] / 1_000_000, tz=timezone.utc), UUID(int=position[1])


async def fill_page(fetch: Any, keep: Any, first: int, after: Any) -> tuple[list[Any], bool]:
    """A page of rows the caller may see: SQL narrows to its scopes (a superset), `keep` is the exact
    filter; pages emptied by it are skipped, so a caller never learns how much it cannot see."""
    found: list[Any] = []
    while True:
        rows, more = await fetch(first, after)
        for row in rows:
            if await keep(row):
                found.append(row)
        if len(found) >= first or not more or not rows:
            return found[:first], len(found) > first or more
        after = (rows[-1].created_at, rows[-1].id)


async def subject_view(ctx: Any, conn: AsyncConnection, kind: str, subject_id: UUID) -> Any:
    """The subject's policy view if it exists with that kind and the caller may read it; NotFound otherwise."""
    if kind == "group":
        group = await identity_lists.group_on(conn, subject_id)
        view = group_view(group) if group is not None else None
    else:
        user = await identity_lists.user_on(conn, subject_id)
        view = user_view(user) if user is not None and user.kind == kind else None
    if not readable(ctx, view):
        ctx.denied = True
        raise Refused(not_found(str(subject_id), kind))
    return view


async def create(ctx: Any, value: RoleBindingCreateInput) -> Any:
    async def work(conn: AsyncConnection) -> RoleBinding:
        subject_id = parse_uuid("subjectId", value.subject_id)
        place = await place_of(ctx, value.scope_kind.value, value.scope_id)
        await subject_view(ctx, conn, value.subject_kind.value, subject_id)
        await guard_view(ctx, "create", place.view("RoleBinding", created_by=ctx.actor.id))
        target = f"{value.subject_kind.value}:{subject_id}"
        require_outranks(ctx, [(value.role, place.place, place.label)], f"grant {value.role} at {place.label}", target)
        record = await create_binding_on(conn, value.subject_kind.value, subject_id, value.role, place.scope_kind,
                                         place.scope_id, ctx.actor.id)
        await audit.record(conn, [entry(
            ctx, "access.binding_created", target=target, tenant=place.place.tenant_id, subtenant=place.place.subtenant_id,
            priority="warn" if place.place.tenant_id is None else "notice",
            detail={"bindingId": str(record.id), "role": record.role, "scopeKind": record.scope_kind,
                    "scopeId": record.scope_id},
        )])
        return binding_type(record)

    return await in_transaction(ctx, work)


async def revoke(ctx: Any, binding_id: Any) -> Any:
    async def work(conn: AsyncConnection) -> RoleBinding:
        uid = parse_uuid("id", binding_id)
        record = await identity_lists.binding_on(conn, uid, lock=True)
        view = await binding_view(ctx, record) if record is not None else None
        if view is None:
            raise Refused(not_found(str(uid), "role binding"))
        await guard_config(ctx, "delete", view, str(uid), "role binding")
        place = await place_of(ctx, record.scope_kind, record.scope_id)
        target = f"{record.subject_kind}:{record.subject_id}"
        require_outranks(ctx, [(record.role, place.place, place.label)], f"revoke {record.role} at {place.label}", target)
        await revoke_binding_on(conn, uid, ctx.actor.id)
        await audit.record(conn, [entry(
            ctx, "access.binding_revoked", target=target, tenant=place.place.tenant_id, subtenant=place.place.subtenant_id,
            priority="warn", detail={"bindingId": str(uid), "role": record.role, "scopeKind": record.scope_kind,
                                     "scopeId": record.scope_id},
        )])
        return binding_type(record)

    return await in_transaction(ctx, work)


async def page(ctx: Any, f: RoleBindingFilter | None, first: int, after: str | None) -> RoleBindingConnection:
    first = ctx.page_size(first)
    f = f or RoleBindingFilter()
    scope = await expand(ctx, read_scope(ctx, "RoleBinding"))
    subject = cursors.parse_id(f.subject_id, "subjectId") if f.subject_id else None

    async def fetch(n: int, position: Any) -> Any:
        return await identity_lists.page_bindings(
            ctx.services.db, scope, n, position, scope_kind=f.scope_kind.value if f.scope_kind else None,
            scope_id=f.scope_id, subject_id=UUID(subject) if subject else None,
        )

    async def keep(record: Any) -> bool:
        return readable(ctx, await binding_view(ctx, record))

    rows, more = await fill_page(fetch, keep, first, decode(after))
    edges = [RoleBindingEdge(cursor=encode(r.created_at, r.id), node=binding_type(r)) for r in rows]
    return RoleBindingConnection(edges=edges, page_info=PageInfo.of(edges, more))


@strawberry.type
class BindingQuery:
    @strawberry.field(description="Live role bindings the caller may see, oldest first; filter by scope or subject.")
    async def role_bindings(self, info: strawberry.Info, filter: RoleBindingFilter | None = None, first: int = 50,
                            after: str | None = None) -> RoleBindingConnection:
        return await page(info.context, filter, first, after)


@strawberry.type
class BindingMutation:
    @strawberry.mutation(description="Grant a role at a scope: never above your own tier there, never at a scope you "
                                     "do not hold; provider-level grants need a step-up.")
    async def role_binding_create(self, info: strawberry.Info, input: RoleBindingCreateInput) -> RoleBindingResult:
        return await create(info.context, input)

    @strawberry.mutation(description="End a role binding (kept on record with who ended it).")
    async def role_binding_revoke(self, info: strawberry.Info, id: strawberry.ID) -> RoleBindingResult:
        return await revoke(info.context, id)
