"""The `skyloom` command: run the API, manage the database, load demo data, export the schema."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console

from skyloom import runtime
from skyloom.deploy.local.errors import ProvisionError
from skyloom.graph.admin import DatabaseSetupError
from skyloom.graph.pool import Database, DatabaseUnavailable
from skyloom.settings import Settings

console = Console(stderr=True, soft_wrap=True)  # whole lines: logs and tests read them as written


@contextmanager
def step(title: str) -> Iterator[Callable[[str], None]]:
    """A spinner with the current sub-step, or plain lines when not on a terminal (CI logs)."""
    if console.is_terminal:
        with console.status(title) as status:
            yield lambda msg: status.update(f"{title}: {msg}")
    else:
        console.print(f"{title} ...")
        yield lambda msg: console.print(f"  {msg}")
    console.print(f"[green]✓[/] {title}")


def fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/] {message}")
    sys.exit(code)


@contextmanager
def friendly_errors() -> Iterator[None]:
    try:
        yield
    except (ProvisionError, DatabaseSetupError) as exc:
        fail(str(exc))
    except DatabaseUnavailable as exc:
        fail(f"{exc}\n  Start the local database with `skyloom db up`, or point SKYLOOM_DATABASE_URL at a running PostgreSQL + AGE.")


def _prepare(settings: Settings) -> str:
    with step("database") as progress:
        url = runtime.prepare(settings, progress)
    return url


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Skyloom: a multi-cloud, multi-tenant control panel with a graph CMDB behind GraphQL.

    Without SKYLOOM_DATABASE_URL, Skyloom provisions and runs its own PostgreSQL 17 + Apache AGE
    (cached under ~/.cache/skyloom, or SKYLOOM_CACHE_DIR).
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = Settings.from_env()


def _serve(settings: Settings, url: str, host: str, port: int, access_log: bool = False, workers: int = 1) -> None:
    import uvicorn

    from skyloom.app import create_app

    with friendly_errors():
        runtime.check_connection(url, settings.graph_name)
    base = f"http://{host}:{port}"
    console.print(f"[bold]Skyloom[/] serving on {base}" + (f" with {workers} worker processes" if workers > 1 else ""))
    console.print(f"  GraphQL + GraphiQL  {base}/graphql")
    console.print(f"  subscriptions       ws://{host}:{port}/graphql  (graphql-transport-ws)")
    console.print(f"  health              {base}/healthz")
    # No per-message deflate: compressing every subscription event for every subscriber costs
    # more CPU than the bytes it saves on the small JSON messages GraphQL sends.
    options = dict(
        host=host, port=port, log_level="info", access_log=access_log, lifespan="on", ws_per_message_deflate=False
    )
    if workers > 1:
        # Each worker is a full replica (own pool, own LISTEN connection), built from the environment.
        uvicorn.run("skyloom.app:app_from_env", factory=True, workers=workers, **options)
        return
    uvicorn.run(create_app(settings, url), **options)


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8000).")
@click.option("--no-demo", is_flag=True, help="Do not load the demo data set.")
@click.pass_obj
def up(settings: Settings, host: str | None, port: int | None, no_demo: bool) -> None:
    """Provision the database if needed, migrate, load the demo data and serve the API."""
    with friendly_errors():
        url = _prepare(settings)
        if not no_demo:
            _load_demo(settings, url)
    _serve(settings, url, host or settings.host, port or settings.port)


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8000).")
@click.option("--access-log", is_flag=True, help="Log every HTTP request (off by default: it costs time per request).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Worker processes (replicas) on this host.")
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None, access_log: bool, workers: int) -> None:
    """Serve the API against an existing, migrated database."""
    _serve(settings, runtime.app_url(settings), host or settings.host, port or settings.port, access_log, workers)


@main.group()
def db() -> None:
    """The database: the project's local server, or the one SKYLOOM_DATABASE_URL names."""


@db.command("up")
@click.pass_obj
def db_up(settings: Settings) -> None:
    """Provision (once), start and migrate the database."""
    with friendly_errors():
        _prepare(settings)
    if settings.uses_local_database:
        console.print(runtime.local_cluster(settings).status().describe())


@db.command("down")
@click.pass_obj
def db_down(settings: Settings) -> None:
    """Stop the local database server (data is kept)."""
    if not settings.uses_local_database:
        fail("SKYLOOM_DATABASE_URL is set: Skyloom does not manage that server.")
    with friendly_errors():
        stopped = runtime.local_cluster(settings).down()
    console.print("stopped" if stopped else "was not running")


@db.command("status")
@click.pass_obj
def db_status(settings: Settings) -> None:
    """Say whether the database is provisioned and running (exit 1 when it is not reachable)."""
    if settings.uses_local_database:
        status = runtime.local_cluster(settings).status()
        console.print(status.describe())
        if not status.running:
            sys.exit(1)
        return
    try:
        runtime.check_connection(settings.database_url, settings.graph_name)
    except DatabaseUnavailable as exc:
        fail(str(exc))
    console.print("reachable and migrated")


