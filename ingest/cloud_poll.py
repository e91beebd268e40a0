"""Pulumi Cloud, polled: every stack of an organization exported and reconciled when it changed.

`ingest_stack` (also what a webhook delivery runs) reconciles one stack. The stack list says
when each stack was last updated; a stack whose last update is the one
already applied (the checkpoint, saved with the stack's changes) is not exported again. Run once
or on an interval; webhooks make the interval a safety net rather than the main path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from skyloom.graph.pool import Database
from skyloom.graph.reads import GraphReader
from skyloom.ingest import history, reconcile
from skyloom.ingest.pulumi_cloud import CloudError, PulumiCloud
from skyloom.ingest.state import StateError


@dataclass
class PollResult:
    applied: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)


async def poll(
    db: Database, cloud: PulumiCloud, org: str, *, owner: str | None, progress: Callable[[str], None] = lambda _m: None
) -> PollResult:
    result = PollResult()
    reader = GraphReader(db)
    for summary in await cloud.stacks(org):
        name = f"{summary.org}/{summary.project}/{summary.stack}"
        source = f"cloud:{name}"
        seen = await reader.checkpoint(source) or {}
        if summary.last_update is not None and seen.get("lastUpdate") == summary.last_update:
            result.unchanged += 1
            continue
        try:
            applied, added = await ingest_stack(
                db, cloud, summary.org, summary.project, summary.stack, owner=owner, actor=f"pulumi-cloud:{name}",
                checkpoint=(source, {"lastUpdate": summary.last_update}), cause={"source": "pulumi-cloud-export"},
            )
        except (CloudError, StateError, reconcile.ReconcileError) as exc:
            result.failed.append(f"{name}: {exc}")
            progress(f"{name}: not applied ({exc})")
            continue
        result.applied.append(name)
        progress(applied.summary())
        if added:
            progress(f"{name}: {added} update(s) recorded")
    return result


async def ingest_stack(
    db: Database,
    cloud: PulumiCloud,
    org: str,
    project: str,
    stack: str,
    *,
    owner: str | None,
    actor: str,
    checkpoint: tuple[str, dict] | None = None,
    cause: dict[str, Any] | None = None,
) -> tuple[reconcile.ReconcileResult, int]:
    """One Pulumi Cloud stack: its export reconciled, then its update history recorded (how many were new).

    The newest update (its version and who ran it) is named as the cause of the export's changes.
    """
    updates = await cloud.updates(org, project, stack)
    latest = updates[-1] if updates else None
    cause = {**(cause or {}), **({"update": latest.version, "user": latest.author} if latest else {})}
    applied = await reconcile.apply_state(
        db, await cloud.export(org, project, stack), owner=owner, actor=actor, organization=org, checkpoint=checkpoint,
        cause={k: v for k, v in cause.items() if v is not None},
    )
    added = await history.record_updates(db, applied.stack, owner, updates)
    return applied, added
