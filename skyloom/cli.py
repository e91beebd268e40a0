"""The `skyloom` command: run the API, manage the database, load demo data, export the schema."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import sys
from collections.abc import Callable

import click

from skyloom import runtime
from skyloom.graph.pool import Database, DatabaseUnavailable
from skyloom.access_cli import access
from skyloom.audit_cli import audit_group
from skyloom.ingest_cli import ingest
from skyloom.plan_cli import plan
from skyloom.policy_cli import policy
from skyloom.proof_cli import proof
from skyloom.setup_cli import setup
from skyloom.settings import Settings
from skyloom.terminal import console, fail, friendly_errors, step

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
    console.print(f"  console             {base}/console/")
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
        token = _operator_token(settings, url)
    console.print(
        "The operator's token (a new one each start, valid one day): paste it into the console's sign-in,\n"
        f"  {token}\n"
        "or send it from GraphiQL as the request header\n"
        f'  {{"Authorization": "Bearer {token}"}}'
    )
    _serve(settings, url, host or settings.host, port or settings.port)


def _operator_token(settings: Settings, url: str) -> str:
    from skyloom.access_cli import root_token

    async def run() -> str:
        database = Database(url, settings.graph_name, min_size=1, max_size=1)
        await database.open()
        try:
            return (await root_token(database, "root-operator", days=1))[0]
        finally:
            await database.close()

    return asyncio.run(run())


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8000).")
@click.option("--access-log", is_flag=True, help="Log every HTTP request (off by default: it costs time per request).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Worker processes (replicas) on this host.")
@click.option("--debug", is_flag=True, help="Also accept a FIDO2 security key (WebAuthn) as the provider tier's hardware proof.")
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None, access_log: bool, workers: int, debug: bool) -> None:
    """Serve the API against an existing, migrated database."""
    if debug:
        # Worker processes build their settings from the environment (`app_from_env`).
        os.environ["SKYLOOM_DEBUG"] = "true"
        settings = dataclasses.replace(settings, debug=True)
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


@main.command("schema")
def schema_sdl() -> None:
    """Print the GraphQL schema (SDL); `schema/schema.graphql` is this output, committed."""
    from skyloom.resolvers.root import build_schema
    from skyloom.settings import Limits

    click.echo(build_schema(Limits()).as_str())


main.add_command(ingest)
main.add_command(audit_group, "audit")
main.add_command(access)
main.add_command(proof)
main.add_command(policy)
main.add_command(setup)
main.add_command(plan)

if __name__ == "__main__":
    main()
