"""The audit trail on the real database: what is recorded, who may change it (nobody), and the chain check."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from skyloom.deploy.local.cluster import APP_ROLE
from skyloom.graph import audit, audit_reads
from skyloom.graph.admin import drop_database, ensure_database, with_dbname
from skyloom.graph.migrate import migrate
from skyloom.graph.pool import Database
from skyloom.ingest import reconcile, state
from tests.conftest import GRAPH, REPO, ROOT, Pg, Server, unique
from tests.test_mutations import provider as make_provider

STATE = REPO.parent / "shared" / "data" / "pulumi" / "stack-state" / "aws" / "aws-ec2-networking.json"


def entries(pg: Pg, where: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        return cur.execute(f"SELECT * FROM skyloom.audit_entry WHERE {where} ORDER BY id", params).fetchall()


def wait_sealed(pg: Pg, request_id: str, timeout: float = 10) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = entries(pg, "request_id = %s", (request_id,))
        if rows and all(r["hash"] is not None for r in rows):
            return rows
        time.sleep(0.1)
    raise AssertionError(f"entries of {request_id} were not sealed in {timeout}s")


@pytest.fixture(scope="module")
def audited(pg: Pg, demo_loaded: None) -> Iterator[Server]:
    server = Server(pg.app_url)
    yield server
    server.stop()


def test_a_query_is_audited_with_caller_request_id_source_and_outcome(pg: Pg, audited: Server) -> None:
    request_id = unique("req")
    r = audited.http.post("/graphql", json={"query": "query Look { providers { name } }"}, headers={"X-Request-ID": request_id})
    assert r.status_code == 200 and r.headers["X-Request-ID"] == request_id

    [entry] = wait_sealed(pg, request_id)
    assert (entry["type"], entry["priority"], entry["actor"], entry["outcome"]) == ("api.query", "info", ROOT["actor"], "success")
    assert entry["source"] == "127.0.0.1" and entry["target"] == "providers"
    assert entry["detail"] == {"operation": "query", "fields": ["providers"], "name": "Look"}


def test_a_request_id_that_is_not_sane_is_replaced(pg: Pg, audited: Server) -> None:
    r = audited.http.post("/graphql", json={"query": "{ __typename }"}, headers={"X-Request-ID": "bad id;<script>" + "x" * 200})
    given = r.headers["X-Request-ID"]
    assert len(given) == 32 and given.isalnum()
    assert [e["type"] for e in wait_sealed(pg, given)] == ["api.query"]


def test_a_mutation_and_the_changes_it_made_share_the_request_id_and_name_the_tenant(pg: Pg, audited: Server) -> None:
    provider = make_provider(audited)["id"]   # its own: the demo hierarchy stays as other tests expect it
    request_id, name = unique("req"), unique("tenant")
    r = audited.http.post(
        "/graphql",
        json={"query": "mutation($p: ID!, $n: String!) { tenantCreate(input: {providerId: $p, name: $n}) { ... on Tenant { id } } }",
              "variables": {"p": provider, "n": name}},
        headers={"X-Request-ID": request_id},
    )
    tenant = r.json()["data"]["tenantCreate"]["id"]

    rows = wait_sealed(pg, request_id)
    assert [(e["type"], e["priority"], e["outcome"]) for e in rows] == [
        ("panel.create", "info", "success"), ("api.mutation", "notice", "success")]
    change = rows[0]
    assert change["target"] == f"Tenant:{tenant}" and change["tenant"] == tenant
    assert change["detail"]["cause"] == {"source": "api"} and change["detail"]["name"] == name


def test_a_refused_mutation_is_a_failure_with_its_code_and_changes_nothing(pg: Pg, audited: Server) -> None:
    request_id = unique("req")
    before = entries(pg, "type LIKE 'panel.%%'", ())
    r = audited.http.post(
        "/graphql",
        json={"query": "mutation { tenantCreate(input: {providerId: \"00000000-0000-0000-0000-000000000000\", name: \"x\"}) "
                       "{ ... on NotFound { code } } }"},
        headers={"X-Request-ID": request_id},
    )
    assert r.json()["data"]["tenantCreate"] == {"code": "NOT_FOUND"}
    [entry] = wait_sealed(pg, request_id)
    assert (entry["type"], entry["priority"], entry["outcome"], entry["detail"]["codes"]) == (
        "api.mutation", "warn", "failure", ["NOT_FOUND"])
    assert entries(pg, "type LIKE 'panel.%%'", ()) == before


def test_a_malformed_request_is_audited_as_a_failure(pg: Pg, audited: Server) -> None:
    request_id = unique("req")
    audited.http.post("/graphql", json={"query": "{ providers { nope } }"}, headers={"X-Request-ID": request_id})
    [entry] = wait_sealed(pg, request_id)
    assert (entry["type"], entry["outcome"]) == ("api.query", "failure")


async def test_ingested_changes_name_their_stack_source_and_tenant(pg: Pg, demo_loaded: None) -> None:
    db = Database(pg.app_url, GRAPH, min_size=1, max_size=2)
    await db.open()
    try:
        [tenant] = [v for v in await db_find(db, "Tenant") if v["name"] == "fabrikam"]
        [sub] = [v for v in await db_find(db, "SubTenant") if v["name"] == "fabrikam-research"]
        result = await reconcile.apply_state(
            db, state.load(STATE), owner=sub["uid"], actor="ingest:test",
            organization=unique("org"), cause={"source": "stack-export", "file": STATE.name},
        )
    finally:
        await db.close()

    rows = entries(pg, "actor = 'ingest:test' AND detail -> 'cause' ->> 'stack' = %s", (result.stack,))
    created = [r for r in rows if r["type"] == "ci.create"]
    assert len(created) == result.created > 0
    assert {(r["tenant"], r["subtenant"]) for r in rows} == {(tenant["uid"], sub["uid"])}
    assert all(r["detail"]["cause"] == {"stack": result.stack, "source": "stack-export", "file": STATE.name}
               for r in rows)


async def db_find(db: Database, label: str) -> list[dict[str, Any]]:
    async with db.connection() as conn:
        cur = await conn.execute(f'SELECT properties FROM {GRAPH}."{label}"')
        return [row[0] for row in await cur.fetchall()]


def test_the_api_role_cannot_change_remove_backdate_or_pre_seal_entries(pg: Pg, audited: Server) -> None:
    audited.gql("{ __typename }")
    with psycopg.connect(pg.admin_url, autocommit=True) as admin:
        before = admin.execute("SELECT count(*), max(id) FROM skyloom.audit_entry").fetchone()
    attempts = [
        "UPDATE skyloom.audit_entry SET actor = 'someone else'",
        "DELETE FROM skyloom.audit_entry",
        "TRUNCATE skyloom.audit_entry",
        "INSERT INTO skyloom.audit_entry (priority, type, actor, outcome, at) VALUES ('info', 'x.y', 'a', 'success', '2001-01-01')",
        "INSERT INTO skyloom.audit_entry (priority, type, actor, outcome, hash) VALUES ('info', 'x.y', 'a', 'success', '\\x00')",
        "UPDATE skyloom.audit_head SET position = 0",
        "DELETE FROM skyloom.audit_anchor",
        "SELECT skyloom.audit_canonical(e) FROM skyloom.audit_info e LIMIT 1",
    ]
    with psycopg.connect(pg.app_url, autocommit=True) as app:
        for statement in attempts:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement)
    with psycopg.connect(pg.admin_url, autocommit=True) as admin:
        assert admin.execute("SELECT count(*), max(id) FROM skyloom.audit_entry").fetchone() == before
        # Even the owner cannot edit an entry in place: the trigger refuses.
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            admin.execute("UPDATE skyloom.audit_entry SET actor = 'x' WHERE id = %s", (before[1],))


def test_a_webhook_with_a_bad_signature_is_audited_as_denied(pg: Pg) -> None:
    server = Server(pg.app_url, extra_env={"SKYLOOM_PULUMI_WEBHOOK_SECRET": "s3cret-for-audit"})
    try:
        delivery = unique("delivery")
        r = server.http.post("/webhooks/pulumi", content=b"{}", headers={
            "Pulumi-Webhook-ID": delivery, "Pulumi-Webhook-Kind": "stack_update", "Pulumi-Webhook-Signature": "00" * 32})
        assert r.status_code == 401
    finally:
        server.stop()
    [entry] = entries(pg, "target = %s", (f"delivery:{delivery}",))
    assert (entry["type"], entry["priority"], entry["outcome"], entry["actor"]) == (
        "webhook.rejected", "warn", "denied", "pulumi-webhook:unverified")
    assert entry["detail"]["reason"] == "bad or missing signature"


def test_a_burst_of_10000_concurrent_calls_leaves_10000_entries(pg: Pg, audited: Server) -> None:
    prefix = unique("burst")

    async def burst() -> list[int]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=audited.url, limits=limits, timeout=120) as client:
            gate = asyncio.Semaphore(200)

            async def call(i: int) -> int:
                async with gate:
                    r = await client.post("/graphql", json={"query": "{ __typename }"}, headers={"X-Request-ID": f"{prefix}-{i}"})
                    return r.status_code

            return await asyncio.gather(*(call(i) for i in range(10_000)))

    statuses = asyncio.run(burst())
    assert statuses.count(200) == 10_000
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        count, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT request_id) FROM skyloom.audit_entry WHERE request_id LIKE %s", (f"{prefix}-%",)
        ).fetchone()
    assert (count, distinct) == (10_000, 10_000)


def test_graphql_pages_and_filters_the_trail(pg: Pg, audited: Server) -> None:
    request_id = unique("req")
    for _ in range(3):
        audited.http.post("/graphql", json={"query": "{ __typename }"}, headers={"X-Request-ID": request_id})
    query = """query($f: AuditFilter, $after: String) { auditTrail(filter: $f, first: 2, after: $after) {
        edges { node { type requestId outcome priority sealed } } pageInfo { hasNextPage endCursor } } }"""
    f = {"requestId": request_id, "types": ["api.*"], "priorities": ["INFO"]}
    first = audited.gql(query, {"f": f})["auditTrail"]
    second = audited.gql(query, {"f": f, "after": first["pageInfo"]["endCursor"]})["auditTrail"]
    nodes = [e["node"] for e in first["edges"] + second["edges"]]
    assert [n["requestId"] for n in nodes] == [request_id] * 3
    assert {(n["type"], n["outcome"], n["priority"]) for n in nodes} == {("api.query", "SUCCESS", "INFO")}
    assert (first["pageInfo"]["hasNextPage"], second["pageInfo"]["hasNextPage"]) == (True, False)

    status, errors, _ = audited.errors(query, {"f": f, "after": "not-a-cursor"})
    assert errors[0]["extensions"]["code"] == "INVALID_CURSOR"


def test_retention_is_changed_through_the_api_and_the_change_is_audited(pg: Pg, audited: Server) -> None:
    request_id = unique("req")
    body = {"query": "mutation { auditRetentionSet(priority: DEBUG, keepDays: 30) { ... on AuditRetention { keepDays } } }"}
    r = audited.http.post("/graphql", json=body, headers={"X-Request-ID": request_id})
    assert r.json()["data"]["auditRetentionSet"] == {"keepDays": 30}
    bad = audited.gql("mutation { auditRetentionSet(priority: DEBUG, keepDays: 0) { ... on ValidationProblem { field } } }")
    assert bad["auditRetentionSet"] == {"field": "keepDays"}
    kept = {r["priority"]: r["keepDays"] for r in audited.gql("{ auditRetention { priority keepDays } }")["auditRetention"]}
    assert kept == {"DEBUG": 30, "INFO": 400, "NOTICE": 400, "WARN": 400, "ERROR": 400, "CRITICAL": 400}
    assert [e["type"] for e in wait_sealed(pg, request_id)] == ["audit.retention_changed", "api.mutation"]


# --- the chain check, on a database of its own (these tests tamper with it) -------------------------


@pytest.fixture
def own_db(pg: Pg) -> Iterator[Pg]:
    admin = with_dbname(pg.admin_url, "postgres")
    name = f"skyloom_audit_{secrets.token_hex(4)}"
    ensure_database(admin, name, APP_ROLE)
    migrate(with_dbname(admin, name), GRAPH, APP_ROLE)
    yield Pg(name, with_dbname(admin, name), with_dbname(pg.app_url, name))
    drop_database(admin, name)


async def fill(pg: Pg, count: int, priority: str = "info") -> None:
    db = Database(pg.app_url, GRAPH, min_size=1, max_size=2)
    await db.open()
    try:
        async with db.connection() as conn:
            async with conn.transaction():
                await audit.record(conn, [audit.Entry(type="test.event", actor=f"user:{i}", priority=priority,  # type: ignore[arg-type]
                                                      detail={"n": i}) for i in range(count)])
        await audit.seal_all(db)
    finally:
        await db.close()


async def check(pg: Pg) -> audit_reads.Verification:
    db = Database(pg.app_url, GRAPH, min_size=1, max_size=2)
    await db.open()
    try:
        return await audit_reads.verify(db)
    finally:
        await db.close()


def tamper(pg: Pg, statement: str) -> None:
    """What an attacker with the database owner's password could do: bypass the trigger and edit."""
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute(statement)


