"""Stack update history: each finished `pulumi up` / refresh / destroy becomes a version of its Stack vertex.

Sources: a self-managed backend's `.pulumi/history/<project>/<stack>/*.history.json` (one
UpdateInfo each) and Pulumi Cloud's `GET .../updates` (`{updates: [{info, version, requestedBy}]}`).
Only what says who changed what, when and with what result is kept; the update's environment
(machine details, which variables were set) is not. An update is applied once: the Stack vertex
remembers the newest update version it has recorded.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from skyloom.graph.pool import Database
from skyloom.graph.store import writing
from skyloom.ingest.state import StateError


@dataclass(frozen=True)
class UpdateRecord:
    version: int
    kind: str
    result: str
    startTime: int | None  # noqa: N815 - stored under Pulumi's own names
    endTime: int | None  # noqa: N815
    message: str | None
    resourceChanges: dict[str, int]  # noqa: N815
    author: str | None


def parse_update_info(info: Any, *, version: int | None = None, requested_by: Any = None, source: str = "update") -> UpdateRecord:
    if not isinstance(info, dict) or not isinstance(info.get("kind"), str):
        raise StateError(f"{source}: not an update record (an object with 'kind', 'result' and 'version')")
    environment = info.get("environment") if isinstance(info.get("environment"), dict) else {}
    by = requested_by.get("githubLogin") or requested_by.get("name") if isinstance(requested_by, dict) else None
    changes = info.get("resourceChanges") if isinstance(info.get("resourceChanges"), dict) else {}
    return UpdateRecord(
        version=int(version if version is not None else info.get("version") or 0),
        kind=info["kind"],
        result=str(info.get("result") or "unknown"),
        startTime=info.get("startTime") if isinstance(info.get("startTime"), int) else None,
        endTime=info.get("endTime") if isinstance(info.get("endTime"), int) else None,
        message=info.get("message") if isinstance(info.get("message"), str) else None,
        resourceChanges={str(k): int(v) for k, v in changes.items() if isinstance(v, int)},
        author=by or environment.get("git.author") or None,
    )


def load_history_file(path: Path) -> UpdateRecord:
    try:
        raw = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise StateError(f"{path}: not JSON ({exc.msg})") from None
    return parse_update_info(raw, source=str(path))


def parse_cloud_updates(raw: Any, source: str = "updates") -> list[UpdateRecord]:
    """Pulumi Cloud's update list, oldest first."""
    updates = raw.get("updates") if isinstance(raw, dict) else None
    if not isinstance(updates, list):
        raise StateError(f"{source}: expected an object with an 'updates' list")
    records = [
        parse_update_info(u.get("info"), version=u.get("version"), requested_by=u.get("requestedBy"), source=source)
        for u in updates
        if isinstance(u, dict)
    ]
    return sorted(records, key=lambda r: r.version)


async def record_updates(db: Database, stack_name: str, owner: str | None, updates: list[UpdateRecord]) -> int:
    """Add the updates the stack has not recorded yet, oldest first; returns how many were new.

    Each one is a new version of the Stack vertex, made by the person who ran the update, so the
    change log (and from there the audit trail) names the cause.
    """
    applied = 0
    async with writing(db, "pulumi:history", cause={"stack": stack_name, "source": "pulumi-update-history"}) as w:
        await w.lock(f"stack:{stack_name}")
        found = await w.find("Stack", {"name": stack_name, **({"parentUid": owner} if owner else {})})
        if len(found) != 1:
            return 0  # the stack's state has not been ingested yet (or its owner is unclear): the history waits
        stack = found[0]
        newest = (stack.props.get("lastUpdate") or {}).get("version", -1)
        for update in updates:
            if update.version <= newest:
                continue
            w.actor = f"pulumi:{update.author}" if update.author else "pulumi:unknown"
            stack = await w.update("Stack", stack.uid, {"lastUpdate": asdict(update)})
            newest = update.version
            applied += 1
    return applied
