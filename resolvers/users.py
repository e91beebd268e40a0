"""Users, service accounts, local groups and API tokens through the API, each scoped to the caller's tenancy.

A user or group belongs where its home is (provider -> tenant -> sub-tenant); a tenant admin
manages those of its tenant and sub-tenants, a sub-tenant admin those of its sub-tenant. Three
changes hand out roles without creating a binding, so they pass the escalation rule against
every role the subject holds: adding a member to a group (the member gets the group's roles),
minting a token for a service account (the holder acts with its roles), and re-enabling a user;
disabling a user and removing a member are held to the same rule, so nobody locks out somebody
who outranks them. A token for another person is never made: that would be impersonation
without its workflow; a person makes their own.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import strawberry
from psycopg import AsyncConnection

from skyloom.graph import audit, identity_lists
from skyloom.graph.identity_provision import (
    add_member_on,
    create_local_group_on,
    create_service_account_on,
    remove_member_on,
    set_user_disabled_on,
)
from skyloom.graph.identity_sessions import create_api_token_on, list_api_tokens, revoke_api_token_on
from skyloom.resolvers.access_views import (
    entry,
    group_view,
    guard_config,
    held_places,
    in_transaction,
    parse_uuid,
    place_of,
    read_scope,
    readable,
    require_outranks,
    user_view,
)
from skyloom.resolvers.bindings import decode, encode, fill_page, subject_view
from skyloom.resolvers.mutations.kit import Refused, guard_view
from skyloom.schema.common import PageInfo
from skyloom.schema.errors import PublicError, invalid, not_found
from skyloom.schema.identity_admin import (
    ApiToken,
    ApiTokenCreated,
    ApiTokenCreateResult,
    ApiTokenResult,
    Group,
    GroupConnection,
    GroupEdge,
    GroupMember,
    GroupMembership,
    GroupMembershipResult,
    GroupResult,
    HomeInput,
    User,
    UserConnection,
    UserEdge,
    UserFilter,
    UserGroup,
    UserKind,
    UserResult,
)

MAX_TOKEN_DAYS = 366


def user_type(u: Any) -> User:
    return User(
        id=strawberry.ID(str(u.id)), kind=UserKind(u.kind), display_name=u.display_name, email=u.email, idp_id=u.idp_id,
        subject=u.subject, home_provider_id=u.home_provider, home_tenant_id=u.home_tenant,
        home_sub_tenant_id=u.home_subtenant, created_at=u.created_at, last_login_at=u.last_login_at,
        disabled=u.disabled_at is not None, disabled_at=u.disabled_at,
    )


def group_type(g: Any) -> Group:
    return Group(id=strawberry.ID(str(g.id)), name=g.name, idp_id=g.idp_id, home_provider_id=g.home_provider,
                 home_tenant_id=g.home_tenant, home_sub_tenant_id=g.home_subtenant, created_at=g.created_at,
                 member_count=g.members)


def token_type(t: Any) -> ApiToken:
    return ApiToken(id=strawberry.ID(str(t.id)), name=t.name, user_id=strawberry.ID(str(t.user_id)), created_by=t.created_by,
                    created_at=t.created_at, expires_at=t.expires_at, last_used_at=t.last_used_at, revoked_at=t.revoked_at)


def _name(field: str, name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 200 or any(ord(c) < 0x20 for c in name):
        raise Refused(invalid(field, f"{field} must be 1 to 200 printable characters"))
    return name


def own_user_id(ctx: Any) -> UUID | None:
    """The caller's own user id, when it acts as itself (not impersonated, not the system)."""
    actor = ctx.actor
    kind, _, raw = actor.id.partition(":")
    if actor.impersonator is not None or kind not in ("user", "service"):
        return None
    try:
        return UUID(raw)
    except ValueError:
        return None


async def outranks_subject(ctx: Any, conn: AsyncConnection, kind: str, subject_id: UUID, what: str) -> None:
    held = await identity_lists.held_bindings(conn, kind, subject_id)
    require_outranks(ctx, await held_places(ctx, held), what, f"{kind}:{subject_id}")


async def _home(ctx: Any, home: HomeInput, kind: str) -> Any:
    place = await place_of(ctx, home.scope_kind.value, home.scope_id)
    if place.scope_kind == "compartment":
        raise Refused(invalid("scopeKind", "a home is a provider, tenant or sub-tenant"))
    await guard_view(ctx, "create", place.view(kind, created_by=ctx.actor.id))
    return place.place


