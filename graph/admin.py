"""Database-level setup that needs a privileged role: create the database, the extensions, grants."""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo


class DatabaseSetupError(RuntimeError):
    """The database cannot host Skyloom; the message says what is missing."""


def with_dbname(url: str, dbname: str) -> str:
    return make_conninfo(url, dbname=dbname)


def ensure_database(admin_url: str, dbname: str, app_role: str | None) -> bool:
    """Create `dbname` with AGE and pg_trgm if needed; True when it was created now."""
    with psycopg.connect(with_dbname(admin_url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    with psycopg.connect(with_dbname(admin_url, dbname), autocommit=True) as conn:
        check_age_preloaded(conn)
        conn.execute("CREATE EXTENSION IF NOT EXISTS age")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        if app_role and role_exists(conn, app_role):
            role = sql.Identifier(app_role)
            conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), role))
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA ag_catalog TO {}").format(role))
            conn.execute(sql.SQL("GRANT SELECT ON ag_catalog.ag_graph, ag_catalog.ag_label TO {}").format(role))
    return not exists


def drop_database(admin_url: str, dbname: str) -> None:
    with psycopg.connect(with_dbname(admin_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def role_exists(conn: psycopg.Connection, role: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None


def check_age_preloaded(conn: psycopg.Connection) -> None:
    libs = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
    if "age" not in [lib.strip().strip('"') for lib in libs.split(",")]:
        raise DatabaseSetupError(
            "Apache AGE is not in shared_preload_libraries on this server. Skyloom connects as an "
            "unprivileged role, which cannot LOAD 'age' itself: add age to shared_preload_libraries "
            "and restart PostgreSQL."
        )


def drop_orphan_tenant_roles(admin_url: str) -> int:
    """Drop tenant roles (`skyloom_t_*`) that no database uses any more; returns how many went.

    Roles are cluster-wide while tenants live in one database: a dropped database leaves its
    tenants' roles behind. A role that still holds privileges anywhere stays (PostgreSQL refuses).
    """
    dropped = 0
    with psycopg.connect(with_dbname(admin_url, "postgres"), autocommit=True) as conn:
        names = [r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname ~ '^skyloom_t_[0-9a-f]{32}$'")]
        for name in names:
            try:
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
                dropped += 1
            except psycopg.errors.DependentObjectsStillExist:
                continue
    return dropped
