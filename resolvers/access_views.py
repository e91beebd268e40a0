"""What the configuration mutations share: policy views of users, groups and bindings, scopes, guards, audit.

Users and groups are placed by their home (provider -> tenant -> sub-tenant), bindings by their
scope; something with no provider at all belongs to the installation (provider id `*`), which
only installation bindings reach. Every change runs in one transaction with its audit entry
(`in_transaction`); a refusal rolls it back and answers with a typed problem, and refusals that
matter for security (privilege escalation, bad proofs) leave their own `denied` entry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar
from uuid import UUID

from psycopg import AsyncConnection

from skyloom.graph import audit, identity
from skyloom.graph.identity_lists import AccessScope
from skyloom.policy.escalation import first_outranked
from skyloom.policy.resources import ConfigObject
from skyloom.policy.scopes import ALL_PROVIDERS
from skyloom.resolvers.mutations.kit import Refused, guard_view
from skyloom.schema.errors import Forbidden, conflict, duplicate, invalid, not_found

T = TypeVar("T")
ALL = ALL_PROVIDERS


class AuditedRefusal(Refused):
    """A refusal whose own audit entry is written after the change's transaction rolled back."""

    def __init__(self, problem: Any, entry: audit.Entry) -> None:
        super().__init__(problem)
        self.entry = entry


def config_view(kind: str, obj_id: str, provider: str | None, tenant: str | None = None,
                subtenant: str | None = None, created_by: str | None = None) -> ConfigObject:
    return ConfigObject(kind, obj_id, provider or ALL, tenant, subtenant, created_by)


def user_view(user: Any) -> ConfigObject:
    return config_view("User", str(user.id), user.home_provider, user.home_tenant, user.home_subtenant)


def group_view(group: Any) -> ConfigObject:
    return config_view("Group", str(group.id), group.home_provider, group.home_tenant, group.home_subtenant)


@dataclass(frozen=True, slots=True)
class Place:
    """A scope named by (kind, id): `place` is its policy view (for `binding_covers`), `label` its name in messages."""

    scope_kind: str
    scope_id: str
    place: Any
    label: str

    def view(self, kind: str, obj_id: str = "new", created_by: str | None = None) -> ConfigObject:
        """The config object of `kind` that would live at this place (a binding, a user homed here, ...)."""
        p = self.place
        return config_view(kind, obj_id, p.provider_id, p.tenant_id, p.subtenant_id, created_by)


_SCOPE_LABELS = {"provider": "Provider", "tenant": "Tenant", "subtenant": "SubTenant", "compartment": "Compartment"}


async def place_of(ctx: Any, scope_kind: str, scope_id: str, field: str = "scopeId") -> Place:
    """The place a scope names, if the caller can see it: NotFound otherwise (an unseen tenant does not exist)."""
    if scope_kind == "installation":
        if scope_id != ALL:
            raise Refused(invalid(field, "the installation scope's id is *"))
        return Place("installation", ALL, config_view("User", ALL, ALL), "the installation")
    label = _SCOPE_LABELS.get(scope_kind)
    try:
        uid = str(UUID(str(scope_id)))
    except ValueError:
        raise Refused(invalid(field, f"{field} is not a valid id")) from None
    vertex = await ctx.loaders.vertex.load(uid)
    if label is None or vertex is None or vertex.label != label or vertex.props.get("deleted"):
        raise Refused(not_found(uid, scope_kind))
    return Place(scope_kind, uid, await ctx.access.view(vertex), f"{scope_kind} {uid}")


async def binding_view(ctx: Any, record: Any) -> ConfigObject | None:
    """A binding's policy view from its scope, without requiring the caller to see the scope's
    vertex (a list must judge bindings at places the caller may not browse); None for a
    compartment binding whose compartment the caller cannot see."""
    hierarchy = await ctx.access.hierarchy()
    kind, sid, rid, by = record.scope_kind, record.scope_id, str(record.id), record.created_by
    if kind == "installation":
        return config_view("RoleBinding", rid, ALL, created_by=by)
    if kind == "provider":
        return config_view("RoleBinding", rid, sid, created_by=by)
    if kind == "tenant":
        return config_view("RoleBinding", rid, hierarchy.tenant_provider.get(sid), sid, created_by=by)
    if kind == "subtenant":
        tenant = hierarchy.subtenant_tenant.get(sid)
        return config_view("RoleBinding", rid, hierarchy.tenant_provider.get(tenant or ""), tenant, sid, created_by=by)
    vertex = await ctx.loaders.vertex.load(sid)
    if vertex is None:
        return None
    p = await ctx.access.view(vertex)
    return config_view("RoleBinding", rid, p.provider_id, p.tenant_id, p.subtenant_id, created_by=by)


