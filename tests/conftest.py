"""Shared fixtures: a fresh database on the real PostgreSQL + AGE, real API processes, real clients."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from skyloom import demo, runtime
from skyloom.deploy.local.cluster import APP_ROLE
from skyloom.graph.admin import drop_database, drop_orphan_tenant_roles, ensure_database, with_dbname
from skyloom.graph.migrate import migrate
from skyloom.graph.pool import Database
from skyloom.settings import Settings

REPO = Path(__file__).resolve().parent.parent
GRAPH = "cmdb"


@dataclass(frozen=True)
class Pg:
    name: str
    admin_url: str  # superuser, on the test database
    app_url: str  # the unprivileged role the API uses


# The bearer token of the test session's root operator (a service account bound as
# provider-operator at installation scope): what `Server` and `Subscriber` send unless told otherwise.
ROOT: dict[str, str] = {}


def make_token(app_url: str, name: str, bindings: list[tuple[str, str, str]]) -> tuple[str, str]:
    """A service account with role bindings (role, scope kind, scope id): (its bearer token, its actor id)."""
    from skyloom.graph import identity

    async def make() -> tuple[str, str]:
        db = Database(app_url, GRAPH, min_size=1, max_size=1)
        await db.open()
        try:
            account = await identity.create_service_account(db, name, "system:tests")
            for role, scope_kind, scope_id in bindings:
                await identity.create_binding(db, "service", account.id, role, scope_kind, scope_id, "system:tests")
            token, _ = await identity.create_api_token(db, account.id, f"{name} token", "system:tests")
            return token, f"service:{account.id}"
        finally:
            await db.close()

    return asyncio.run(make())


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
def pg(settings: Settings) -> Iterator[Pg]:
    """A database of its own for this test session, on the project's real PostgreSQL + AGE."""
    cluster = runtime.local_cluster(settings)
    cluster.up()
    name = f"skyloom_test_{secrets.token_hex(4)}"
    admin = cluster.admin_url()
    ensure_database(admin, name, APP_ROLE)
    migrate(with_dbname(admin, name), GRAPH, APP_ROLE)
    ROOT["token"], ROOT["actor"] = make_token(cluster.app_url(name), "test-root", [("provider-operator", "installation", "*")])
    yield Pg(name, with_dbname(admin, name), cluster.app_url(name))
    drop_database(admin, name)
    drop_orphan_tenant_roles(admin)


@pytest.fixture(scope="session")
def demo_loaded(pg: Pg) -> None:
    async def load() -> None:
        db = Database(pg.app_url, GRAPH, min_size=1, max_size=2)
        await db.open()
        try:
            await demo.load(db)
        finally:
            await db.close()

    asyncio.run(load())


def stop_process(proc: subprocess.Popen) -> None:
    """Stop a process a test started (by its handle, so by its PID): politely, then for sure."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GraphQLError(AssertionError):
    pass


class Server:
    """A real `skyloom serve` process on a loopback port."""

    def __init__(
        self, database_url: str, extra_env: dict[str, str] | None = None, args: tuple[str, ...] = (), token: str | None = None,
        port: int | None = None,
    ) -> None:
        self.token = token if token is not None else ROOT.get("token")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/graphql"
        env = {**os.environ, "SKYLOOM_DATABASE_URL": database_url, **(extra_env or {})}
        self.log = open(REPO / ".pytest_cache" / f"server-{self.port}.log", "w") if (REPO / ".pytest_cache").exists() else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "skyloom.cli", "serve", "--port", str(self.port), *args],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.http = httpx.Client(base_url=self.url, timeout=30, headers=headers)
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                r = self.http.get("/healthz")
                if r.status_code == 200 and r.json()["changeFeed"]:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not become healthy")

    def post(self, body: Any) -> httpx.Response:
        return self.http.post("/graphql", json=body)

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run an operation that must succeed; returns `data`."""
        r = self.post({"query": query, "variables": variables or {}})
        body = r.json()
        if r.status_code != 200 or body.get("errors"):
            raise GraphQLError(json.dumps(body, indent=1))
        return body["data"]

    def errors(self, query: str, variables: dict[str, Any] | None = None) -> tuple[int, list[dict[str, Any]], Any]:
        """Run an operation that must fail; returns (status, errors, data)."""
        r = self.post({"query": query, "variables": variables or {}})
        body = r.json()
        assert body.get("errors"), f"expected errors, got {body}"
        return r.status_code, body["errors"], body.get("data")

    def stop(self) -> None:
        self.http.close()
        stop_process(self.proc)
        if self.log is not subprocess.DEVNULL:
            self.log.close()


@pytest.fixture(scope="session")
def server(pg: Pg, demo_loaded: None) -> Iterator[Server]:
    srv = Server(pg.app_url)
    yield srv
    srv.stop()


class Subscriber:
    """The graphql-ws reference client (npm) in a node process, one JSON line per event."""

    def __init__(
        self, ws_url: str, query: str, variables: dict[str, Any] | None = None, count: int = 1, timeout_ms: int = 20000,
        token: str | None = None,
    ) -> None:
        script = REPO / "tests" / "clients" / "subscribe.mjs"
        token = token if token is not None else ROOT.get("token", "")
        self.proc = subprocess.Popen(
            ["node", str(script), ws_url, query, json.dumps(variables or {}), str(count), str(timeout_ms)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "SKYLOOM_TOKEN": token},
        )

    def wait_connected(self) -> None:
        line = self.proc.stdout.readline()
        assert line, f"subscriber died: {self.proc.stderr.read()}"
        assert json.loads(line)["event"] == "connected", line

    def results(self, timeout: float = 30) -> tuple[int, list[dict[str, Any]]]:
        """Wait for the client to finish; returns (exit code, every line it printed after connecting)."""
        out, err = self.proc.communicate(timeout=timeout)
        lines = [json.loads(line) for line in out.splitlines() if line.strip()]
        return self.proc.returncode, lines

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def subscribe() -> Iterator[Any]:
    made: list[Subscriber] = []

    def make(*args: Any, **kwargs: Any) -> Subscriber:
        sub = Subscriber(*args, **kwargs)
        made.append(sub)
        return sub

    yield make
    for sub in made:
        sub.kill()


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"
