"""`skyloom access ...`: the first credential of an installation, made by whoever runs the database.

Everything else about users, groups and permissions goes through the API (and the console), as
the policy allows. Only the bootstrap needs a door beside it: someone has to be the first
operator, and whoever can reach the database with the project's credentials is already that.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

import click

from skyloom import runtime
from skyloom.graph import identity
from skyloom.graph.pool import Database
from skyloom.settings import Settings
from skyloom.terminal import console, friendly_errors

ROOT_ROLE = ("provider-operator", "installation", "*")


async def root_token(db: Database, name: str, days: int) -> tuple[str, str]:
    """A new bearer token for the installation's root operator `name` (a service account made on
    first use and bound as provider-operator at installation scope): (token, actor id)."""
    account = await identity.find_service_account(db, name)
    if account is None:
        account = await identity.create_service_account(db, name, "system:bootstrap")
        await identity.create_binding(db, "service", account.id, *ROOT_ROLE[:1], ROOT_ROLE[1], ROOT_ROLE[2], "system:bootstrap")
    token, _ = await identity.create_api_token(
        db, account.id, f"{name} (bootstrap)", "system:bootstrap", expires_in=timedelta(days=days)
    )
    return token, account.actor_id


@click.group()
def access() -> None:
    """Credentials that the API cannot hand out itself."""


@access.command("bootstrap")
@click.option("--name", default="root-operator", show_default=True, help="The root operator service account.")
@click.option("--days", type=click.IntRange(1, 365), default=30, show_default=True, help="How long the token is valid.")
@click.pass_obj
def access_bootstrap(settings: Settings, name: str, days: int) -> None:
    """Print a new bearer token of the installation's root operator (made on first use).

    The token goes to stdout alone (pipe it into a secret store); it is shown once and stored only
    as a hash. Use it as `Authorization: Bearer <token>`, then create people's access through the API.
    """

    async def run() -> tuple[str, str]:
        db = Database(runtime.app_url(settings), settings.graph_name, min_size=1, max_size=1)
        await db.open()
        try:
            return await root_token(db, name, days)
        finally:
            await db.close()

    with friendly_errors():
        token, actor = asyncio.run(run())
    console.print(f"[green]✓[/] a token for {actor} (provider-operator of the whole installation), valid {days} days")
    sys.stdout.write(token + "\n")
