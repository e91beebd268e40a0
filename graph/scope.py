"""Where things sit in the panel hierarchy, and list narrowing in SQL: the graph side of access control.

The policy (`skyloom.policy`) says in plain data which scopes a caller may see; this module knows
how the graph stores them. A CI's provider, tenant and sub-tenant follow from its tenancy (the
tenancy's backend belongs to a provider, its owner is a tenant or a sub-tenant), so a scope becomes
a set of tenancy uids plus, for compartment grants, compartment subtrees: both small next to the
number of CIs, and both matched by the expression indexes every CI label carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from time import monotonic
from typing import Any

from skyloom.graph.pool import Database
from skyloom.graph.records import table

_LIVE = "(properties ->> 'deleted'::text) = 'false'"


@dataclass(frozen=True, slots=True)
class Placement:
    """A tenancy's place in the panel: whose provider, tenant and sub-tenant it is."""

    provider: str | None
    tenant: str | None
    subtenant: str | None


@dataclass
class Hierarchy:
    tenancies: dict[str, Placement] = field(default_factory=dict)
    tenant_provider: dict[str, str | None] = field(default_factory=dict)
    subtenant_tenant: dict[str, str | None] = field(default_factory=dict)
    backend_provider: dict[str, str | None] = field(default_factory=dict)
    # Tenant -> (its database role, its own graph or None): what a tenant-bound caller's lists read
    # through; only tenants whose role can read them (row-level security or a graph of their own).
    read_roles: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    def owner(self, uid: str | None) -> Placement:
        """The placement of whatever `uid` names: a provider, tenant or sub-tenant (a stack's owner)."""
        if uid in self.subtenant_tenant:
            tenant = self.subtenant_tenant[uid]
            return Placement(self.tenant_provider.get(tenant or ""), tenant, uid)
        if uid in self.tenant_provider:
            return Placement(self.tenant_provider[uid], uid, None)
        return Placement(uid, None, None)   # a provider (or nothing known)


@dataclass(frozen=True, slots=True)
class SqlPart:
    """One alternative of a scope, in graph terms. `tenancies`: CIs of these tenancies; `compartments`:
    CIs in these compartments (whole subtrees, already expanded) provided their tenancy is in
    `compartment_tenancies`; then every tag / field test must hold."""

    tenancies: frozenset[str] = frozenset()
    all_tenancies: bool = False    # every tenancy there is: test only that the CI has one
    compartments: frozenset[str] = frozenset()
    compartment_tenancies: frozenset[str] | None = None   # None: any tenancy
    tags_equal: tuple[tuple[str, str], ...] = ()
    tags_not_equal: tuple[tuple[str, str], ...] = ()
    fields_in: tuple[tuple[str, frozenset[str]], ...] = ()       # ('region' | 'provider', values)
    fields_not_equal: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class SqlScope:
    """What a caller may see of the CIs: everything, or the union of its parts (no parts: nothing)."""

    parts: tuple[SqlPart, ...] = field(default_factory=tuple)
    everything: bool = False

    @property
    def is_nothing(self) -> bool:
        return not self.everything and not self.parts


_FIELD_COLUMNS = {"region": "region", "cloud": "provider"}


def scope_sql(scope: SqlScope, label: str, params: list[Any]) -> str:
    """A WHERE clause over one CI label's rows (`properties`), appending its values to `params`."""
    if scope.everything:
        return "TRUE"
    if scope.is_nothing:
        return "FALSE"
    own = "uid" if label == "Tenancy" else "tenancyUid"
    alternatives = []
    for part in scope.parts:
        places = []
        if part.all_tenancies:
            places.append(f"(properties ->> '{own}'::text) IS NOT NULL")
        elif part.tenancies:
            places.append(f"(properties ->> '{own}'::text) = ANY(%s)")
            params.append(sorted(part.tenancies))
        if part.compartments and label != "Tenancy":
            column = "uid" if label == "Compartment" else "compartmentUid"
            test = f"(properties ->> '{column}'::text) = ANY(%s)"
            params.append(sorted(part.compartments))
            if part.compartment_tenancies is not None:
                test += " AND (properties ->> 'tenancyUid'::text) = ANY(%s)"
                params.append(sorted(part.compartment_tenancies))
            places.append(f"({test})")
        if not places:
            continue
        tests = ["(" + " OR ".join(places) + ")"]
        for key, value in part.tags_equal:
            tests.append("((properties -> 'tags'::text) ->> %s::text) = %s")
            params += [key, value]
        for key, value in part.tags_not_equal:
            tests.append("((properties -> 'tags'::text) ->> %s::text) IS DISTINCT FROM %s")
            params += [key, value]
        for name, values in part.fields_in:
            tests.append(f"(properties ->> '{_FIELD_COLUMNS[name]}'::text) = ANY(%s)")
            params.append(sorted(values))
        for name, value in part.fields_not_equal:
            tests.append(f"(properties ->> '{_FIELD_COLUMNS[name]}'::text) IS DISTINCT FROM %s")
            params.append(value)
        alternatives.append("(" + " AND ".join(tests) + ")")
    return "(" + " OR ".join(alternatives) + ")" if alternatives else "FALSE"


