"""`skyloom ingest ...`: Pulumi data into the CMDB, from files, event logs, backend directories and Pulumi Cloud."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import click

from skyloom import runtime
from skyloom.graph.pool import Database
from skyloom.settings import Settings
from skyloom.terminal import console, fail, friendly_errors

Say = Callable[[str], None]
Work = Callable[[Database, str | None, Say], Awaitable[list[str]]]

OWNER = click.option(
    "--owner", default=None,
    help="Provider, tenant or sub-tenant (id or unique name) that owns the stacks. Default: the owner a stack "
    "was ingested for before, else the tenant named like the Pulumi organization.",
)
DEFAULT_TENANCY = click.option("--default-tenancy", default=None, help="Tenancy id for resources whose data names no account.")


def say(message: str) -> None:
    console.print(f"  {message}")


def run_for_owner(settings: Settings, title: str, owner: str | None, work: Work, interval: float | None = None) -> None:
    """Open the database, resolve the owner, run `work` (again every `interval` seconds); exit 1 on problems.

    `work` returns the problems it met (inputs refused, stacks not applied); each is printed and
    makes the exit status 1, while everything else it did stays applied.
    """
    from skyloom.ingest import events, reconcile
    from skyloom.ingest.pulumi_cloud import CloudError

    async def run() -> list[str]:
        database = Database(runtime.app_url(settings), settings.graph_name, min_size=1, max_size=2)
        await database.open()
        try:
            owner_uid = await reconcile.resolve_owner(database, owner) if owner else None
            while True:
                problems = await work(database, owner_uid, say)
                if interval is None:
                    return problems
                await asyncio.sleep(interval)
        finally:
            await database.close()

    console.print(f"{title} ...")
    with friendly_errors():
        try:
            problems = asyncio.run(run())
        except (reconcile.ReconcileError, events.EventError, CloudError) as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            console.print("stopped; a new run resumes after the last applied batch")
            return
    for problem in problems:
        console.print(f"[red]error:[/] {problem}")
    if problems:
        sys.exit(1)
    console.print(f"[green]✓[/] {title}")


@click.group()
def ingest() -> None:
    """Pulumi data into the CMDB's semantic layer."""


@ingest.command("report")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--min-coverage", type=click.FloatRange(0, 100), default=None, help="Exit 1 if a file maps fewer CIs (percent).")
def ingest_report(files: tuple[Path, ...], min_coverage: float | None) -> None:
    """How the semantic layer maps the resources of stack state files, and which type tokens it does not know."""
    from rich.console import Console
    from rich.table import Table

    from skyloom.ingest import state, translate

    table = Table("file", "stack", "CIs", "mapped", "coverage", "unmapped type tokens", "not CIs")
    failed = False
    for path in files:
        try:
            result = translate.translate(state.load(path))
        except state.StateError as exc:
            table.add_row(path.name, "[red]unreadable[/]", "-", "-", "-", str(exc), "-")
            failed = True
            continue
        coverage = 100 * result.coverage
        below = min_coverage is not None and coverage < min_coverage
        failed |= below
        table.add_row(
            path.name,
            f"{result.project}/{result.stack}",
            str(len(result.records)),
            str(len(result.records) - len(result.unmapped)),
            f"[red]{coverage:.1f}%[/]" if below else f"{coverage:.1f}%",
            ", ".join(sorted({r.token for r in result.unmapped})) or "-",
            str(len(result.skipped)),
        )
    Console(width=200).print(table)
    if failed:
        sys.exit(1)


@ingest.command("state")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@OWNER
@click.option("--organization", default="organization", show_default=True, help="Pulumi organization of the stacks.")
@DEFAULT_TENANCY
@click.pass_obj
def ingest_state(settings: Settings, files: tuple[Path, ...], owner: str, organization: str, default_tenancy: str | None) -> None:
    """Reconcile stack state files (`pulumi stack export`, DIY checkpoints) with the CMDB."""
    from skyloom.ingest import reconcile, state

    async def work(db: Database, owner_uid: str | None, say: Say) -> list[str]:
        problems = []
        for path in files:
            try:
                result = await reconcile.apply_state(
                    db, state.load(path), owner=owner_uid, actor=f"ingest:{path.name}",
                    organization=organization, default_tenancy=default_tenancy,
                    cause={"source": "stack-export", "file": path.name},
                )
            except (state.StateError, reconcile.ReconcileError) as exc:
                problems.append(f"{path.name}: {exc}")
                say(f"{path.name}: refused, nothing written")
                continue
            say(result.summary())
        return problems

    run_for_owner(settings, f"ingesting {len(files)} stack state file(s)", owner, work)