async def test_an_intact_trail_verifies(own_db: Pg) -> None:
    await fill(own_db, 50)
    await fill(own_db, 5, "critical")
    result = await check(own_db)
    assert (result.ok, result.checked, result.unsealed) == (True, 55, 0)


async def test_a_changed_entry_is_the_first_broken_link(own_db: Pg) -> None:
    await fill(own_db, 20)
    tamper(own_db, "UPDATE skyloom.audit_entry SET detail = '{\"n\": 999}' WHERE position = 7 AND priority = 'info'")
    result = await check(own_db)
    assert not result.ok
    assert (result.first_broken.priority, result.first_broken.position, result.first_broken.reason) == (
        "info", 7, "the entry was changed after it was sealed")


async def test_a_deleted_entry_and_a_deleted_tail_are_found(own_db: Pg) -> None:
    await fill(own_db, 20)
    await fill(own_db, 4, "warn")
    tamper(own_db, "DELETE FROM skyloom.audit_entry WHERE priority = 'info' AND position = 12")
    tamper(own_db, "DELETE FROM skyloom.audit_entry WHERE priority = 'warn' AND position = 4")
    result = await check(own_db)
    reasons = {(b.priority, b.position): b.reason for b in result.broken_chains}
    assert reasons == {
        ("info", 12): "entry at position 12 is missing (the next one is at 13)",
        ("warn", 4): "entries after position 3 are missing (the head is at 4)",
    }


