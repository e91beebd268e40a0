"""Tenant isolation modes: what the database can do, what a switch would do, and doing it safely.

The layouts themselves live in SQL (migration 0013: `set_isolation`, `provision_tenant`,
`settle`, `restamp_tenancy`); this module is what the setup assistant drives them with. It runs
as the database owner (the API's own role can neither create roles nor graphs), and a switch is
one transaction that compares the rows of every CI and edge label, by count and checksum,
before and after the move: it commits only when nothing was lost or changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import psycopg
from psycopg import sql

from skyloom.graph import audit, labels


class Mode(str, Enum):
    DATABASE = "database"
    GRAPH = "graph"
    RLS = "rls"
    GRAPH_RLS = "graph_rls"

    @property
    def title(self) -> str:
        return _TITLES[self]

    @property
    def offered(self) -> bool:
        return self is not Mode.DATABASE


_TITLES = {
    Mode.DATABASE: "database per tenant",
    Mode.GRAPH: "schema (AGE graph) per tenant",
    Mode.RLS: "row-level security in one shared graph",
    Mode.GRAPH_RLS: "schema (AGE graph) per tenant and row-level security",
}
DEFAULT = Mode.GRAPH_RLS


class IsolationError(RuntimeError):
    """A switch was refused or failed; the message says why, and nothing was changed."""


@dataclass(frozen=True)
class Capability:
    name: str
    ok: bool
    detail: str


@dataclass
class State:
    mode: Mode
    changed_at: str
    changed_by: str
    graph: str | None
    app_role: str | None
    tenants: int
    tenant_graphs: int
    stamped: dict[str, int] = field(default_factory=dict)  # label -> rows stamped with a tenant


@dataclass(frozen=True)
class LabelSum:
    rows: int
    checksum: int


Progress = Callable[[str], None]


def state(conn: psycopg.Connection) -> State:
    row = conn.execute(
        "SELECT mode, changed_at::text, changed_by, graph, app_role,"
        " (SELECT count(*) FROM skyloom.tenant_home), (SELECT count(*) FROM skyloom.tenant_home WHERE graph IS NOT NULL)"
        " FROM skyloom.isolation"
    ).fetchone()
    if row is None:
        raise IsolationError("the isolation settings are missing: run `skyloom db migrate`")
    found = State(Mode(row[0]), row[1], row[2], row[3], row[4], row[5], row[6])
    if found.graph:
        for label in _isolated_labels():
            (count,) = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE (properties ->> 'tenantUid'::text) IS NOT NULL").format(
                    sql.Identifier(found.graph, label)
                )
            ).fetchone()
            if count:
                found.stamped[label] = count
    return found


def capabilities(conn: psycopg.Connection, app_role: str | None, setup_role: str | None = None) -> list[Capability]:
    """What the modes need from this server and these roles, each with what was found. The setup
    role is the connection's own unless named (the API names the owner, whose functions switch)."""
    found: list[Capability] = []
    version = conn.info.server_version
    found.append(Capability("PostgreSQL 16 or newer", version >= 160000, f"server {version // 10000}.{version % 10000}"))
    age = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'age'").fetchone()
    found.append(Capability("Apache AGE installed", age is not None, f"age {age[0]}" if age else "not installed"))
    me = conn.execute("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = coalesce(%s, current_user)",
                      (setup_role,)).fetchone()
    found.append(Capability(
        "setup role may create tenant roles", bool(me and (me[0] or me[1])),
        "superuser" if me and me[0] else ("CREATEROLE" if me and me[1] else "neither superuser nor CREATEROLE"),
    ))
    if app_role:
        app = conn.execute(
            "SELECT rolsuper, rolbypassrls, (SELECT count(*) FROM pg_namespace n WHERE n.nspowner = r.oid)"
            " FROM pg_roles r WHERE rolname = %s", (app_role,)
        ).fetchone()
        if app is None:
            found.append(Capability("API role exists", False, f"no role {app_role!r}"))
        else:
            found.append(Capability(
                "API role is neither superuser nor an owner", not app[0] and app[2] == 0,
                f"{app_role}: " + ("superuser" if app[0] else f"owns {app[2]} schema(s)" if app[2] else "plain role"),
            ))
            found.append(Capability(
                "API role reads as the provider without the row-level security barrier (BYPASSRLS)", bool(app[1]),
                "granted by `db migrate` when the owner is a superuser; without it the provider's name "
                "searches cannot use their index under the RLS modes" if not app[1] else "yes; tenant roles never have it",
            ))
    found.append(Capability(
        "database per tenant", False,
        "not offered by this release: provider queries would have to span databases (postgres_fdw), see docs/isolation.md",
    ))
    return found