class ScopeReader:
    """The lookups access control needs, each one statement.

    The panel's shape (`hierarchy`) changes rarely and is read by nearly every request, so it is
    kept per process and dropped whenever a tenancy or a panel object changes: at once for this
    process's own writes (`invalidate`), within milliseconds for other replicas' (the app's change
    feed watcher calls `invalidate`), and after `max_age` seconds at the latest.
    """

    def __init__(self, db: Database, max_age: float = 30.0) -> None:
        self.db = db
        self.graph = db.graph
        self.max_age = max_age
        self._cached: tuple[float, int, Hierarchy] | None = None
        self._generation = 0

    def invalidate(self) -> None:
        self._generation += 1
        self._cached = None

    async def hierarchy(self) -> Hierarchy:
        cached = self._cached
        if cached is not None and cached[1] == self._generation and monotonic() - cached[0] < self.max_age:
            return cached[2]
        generation = self._generation
        found = await self._read_hierarchy()
        if generation == self._generation:   # nothing changed while we read: worth keeping
            self._cached = (monotonic(), generation, found)
        return found

    async def _read_hierarchy(self) -> Hierarchy:
        """The panel's shape in one round trip: every tenancy's placement, and which provider each
        backend and tenant belongs to, which tenant each sub-tenant (hundreds of rows, not millions)."""
        g = self.graph
        query = (
            f"SELECT 'tenancy', t.properties ->> 'uid'::text, b.properties ->> 'parentUid'::text,"
            f" coalesce(s.properties ->> 'parentUid'::text, n.properties ->> 'uid'::text), s.properties ->> 'uid'::text"
            f" FROM {table(g, 'Tenancy')} t"
            f" LEFT JOIN {table(g, 'CloudBackend')} b ON (b.properties ->> 'uid'::text) = (t.properties ->> 'backendUid'::text)"
            f" LEFT JOIN {table(g, 'SubTenant')} s ON (s.properties ->> 'uid'::text) = (t.properties ->> 'ownerUid'::text)"
            f" LEFT JOIN {table(g, 'Tenant')} n ON (n.properties ->> 'uid'::text) = (t.properties ->> 'ownerUid'::text)"
            f" UNION ALL SELECT 'tenant', properties ->> 'uid'::text, properties ->> 'parentUid'::text, NULL, NULL"
            f" FROM {table(g, 'Tenant')}"
            f" UNION ALL SELECT 'subtenant', properties ->> 'uid'::text, properties ->> 'parentUid'::text, NULL, NULL"
            f" FROM {table(g, 'SubTenant')}"
            f" UNION ALL SELECT 'backend', properties ->> 'uid'::text, properties ->> 'parentUid'::text, NULL, NULL"
            f" FROM {table(g, 'CloudBackend')}"
            " UNION ALL SELECT 'role', h.tenant::text, h.role::text,"
            " CASE WHEN i.mode IN ('graph', 'graph_rls') THEN h.graph::text END, NULL"
            " FROM skyloom.tenant_home h, skyloom.isolation i"
            " WHERE h.mode = i.mode AND (i.mode IN ('rls', 'graph_rls') OR h.graph IS NOT NULL)"
        )
        found = Hierarchy()
        async with self.db.connection() as conn:
            cur = await conn.execute(query)
            for what, uid, a, b, c in await cur.fetchall():
                if what == "tenancy":
                    found.tenancies[uid] = Placement(a, b, c)
                elif what == "tenant":
                    found.tenant_provider[uid] = a
                elif what == "subtenant":
                    found.subtenant_tenant[uid] = a
                elif what == "role":
                    found.read_roles[uid] = (a, b)
                else:
                    found.backend_provider[uid] = a
        return found

    async def subtrees(self, roots: list[str]) -> frozenset[str]:
        """The compartments `roots` name and all compartments nested in them, at any depth."""
        if not roots:
            return frozenset()
        comp = table(self.graph, "Compartment")
        async with self.db.connection() as conn:
            cur = await conn.execute(
                f"WITH RECURSIVE sub(uid, depth) AS ("
                f" SELECT properties ->> 'uid'::text, 0 FROM {comp} WHERE (properties ->> 'uid'::text) = ANY(%s)"
                f" UNION"
                f" SELECT c.properties ->> 'uid'::text, sub.depth + 1 FROM {comp} c"
                f"  JOIN sub ON (c.properties ->> 'parentUid'::text) = sub.uid WHERE sub.depth < 64"
                f") SELECT DISTINCT uid FROM sub",
                (roots,),
            )
            return frozenset(row[0] for row in await cur.fetchall())

    async def ancestries(self, compartment_uids: list[str]) -> dict[str, tuple[str, ...]]:
        """For each compartment: the compartments containing it and itself, outermost first."""
        if not compartment_uids:
            return {}
        comp = table(self.graph, "Compartment")
        async with self.db.connection() as conn:
            cur = await conn.execute(
                f"WITH RECURSIVE up(start, uid, parent, depth) AS ("
                f" SELECT properties ->> 'uid'::text, properties ->> 'uid'::text, properties ->> 'compartmentUid'::text, 0"
                f"  FROM {comp} WHERE (properties ->> 'uid'::text) = ANY(%s)"
                f" UNION ALL"
                f" SELECT up.start, c.properties ->> 'uid'::text, c.properties ->> 'compartmentUid'::text, up.depth + 1"
                f"  FROM {comp} c JOIN up ON (c.properties ->> 'uid'::text) = up.parent WHERE up.depth < 64"
                f") SELECT start, uid FROM up ORDER BY start, depth DESC",
                (compartment_uids,),
            )
            found: dict[str, list[str]] = {}
            for start, uid in await cur.fetchall():
                found.setdefault(start, []).append(uid)
        return {uid: tuple(path) for uid, path in found.items()}
