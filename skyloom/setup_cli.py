"""`skyloom setup`: choose the tenant isolation mode, check the database can do it, show the plan, apply it.

Interactive on a terminal; scriptable with `--mode MODE --yes`. Switching modes moves the data
in one transaction and commits only when every CI and edge label has the same rows (count and
checksum) afterwards.
"""

from __future__ import annotations

import sys

import click
import psycopg
from psycopg.conninfo import conninfo_to_dict

from skyloom import runtime
from skyloom.deploy.local.cluster import APP_ROLE
from skyloom.graph import isolation
from skyloom.graph.admin import with_dbname
from skyloom.graph.isolation import IsolationError, Mode
from skyloom.settings import Settings
from skyloom.terminal import console, fail, friendly_errors, step

MODES = [m.value for m in Mode]


def _admin_url_and_app_role(settings: Settings) -> tuple[str, str | None]:
    if settings.database_url:
        return runtime.external_owner(settings)
    cluster = runtime.local_cluster(settings)
    if not cluster.status().running:
        fail("the local database is not running: start it with `skyloom db up`")
    return with_dbname(cluster.admin_url(), settings.database_name), APP_ROLE


def _show_state(current: isolation.State) -> None:
    console.print(f"Current mode: [bold]{current.mode.value}[/] ({current.mode.title}), set {current.changed_at} by {current.changed_by}")
    console.print(
        f"Tenants with a database role: {current.tenants}; with their own graph: {current.tenant_graphs}; "
        f"rows stamped with a tenant: {sum(current.stamped.values()):,}"
    )


def _show_capabilities(found: list[isolation.Capability]) -> bool:
    """One line per capability; True when everything the offered modes need is there."""
    console.print("What this database can do:")
    required = True
    for cap in found:
        optional = cap.name == "database per tenant" or "BYPASSRLS" in cap.name
        mark = "[green]yes[/]" if cap.ok else ("[yellow]no [/]" if optional else "[red]no [/]")
        console.print(f"  {mark}  {cap.name}: {cap.detail}")
        required = required and (cap.ok or optional)
    return required


def _choose(current: Mode) -> Mode:
    console.print("Isolation modes:")
    for number, mode in enumerate(Mode, 1):
        note = "" if mode.offered else " [dim](not offered by this release)[/]"
        default = " [dim](default)[/]" if mode is isolation.DEFAULT else ""
        console.print(f"  {number}. {mode.value:<10} {mode.title}{default}{note}")
    offered = [m.value for m in Mode if m.offered]
    answer = click.prompt("Mode", type=click.Choice(offered), default=current.value, err=True)
    return Mode(answer)


@click.command("setup")
@click.option("--mode", "mode", type=click.Choice(MODES), help="The isolation mode to apply (asked for on a terminal).")
@click.option("--check", is_flag=True, help="Only show the current mode and what the database can do (exit 1 if it lacks something).")
@click.option("--dry-run", is_flag=True, help="Show what the switch would do, change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def setup(settings: Settings, mode: str | None, check: bool, dry_run: bool, yes: bool) -> None:
    """Tenant isolation: choose the mode, check the database, show the plan, apply it (moving the data).

    \b
    Modes:
      graph_rls  a graph (schema) per tenant and row-level security (the default)
      graph      a graph (schema) per tenant
      rls        row-level security in one shared graph
      database   a database per tenant (not offered by this release)
    """
    with friendly_errors():
        admin_url, app_role = _admin_url_and_app_role(settings)
        try:
            conn = psycopg.connect(admin_url, autocommit=True)
        except psycopg.OperationalError as exc:
            fail(f"cannot connect as the database owner: {str(exc).strip().splitlines()[-1]}")
        with conn:
            conn.execute("SET search_path = ag_catalog, \"$user\", public")
            try:
                current = isolation.state(conn)
            except psycopg.errors.UndefinedTable:
                fail("this database has no isolation settings yet: run `skyloom db migrate` first")
            _show_state(current)
            capable = _show_capabilities(isolation.capabilities(conn, app_role or current.app_role))
            if check:
                sys.exit(0 if capable else 1)
            if not capable:
                fail("the database lacks what tenant isolation needs (see above)")
            if mode is None:
                if not sys.stdin.isatty():
                    fail("choose a mode with --mode (no terminal to ask on)", code=2)
                target = _choose(current.mode)
            else:
                target = Mode(mode)
            try:
                steps = isolation.plan(current, target)
            except IsolationError as exc:
                fail(str(exc), code=2)
            console.print(f"Plan for [bold]{target.value}[/] ({target.title}):")
            for number, text in enumerate(steps, 1):
                console.print(f"  {number}. {text}")
            if dry_run:
                console.print("Dry run: nothing was changed.")
                return
            if not yes and not click.confirm("Apply it?", default=False, err=True):
                fail("nothing was changed", code=1)
            by_whom = f"skyloom setup ({conninfo_to_dict(admin_url).get('user') or 'owner'})"
            try:
                with step(f"switching tenant isolation to {target.value}") as progress:
                    result = isolation.switch(conn, target, by_whom, progress)
            except IsolationError as exc:
                fail(str(exc))
            with step("vacuuming and analyzing the moved tables"):
                isolation.tidy(conn)
            rows = sum(s.rows for s in result.values())
            console.print(f"Mode {target.value}: {rows:,} CI and edge rows verified by count and checksum.")
