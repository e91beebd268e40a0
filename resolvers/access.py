"""Access control inside one request: what the caller may see (as graph scopes) and may do.

NetBox's idea, "restrict the queryset": every read narrows to the caller's scopes in the query
itself, so what a caller may not see does not exist for them. The policy answers once per
(action, kind) with a `ScopeFilter`; lists become SQL through `graph.scope`, single objects are
matched against the same filter in Python (`ScopeFilter.matches` is the filter's reference
meaning), and changes ask the policy for a full decision (which also says when a fresh
hardware-key proof would allow it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

from strawberry.dataloader import DataLoader

from skyloom.graph import labels
from skyloom.graph.records import Vertex
from skyloom.graph.scope import Hierarchy, Placement, ScopeReader, SqlPart, SqlScope
from skyloom.policy.actor import Actor
from skyloom.policy.adapter import Decision, Policy
from skyloom.policy.resources import Ci, ConfigObject, PanelObject
from skyloom.policy.scopes import ALL_PROVIDERS, FieldIn, FieldNotEquals, ScopeFilter, TagEquals, TagNotEquals

_TENANCY_FIELDS = ("provider_id", "tenant_id", "subtenant_id", "created_by")


class FilterCache:
    """Read filters shared across requests. A filter is a pure function of the policy, the actor's
    facts, the action, the kind and the time (hour-of-day windows, proof freshness), so requests
    of the same caller within a minute reuse it: the policy engine costs ~1 ms per filter here."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._entries: dict[tuple, ScopeFilter] = {}

    def get(self, policy: Policy, actor: Actor, action: str, kind: str) -> ScopeFilter:
        now = datetime.now(timezone.utc)
        key = (id(policy), actor.id, actor.kind, actor.bindings, tuple(sorted(actor.attributes.items())),
               actor.auth_strength, actor.has_fresh_proof(now), action, kind, int(now.timestamp() // 60))
        found = self._entries.get(key)
        if found is None:
            if len(self._entries) >= self.size:
                self._entries.clear()   # crude but bounded; a full cache is rebuilt at ~1 ms a filter
            found = self._entries[key] = policy.read_filter(actor, action, kind, now=now)
        return found


class Access:
    def __init__(self, policy: Policy, scopes: ScopeReader, actor: Actor, cache: FilterCache | None = None) -> None:
        self.policy = policy
        self.scopes = scopes
        self.actor = actor
        self.cache = cache or FilterCache()
        self._filters: dict[tuple[str, str], ScopeFilter] = {}
        self._hierarchy: asyncio.Future[Hierarchy] | None = None
        # Concurrent resolvers of one request share one lookup of each (a dataloader batches them).
        self._ancestry: DataLoader[str, tuple[str, ...]] = DataLoader(self._load_ancestries)

    # -- the policy's answers, once per request --------------------------------------------------
    def filter(self, action: str, kind: str) -> ScopeFilter:
        key = (action, kind)
        found = self._filters.get(key)
        if found is None:
            found = self._filters[key] = self.cache.get(self.policy, self.actor, action, kind)
        return found

    def unrestricted(self, action: str, kinds: Iterable[str]) -> bool:
        return all(self.filter(action, kind).everything for kind in kinds)

    async def hierarchy(self) -> Hierarchy:
        if self._hierarchy is None:
            self._hierarchy = asyncio.ensure_future(self.scopes.hierarchy())
        try:
            return await asyncio.shield(self._hierarchy)
        except BaseException:
            self._hierarchy = None   # a failed lookup is not remembered
            raise

    async def read_as(self) -> tuple[str, str | None] | None:
        """The tenant database role (and graph) this caller's CI lists are read through, if any.

        A caller whose every grant lies inside their own tenant (at the tenant or its sub-tenants)
        reads through that tenant's role: in its own graph in the graph modes, through row-level
        security in the shared one; the database itself then keeps other tenants' rows out whatever
        the filters say. Anyone else (provider staff, grants in several tenants, compartment grants)
        reads as the API, narrowed by the policy.
        """
        actor = self.actor
        if actor.home_tenant is None or not actor.bindings:
            return None
        hierarchy = await self.hierarchy()
        found = hierarchy.read_roles.get(actor.home_tenant)
        if found is None:
            return None
        for binding in actor.bindings:
            inside = (binding.scope_kind == "tenant" and binding.scope_id == actor.home_tenant) or (
                binding.scope_kind == "subtenant" and hierarchy.subtenant_tenant.get(binding.scope_id) == actor.home_tenant
            )
            if not inside:
                return None
        return found

    async def tenancy_graph(self, tenancy_uid: str) -> str | None:
        """The tenant graph holding every CI of one tenancy (graph isolation modes), if it has one."""
        hierarchy = await self.hierarchy()
        placement = hierarchy.tenancies.get(tenancy_uid)
        found = hierarchy.read_roles.get(placement.tenant) if placement is not None and placement.tenant else None
        return found[1] if found else None

    def forget_hierarchy(self) -> None:
        self._hierarchy = None

    async def _load_ancestries(self, uids: list[str]) -> list[tuple[str, ...]]:
        found = await self.scopes.ancestries(list(uids))
        return [found.get(uid, ()) for uid in uids]

    # -- lists: scopes in SQL ------------------------------------------------------------------
    async def sql_scopes(self, action: str, kinds: Iterable[str]) -> dict[str, SqlScope] | None:
        """Per CI kind, the scope to narrow a search to; None when the caller sees all of them."""
        kinds = list(kinds)
        if self.unrestricted(action, kinds):
            return None
        # Kinds usually share one filter object (the same bindings reach all CI kinds): turn each
        # distinct filter into SQL once.
        made: dict[int, SqlScope] = {}
        scopes = {}
        for kind in kinds:
            f = self.filter(action, kind)
            if id(f) not in made:
                made[id(f)] = await self._sql(f)
            scopes[kind] = made[id(f)]
        return scopes

    async def _sql(self, f: ScopeFilter) -> SqlScope:
        parts = []
        for part in (f, *f.alternatives):
            if part.everything:
                return SqlScope(everything=True)
            parts.append(await self._part(part))
        return SqlScope(tuple(p for p in parts if p.all_tenancies or p.tenancies or p.compartments))

    async def _part(self, part: ScopeFilter) -> SqlPart:
        hierarchy = await self.hierarchy()
        tenancy_level = [p for p in part.predicates if getattr(p, "field", None) in _TENANCY_FIELDS]
        admitted = {
            uid for uid, place in hierarchy.tenancies.items()
            if all(p.matches(_placement_view(place)) for p in tenancy_level)
        }
        in_scope = {uid for uid in admitted if _covers(part, hierarchy.tenancies[uid])}
        compartments = await self.scopes.subtrees(sorted(part.compartment_ids)) if part.compartment_ids else frozenset()
        everyone = len(in_scope) == len(hierarchy.tenancies) > 0
        return SqlPart(
            tenancies=frozenset() if everyone else frozenset(in_scope),
            all_tenancies=everyone,
            compartments=compartments,
            compartment_tenancies=frozenset(admitted) if tenancy_level else None,
            tags_equal=tuple((p.key, p.value) for p in part.predicates if isinstance(p, TagEquals)),
            tags_not_equal=tuple((p.key, p.value) for p in part.predicates if isinstance(p, TagNotEquals)),
            fields_in=tuple((p.field, p.values) for p in part.predicates
                            if isinstance(p, FieldIn) and p.field not in _TENANCY_FIELDS),
            fields_not_equal=tuple((p.field, p.value) for p in part.predicates
                                   if isinstance(p, FieldNotEquals) and p.field not in _TENANCY_FIELDS),
        )

    # -- single objects and short lists: the same filter, matched in Python ----------------------
    async def views(self, vertices: Iterable[Vertex]) -> list[Any]:
        vertices = list(vertices)
        hierarchy = await self.hierarchy()
        ancestry: dict[str, tuple[str, ...]] = {}
        # Compartment paths matter only to compartment grants: fetch them only when one is in play.
        if any(self._compartment_grants(v.label) for v in vertices):
            wanted = {v.props.get("compartmentUid") for v in vertices if v.label in labels.ci_labels()}
            wanted |= {v.uid for v in vertices if v.label == "Compartment"}
            wanted = sorted(u for u in wanted if u)
            ancestry = dict(zip(wanted, await self._ancestry.load_many(wanted))) if wanted else {}
        return [view_of(v, hierarchy, ancestry) for v in vertices]

    def _compartment_grants(self, kind: str) -> bool:
        f = self.filter("read", kind)
        return any(part.compartment_ids for part in (f, *f.alternatives))

    async def visible(self, vertices: Iterable[Vertex], action: str = "read") -> list[Vertex]:
        """The vertices the caller may `action`, in their order."""
        vertices = list(vertices)
        if not vertices or self.unrestricted(action, {v.label for v in vertices}):
            return vertices
        views = await self.views(vertices)
        return [v for v, view in zip(vertices, views) if self.filter(action, v.label).matches(view)]

    async def sees_change(self, change: Any) -> bool:
        """Whether a subscriber may see a change event: the same read scope as any lookup, applied to
        the version the event carries (its state after the change, or before a deletion)."""
        f = self.filter("read", change.label)
        if f.everything:
            return True
        # Subscribers with the same facts share one filter object (FilterCache): decide once per
        # change for all of them, not once per subscriber (a thousand dashboards of one team).
        memo = change.memo.get(("seen", id(f)))
        if memo is not None and memo[0] is f:
            return memo[1]
        props = change.after or change.before or {}
        if change.tenancy_uid and change.tenancy_uid not in (await self.hierarchy()).tenancies:
            self.scopes.invalidate()   # a tenancy newer than what this process has seen: look again
            self.forget_hierarchy()
        vertex = Vertex(0, change.label, {**props, "uid": change.uid})
        seen = bool(await self.visible([vertex]))
        change.memo[("seen", id(f))] = (f, seen)
        return seen

    async def decide(self, action: str, resource: Any) -> Decision:
        return self.policy.decide(self.actor, action, resource)

    async def view(self, vertex: Vertex) -> Any:
        return (await self.views([vertex]))[0]

    async def prospective(self, kind: str, parent: Vertex | None, owner: Vertex | None = None) -> Any:
        """The view of an object a create would make under `parent` (and, for a sub-tenancy, `owner`)."""
        hierarchy = await self.hierarchy()
        new = "new"
        if kind == "Provider":
            return PanelObject(kind, new, new)       # reachable only by an installation-wide binding
        assert parent is not None
        if kind in ("Tenant", "CloudBackend"):
            return PanelObject(kind, new, parent.uid)
        if kind == "SubTenant":
            return PanelObject(kind, new, hierarchy.tenant_provider.get(parent.uid), parent.uid)
        if kind == "Tenancy":
            backend = parent.uid if parent.label == "CloudBackend" else parent.props.get("backendUid")
            place = hierarchy.owner(owner.uid) if owner is not None else Placement(None, None, None)
            return Ci(kind, new, hierarchy.backend_provider.get(backend or ""), place.tenant, place.subtenant,
                      (), {}, parent.props.get("region"), parent.props.get("cloud") or parent.props.get("provider"))
        if kind == "Compartment":
            tenancy = parent.uid if parent.label == "Tenancy" else parent.props.get("tenancyUid")
            place = hierarchy.tenancies.get(tenancy or "", Placement(None, None, None))
            path = (await self._ancestry.load(parent.uid)) if parent.label == "Compartment" else ()
            return Ci(kind, new, place.provider, place.tenant, place.subtenant, path, {},
                      parent.props.get("region"), parent.props.get("provider"))
        raise ValueError(f"no prospective view for {kind}")

    def installation(self) -> PanelObject:
        """Installation-wide settings (audit retention, ...): only installation bindings reach them."""
        return PanelObject("Provider", ALL_PROVIDERS, ALL_PROVIDERS)

    def config(self, kind: str, *, provider: str | None = None, tenant: str | None = None,
               subtenant: str | None = None, created_by: str | None = None) -> ConfigObject:
        return ConfigObject(kind, kind.lower(), provider, tenant, subtenant, created_by)


def _covers(part: ScopeFilter, place: Placement) -> bool:
    return (
        (place.provider is not None and (place.provider in part.provider_ids or ALL_PROVIDERS in part.provider_ids))
        or (place.tenant is not None and place.tenant in part.tenant_ids)
        or (place.subtenant is not None and place.subtenant in part.subtenant_ids)
    )


def _placement_view(place: Placement) -> Any:
    return SimpleNamespace(provider_id=place.provider, tenant_id=place.tenant, subtenant_id=place.subtenant,
                           created_by=None, region=None, cloud=None, tags={})


def view_of(vertex: Vertex, hierarchy: Hierarchy, ancestry: dict[str, tuple[str, ...]]) -> Any:
    """The policy's view of a vertex: where it sits in the panel, and the attributes ABAC reads."""
    props, label = vertex.props, vertex.label
    if label == "Provider":
        return PanelObject(label, vertex.uid, vertex.uid)
    if label == "CloudBackend":
        return PanelObject(label, vertex.uid, props.get("parentUid"))
    if label == "Tenant":
        return PanelObject(label, vertex.uid, props.get("parentUid"), vertex.uid)
    if label == "SubTenant":
        tenant = props.get("parentUid")
        return PanelObject(label, vertex.uid, hierarchy.tenant_provider.get(tenant or ""), tenant, vertex.uid)
    if label == "Stack":
        place = hierarchy.owner(props.get("parentUid"))
        return PanelObject(label, vertex.uid, place.provider, place.tenant, place.subtenant)
    tenancy = vertex.uid if label == "Tenancy" else props.get("tenancyUid")
    place = hierarchy.tenancies.get(tenancy or "", Placement(None, None, None))
    if label == "Compartment":
        path = ancestry.get(vertex.uid, (vertex.uid,))[:-1]
    else:
        path = ancestry.get(props.get("compartmentUid") or "", ())
    tags = props.get("tags") or {}
    return Ci(label, vertex.uid, place.provider, place.tenant, place.subtenant, path,
              {str(k): str(v) for k, v in tags.items()}, props.get("region"), props.get("provider"))