async def held_places(ctx: Any, held: Iterable[tuple[str, str, str]]) -> list[tuple[str, Any, str]]:
    """(role, place view, label) for bindings a subject holds, for the escalation check. A place the
    caller cannot see is one it cannot outrank anybody at."""
    out = []
    for role, scope_kind, scope_id in held:
        try:
            place = await place_of(ctx, scope_kind, scope_id)
        except Refused:
            return [(role, config_view("RoleBinding", "unseen", None, "unseen", "unseen"), f"{scope_kind} {scope_id}")]
        out.append((role, place.place, place.label))
    return out


def read_scope(ctx: Any, kind: str) -> AccessScope:
    """The caller's read filter for a configuration kind as SQL-able home / scope sets (a superset:
    rows are matched against the exact filter afterwards)."""
    f = ctx.access.filter("read", kind)
    parts = (f, *f.alternatives)
    if any(p.everything for p in parts):
        return AccessScope(everything=True)
    providers = frozenset(i for p in parts for i in p.provider_ids)
    tenants = frozenset(i for p in parts for i in p.tenant_ids)
    subtenants = frozenset(i for p in parts for i in p.subtenant_ids)
    return AccessScope(providers=providers, tenants=tenants, subtenants=subtenants,
                       compartments=bool(providers or tenants or subtenants))


async def expand(ctx: Any, scope: AccessScope) -> AccessScope:
    """Bindings are stored by scope id only: a provider's reach includes its tenants and their sub-tenants."""
    if scope.everything or ALL in scope.providers or scope.is_nothing:
        return scope
    hierarchy = await ctx.access.hierarchy()
    tenants = set(scope.tenants) | {t for t, p in hierarchy.tenant_provider.items() if p in scope.providers}
    subtenants = set(scope.subtenants) | {s for s, t in hierarchy.subtenant_tenant.items() if t in tenants}
    return replace(scope, tenants=frozenset(tenants), subtenants=frozenset(subtenants))


def readable(ctx: Any, view: ConfigObject | None) -> bool:
    return view is not None and ctx.access.filter("read", view.kind).matches(view)


async def guard_config(ctx: Any, action: str, view: ConfigObject, obj_id: str, what: str) -> None:
    """NotFound when the caller may not even read the object, Forbidden / PROOF_REQUIRED when it may
    read but not `action` it (the same order as `kit.guard` for graph objects)."""
    if not readable(ctx, view):
        ctx.denied = True
        raise Refused(not_found(obj_id, what))
    await guard_view(ctx, action, view)


def entry(ctx: Any, type_: str, *, target: str | None, priority: str = "notice", outcome: str = "success",
          tenant: str | None = None, subtenant: str | None = None, detail: dict[str, Any] | None = None) -> audit.Entry:
    actor = ctx.actor
    return audit.Entry(
        type=type_, actor=actor.id, impersonator=actor.impersonator.id if actor.impersonator else None,
        priority=priority, outcome=outcome, target=target, tenant=tenant, subtenant=subtenant,
        request_id=ctx.request_id, source=ctx.source, detail=detail or {},
    )


def require_outranks(ctx: Any, grants: list[tuple[str, Any, str]], what: str, target: str) -> None:
    """The escalation rule (`policy.escalation`), refusing with an audited FORBIDDEN."""
    refused = first_outranked(ctx.actor, ctx.access.policy, grants)
    if refused is None:
        return
    ctx.denied = True
    problem = Forbidden(code="FORBIDDEN", message=f"you may not {what}: {refused.reason}", needs_proof=False)
    raise AuditedRefusal(problem, entry(
        ctx, "access.escalation_refused", target=target, priority="warn", outcome="denied",
        detail={"attempt": what, "role": refused.role, "place": refused.place, "reason": refused.reason},
    ))


async def in_transaction(ctx: Any, work: Callable[[AsyncConnection], Awaitable[T]]) -> Any:
    """Run `work` in one transaction; its typed refusals and the store's IdentityErrors become problems."""
    try:
        async with ctx.services.db.connection() as conn:
            async with conn.transaction():
                return await work(conn)
    except AuditedRefusal as refusal:
        async with ctx.services.db.connection() as conn, conn.transaction():
            await audit.record(conn, [refusal.entry])
        return refusal.problem
    except Refused as refusal:
        return refusal.problem
    except identity.AlreadyExists as exc:
        return duplicate("id", str(exc))
    except identity.SecretInSettings as exc:
        return invalid("settings", str(exc))
    except identity.UnknownUser as exc:
        return conflict("userId", f"{exc} (a disabled user gets no new credentials)")
    except (identity.InvalidBinding, identity.UnknownIdentityProvider) as exc:
        return invalid("input", str(exc))


def parse_uuid(field: str, value: Any) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise Refused(invalid(field, f"{field} is not a valid id")) from None


def with_fresh_proof(actor: Any) -> Any:
    return replace(actor, proof_until=datetime.now(timezone.utc) + timedelta(minutes=5))