async def service_account_create(ctx: Any, name: str, home: HomeInput) -> Any:
    async def work(conn: AsyncConnection) -> User:
        place = await _home(ctx, home, "User")
        account = await create_service_account_on(
            conn, _name("name", name), ctx.actor.id, home_provider=None if place.provider_id == "*" else place.provider_id,
            home_tenant=place.tenant_id, home_subtenant=place.subtenant_id,
        )
        await audit.record(conn, [entry(ctx, "access.service_account_created", target=f"service:{account.id}",
                                        tenant=place.tenant_id, subtenant=place.subtenant_id, detail={"name": account.display_name})])
        return user_type(account)

    return await in_transaction(ctx, work)


async def group_create(ctx: Any, name: str, home: HomeInput) -> Any:
    async def work(conn: AsyncConnection) -> Group:
        place = await _home(ctx, home, "Group")
        group_id = await create_local_group_on(
            conn, _name("name", name), ctx.actor.id, home_provider=None if place.provider_id == "*" else place.provider_id,
            home_tenant=place.tenant_id, home_subtenant=place.subtenant_id,
        )
        await audit.record(conn, [entry(ctx, "access.group_created", target=f"group:{group_id}", tenant=place.tenant_id,
                                        subtenant=place.subtenant_id, detail={"name": name.strip()})])
        return group_type(await identity_lists.group_on(conn, group_id))

    return await in_transaction(ctx, work)


async def membership(ctx: Any, group_id: Any, user_id: Any, add: bool) -> Any:
    async def work(conn: AsyncConnection) -> GroupMembership:
        gid, uid = parse_uuid("groupId", group_id), parse_uuid("userId", user_id)
        group = await identity_lists.group_on(conn, gid)
        if group is None:
            raise Refused(not_found(str(gid), "group"))
        view = group_view(group)
        await guard_config(ctx, "update", view, str(gid), "group")
        user = await identity_lists.user_on(conn, uid)
        await subject_view(ctx, conn, user.kind if user else "user", uid)
        verb = "add a member to" if add else "remove a member from"
        await outranks_subject(ctx, conn, "group", gid, f"{verb} group {group.name}")
        changed = await (add_member_on if add else remove_member_on)(conn, gid, uid, ctx.actor.id)
        if changed:
            await audit.record(conn, [entry(
                ctx, "access.member_added" if add else "access.member_removed", target=f"group:{gid}",
                tenant=group.home_tenant, subtenant=group.home_subtenant, priority="notice" if add else "warn",
                detail={"userId": str(uid), "group": group.name},
            )])
        elif not add:
            raise Refused(not_found(str(uid), "manual membership"))
        return GroupMembership(group_id=strawberry.ID(str(gid)), user_id=strawberry.ID(str(uid)), member=add)

    return await in_transaction(ctx, work)


async def set_disabled(ctx: Any, user_id: Any, disabled: bool) -> Any:
    async def work(conn: AsyncConnection) -> User:
        uid = parse_uuid("id", user_id)
        user = await identity_lists.user_on(conn, uid, lock=True)
        if user is None:
            raise Refused(not_found(str(uid), "user"))
        await guard_config(ctx, "update", user_view(user), str(uid), "user")
        await outranks_subject(ctx, conn, user.kind, uid, "disable or enable someone who outranks you")
        await set_user_disabled_on(conn, uid, disabled)
        await audit.record(conn, [entry(
            ctx, "access.user_disabled" if disabled else "access.user_enabled", target=f"{user.kind}:{uid}",
            tenant=user.home_tenant, subtenant=user.home_subtenant, priority="warn" if disabled else "notice",
            detail={"name": user.display_name},
        )])
        return user_type(await identity_lists.user_on(conn, uid))

    return await in_transaction(ctx, work)


