"""The per-request context: the caller, the dataloaders, and the work behind the schema's nested fields.

Long-lived services (database, change feed, limits) are made once in the app's lifespan and
passed in as `Services`; a `Context` with fresh dataloaders is built for every request, so a
cache never outlives the request that filled it.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Callable
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from strawberry.dataloader import DataLoader

from skyloom.graph import labels
from skyloom.graph.audit import GroupWriter
from skyloom.graph.scope import ScopeReader
from skyloom.graph.store import GraphWriter, writing
from skyloom.policy.actor import ANONYMOUS, Actor
from skyloom.policy.admission import Admission
from skyloom.policy.holder import PolicyHolder
from skyloom.resolvers.access import Access, FilterCache
from skyloom.graph.changefeed import ChangeFeed
from skyloom.graph.pool import Database
from skyloom.graph.reads import MAX_IMPACT_NODES, CiQuery, GraphReader, Page
from skyloom.graph.records import Change, Vertex
from skyloom.schema import cursors
from skyloom.schema.cmdb import (
    CiConnection,
    CiEdge,
    CiVersion,
    CiVersionConnection,
    CiVersionEdge,
    Compartment,
    CompartmentTreeEntry,
    ImpactConnection,
    ImpactEdge,
    Relationship,
    ci_from_props,
)
from skyloom.schema.common import PageInfo
from skyloom.schema.enums import ChangeOperation, Direction, RelationType
from skyloom.schema.errors import PublicError
from skyloom.schema.panel import CloudBackend, Node, Provider, Stack, SubTenant, Tenant
from skyloom.settings import Limits, Settings


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_of(request: Any) -> str:
    """The caller's (or its proxy's) X-Request-ID when it is sane, else a fresh one."""
    given = request.headers.get("x-request-id") if request is not None else None
    return given if given and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def source_of(request: Any) -> str | None:
    client = getattr(request, "client", None)
    return client.host if client else None


@dataclass
class Services:
    """What the app's lifespan makes once and every request shares."""

    db: Database
    reader: GraphReader
    feed: ChangeFeed | None
    limits: Limits
    policy: PolicyHolder
    scopes: ScopeReader
    audit: GroupWriter | None = None
    settings: Settings | None = None   # the process's settings (--debug, the public URL for WebAuthn)
    filters: FilterCache = field(default_factory=FilterCache)
    admission: Admission = field(default_factory=Admission.load)
    runner: Any = None                 # skyloom.planner_runs.DesignRunner: design previews and applies


_PANEL_TYPES = {"Provider": Provider, "CloudBackend": CloudBackend, "Tenant": Tenant, "SubTenant": SubTenant, "Stack": Stack}


def to_node(vertex: Vertex) -> Node:
    panel_type = _PANEL_TYPES.get(vertex.label)
    if panel_type is not None:
        return panel_type.from_props(vertex.props)
    return ci_from_props(vertex.label, vertex.props)


class Loaders:
    """Dataloaders of one request: every nested field of a page costs one query, not one per item.

    Every vertex they hand out has passed the caller's read scope (`Access.visible`): a nested
    field can never reach what a top-level lookup would not show."""

    def __init__(self, reader: GraphReader, access: Callable[[], Access]) -> None:
        self.reader = reader
        self.access = access
        self.vertex: DataLoader[str, Vertex | None] = DataLoader(self._load_vertices)
        self.owned: DataLoader[str, list[Vertex]] = DataLoader(self._load_owned)
        self.neighbours: DataLoader[tuple, list[tuple[str, bool, Vertex]]] = DataLoader(self._load_neighbours)
        self.history: DataLoader[tuple, tuple[list[Change], bool]] = DataLoader(self._load_history)
        self._children: dict[str, DataLoader[str, list[Vertex]]] = {}

    def children(self, label: str) -> DataLoader[str, list[Vertex]]:
        loader = self._children.get(label)
        if loader is None:
            labels.check_label(label)

            async def load(parent_uids: list[str]) -> list[list[Vertex]]:
                grouped = await self.reader.children(label, list(parent_uids))
                seen = await self._visible([v for uid in parent_uids for v in grouped.get(uid, [])])
                return [[v for v in grouped.get(uid, []) if id(v) in seen] for uid in parent_uids]

            loader = self._children[label] = DataLoader(load)
        return loader

    async def _visible(self, vertices: list[Vertex]) -> set[int]:
        return {id(v) for v in await self.access().visible(vertices)}

    async def _load_vertices(self, uids: list[str]) -> list[Vertex | None]:
        found = await self.reader.by_uids(list(uids))
        seen = await self._visible(list(found.values()))
        return [v if (v := found.get(uid)) is not None and id(v) in seen else None for uid in uids]

    async def _load_owned(self, owner_uids: list[str]) -> list[list[Vertex]]:
        owners = await self.vertex.load_many(owner_uids)
        ids = [o.id for o in owners if o is not None]
        found = await self.reader.neighbours(ids, (labels.OWNS,), outgoing=True, incoming=False, per_node=1000)
        seen = await self._visible([v for o in owners if o for _, _, v in found.get(o.id, [])])
        # What an owner OWNS: its tenancies and its Pulumi stacks (callers pick by label).
        return [[v for _, _, v in found.get(o.id, []) if id(v) in seen] if o else [] for o in owners]

    async def _load_neighbours(self, keys: list[tuple]) -> list[list[tuple[str, bool, Vertex]]]:
        """Keys are (uid, relations, outgoing, incoming, first)."""

        async def load(args: tuple, uids: list[str]) -> dict[str, list]:
            relations, outgoing, incoming, first = args
            vertices = [v for v in await self.vertex.load_many(uids) if v is not None]
            found = await self.reader.neighbours([v.id for v in vertices], relations, outgoing, incoming, first)
            seen = await self._visible([o for v in vertices for _, _, o in found.get(v.id, [])])
            return {v.uid: [n for n in found.get(v.id, []) if id(n[2]) in seen] for v in vertices}

        return await _per_argument_set(keys, load, [])

    async def _load_history(self, keys: list[tuple]) -> list[tuple[list[Change], bool]]:
        """Keys are (uid, first, after_version)."""

        async def load(args: tuple, uids: list[str]) -> dict[str, tuple[list[Change], bool]]:
            return await self.reader.histories(uids, *args)

        return await _per_argument_set(keys, load, ([], False))