def test_verify_command_exits_1_and_names_the_broken_link(own_db: Pg) -> None:
    asyncio.run(fill(own_db, 10))
    env = {"SKYLOOM_DATABASE_URL": own_db.app_url, "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    ok = subprocess.run([sys.executable, "-m", "skyloom.cli", "audit", "verify"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and "every chain is intact" in ok.stderr and "10 entries checked" in ok.stderr
    tamper(own_db, "UPDATE skyloom.audit_entry SET actor = 'user:innocent' WHERE position = 3")
    broken = subprocess.run([sys.executable, "-m", "skyloom.cli", "audit", "verify"], env=env, capture_output=True, text=True)
    assert broken.returncode == 1
    assert "info chain at position 3" in broken.stderr and "changed after it was sealed" in broken.stderr


async def test_expiry_drops_old_months_keeps_the_chain_verifiable_and_says_so(own_db: Pg) -> None:
    with psycopg.connect(own_db.admin_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE skyloom.audit_debug_2020_01 PARTITION OF skyloom.audit_debug "
                     "FOR VALUES FROM ('2020-01-01') TO ('2020-02-01')")
        conn.execute("INSERT INTO skyloom.audit_entry (priority, at, type, actor, outcome) "
                     "SELECT 'debug', '2020-01-15'::timestamptz + n * interval '1 minute', 'test.old', 'system:test', 'success' "
                     "FROM generate_series(1, 30) n")
    await fill(own_db, 5, "debug")
    db = Database(own_db.app_url, GRAPH, min_size=1, max_size=2)
    await db.open()
    try:
        assert await audit.expire(db, "system:test") == 1
        await audit.seal_all(db)
    finally:
        await db.close()
    result = await check(own_db)
    assert (result.ok, result.checked) == (True, 5 + 1)  # the 5 recent debug entries and the expiry notice
    with psycopg.connect(own_db.admin_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM skyloom.audit_entry WHERE type = 'test.old'").fetchone() == (0,)
        (detail,) = conn.execute("SELECT detail FROM skyloom.audit_entry WHERE type = 'audit.expired'").fetchone()
        anchor = conn.execute("SELECT position FROM skyloom.audit_anchor WHERE priority = 'debug' ORDER BY position DESC LIMIT 1").fetchone()
    assert detail == {"priority": "debug", "month": "2020-01", "entries": 30, "keepDays": 400, "lastPosition": 30}
    assert anchor == (30,)


def test_export_writes_every_entry_as_a_json_line(own_db: Pg, tmp_path: Path) -> None:
    asyncio.run(fill(own_db, 12))
    out = tmp_path / "trail.jsonl"
    env = {"SKYLOOM_DATABASE_URL": own_db.app_url, "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    done = subprocess.run([sys.executable, "-m", "skyloom.cli", "audit", "export", "-o", str(out), "--type", "test.*"],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["detail"]["n"] for line in lines] == list(range(12))
    assert [line["position"] for line in lines] == list(range(1, 13))
    assert all(len(line["hash"]) == 64 and len(line["prevHash"]) == 64 for line in lines)
    assert all(a["hash"] == b["prevHash"] for a, b in zip(lines, lines[1:]))


class Collector:
    """A real syslog collector on loopback: reads octet-counted frames (RFC 5425) over TCP or TLS."""

    def __init__(self, context: Any = None) -> None:
        self.context = context
        self.messages: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                length = await reader.readuntil(b" ")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            self.messages.append(await reader.readexactly(int(length)))
        writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=self.context)
        return f"{'tls' if self.context else 'tcp'}://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: Any) -> None:
        self.server.close()
        await self.server.wait_closed()


def self_signed(tmp: Path) -> tuple[Path, Path]:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "collector.test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp / "collector.pem", tmp / "collector.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


async def forward(pg: Pg, url: str, ca_file: str | None = None) -> int:
    from skyloom.syslog import Destination, Forwarder

    db = Database(pg.app_url, GRAPH, min_size=1, max_size=3)
    await db.open()
    try:
        return await Forwarder(db, Destination.parse(url, ca_file), batch=7, hostname="api-1").forward_once()
    finally:
        await db.close()


async def test_entries_go_to_a_syslog_collector_over_tcp_once_each_in_rfc5424(own_db: Pg) -> None:
    await fill(own_db, 10)
    await fill(own_db, 2, "error")
    collector = Collector()
    async with collector as url:
        assert await forward(own_db, url) == 12
        await fill(own_db, 3)
        assert await forward(own_db, url) == 3   # resumes after what the collector already has
        assert await forward(own_db, url) == 0
        await asyncio.sleep(0.2)
    assert len(collector.messages) == 15
    first = collector.messages[0].decode()
    # <PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] BOM MSG; facility 13 (audit), severity 6 (info)
    header, _, rest = first.partition(" [")
    pri_version, stamp, host, app, procid, msgid = header.split(" ")
    assert (pri_version, host, app, procid, msgid) == ("<110>1", "api-1", "skyloom", "-", "test.event")
    assert stamp.endswith("Z") and 'actor="user:0"' in rest and 'position="1"' in rest
    assert rest.endswith('\ufeff{"n": 0}')
    errors = [m.decode() for m in collector.messages if m.startswith(b"<107>1 ")]   # severity 3 (error)
    assert len(errors) == 2


async def test_entries_go_to_a_syslog_collector_over_tls_and_an_unknown_ca_is_refused(own_db: Pg, tmp_path: Path) -> None:
    import ssl

    from skyloom.syslog import SyslogError

    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    await fill(own_db, 4)
    collector = Collector(context)
    async with collector as url:
        with pytest.raises(SyslogError, match="cannot reach"):
            await forward(own_db, url)            # the system trust store does not know this collector
        assert await forward(own_db, url, str(cert)) == 4
        await asyncio.sleep(0.2)
    assert [m.split(b" ")[0] for m in collector.messages] == [b"<110>1"] * 4