async def _token_subject(ctx: Any, conn: AsyncConnection, uid: UUID, what: str) -> Any:
    """The user a token is (or would be) for: the caller itself, or a service account the caller manages
    and outranks."""
    user = await identity_lists.user_on(conn, uid, lock=True)
    if user is None:
        raise Refused(not_found(str(uid), "user"))
    if uid == own_user_id(ctx):
        return user
    await guard_config(ctx, "update", user_view(user), str(uid), "user")
    if user.kind != "service":
        ctx.denied = True
        raise Refused(invalid("userId", "tokens are made by their own person, or for a service account"))
    await outranks_subject(ctx, conn, "service", uid, what)
    return user


async def token_create(ctx: Any, user_id: Any, name: str, expires_in_days: int | None) -> Any:
    async def work(conn: AsyncConnection) -> ApiTokenCreated:
        if ctx.actor.impersonator is not None:
            ctx.denied = True
            raise Refused(invalid("userId", "end the impersonation to make tokens"))
        if expires_in_days is not None and not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
            raise Refused(invalid("expiresInDays", f"expiresInDays must be between 1 and {MAX_TOKEN_DAYS}"))
        uid = parse_uuid("userId", user_id)
        user = await _token_subject(ctx, conn, uid, "make a token for an account that outranks you")
        token, info = await create_api_token_on(
            conn, uid, _name("name", name), ctx.actor.id,
            expires_in=timedelta(days=expires_in_days) if expires_in_days else None,
        )
        await audit.record(conn, [entry(
            ctx, "access.token_created", target=f"{user.kind}:{uid}", tenant=user.home_tenant, subtenant=user.home_subtenant,
            detail={"tokenId": str(info.id), "name": info.name,
                    "expiresAt": info.expires_at.isoformat() if info.expires_at else None},
        )])
        return ApiTokenCreated(token=token, api_token=token_type(info))

    return await in_transaction(ctx, work)


async def token_revoke(ctx: Any, token_id: Any) -> Any:
    async def work(conn: AsyncConnection) -> ApiToken:
        tid = parse_uuid("id", token_id)
        found = await identity_lists.token_on(conn, tid)
        if found is None or found.revoked_at is not None:
            raise Refused(not_found(str(tid), "API token"))
        owner = found.user_id
        user = await _token_subject(ctx, conn, owner, "revoke a token of an account that outranks you")
        await revoke_api_token_on(conn, tid)
        await audit.record(conn, [entry(ctx, "access.token_revoked", target=f"{user.kind}:{owner}", priority="warn",
                                        tenant=user.home_tenant, subtenant=user.home_subtenant, detail={"tokenId": str(tid)})])
        return token_type(await identity_lists.token_on(conn, tid))

    return await in_transaction(ctx, work)


