"""Where the database is: the project's local server, or the one SKYLOOM_DATABASE_URL names."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from psycopg.conninfo import conninfo_to_dict

from skyloom.deploy.local.cluster import APP_ROLE, LocalCluster
from skyloom.graph.admin import ensure_database, with_dbname
from skyloom.graph.migrate import migrate
from skyloom.graph.pool import Database
from skyloom.settings import Settings


def local_cluster(settings: Settings) -> LocalCluster:
    return LocalCluster(settings.cache_dir, settings.local_port)


def external_owner(settings: Settings) -> tuple[str, str | None]:
    """For SKYLOOM_DATABASE_URL: the owner's URL (SKYLOOM_ADMIN_DATABASE_URL, else the same), and the
    API's role, the one its URL logs in as (the provider's context under isolation); None when the
    owner and the API are one login, which isolation's guards cannot tell apart."""
    assert settings.database_url
    admin = settings.admin_database_url or settings.database_url
    app = conninfo_to_dict(settings.database_url).get("user")
    return admin, (app if app != conninfo_to_dict(admin).get("user") else None)


def prepare(settings: Settings, progress: Callable[[str], None]) -> str:
    """Make sure the database exists and is migrated; return the URL the API connects with."""
    if settings.database_url:
        admin, app = external_owner(settings)
        migrate(admin, settings.graph_name, app_role=app, progress=progress)
        return settings.database_url
    cluster = local_cluster(settings)
    cluster.up(progress)
    admin = cluster.admin_url()
    if ensure_database(admin, settings.database_name, APP_ROLE):
        progress(f"created database {settings.database_name!r}")
    migrate(with_dbname(admin, settings.database_name), settings.graph_name, APP_ROLE, progress)
    return cluster.app_url(settings.database_name)


def app_url(settings: Settings) -> str:
    """The API's URL without touching anything (serve, demo)."""
    if settings.database_url:
        return settings.database_url
    return local_cluster(settings).app_url(settings.database_name)


def check_connection(url: str, graph: str) -> None:
    """Raise DatabaseUnavailable with the reason when the API could not start against `url`."""

    async def probe() -> None:
        db = Database(url, graph, min_size=1, max_size=1)
        try:
            await db.open(wait_timeout=5)
        finally:
            await db.close()

    asyncio.run(probe())