async def _per_argument_set(keys: list[tuple], load: Any, missing: Any) -> list[Any]:
    """Batch keys (uid, *arguments): one `load(arguments, uids)` per distinct set of arguments."""
    groups: dict[tuple, list[str]] = defaultdict(list)
    for uid, *args in keys:
        groups[tuple(args)].append(uid)
    answers: dict[tuple, Any] = {}
    for args, uids in groups.items():
        found = await load(args, uids)
        for uid in uids:
            answers[(uid, *args)] = found.get(uid, missing)
    return [answers[key] for key in keys]


class Context:
    def __init__(self, services: Services, request: Any = None, response: Any = None) -> None:
        self.services = services
        self.request = request
        self.response = response
        self.reader = services.reader
        self.limits = services.limits
        self.loaders = Loaders(services.reader, lambda: self.access)
        # HTTP requests were authenticated before GraphQL (`skyloom.authn`); a websocket's actor is
        # set when its connection_init arrives (`on_ws_connect`), before any operation runs.
        state = getattr(request, "scope", {}).get("state", {}) if request is not None else {}
        self.actor: Actor = state.get("actor", ANONYMOUS)
        self.connection_params: dict[str, Any] | None = None
        self._access: Access | None = None
        self.problems: list[str] = []  # codes of typed problems this request answered with
        self.denied = False  # the policy refused something this request asked for
        self.request_id = request_id_of(request)
        self.source = source_of(request)
        if response is not None and state is not None and getattr(request, "scope", {}).get("type") == "http":
            response.headers["X-Request-ID"] = self.request_id  # a websocket's "response" is the socket

    @property
    def access(self) -> Access:
        if self._access is None or self._access.actor is not self.actor:
            self._access = Access(self.services.policy.current, self.services.scopes, self.actor, self.services.filters)
        return self._access

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[GraphWriter]:
        """A write transaction whose changes are audited as this request's (and its impersonator's).
        The panel's shape may have changed: this process forgets it at once (no stale scopes for
        the caller's next request)."""
        cause: dict[str, Any] = {"source": "api"}
        if self.actor.impersonator is not None:
            cause["impersonator"] = self.actor.impersonator.id
        try:
            async with writing(self.services.db, self.actor.id, cause=cause, request_id=self.request_id) as w:
                yield w
        finally:
            self.services.scopes.invalidate()

    to_node = staticmethod(to_node)

    def page_size(self, first: int) -> int:
        if first < 1 or first > self.limits.max_page_size:
            raise PublicError(f"first must be between 1 and {self.limits.max_page_size}", "PAGE_SIZE")
        return first

    def ci_connection(self, items: list[Vertex], has_next: bool, count: Any) -> CiConnection:
        edges = [CiEdge(cursor=cursors.encode(v.id), node=ci_from_props(v.label, v.props)) for v in items]
        return CiConnection(
            edges=edges,
            page_info=PageInfo.of(edges, has_next),
            count=count,
        )

    async def search(self, query: CiQuery, first: int, after: str | None) -> CiConnection:
        first = self.page_size(first)
        position = cursors.decode(after)
        tenant_role, tenant_graph = await self.access.read_as() or (None, None)
        if tenant_graph is None and query.tenancy_uid is not None:
            # One tenancy's CIs all live in its tenant's graph (graph isolation modes): read that
            # graph alone instead of every tenant's copy of each label table.
            tenant_graph = await self.access.tenancy_graph(query.tenancy_uid)
        query = replace(
            query,
            scopes=await self.access.sql_scopes("read", query.kinds or labels.ci_labels()),
            tenant_role=tenant_role,
            tenant_graph=tenant_graph,
        )
        page = await self.reader.search(query, first, position[0] if position else None)
        return self.ci_connection(page.items, page.has_next, lambda: self.reader.count(query))

    async def visible_page(self, label: str, first: int, after: int | None) -> Page:
        """A page of one panel label with only what the caller may see, filled up past hidden rows."""
        found: list[Vertex] = []
        while True:
            page = await self.reader.list_label(label, first, after)
            found += await self.access.visible(page.items)
            if len(found) >= first or not page.has_next:
                return Page(found[:first], len(found) > first or page.has_next)
            after = page.items[-1].id

    async def descendants(self, uid: str, first: int, after: str | None) -> CiConnection:
        subtree = await self.reader.compartment_subtree(uid)
        top = await self.reader.by_uid(uid, "Compartment")
        tenancy = top.props.get("tenancyUid") if top is not None else None
        return await self.search(CiQuery(compartment_uids=subtree, tenancy_uid=tenancy), first, after)

    async def compartment_tree(self, tenancy_uid: str) -> list[CompartmentTreeEntry]:
        rows = await self.reader.compartment_tree(tenancy_uid)
        seen = {id(v) for v in await self.access.visible([v for v, _ in rows])}
        rows = [(v, depth) for v, depth in rows if id(v) in seen]
        return [
            CompartmentTreeEntry(depth=depth, parent_id=v.props.get("parentUid"), compartment=Compartment.from_props(v.props))
            for v, depth in rows
        ]

    async def neighbours(
        self, uid: str, types: list[RelationType] | None, direction: Direction, first: int
    ) -> list[Relationship]:
        first = self.page_size(first)
        relations = tuple(sorted(t.value for t in types)) if types else labels.EDGE_LABELS
        key = (uid, relations, direction != Direction.INCOMING, direction != Direction.OUTGOING, first)
        found = await self.loaders.neighbours.load(key)
        return [
            Relationship(
                type=RelationType(rel),
                direction=Direction.OUTGOING if out else Direction.INCOMING,
                node=to_node(vertex),
            )
            for rel, out, vertex in found
        ]

    async def impact(self, uid: str, depth: int, first: int, after: str | None) -> ImpactConnection:
        first = self.page_size(first)
        if depth < 1 or depth > self.limits.max_impact_depth:
            raise PublicError(f"depth must be between 1 and {self.limits.max_impact_depth}", "DEPTH")
        position = cursors.decode(after, arity=2)
        if self.access.unrestricted("read", labels.ci_labels()):
            page, total, has_next = await self.reader.impact(uid, depth, first, position)
        else:
            # The whole (bounded) impact set, narrowed to what the caller may see, then paged here:
            # neither the page nor the total may count what is hidden.
            everything, _, _ = await self.reader.impact(uid, depth, MAX_IMPACT_NODES, None)
            seen = {id(v) for v in await self.access.visible([v for _, v in everything])}
            visible = [(d, v) for d, v in everything if id(v) in seen]
            after_key = position or (-1, 0)
            rest = [(d, v) for d, v in visible if (d, v.id) > tuple(after_key)]
            page, total, has_next = rest[:first], len(visible), len(rest) > first
        edges = [
            ImpactEdge(cursor=cursors.encode(d, v.id), depth=d, node=ci_from_props(v.label, v.props)) for d, v in page
        ]
        return ImpactConnection(
            edges=edges,
            page_info=PageInfo.of(edges, has_next),
            total_count=total,
        )

    async def history(self, uid: str, first: int, after: str | None) -> CiVersionConnection:
        first = self.page_size(first)
        position = cursors.decode(after)
        changes, has_next = await self.loaders.history.load((uid, first, position[0] if position else None))
        edges = [
            CiVersionEdge(
                cursor=cursors.encode(c.version),
                node=CiVersion(
                    event_id=str(c.event_id),
                    version=c.version,
                    at=c.at,
                    operation=ChangeOperation(c.operation),
                    actor=c.actor,
                    before=c.before,
                    after=c.after,
                    changed_fields=changed_fields(c.before, c.after),
                ),
            )
            for c in changes
        ]
        return CiVersionConnection(
            edges=edges, page_info=PageInfo.of(edges, has_next)
        )


_BOOKKEEPING = frozenset({"version", "updatedAt"})


def changed_fields(before: dict | None, after: dict | None) -> list[str]:
    before, after = before or {}, after or {}
    keys = (set(before) | set(after)) - _BOOKKEEPING
    return sorted(k for k in keys if before.get(k) != after.get(k))