@ingest.command("events")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@OWNER
@click.option("--organization", default="organization", show_default=True, help="Pulumi organization of the stack.")
@DEFAULT_TENANCY
@click.option("--follow", is_flag=True, help="Keep reading what `pulumi up --event-log` appends (Ctrl-C stops).")
@click.option(
    "--poll", type=click.FloatRange(0.05, 60), default=0.5, show_default=True,
    help="Longest wait between reads with --follow (appends are noticed at once).",
)
@click.pass_obj
def ingest_events(
    settings: Settings, file: Path, owner: str, organization: str, default_tenancy: str | None, follow: bool, poll: float
) -> None:
    """Apply a Pulumi engine event log (resumes after its last applied batch)."""
    from skyloom.ingest import eventlog

    async def work(db: Database, owner_uid: str | None, say: Say) -> list[str]:
        batches = await eventlog.follow_event_log(
            db, file, owner=owner_uid, organization=organization, default_tenancy=default_tenancy,
            follow=follow, poll_seconds=poll, progress=say,
        )
        say(f"{batches} batch(es) applied")
        return []

    run_for_owner(settings, f"applying engine events from {file.name}", owner, work)


@ingest.command("watch")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@OWNER
@click.option("--organization", default="organization", show_default=True, help="Organization when a checkpoint names none.")
@DEFAULT_TENANCY
@click.option("--interval", type=click.FloatRange(0.5, 3600), default=None, help="Scan again every N seconds (default: once).")
@click.pass_obj
def ingest_watch(
    settings: Settings, root: Path, owner: str, organization: str, default_tenancy: str | None, interval: float | None
) -> None:
    """Reconcile a self-managed (DIY) backend directory's stack checkpoints that changed since the last scan."""
    from skyloom.ingest import diy

    async def work(db: Database, owner_uid: str | None, say: Say) -> list[str]:
        result = await diy.scan(db, root, owner=owner_uid, organization=organization, default_tenancy=default_tenancy, progress=say)
        say(f"{len(result.applied)} applied, {result.unchanged} unchanged, {len(result.refused)} refused")
        return result.refused

    run_for_owner(settings, f"scanning {root}", owner, work, interval)


@ingest.command("cloud")
@click.option("--organization", required=True, help="Pulumi Cloud organization whose stacks to ingest.")
@OWNER
@click.option("--interval", type=click.FloatRange(10, 86400), default=None, help="Poll again every N seconds (default: once).")
@click.pass_obj
def ingest_cloud(settings: Settings, organization: str, owner: str, interval: float | None) -> None:
    """Export every stack of a Pulumi Cloud organization that changed, and reconcile it.

    Needs SKYLOOM_PULUMI_ACCESS_TOKEN (and SKYLOOM_PULUMI_API_URL for a self-hosted Pulumi Cloud).
    """
    from skyloom.ingest import cloud_poll
    from skyloom.ingest.pulumi_cloud import CloudError, CloudSettings, PulumiCloud

    try:
        cloud = PulumiCloud(CloudSettings(settings.pulumi_api_url, settings.pulumi_access_token))
    except CloudError as exc:
        fail(str(exc))

    async def work(db: Database, owner_uid: str | None, say: Say) -> list[str]:
        result = await cloud_poll.poll(db, cloud, organization, owner=owner_uid, progress=say)
        say(f"{len(result.applied)} applied, {result.unchanged} unchanged, {len(result.failed)} failed")
        return result.failed

    run_for_owner(settings, f"polling Pulumi Cloud organization {organization}", owner, work, interval)


@ingest.command("audit-logs")
@click.option("--organization", required=True, help="Pulumi Cloud organization whose audit log to take.")
@click.option("--owner", default=None, help="Tenant or sub-tenant (id or unique name) the organization's events belong to. "
              "Default: the tenant named like the organization, else provider level.")
@click.option("--interval", type=click.FloatRange(10, 86400), default=None, help="Poll again every N seconds (default: once).")
@click.pass_obj
def ingest_audit_logs(settings: Settings, organization: str, owner: str | None, interval: float | None) -> None:
    """Pulumi Cloud's audit log into Skyloom's audit trail, resuming after the last event taken.

    Needs SKYLOOM_PULUMI_ACCESS_TOKEN of an organization admin (audit logs are an Enterprise feature).
    """
    from skyloom.ingest import audit_logs, reconcile
    from skyloom.ingest.pulumi_cloud import CloudError, CloudSettings, PulumiCloud

    try:
        cloud = PulumiCloud(CloudSettings(settings.pulumi_api_url, settings.pulumi_access_token))
    except CloudError as exc:
        fail(str(exc))

    async def work(db: Database, owner_uid: str | None, say: Say) -> list[str]:
        if owner_uid is None:
            owner_uid = await reconcile.default_owner(db, organization, None, None)
        result = await audit_logs.poll(db, lambda since: cloud.audit_events(organization, since), organization, owner_uid, say)
        say(f"{result.taken} new event(s)")
        return [f"{result.skipped} malformed event(s) skipped"] if result.skipped else []

    run_for_owner(settings, f"taking the audit log of Pulumi Cloud organization {organization}", owner, work, interval)