def plan(current: State, target: Mode) -> list[str]:
    """What a switch from `current` to `target` will do, in the order it does it."""
    if not target.offered:
        raise IsolationError(f"isolation mode {target.value!r} ({target.title}) is not offered by this release")
    steps: list[str] = []
    stamped = sum(current.stamped.values())
    if current.tenant_graphs:
        steps.append(f"move the rows of {current.tenant_graphs} tenant graph(s) back into graph {current.graph!r} and drop those graphs")
    steps.append(f"record mode {target.value!r} ({target.title})")
    if target in (Mode.RLS, Mode.GRAPH_RLS):
        steps.append("enable row-level security on every CI and edge table of the installation graph")
    else:
        steps.append("disable row-level security on the installation graph's tables")
    steps.append(f"give each tenant ({current.tenants} known) its database role and the grants of the mode")
    if target in (Mode.GRAPH, Mode.GRAPH_RLS):
        steps.append(f"create a graph per tenant and move its {stamped:,} stamped row(s) there, ids unchanged")
    steps.append("compare every CI and edge label's rows (count and checksum) before and after; commit only if equal")
    return steps


def sums(conn: psycopg.Connection, graph: str) -> dict[str, LabelSum]:
    """Rows and an order-free checksum of every CI and edge label, tenant graphs included (through the parents)."""
    out: dict[str, LabelSum] = {}
    for label in _isolated_labels():
        columns = "id, start_id, end_id, properties" if label in labels.EDGE_LABELS else "id, properties"
        (rows, checksum) = conn.execute(
            sql.SQL("SELECT count(*), coalesce(sum(hashtextextended(({columns})::text, 0)), 0) FROM {table} r").format(
                columns=sql.SQL(", ".join(f"r.{c}" for c in columns.split(", "))), table=sql.Identifier(graph, label)
            )
        ).fetchone()
        out[label] = LabelSum(rows, int(checksum))
    return out


def switch(conn: psycopg.Connection, target: Mode, by_whom: str, progress: Progress = lambda _m: None) -> dict[str, LabelSum]:
    """Move the installation to `target` in one transaction; raises IsolationError (changing nothing) on any difference."""
    if not target.offered:
        raise IsolationError(f"isolation mode {target.value!r} ({target.title}) is not offered by this release")
    with conn.transaction():
        conn.execute("SET LOCAL search_path = ag_catalog, \"$user\", public")
        # Writers place their rows under a shared lock (`skyloom.settle`): the ones placing now
        # finish first, later ones wait and then place by the new mode.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('skyloom.isolation'))")
        # (The lock above keeps other switches out: the row needs no lock of its own, which the
        # API's role, allowed only to read it, could not take.)
        row = conn.execute("SELECT graph, mode FROM skyloom.isolation").fetchone()
        if row is None or row[0] is None:
            raise IsolationError("the installation graph is not recorded yet: run `skyloom db migrate`")
        graph, previous = row[0], Mode(row[1])
        (stamped,) = conn.execute("SELECT skyloom.isolation_prepare()").fetchone()
        if stamped:
            progress(f"stamped {stamped:,} row(s) written before tenants were stamped")
        progress("counting and checksumming every CI and edge label")
        before = sums(conn, graph)
        progress(f"switching to {target.value} ({target.title})")
        try:
            conn.execute("SELECT skyloom.isolation_apply(%s, %s)", (target.value, by_whom))
        except psycopg.Error as exc:
            raise IsolationError(f"the database refused the switch: {exc.diag.message_primary or exc}") from exc
        progress("counting and checksumming again")
        after = sums(conn, graph)
        lost = {label: (before[label], after.get(label)) for label in before if after.get(label) != before[label]}
        if lost:
            detail = "; ".join(f"{label}: {b.rows} rows before, {a.rows if a else 0} after" for label, (b, a) in sorted(lost.items()))
            raise IsolationError(f"rows differ after the switch, nothing was changed: {detail}")
        # A configuration change like any other: in the trail, committed with the switch or not at all.
        audit.record_sync(conn, [audit.Entry(
            "isolation.changed", by_whom, priority="notice", target=f"isolation:{target.value}",
            detail={"from": previous.value, "to": target.value, "stamped": stamped,
                    "rows": sum(s.rows for s in after.values())},
        )])
    return after


def tidy(conn: psycopg.Connection) -> None:
    """After a switch: vacuum and analyze. Moving rows leaves their old tables full of dead index
    entries and with statistics that say nothing is left; until autovacuum comes by, the planner
    then walks those indexes whole (measured: an impact set 6 ms -> 220 ms at 100k CIs)."""
    conn.execute("VACUUM (ANALYZE)")


def _isolated_labels() -> list[str]:
    return [*labels.ci_labels(), *labels.EDGE_LABELS]