@db.command("migrate")
@click.pass_obj
def db_migrate(settings: Settings) -> None:
    """Apply pending migrations and reconcile the graph's labels and indexes."""
    with friendly_errors():
        _prepare(settings)


@main.group()
def demo() -> None:
    """Demo data."""


def _load_demo(settings: Settings, url: str) -> None:
    from skyloom import demo as demo_data

    async def run(progress: Callable[[str], None]) -> bool:
        database = Database(url, settings.graph_name, min_size=1, max_size=2)
        await database.open()
        try:
            return await demo_data.load(database, progress)
        finally:
            await database.close()

    with step("demo data") as progress:
        loaded = asyncio.run(run(progress))
        if not loaded:
            progress("already loaded")


@demo.command("load")
@click.pass_obj
def demo_load(settings: Settings) -> None:
    """Load the demo data set (one provider, four clouds, three clients); idempotent."""
    with friendly_errors():
        _load_demo(settings, runtime.app_url(settings))


@main.group()
def ingest() -> None:
    """Pulumi data into the CMDB's semantic layer."""


@ingest.command("report")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--min-coverage", type=click.FloatRange(0, 100), default=None, help="Exit 1 if a file maps fewer CIs (percent).")
def ingest_report(files: tuple[Path, ...], min_coverage: float | None) -> None:
    """How the semantic layer maps the resources of stack state files, and which type tokens it does not know."""
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
        mapped = len(result.records) - len(result.unmapped)
        coverage = 100 * result.coverage
        below = min_coverage is not None and coverage < min_coverage
        failed |= below
        table.add_row(
            path.name,
            f"{result.project}/{result.stack}",
            str(len(result.records)),
            str(mapped),
            f"[red]{coverage:.1f}%[/]" if below else f"{coverage:.1f}%",
            ", ".join(sorted({r.token for r in result.unmapped})) or "-",
            str(len(result.skipped)),
        )
    Console(width=200).print(table)
    if failed:
        sys.exit(1)


@ingest.command("state")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--owner", required=True, help="Provider, tenant or sub-tenant (id or unique name) that owns these stacks.")
@click.option("--organization", default="organization", show_default=True, help="Pulumi organization of the stacks.")
@click.option("--default-tenancy", default=None, help="Tenancy id for resources whose state names no account.")
@click.pass_obj
def ingest_state(settings: Settings, files: tuple[Path, ...], owner: str, organization: str, default_tenancy: str | None) -> None:
    """Reconcile stack state files (`pulumi stack export`, DIY checkpoints) with the CMDB."""
    from skyloom.ingest import reconcile, state

    async def run(progress: Callable[[str], None]) -> list[str]:
        database = Database(runtime.app_url(settings), settings.graph_name, min_size=1, max_size=2)
        await database.open()
        problems: list[str] = []
        try:
            owner_uid = await reconcile.resolve_owner(database, owner)
            for path in files:
                try:
                    result = await reconcile.apply_state(
                        database,
                        state.load(path),
                        owner=owner_uid,
                        actor=f"ingest:{path.name}",
                        organization=organization,
                        default_tenancy=default_tenancy,
                    )
                except (state.StateError, reconcile.ReconcileError) as exc:
                    problems.append(f"{path.name}: {exc}")
                    progress(f"{path.name}: [red]refused[/], nothing written")
                    continue
                progress(
                    f"{result.stack}: {result.created} created, {result.updated} updated, "
                    f"{result.unchanged} unchanged, {result.retired} retired"
                    + (f"; new tenancies {', '.join(result.new_tenancies)}" if result.new_tenancies else "")
                    + (f"; new compartments {', '.join(result.new_compartments)}" if result.new_compartments else "")
                )
        finally:
            await database.close()
        return problems

    with friendly_errors():
        try:
            with step(f"ingesting {len(files)} stack state file(s)") as progress:
                problems = asyncio.run(run(progress))
        except reconcile.ReconcileError as exc:
            fail(str(exc))
    for problem in problems:
        console.print(f"[red]error:[/] {problem}")
    if problems:
        sys.exit(1)


