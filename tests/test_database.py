"""The database as provisioned and migrated: indexes, roles, privileges, migration bookkeeping."""

from __future__ import annotations

import psycopg
import pytest

from skyloom.deploy.local.cluster import APP_ROLE
from skyloom.graph import labels
from skyloom.graph.migrate import available, migrate

GRAPH = "cmdb"


def test_migrate_twice_applies_nothing_the_second_time(pg) -> None:
    assert migrate(pg.admin_url, GRAPH, APP_ROLE) == []


def test_an_edited_applied_migration_is_detected(pg) -> None:
    first = available()[0]
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute("UPDATE skyloom.schema_migration SET checksum = 'tampered' WHERE version = %s", (first.version,))
    try:
        with pytest.raises(RuntimeError, match="changed after it was applied"):
            migrate(pg.admin_url, GRAPH, APP_ROLE)
    finally:
        with psycopg.connect(pg.admin_url, autocommit=True) as conn:
            conn.execute("UPDATE skyloom.schema_migration SET checksum = %s WHERE version = %s", (first.checksum, first.version))


def test_every_label_has_its_indexes(pg) -> None:
    with psycopg.connect(pg.admin_url) as conn:
        rows = conn.execute("SELECT tablename, indexname FROM pg_indexes WHERE schemaname = %s", (GRAPH,)).fetchall()
    by_table: dict[str, set[str]] = {}
    for table, index in rows:
        by_table.setdefault(table, set()).add(index)
    for label in labels.vertex_labels():
        assert {f"{label}_id", f"{label}_props", f"{label}_uid", f"{label}_parent"} <= by_table[label], label
    for label in labels.ci_labels():
        assert {f"{label}_urn", f"{label}_tenancy", f"{label}_compartment", f"{label}_name_trgm"} <= by_table[label], label
    for label in labels.EDGE_LABELS:
        assert {f"{label}_id", f"{label}_pair", f"{label}_end"} <= by_table[label], label


def test_uid_lookup_across_all_labels_uses_indexes(pg) -> None:
    with psycopg.connect(pg.admin_url) as conn:
        conn.execute('SET search_path = ag_catalog, "$user", public')
        conn.execute("SET enable_seqscan = off")  # tiny tables: make the planner show what it can use
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                f"EXPLAIN SELECT id FROM {GRAPH}._ag_label_vertex WHERE (properties ->> 'uid'::text) = 'x'"
            ).fetchall()
        )
    assert "Seq Scan" not in plan.replace("Seq Scan on _ag_label_vertex", "")
    assert "ComputeInstance_uid" in plan


def test_the_app_role_is_neither_superuser_nor_owner(pg) -> None:
    with psycopg.connect(pg.admin_url) as conn:
        superuser, config = conn.execute("SELECT rolsuper, rolconfig FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone()
        owners = {r[0] for r in conn.execute("SELECT tableowner FROM pg_tables WHERE schemaname IN (%s, 'skyloom')", (GRAPH,))}
        db_owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()").fetchone()[0]
    assert superuser is False
    assert APP_ROLE not in owners and db_owner != APP_ROLE
    assert any(c.startswith("search_path=") and "ag_catalog" in c for c in config)


def test_the_app_role_can_only_append_to_the_change_log(pg) -> None:
    with psycopg.connect(pg.admin_url) as conn:
        before = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM skyloom.change_log").fetchone()
    with psycopg.connect(pg.app_url, autocommit=True) as conn:
        for statement in ("UPDATE skyloom.change_log SET actor = 'forged'", "DELETE FROM skyloom.change_log", "TRUNCATE skyloom.change_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    with psycopg.connect(pg.admin_url) as conn:
        after = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM skyloom.change_log").fetchone()
        forged = conn.execute("SELECT count(*) FROM skyloom.change_log WHERE actor = 'forged'").fetchone()[0]
    assert after == before and forged == 0


@pytest.mark.parametrize("name", ["ab", "Cmdb", "1abc", "a-b-c", "x" * 64, 'cm"db'])
def test_graph_names_outside_the_rules_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        labels.check_graph_name(name)


def test_unknown_labels_are_refused() -> None:
    with pytest.raises(ValueError):
        labels.check_label('Tenant"; DROP TABLE x; --')
