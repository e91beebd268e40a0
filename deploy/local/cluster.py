"""A local PostgreSQL 17 + Apache AGE 1.5 server in a Debian trixie root that the project builds itself.

Debian 12 ships no AGE package; Debian 13 does. Rather than asking for a container engine, we
debootstrap a minimal trixie root once (about 45 s, cached outside the clone so CI and later runs
reuse it) and run PostgreSQL inside it with ``chroot``, listening on a loopback port. Anyone with
their own PostgreSQL + AGE sets ``SKYLOOM_DATABASE_URL`` instead and never comes here.

Roles created in the cluster:

* ``postgres``: superuser, used only to bootstrap and to migrate (AGE's ``create_graph`` writes
  into ``ag_catalog`` tables that only the extension owner may change);
* ``skyloom_app``: what the API connects as; neither owner nor superuser, ``search_path``
  includes ``ag_catalog``.

Passwords are random, kept in ``local.json`` (mode 0600) beside the root, like a ``.pgpass``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from skyloom.deploy.local.errors import ProvisionError

PG_BIN = "/usr/lib/postgresql/17/bin"
APP_ROLE = "skyloom_app"
ADMIN_ROLE = "postgres"
ROOT_MARKER = "etc/skyloom-root-ready"

Progress = Callable[[str], None]

_SERVER_SETTINGS = """
# written by skyloom: local development / test server
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
shared_preload_libraries = 'age,pg_stat_statements'
max_connections = 300
shared_buffers = '512MB'
work_mem = '16MB'
maintenance_work_mem = '256MB'
max_wal_size = '4GB'
fsync = {fsync}
synchronous_commit = {fsync}
full_page_writes = {fsync}
"""


@dataclass(frozen=True)
class LocalStatus:
    provisioned: bool
    initialised: bool
    running: bool
    port: int
    root: Path

    def describe(self) -> str:
        if not self.provisioned:
            return f"not provisioned (root would be {self.root})"
        if not self.initialised:
            return f"provisioned at {self.root}, no cluster yet"
        state = "running" if self.running else "stopped"
        return f"{state} on 127.0.0.1:{self.port} (root {self.root})"


class LocalCluster:
    """Idempotent up / down / status for the project's own database server."""

    def __init__(self, cache_dir: Path, port: int, *, instance: str = "main", durable: bool = True) -> None:
        """`instance` names a separate server (data directory, port, passwords) in the same root."""
        self.cache_dir = cache_dir
        self.root = cache_dir / "pgroot"
        self.port = port
        self.durable = durable
        self.state_file = cache_dir / f"{instance}.json"
        self.socket_dir = f"/srv/skyloom/{instance}"
        self.data_dir = f"{self.socket_dir}/pgdata"
        self.log_file = f"{self.socket_dir}/postgresql.log"

    # -- public -------------------------------------------------------------------------------
    def status(self) -> LocalStatus:
        provisioned = (self.root / ROOT_MARKER).exists()
        initialised = provisioned and (self._host_path(self.data_dir) / "PG_VERSION").exists()
        running = initialised and self._is_running()
        return LocalStatus(provisioned, initialised, running, self._state().get("port", self.port), self.root)

    def up(self, progress: Progress = lambda _msg: None) -> None:
        """Provision (once), initialise (once) and start the server; a no-op when it runs."""
        if not (self.root / ROOT_MARKER).exists():
            self._provision(progress)
        if not (self._host_path(self.data_dir) / "PG_VERSION").exists():
            progress("initialising the database cluster")
            self._initdb()
        changed = self._write_settings()
        if not self._is_running():
            progress(f"starting PostgreSQL on 127.0.0.1:{self._state()['port']}")
            self._start()
        elif changed:
            progress("restarting PostgreSQL to apply new settings")
            self._chroot_pg(f"{PG_BIN}/pg_ctl -D {self.data_dir} -m fast -w -t 60 restart")
        self._bootstrap_roles()

    def down(self) -> bool:
        """Stop the server; returns False when it was not running."""
        if not self._is_running():
            return False
        self._chroot_pg(f"{PG_BIN}/pg_ctl -D {self.data_dir} -m fast -w stop")
        return True

    def destroy(self) -> None:
        """Stop the server and remove its data directory and credentials (the root stays cached)."""
        self.down()
        shutil.rmtree(self._host_path(self.socket_dir), ignore_errors=True)
        self.state_file.unlink(missing_ok=True)

    def admin_url(self, dbname: str = "postgres") -> str:
        state = self._state()
        return self._url(ADMIN_ROLE, state["admin_password"], dbname)

    def app_url(self, dbname: str) -> str:
        state = self._state()
        return self._url(APP_ROLE, state["app_password"], dbname)

    # -- provisioning -------------------------------------------------------------------------
    def _provision(self, progress: Progress) -> None:
        if os.geteuid() != 0:
            raise ProvisionError(
                "building the local database needs root (debootstrap and chroot). Run as root, "
                "or set SKYLOOM_DATABASE_URL to an existing PostgreSQL 17 + Apache AGE 1.5."
            )
        debootstrap = shutil.which("debootstrap")
        if debootstrap is None:
            raise ProvisionError(
                "debootstrap is not installed (apt-get install debootstrap), so the local database "
                "cannot be built. Install it, or set SKYLOOM_DATABASE_URL to an existing "
                "PostgreSQL 17 + Apache AGE 1.5."
            )
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        staging = self.cache_dir / "pgroot.partial"
        if staging.exists():
            shutil.rmtree(staging)
        progress("building a Debian trixie root with PostgreSQL 17 + AGE (once, about a minute)")
        cmd = [debootstrap, "--variant=minbase", "--include=postgresql-17-age", "trixie", str(staging)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        tail: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail = (tail + [line])[-15:]
            if line.startswith("I: "):
                progress(line[3:])
        if proc.wait() != 0:
            shutil.rmtree(staging, ignore_errors=True)
            detail = "\n  ".join(tail)
            raise ProvisionError(
                "debootstrap could not build the database root (is Debian's package registry "
                "reachable from here?). Set SKYLOOM_DATABASE_URL to an existing PostgreSQL 17 + "
                f"Apache AGE 1.5 instead.\n  {detail}"
            )
        (staging / ROOT_MARKER).write_text("postgresql-17-age\n")
        if self.root.exists():
            shutil.rmtree(self.root)
        staging.rename(self.root)

    def _initdb(self) -> None:
        state = self._state()
        srv = self._host_path(self.socket_dir)
        srv.mkdir(parents=True, exist_ok=True)
        pwfile = srv / ".initdb-pw"
        pwfile.write_text(state["admin_password"])
        try:
            self._chroot(["chown", "-R", "postgres:postgres", self.socket_dir])
            self._chroot_pg(
                f"{PG_BIN}/initdb -D {self.data_dir} -U {ADMIN_ROLE} -E UTF8 --locale=C.UTF-8 "
                f"--auth-local=peer --auth-host=scram-sha-256 --pwfile={self.socket_dir}/.initdb-pw"
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self._write_settings()

    def _write_settings(self) -> bool:
        """(Re)write our server settings; True when they changed (a running server needs a restart)."""
        main_conf = self._host_path(self.data_dir) / "postgresql.conf"
        include = "include_if_exists = 'skyloom.conf'"
        if include not in main_conf.read_text():
            with main_conf.open("a") as fh:
                fh.write(f"\n{include}\n")
        state = self._state()
        conf = self._host_path(self.data_dir) / "skyloom.conf"
        wanted = _SERVER_SETTINGS.format(
            port=state["port"], socket_dir=self.socket_dir, fsync="on" if self.durable else "off"
        )
        if conf.exists() and conf.read_text() == wanted:
            return False
        conf.write_text(wanted)
        self._chroot(["chown", "postgres:postgres", f"{self.data_dir}/skyloom.conf"])
        return True

    def _start(self) -> None:
        try:
            self._chroot_pg(f"{PG_BIN}/pg_ctl -D {self.data_dir} -l {self.log_file} -w -t 60 start")
        except ProvisionError as exc:
            log = self._host_path(self.log_file)
            tail = log.read_text(errors="replace").splitlines()[-10:] if log.exists() else []
            raise ProvisionError(f"{exc}\n  " + "\n  ".join(tail)) from None

    def _bootstrap_roles(self) -> None:
        """Create the application role (idempotent), through the superuser's local socket."""
        state = self._state()
        sql = (
            "DO $$ BEGIN "
            f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN "
            f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; END IF; END $$;\n"
            f"ALTER ROLE {APP_ROLE} PASSWORD '{state['app_password']}';\n"
            f"ALTER ROLE {APP_ROLE} SET search_path = ag_catalog, \"$user\", public;\n"
        )
        # The passwords are our own random hex strings, never user input: pasting them is safe.
        self._chroot_pg(f"{PG_BIN}/psql -X -q -v ON_ERROR_STOP=1 -h {self.socket_dir} -p {state['port']} -d postgres", stdin=sql)

    # -- helpers ------------------------------------------------------------------------------
    def _state(self) -> dict:
        if self.state_file.exists():
            return json.loads(self.state_file.read_text())
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "port": self.port,
            "admin_password": secrets.token_hex(24),
            "app_password": secrets.token_hex(24),
        }
        fd = os.open(self.state_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(state, fh)
        return state

    def _url(self, role: str, password: str, dbname: str) -> str:
        return f"postgresql://{role}:{password}@127.0.0.1:{self._state()['port']}/{dbname}"

    def _host_path(self, inner: str) -> Path:
        return self.root / inner.lstrip("/")

    def _is_running(self) -> bool:
        pidfile = self._host_path(self.data_dir) / "postmaster.pid"
        if not pidfile.exists():
            return False
        try:
            pid = int(pidfile.read_text().split()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            return False
        return self._accepting()

    def _accepting(self) -> bool:
        for _ in range(50):
            result = subprocess.run(
                ["chroot", str(self.root), f"{PG_BIN}/pg_isready", "-q", "-h", self.socket_dir, "-p", str(self._state()["port"])],
                capture_output=True,
            )
            if result.returncode == 0:
                return True
            if result.returncode == 2:  # no response: not running
                return False
            time.sleep(0.1)  # 1 = starting up or shutting down
        return False

    def _chroot(self, argv: list[str], stdin: str | None = None) -> None:
        result = subprocess.run(["chroot", str(self.root), *argv], input=stdin, capture_output=True, text=True)
        if result.returncode != 0:
            raise ProvisionError(f"{' '.join(argv[:2])} failed: {result.stderr.strip() or result.stdout.strip()}")

    def _chroot_pg(self, command: str, stdin: str | None = None) -> None:
        self._chroot(["su", "postgres", "-s", "/bin/sh", "-c", command], stdin=stdin)
