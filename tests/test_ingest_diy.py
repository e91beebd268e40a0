"""A self-managed backend directory, scanned through the CLI: changed checkpoints only, each once."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, Pg, Server
from tests.test_ingest_translate import STATES
from tests.test_mutations import backend, provider, tenancy, tenant

CHECKPOINT = next(p for p in STATES if p.name == "aws-diy-backend-checkpoint-s3.json")
HISTORY = REPO.parent / "shared" / "data" / "pulumi" / "update-history" / "aws" / "diy-backend-update-history.json"


def watch(pg: Pg, root: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYLOOM_")}
    return subprocess.run(
        [sys.executable, "-m", "skyloom.cli", "ingest", "watch", str(root), *extra],
        env={**env, "SKYLOOM_DATABASE_URL": pg.app_url}, capture_output=True, text=True, timeout=120, cwd=REPO,
    )


@pytest.fixture
def backend_dir(tmp_path: Path) -> Path:
    stacks = tmp_path / ".pulumi" / "stacks" / "s3bucket-test"
    stacks.mkdir(parents=True)
    (stacks / "test-upsert.json").write_bytes(CHECKPOINT.read_bytes())
    (stacks / "test-upsert.json.bak").write_text("{ left over")  # Pulumi's backup: never read
    history = tmp_path / ".pulumi" / "history" / "s3bucket-test" / "test-upsert"
    history.mkdir(parents=True)
    (history / "test-upsert-1764795521993466000.history.json").write_bytes(HISTORY.read_bytes())
    return tmp_path


@pytest.fixture
def owner(server: Server) -> tuple[str, str]:
    p = provider(server)
    root = tenancy(server, backend(server, p["id"], "AWS")["id"])
    return tenant(server, p["id"])["id"], root["id"]


def test_changed_checkpoints_are_applied_once(pg: Pg, server: Server, backend_dir: Path, owner: tuple[str, str]) -> None:
    client, root = owner
    args = ("--owner", client, "--default-tenancy", root)
    first = watch(pg, backend_dir, *args)
    assert first.returncode == 0, first.stderr
    assert "organization/s3bucket-test/test-upsert: 1 created" in first.stderr and "1 applied, 0 unchanged" in first.stderr
    assert "organization/s3bucket-test/test-upsert: 1 update(s) recorded" in first.stderr
    again = watch(pg, backend_dir, *args)
    assert "0 applied, 1 unchanged" in again.stderr and "update(s) recorded" not in again.stderr

    stack = server.gql(
        'query($t: ID!) { cis(filter: {text: "test-bucket", kinds: [ObjectStore], tenancyId: $t}) { edges { node { '
        "neighbours(types: [MANAGED_BY]) { node { "
        "... on Stack { name lastUpdate { version kind result message author resourceChanges startedAt } "
        "history { edges { node { operation actor after } } } } } } } } } }",
        {"t": root},
    )["cis"]["edges"]
    [managed] = [e["node"]["neighbours"][0]["node"] for e in stack if e["node"]["neighbours"]]
    assert managed["lastUpdate"] == {
        "version": 0, "kind": "update", "result": "succeeded", "message": "Keep state", "author": "Anton Tayanovskyy",
        "resourceChanges": {"create": 2}, "startedAt": "2025-12-03T20:58:41+00:00",
    }
    versions = managed["history"]["edges"]
    assert [(v["node"]["operation"], v["node"]["actor"]) for v in versions][-1] == ("UPDATE", "pulumi:Anton Tayanovskyy")
    assert "PULUMI_ACCESS_TOKEN" not in json.dumps(versions)  # the update's environment is not kept

    live = backend_dir / ".pulumi" / "stacks" / "s3bucket-test" / "test-upsert.json"
    data = json.loads(live.read_text())
    bucket = next(r for r in data["checkpoint"]["latest"]["resources"] if r["type"] == "aws:s3/bucket:Bucket")
    bucket["outputs"]["tags"] = {"team": "storage"}
    live.unlink()
    (live.parent / "test-upsert.json.gz").write_bytes(gzip.compress(json.dumps(data).encode()))
    third = watch(pg, backend_dir, *args)
    assert "0 created, 1 updated" in third.stderr, third.stderr
    tagged = server.gql(
        'query($t: ID!) { cis(filter: {kinds: [ObjectStore], tenancyId: $t, tags: [{key: "team", value: "storage"}]}) { edges { node { name version } } } }',
        {"t": root},
    )
    assert {"name": "test-bucket", "version": 2} in [e["node"] for e in tagged["cis"]["edges"]]


def test_a_corrupt_checkpoint_is_refused_and_the_rest_applied(pg: Pg, backend_dir: Path, owner: tuple[str, str]) -> None:
    client, root = owner
    broken = backend_dir / ".pulumi" / "stacks" / "other" / "dev.json"
    broken.parent.mkdir()
    broken.write_text('{"version": 3, "checkpoint": ')
    result = watch(pg, backend_dir, "--owner", client, "--default-tenancy", root)
    assert result.returncode == 1
    assert "dev.json: " in result.stderr and "not JSON" in result.stderr
    assert "1 applied, 0 unchanged, 1 refused" in result.stderr
