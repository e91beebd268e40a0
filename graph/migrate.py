"""Versioned migrations, then the graph layout (labels and their indexes) reconciled with the vocabulary.

SQL migrations in `migrations/NNNN_name.sql` run once each, in order, each in its own
transaction, under an advisory lock so that two replicas starting together do not race.
The graph layout step runs on every migrate: it creates the graph, a label per vertex kind and
edge type, and their indexes, and is idempotent, so a kind added to the vocabulary appears on
the next migrate without a hand-written migration.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

from skyloom.graph import labels
from skyloom.graph.identity_grants import GRANTS as IDENTITY_GRANTS
from skyloom.graph.proofs import APP_GRANTS as PROOF_GRANTS
from skyloom.graph.admin import role_exists

_LOCK_KEY = 0x5B7100D  # pg_advisory_lock key for migrations


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def available() -> list[Migration]:
    found = []
    for entry in resources.files("skyloom.graph.migrations").iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            found.append(Migration(int(number), rest.removesuffix(".sql"), entry.read_text()))
    return sorted(found, key=lambda m: m.version)


def migrate(
    url: str,
    graph: str,
    app_role: str | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
) -> list[str]:
    """Bring the database to the newest schema; returns the names of what was applied."""
    labels.check_graph_name(graph)
    applied: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET search_path = ag_catalog, \"$user\", public")
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE SCHEMA IF NOT EXISTS skyloom;"
                "CREATE TABLE IF NOT EXISTS skyloom.schema_migration ("
                " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0]: row[1] for row in conn.execute("SELECT version, checksum FROM skyloom.schema_migration")}
            for migration in available():
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise RuntimeError(
                            f"migration {migration.version:04d}_{migration.name} changed after it was applied; "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                progress(f"applying migration {migration.version:04d}_{migration.name}")
                with conn.transaction():
                    conn.execute(migration.text)
                    conn.execute(
                        "INSERT INTO skyloom.schema_migration (version, name, checksum) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                applied.append(f"{migration.version:04d}_{migration.name}")
            progress(f"reconciling graph {graph!r} with the vocabulary")
            with conn.transaction():
                ensure_layout(conn, graph)
                role = app_role if app_role and role_exists(conn, app_role) else None
                if role:
                    grant_app_role(conn, graph, role)
                progress("applying the tenant isolation mode")
                reconcile_isolation(conn, graph, role)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied


def ensure_layout(conn: psycopg.Connection, graph: str) -> None:
    if conn.execute("SELECT 1 FROM ag_catalog.ag_graph WHERE name = %s", (graph,)).fetchone() is None:
        conn.execute("SELECT ag_catalog.create_graph(%s)", (graph,))
    for label in labels.vertex_labels():
        conn.execute("SELECT skyloom.ensure_vertex_label(%s, %s, %s)", (graph, label, labels.label_role(label)))
        if labels.label_role(label) != "panel":
            conn.execute("SELECT skyloom.ensure_ci_statistics(%s, %s)", (graph, label))
    for label in labels.EDGE_LABELS:
        conn.execute("SELECT skyloom.ensure_edge_label(%s, %s)", (graph, label))


def reconcile_isolation(conn: psycopg.Connection, graph: str, app_role: str | None) -> None:
    """Guard the CI tables for the installation's isolation mode, and refresh every tenant's graph and grants."""
    containers = [label for label in labels.ci_labels() if labels.label_role(label) == "container"]
    conn.execute(
        "SELECT skyloom.isolation_reconcile(%s, %s, %s, %s, %s)",
        (graph, app_role, list(labels.ci_labels()), containers, list(labels.EDGE_LABELS)),
    )


def grant_app_role(conn: psycopg.Connection, graph: str, app_role: str) -> None:
    """The API's role may read and write the graph, and only append to the change log."""
    role, schema = sql.Identifier(app_role), sql.Identifier(graph)
    for statement in (
        "GRANT USAGE ON SCHEMA skyloom, {schema} TO {role}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
        "GRANT SELECT, INSERT ON skyloom.change_log TO {role}",
        "REVOKE UPDATE, DELETE, TRUNCATE ON skyloom.change_log FROM {role}",
        "GRANT SELECT ON skyloom.schema_migration TO {role}",
        # Isolation: the API reads the mode and the tenants' homes; it routes stamped rows and moves
        # tenancies only through these functions, which run as their owner.
        "GRANT SELECT ON skyloom.isolation, skyloom.tenant_home, skyloom.vertex_home TO {role}",
        "GRANT EXECUTE ON FUNCTION skyloom.settle(text[], uuid[]), skyloom.restamp_tenancy(uuid, uuid),"
        " skyloom.provision_tenant(uuid) TO {role}",
        # The console's setup assistant (the API checks the policy and a fresh proof first).
        "GRANT EXECUTE ON FUNCTION skyloom.isolation_prepare(), skyloom.isolation_apply(text, text), skyloom.isolation_analyze()"
        " TO {role}",
        "GRANT SELECT, INSERT, UPDATE ON skyloom.ingest_checkpoint TO {role}",
        "GRANT SELECT, INSERT, UPDATE ON skyloom.webhook_delivery TO {role}",
        "GRANT SELECT, INSERT ON skyloom.webhook_rejection TO {role}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON skyloom.semantic_mapping, skyloom.semantic_term TO {role}",
        # The audit trail: facts in, never changed or removed; time, chain and hashes are the database's.
        "GRANT SELECT ON skyloom.audit_entry, skyloom.audit_head, skyloom.audit_anchor, skyloom.audit_retention TO {role}",
        "GRANT INSERT (priority, type, actor, impersonator, tenant, subtenant, target, request_id, source, outcome, detail)"
        " ON skyloom.audit_entry TO {role}",
        "REVOKE UPDATE, DELETE, TRUNCATE ON skyloom.audit_entry, skyloom.audit_head, skyloom.audit_anchor FROM {role}",
        "GRANT UPDATE (keep_days) ON skyloom.audit_retention TO {role}",
        "GRANT SELECT, INSERT, UPDATE ON skyloom.audit_forward TO {role}",
        "GRANT EXECUTE ON FUNCTION skyloom.audit_seal(integer), skyloom.audit_maintain(integer),"
        " skyloom.audit_expire(text) TO {role}",
        *PROOF_GRANTS,
        *IDENTITY_GRANTS,
        # Logins in flight are one-time tokens: taking one is a DELETE ... RETURNING, and nothing
        # about a spent one is worth keeping (the audit trail records the login). The assertion
        # cache is only added to; expired rows go through the purge function.
        "GRANT SELECT, INSERT, DELETE ON skyloom.pending_login TO {role}",
        "GRANT SELECT, INSERT ON skyloom.saml_assertion_seen TO {role}",
        "REVOKE UPDATE, TRUNCATE ON skyloom.pending_login FROM {role}",
        "REVOKE UPDATE, DELETE, TRUNCATE ON skyloom.saml_assertion_seen FROM {role}",
        "GRANT EXECUTE ON FUNCTION skyloom.login_state_purge(integer) TO {role}",
        # Impersonation: settings are edited in place; a request's row is fixed once made except
        # for the columns its status moves write. Nothing is deleted.
        "GRANT SELECT, INSERT ON skyloom.impersonation_settings, skyloom.impersonation_request TO {role}",
        "GRANT UPDATE (require_reauth, require_approval, max_minutes, target_mode, mapping, updated_by, updated_at)"
        " ON skyloom.impersonation_settings TO {role}",
        "GRANT UPDATE (status, approver, decided_at, started_by, session_id, started_at, expires_at, ended_at, ended_by)"
        " ON skyloom.impersonation_request TO {role}",
        "REVOKE DELETE, TRUNCATE ON skyloom.impersonation_settings, skyloom.impersonation_request FROM {role}",
        # Step-up: a session row records its proof (and the strength it raised), nothing else of it
        # changes; the single HSM settings row is read and updated, never added to or removed.
        "GRANT UPDATE (auth_strength, proof_until, proof_key) ON skyloom.user_session TO {role}",
        "GRANT SELECT, UPDATE (module_path, token_label, challenge_ttl_seconds, proof_validity_seconds, updated_by,"
        " updated_at) ON skyloom.hsm_settings TO {role}",
        "REVOKE INSERT, DELETE, TRUNCATE ON skyloom.hsm_settings FROM {role}",
        # Designs: a save appends a version and moves the design's `latest`; versions are never
        # rewritten and nothing is deleted (a design is archived).
        "GRANT SELECT, INSERT ON skyloom.design, skyloom.design_version TO {role}",
        "GRANT UPDATE (name, latest, updated_by, updated_at, archived_at) ON skyloom.design TO {role}",
        "REVOKE DELETE, TRUNCATE ON skyloom.design FROM {role}",
        "REVOKE UPDATE, DELETE, TRUNCATE ON skyloom.design_version FROM {role}",
        # A run's row is fixed once started except for how it ends.
        "GRANT SELECT, INSERT ON skyloom.design_run TO {role}",
        "GRANT UPDATE (status, resources, error, finished_at) ON skyloom.design_run TO {role}",
        "REVOKE DELETE, TRUNCATE ON skyloom.design_run FROM {role}",
    ):
        conn.execute(sql.SQL(statement).format(schema=schema, role=role))
