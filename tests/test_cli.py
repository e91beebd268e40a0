"""The `skyloom` command as a user runs it: help, clear errors when the host cannot provision, idempotence."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

# Runs the real CLI; the one line before it pretends the process is not root, which this
# machine (where everything runs as root) cannot otherwise show.
AS_NON_ROOT = "import os, sys; os.geteuid = lambda: 65534; from skyloom.cli import main; sys.argv[0] = 'skyloom'; main()"


def run(*args: str, env: dict[str, str] | None = None, code: str | None = None) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "skyloom.cli", *args]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SKYLOOM_")}
    return subprocess.run(argv, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=120, cwd=REPO)


def test_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("up", "serve", "db", "demo", "schema"):
        assert f"  {command} " in result.stdout
    db_help = run("db", "--help")
    for command in ("up", "down", "status", "migrate"):
        assert f"  {command} " in db_help.stdout


def test_provisioning_without_root_says_what_to_do_instead(tmp_path: Path) -> None:
    result = run("db", "up", env={"SKYLOOM_CACHE_DIR": str(tmp_path)}, code=AS_NON_ROOT)
    assert result.returncode == 1
    assert "needs root" in result.stderr and "SKYLOOM_DATABASE_URL" in result.stderr
    assert not (tmp_path / "pgroot").exists()


def test_provisioning_without_debootstrap_says_what_to_do_instead(tmp_path: Path) -> None:
    bin_only = str(Path(sys.executable).parent)
    result = run("db", "up", env={"SKYLOOM_CACHE_DIR": str(tmp_path), "PATH": bin_only})
    assert result.returncode == 1
    assert "debootstrap is not installed" in result.stderr and "SKYLOOM_DATABASE_URL" in result.stderr
    assert not (tmp_path / "pgroot").exists()


def test_status_of_an_unprovisioned_cache_is_not_running(tmp_path: Path) -> None:
    result = run("db", "status", env={"SKYLOOM_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 1 and "not provisioned" in result.stderr


def test_db_down_refuses_a_database_it_does_not_manage() -> None:
    result = run("db", "down", env={"SKYLOOM_DATABASE_URL": "postgresql://x@127.0.0.1:1/x"})
    assert result.returncode == 1 and "does not manage" in result.stderr


def test_demo_load_is_idempotent(pg, demo_loaded) -> None:
    result = run("demo", "load", env={"SKYLOOM_DATABASE_URL": pg.app_url})
    assert result.returncode == 0, result.stderr
    assert "already loaded" in result.stderr


def test_non_numeric_settings_are_a_clear_error() -> None:
    result = run("db", "status", env={"SKYLOOM_PORT": "eighty"})
    assert result.returncode != 0 and "SKYLOOM_PORT must be an integer" in result.stderr


def test_provisioning_without_network_says_what_to_do_instead(tmp_path: Path) -> None:
    # A fresh network namespace has no route anywhere: the package registry is unreachable.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SKYLOOM_")}
    result = subprocess.run(
        ["unshare", "--net", sys.executable, "-m", "skyloom.cli", "db", "up"],
        env={**clean, "SKYLOOM_CACHE_DIR": str(tmp_path)}, capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert result.returncode == 1
    assert "could not build the database root" in result.stderr and "SKYLOOM_DATABASE_URL" in result.stderr
    assert not (tmp_path / "pgroot").exists() and not (tmp_path / "pgroot.partial").exists()