@strawberry.type
class UserQuery:
    @strawberry.field(description="Users and service accounts the caller may see, oldest first.")
    async def users(self, info: strawberry.Info, filter: UserFilter | None = None, first: int = 50,
                    after: str | None = None) -> UserConnection:
        ctx, f = info.context, filter or UserFilter()
        first = ctx.page_size(first)
        if f.text is not None and len(f.text) > 200:
            raise PublicError("text filter is at most 200 characters", "INVALID_FILTER")
        scope = read_scope(ctx, "User")

        async def fetch(n: int, position: Any) -> Any:
            return await identity_lists.page_users(
                ctx.services.db, scope, n, position, text=f.text, kind=f.kind.value if f.kind else None,
                tenant=f.tenant_id, subtenant=f.sub_tenant_id, include_disabled=f.include_disabled,
            )

        async def keep(u: Any) -> bool:
            return readable(ctx, user_view(u))

        rows, more = await fill_page(fetch, keep, first, decode(after))
        edges = [UserEdge(cursor=encode(u.created_at, u.id), node=user_type(u)) for u in rows]
        return UserConnection(edges=edges, page_info=PageInfo.of(edges, more))

    @strawberry.field(description="Groups the caller may see, oldest first.")
    async def groups(self, info: strawberry.Info, tenant_id: str | None = None, first: int = 50,
                     after: str | None = None) -> GroupConnection:
        ctx = info.context
        first = ctx.page_size(first)
        scope = read_scope(ctx, "Group")

        async def fetch(n: int, position: Any) -> Any:
            return await identity_lists.page_groups(ctx.services.db, scope, n, position, tenant=tenant_id)

        async def keep(g: Any) -> bool:
            return readable(ctx, group_view(g))

        rows, more = await fill_page(fetch, keep, first, decode(after))
        edges = [GroupEdge(cursor=encode(g.created_at, g.id), node=group_type(g)) for g in rows]
        return GroupConnection(edges=edges, page_info=PageInfo.of(edges, more))

    @strawberry.field(description="A group's members that the caller may see; empty for a group it may not see.")
    async def group_members(self, info: strawberry.Info, group_id: strawberry.ID) -> list[GroupMember]:
        ctx = info.context
        gid = parse_uuid_or_none(group_id)
        async with ctx.services.db.connection() as conn:
            group = await identity_lists.group_on(conn, gid) if gid else None
        if group is None or not readable(ctx, group_view(group)):
            return []
        return [GroupMember(user=user_type(u), source=source)
                for u, source in await identity_lists.group_members(ctx.services.db, gid) if readable(ctx, user_view(u))]

    @strawberry.field(description="The groups a user is a member of, as far as the caller may see both.")
    async def user_groups(self, info: strawberry.Info, user_id: strawberry.ID) -> list[UserGroup]:
        ctx = info.context
        uid = parse_uuid_or_none(user_id)
        async with ctx.services.db.connection() as conn:
            user = await identity_lists.user_on(conn, uid) if uid else None
        if user is None or not readable(ctx, user_view(user)):
            return []
        return [UserGroup(group=group_type(g), source=source)
                for g, source in await identity_lists.user_groups(ctx.services.db, uid) if readable(ctx, group_view(g))]

    @strawberry.field(description="API tokens of a user (the caller's own by default), without their secrets.")
    async def api_tokens(self, info: strawberry.Info, user_id: strawberry.ID | None = None,
                         include_revoked: bool = False) -> list[ApiToken]:
        ctx = info.context
        uid = parse_uuid_or_none(user_id) if user_id is not None else own_user_id(ctx)
        if uid is None:
            return []
        if uid != own_user_id(ctx):
            async with ctx.services.db.connection() as conn:
                user = await identity_lists.user_on(conn, uid)
            if user is None or not readable(ctx, user_view(user)):
                return []
        return [token_type(t) for t in await list_api_tokens(ctx.services.db, uid, include_revoked=include_revoked)]


def parse_uuid_or_none(value: Any) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None


@strawberry.type
class UserMutation:
    @strawberry.mutation(description="A service account homed at a provider, tenant or sub-tenant (tokens only, no login).")
    async def service_account_create(self, info: strawberry.Info, name: str, home: HomeInput) -> UserResult:
        return await service_account_create(info.context, name, home)

    @strawberry.mutation(description="A local group homed at a provider, tenant or sub-tenant.")
    async def group_create(self, info: strawberry.Info, name: str, home: HomeInput) -> GroupResult:
        return await group_create(info.context, name, home)

    @strawberry.mutation(description="Add a user to a group: they get the group's roles, so you must outrank each of them.")
    async def group_member_add(self, info: strawberry.Info, group_id: strawberry.ID, user_id: strawberry.ID) -> GroupMembershipResult:
        return await membership(info.context, group_id, user_id, True)

    @strawberry.mutation(description="End a manual membership (IdP memberships follow the logins).")
    async def group_member_remove(self, info: strawberry.Info, group_id: strawberry.ID,
                                  user_id: strawberry.ID) -> GroupMembershipResult:
        return await membership(info.context, group_id, user_id, False)

    @strawberry.mutation(description="Disable a user or service account: every session and token stops at once.")
    async def user_disable(self, info: strawberry.Info, id: strawberry.ID) -> UserResult:
        return await set_disabled(info.context, id, True)

    @strawberry.mutation
    async def user_enable(self, info: strawberry.Info, id: strawberry.ID) -> UserResult:
        return await set_disabled(info.context, id, False)

    @strawberry.mutation(description="A bearer token for yourself or for a service account you manage; the answer is "
                                     "the only time the token is shown.")
    async def api_token_create(self, info: strawberry.Info, user_id: strawberry.ID, name: str,
                               expires_in_days: int | None = None) -> ApiTokenCreateResult:
        return await token_create(info.context, user_id, name, expires_in_days)

    @strawberry.mutation(description="Revoke a token: it is refused (401) from the next request on.")
    async def api_token_revoke(self, info: strawberry.Info, id: strawberry.ID) -> ApiTokenResult:
        return await token_revoke(info.context, id)
