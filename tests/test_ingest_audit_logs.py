"""Pulumi Cloud audit logs into the audit trail through the CLI: real recorded events, paged, checkpointed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.clients.fake_pulumi_cloud import FakeCloud
from tests.conftest import REPO, Pg, Server, unique
from tests.test_mutations import provider, tenant

TOKEN = "pul-audit-token"
LOGS = REPO.parent / "shared" / "data" / "pulumi" / "audit-logs" / "generic"
RECORDED = [e for name in ("pulumi-docs-auditlogs-json-v2-style.json", "pulumi-docs-auditlogs-json-v1-style.json")
            for e in json.loads((LOGS / name).read_text())["auditLogEvents"]]


@pytest.fixture(scope="module")
def cloud() -> Iterator[str]:
    with FakeCloud.serving(TOKEN) as url:
        yield url


def take(pg: Pg, cloud: str, org: str, *owner: str, token: str = TOKEN) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYLOOM_")}
    env |= {"SKYLOOM_DATABASE_URL": pg.app_url, "SKYLOOM_PULUMI_API_URL": cloud, "SKYLOOM_PULUMI_ACCESS_TOKEN": token}
    return subprocess.run(
        [sys.executable, "-m", "skyloom.cli", "ingest", "audit-logs", "--organization", org, *owner],
        env=env, capture_output=True, text=True, timeout=120, cwd=REPO,
    )


def trail(pg: Pg, org: str) -> list[dict[str, Any]]:
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        return cur.execute("SELECT * FROM skyloom.audit_entry WHERE target = %s ORDER BY id", (f"pulumi-org:{org}",)).fetchall()


def test_recorded_events_land_in_the_trail_once_each_naming_the_pulumi_user(pg: Pg, server: Server, cloud: str) -> None:
    org = unique("auditorg")
    owner = tenant(server, provider(server)["id"])["id"]
    FakeCloud.audit_events[org] = [dict(e) for e in RECORDED]

    first = take(pg, cloud, org, "--owner", owner)
    assert first.returncode == 0, first.stderr
    assert "5 new event(s)" in first.stderr
    rows = trail(pg, org)
    assert [r["detail"]["occurredAt"][:19] for r in rows] == sorted(r["detail"]["occurredAt"][:19] for r in rows)
    by_event = {r["detail"]["event"]: r for r in rows}
    started = by_event["stack-update-started"]
    assert (started["type"], started["actor"], started["source"], started["tenant"], started["priority"]) == (
        "pulumi.stack_update_started", "pulumi:arivera", "203.0.113.42", owner, "info")
    assert started["detail"]["tokenName"] == "ci-deploy"
    assert (by_event["member-added"]["priority"], by_event["member-added"]["detail"]["requiresOrgAdmin"]) == ("notice", True)
    assert by_event["Stack Update Started"]["type"] == "pulumi.stack_update_started"

    again = take(pg, cloud, org, "--owner", owner)
    assert again.returncode == 0 and "0 new event(s)" in again.stderr
    assert len(trail(pg, org)) == 5


def test_a_new_event_in_the_same_second_as_the_checkpoint_is_taken_and_old_ones_are_not(pg: Pg, server: Server, cloud: str) -> None:
    org = unique("auditorg")
    newest = max(e["timestamp"] for e in RECORDED)
    FakeCloud.audit_events[org] = [dict(e) for e in RECORDED]
    assert take(pg, cloud, org).returncode == 0
    same_second = {"timestamp": newest, "sourceIP": "192.0.2.9", "event": "stack-deleted", "description": "Deleted stack",
                   "user": {"name": "Sam", "githubLogin": "sam", "avatarUrl": "https://example.com/sam.png"}, "authFailure": True}
    FakeCloud.audit_events[org].append(same_second)

    result = take(pg, cloud, org)
    assert "1 new event(s)" in result.stderr
    rows = trail(pg, org)
    assert len(rows) == 6
    assert (rows[-1]["actor"], rows[-1]["outcome"], rows[-1]["priority"], rows[-1]["tenant"]) == ("pulumi:sam", "failure", "warn", None)


def test_a_bad_token_is_a_clear_error_and_takes_nothing(pg: Pg, cloud: str) -> None:
    org = unique("auditorg")
    FakeCloud.audit_events[org] = [dict(e) for e in RECORDED]
    result = take(pg, cloud, org, token="wrong")
    assert result.returncode == 1 and "Pulumi Cloud answered 401" in result.stderr
    assert trail(pg, org) == []


def test_an_answer_the_client_cannot_read_is_a_clear_error_and_takes_nothing(pg: Pg, cloud: str) -> None:
    org = unique("auditorg")
    FakeCloud.audit_events[org] = [{"timestamp": 1756400000, "event": "stack-deleted", "user": {"name": None}}]
    result = take(pg, cloud, org)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Pulumi Cloud sent an answer that does not match its API" in result.stderr
    assert trail(pg, org) == []