@ingest.command("events")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--owner", required=True, help="Provider, tenant or sub-tenant (id or unique name) that owns the stack.")
@click.option("--organization", default="organization", show_default=True, help="Pulumi organization of the stack.")
@click.option("--default-tenancy", default=None, help="Tenancy id for resources whose events name no account.")
@click.option("--follow", is_flag=True, help="Keep reading what `pulumi up --event-log` appends (Ctrl-C stops).")
@click.option("--poll", type=click.FloatRange(0.05, 60), default=0.5, show_default=True, help="Longest wait between reads with --follow (appends are noticed at once).")
@click.pass_obj
def ingest_events(
    settings: Settings, file: Path, owner: str, organization: str, default_tenancy: str | None, follow: bool, poll: float
) -> None:
    """Apply a Pulumi engine event log (resumes after its last applied batch)."""
    from skyloom.ingest import eventlog, events, reconcile

    async def run(progress: Callable[[str], None]) -> int:
        database = Database(runtime.app_url(settings), settings.graph_name, min_size=1, max_size=2)
        await database.open()
        try:
            owner_uid = await reconcile.resolve_owner(database, owner)
            return await eventlog.follow_event_log(
                database, file, owner=owner_uid, organization=organization, default_tenancy=default_tenancy,
                follow=follow, poll_seconds=poll, progress=progress,
            )
        finally:
            await database.close()

    with friendly_errors():
        try:
            with step(f"applying engine events from {file.name}") as progress:
                batches = asyncio.run(run(progress))
                progress(f"{batches} batch(es) applied")
        except (reconcile.ReconcileError, events.EventError) as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            console.print("stopped; the next run resumes after the last applied batch")


@ingest.command("watch")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--owner", required=True, help="Provider, tenant or sub-tenant (id or unique name) that owns these stacks.")
@click.option("--organization", default="organization", show_default=True, help="Organization when a checkpoint names none.")
@click.option("--default-tenancy", default=None, help="Tenancy id for resources whose state names no account.")
@click.option("--interval", type=click.FloatRange(0.5, 3600), default=None, help="Scan again every N seconds (default: once).")
@click.pass_obj
def ingest_watch(
    settings: Settings, root: Path, owner: str, organization: str, default_tenancy: str | None, interval: float | None
) -> None:
    """Reconcile a self-managed (DIY) backend directory's stack checkpoints that changed since the last scan."""
    from skyloom.ingest import diy, reconcile

    async def run(progress: Callable[[str], None]) -> list[str]:
        database = Database(runtime.app_url(settings), settings.graph_name, min_size=1, max_size=2)
        await database.open()
        refused: list[str] = []
        try:
            owner_uid = await reconcile.resolve_owner(database, owner)
            while True:
                result = await diy.scan(
                    database, root, owner=owner_uid, organization=organization, default_tenancy=default_tenancy, progress=progress
                )
                progress(f"{len(result.applied)} applied, {result.unchanged} unchanged, {len(result.refused)} refused")
                refused = result.refused
                if interval is None:
                    return refused
                await asyncio.sleep(interval)
        finally:
            await database.close()

    with friendly_errors():
        try:
            with step(f"scanning {root}") as progress:
                refused = asyncio.run(run(progress))
        except reconcile.ReconcileError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            return
    for problem in refused:
        console.print(f"[red]error:[/] {problem}")
    if refused:
        sys.exit(1)


@ingest.command("cloud")
@click.option("--organization", required=True, help="Pulumi Cloud organization whose stacks to ingest.")
@click.option("--owner", required=True, help="Provider, tenant or sub-tenant (id or unique name) that owns these stacks.")
@click.option("--interval", type=click.FloatRange(10, 86400), default=None, help="Poll again every N seconds (default: once).")
@click.pass_obj
def ingest_cloud(settings: Settings, organization: str, owner: str, interval: float | None) -> None:
    """Export every stack of a Pulumi Cloud organization that changed, and reconcile it.

    Needs SKYLOOM_PULUMI_ACCESS_TOKEN (and SKYLOOM_PULUMI_API_URL for a self-hosted Pulumi Cloud).
    """
    from skyloom.ingest import cloud_poll, reconcile
    from skyloom.ingest.pulumi_cloud import CloudError, CloudSettings, PulumiCloud

    async def run(progress: Callable[[str], None]) -> list[str]:
        cloud = PulumiCloud(CloudSettings(settings.pulumi_api_url, settings.pulumi_access_token))
        database = Database(runtime.app_url(settings), settings.graph_name, min_size=1, max_size=2)
        await database.open()
        try:
            owner_uid = await reconcile.resolve_owner(database, owner)
            while True:
                result = await cloud_poll.poll(database, cloud, organization, owner=owner_uid, progress=progress)
                progress(f"{len(result.applied)} applied, {result.unchanged} unchanged, {len(result.failed)} failed")
                if interval is None:
                    return result.failed
                await asyncio.sleep(interval)
        finally:
            await database.close()

    with friendly_errors():
        try:
            with step(f"polling Pulumi Cloud organization {organization}") as progress:
                failed = asyncio.run(run(progress))
        except (reconcile.ReconcileError, CloudError) as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            return
    for problem in failed:
        console.print(f"[red]error:[/] {problem}")
    if failed:
        sys.exit(1)


@main.command("schema")
def schema_sdl() -> None:
    """Print the GraphQL schema (SDL); `schema/schema.graphql` is this output, committed."""
    from skyloom.resolvers.root import build_schema
    from skyloom.settings import Limits

    click.echo(build_schema(Limits()).as_str())


if __name__ == "__main__":
    main()
