"""The engine-event worker: follows an event log as `pulumi up --event-log` writes it.

Each read of new complete lines is one batch: translated, reconciled into the graph and
checkpointed (byte offset, stack configuration) in one transaction, so a restart resumes after
the last committed batch. A database outage fails the batch as a whole; the worker waits and
tries the same batch again.
"""

from __future__ import annotations

import asyncio
import logging

import anyio
from watchfiles import awatch
from collections.abc import Callable
from pathlib import Path

from skyloom.graph.pool import Database, DatabaseUnavailable
from skyloom.graph.reads import GraphReader
from skyloom.graph.store import writing
from skyloom.ingest import events, reconcile

log = logging.getLogger(__name__)


async def follow_event_log(
    db: Database,
    path: Path,
    *,
    owner: str | None,
    organization: str = "organization",
    default_tenancy: str | None = None,
    follow: bool = False,
    poll_seconds: float = 0.5,
    stop: asyncio.Event | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> int:
    """Ingest what the log holds (and, with `follow`, what is appended until `stop`); returns batches applied."""
    source = f"events:{path.resolve()}"
    position = await GraphReader(db).checkpoint(source) or {}
    reader = events.EventLogReader(path, int(position.get("offset", 0)))
    config: dict[str, str] = dict(position.get("config") or {})
    batches = 0
    while True:
        batch, offset = reader.read_new()
        if batch:
            steps = events.apply(events.Steps(config=dict(config)), batch)
            config = steps.config
            checkpoint = (source, {"offset": offset, "config": config})
            await apply_steps(db, steps, owner, organization, default_tenancy, path.name, progress, checkpoint)
            reader.offset = offset
            batches += 1
        if not follow or (stop is not None and stop.is_set()):
            return batches
        await _until_written(path, poll_seconds, stop)


async def _until_written(path: Path, timeout: float, stop: asyncio.Event | None) -> None:
    """Wait until the log is written to (inotify through watchfiles), `stop` is set, or `timeout` passes.

    The timeout is a safety net for filesystems that report no changes (network mounts): the
    loop then simply reads again.
    """
    stop_event = anyio.Event()

    async def relay_stop() -> None:
        if stop is not None:
            await stop.wait()
            stop_event.set()

    relay = asyncio.create_task(relay_stop())
    try:
        async for _changes in awatch(path, stop_event=stop_event, rust_timeout=int(timeout * 1000), yield_on_timeout=True, debounce=0, step=10):
            return
    finally:
        relay.cancel()


async def apply_steps(
    db: Database,
    steps: events.Steps,
    owner: str | None,
    organization: str,
    default_tenancy: str | None,
    name: str,
    progress: Callable[[str], None],
    checkpoint: tuple[str, dict] | None = None,
) -> None:
    """One batch of finished steps into the graph (with its checkpoint), retried through outages."""
    delay = 0.5
    while True:
        try:
            if steps.project is None:  # nothing but configuration so far: just remember where we are
                if checkpoint is not None:
                    async with writing(db, f"ingest:{name}") as w:
                        await w.save_checkpoint(*checkpoint)
                return
            result = await reconcile.apply_state(
                db,
                steps.as_state(),
                config=steps.config,
                owner=owner,
                actor=f"ingest:{name}",
                organization=organization,
                default_tenancy=default_tenancy,
                full=False,
                removed=steps.removed,
                checkpoint=checkpoint,
                cause={"source": "engine-events", "file": name},
            )
            progress(result.summary())
            return
        except DatabaseUnavailable as exc:
            log.warning("event batch not applied (%s); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
