"""Pulumi Cloud audit logs into Skyloom's audit trail, polled with a checkpoint.

Pulumi Cloud pages its audit log backwards in time with second-resolution timestamps, so the
checkpoint is the newest timestamp taken plus digests of the events seen at that second: a
restart (or a second replica) resumes without losing an event of that second or taking one twice.
The events and the checkpoint commit in one transaction.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson

from skyloom.graph import audit
from skyloom.graph.pool import Database
from skyloom.graph.reads import GraphReader
from skyloom.graph.store import writing

# Events worth more than `info` to a security team.
_NOTICE = re.compile(r"(delet|remov|secret|token|member|role|team|policy|webhook|access|permission|saml|sso)")


@dataclass(frozen=True)
class AuditLogResult:
    taken: int
    skipped: int


def _type(event: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "_", event.lower()).strip("_") or "event"
    if not words[0].isalpha():
        words = "e_" + words
    return f"pulumi.{words}"[:64]


def digest(event: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(event, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def to_entry(event: dict[str, Any], org: str, tenant: str | None, subtenant: str | None) -> audit.Entry:
    """One Pulumi Cloud audit event as an audit entry; who did it is the Pulumi user (or token)."""
    user = event.get("user") or {}
    who = user.get("githubLogin") or user.get("name") or event.get("actorName") or "unknown"
    failed = bool(event.get("authFailure"))
    name = str(event.get("event") or "event")
    detail = {
        "organization": org, "event": name, "description": event.get("description"),
        "occurredAt": datetime.fromtimestamp(int(event["timestamp"]), tz=timezone.utc).isoformat(),
        "userName": user.get("name"), "tokenName": event.get("tokenName"), "actorUrn": event.get("actorUrn"),
        "requiresOrgAdmin": event.get("reqOrgAdmin") or None, "requiresStackAdmin": event.get("reqStackAdmin") or None,
    }
    return audit.Entry(
        type=_type(name), actor=f"pulumi:{who}", outcome="failure" if failed else "success",
        priority="warn" if failed else ("notice" if _NOTICE.search(name.lower()) else "info"),
        target=f"pulumi-org:{org}", tenant=tenant, subtenant=subtenant, source=event.get("sourceIP"),
        detail={k: v for k, v in detail.items() if v is not None},
    )


def _checked(event: Any) -> dict[str, Any] | None:
    if not isinstance(event, dict) or not isinstance(event.get("timestamp"), int) or not isinstance(event.get("event"), str):
        return None
    return event


async def tenant_of(db: Database, owner: str | None) -> tuple[str | None, str | None]:
    if owner is None:
        return None, None
    vertex = await GraphReader(db).by_uid(owner)
    if vertex is None or vertex.label not in ("Tenant", "SubTenant"):
        return None, None
    return (vertex.props.get("parentUid"), vertex.uid) if vertex.label == "SubTenant" else (vertex.uid, None)


async def poll(
    db: Database, fetch: Callable[[int], Any], org: str, owner: str | None, progress: Callable[[str], None] = lambda _: None
) -> AuditLogResult:
    """Take the events newer than the checkpoint. `fetch(since)` returns the raw events with a
    timestamp at or after `since` (the client pages for it); malformed events are skipped, counted."""
    source = f"pulumi-audit:{org}"
    since = int((await GraphReader(db).checkpoint(source) or {}).get("timestamp", 0))
    raw = await fetch(since)
    events = [e for e in map(_checked, raw) if e is not None]
    skipped = len(raw) - len(events)
    tenant, subtenant = await tenant_of(db, owner)
    async with writing(db, f"pulumi-audit:{org}") as w:
        # Decide what is new under the lock: another replica may have taken some meanwhile.
        await w.lock(source)
        seen = await w.checkpoint(source) or {}
        since, seen_digests = int(seen.get("timestamp", 0)), set(seen.get("seen", []))
        fresh = sorted(
            (e for e in events if e["timestamp"] > since or (e["timestamp"] == since and digest(e) not in seen_digests)),
            key=lambda e: e["timestamp"],
        )
        if fresh:
            newest = fresh[-1]["timestamp"]
            at_newest = {digest(e) for e in fresh if e["timestamp"] == newest} | (seen_digests if newest == since else set())
            await audit.record(w.conn, [to_entry(e, org, tenant, subtenant) for e in fresh])
            await w.save_checkpoint(source, {"timestamp": newest, "seen": sorted(at_newest)})
    if fresh or skipped:
        progress(f"{org}: {len(fresh)} audit event(s) taken" + (f", {skipped} malformed skipped" if skipped else ""))
    return AuditLogResult(len(fresh), skipped)
