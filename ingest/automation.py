"""Engine events of Pulumi programs Skyloom runs itself: an Automation API `on_event` callback.

`stack.up(on_event=sink)` calls the sink from the Automation API's own thread with parsed
`EngineEvent` objects. The sink turns each back into the JSON form `--event-log` writes and hands
it to the event loop, where a task applies the finished steps in batches, exactly as for a
followed event log, so a planned client architecture fills the CMDB while it is being created.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pulumi.automation.events import EngineEvent, StepEventMetadata, StepEventStateMetadata

from skyloom.graph.pool import Database
from skyloom.ingest import events
from skyloom.ingest.eventlog import apply_steps


def to_json(event: EngineEvent) -> dict[str, Any]:
    """The `--event-log` line for an event (only what ingest reads: prelude and finished steps)."""
    line: dict[str, Any] = {"sequence": event.sequence, "timestamp": event.timestamp}
    if event.prelude_event is not None:
        line["preludeEvent"] = {"config": dict(event.prelude_event.config or {})}
    elif event.res_outputs_event is not None:
        line["resOutputsEvent"] = {
            "metadata": _metadata(event.res_outputs_event.metadata),
            "planning": bool(event.res_outputs_event.planning),
        }
    return line


def _metadata(m: StepEventMetadata) -> dict[str, Any]:
    op = getattr(m.op, "value", m.op)
    return {"op": op, "urn": m.urn, "type": m.type, "old": _state(m.old), "new": _state(m.new), "provider": m.provider}


def _state(s: StepEventStateMetadata | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {
        "type": s.type, "urn": s.urn, "custom": s.custom, "delete": s.delete, "id": s.id, "parent": s.parent,
        "inputs": dict(s.inputs or {}), "outputs": dict(s.outputs or {}), "provider": s.provider,
    }


class EventSink:
    """Pass as `on_event`; run `drain()` in the event loop until the update is over."""

    def __init__(
        self,
        db: Database,
        loop: asyncio.AbstractEventLoop,
        *,
        owner: str,
        organization: str,
        default_tenancy: str | None = None,
        progress: Callable[[str], None] = lambda _m: None,
    ) -> None:
        self.db = db
        self.loop = loop
        self.owner = owner
        self.organization = organization
        self.default_tenancy = default_tenancy
        self.progress = progress
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.config: dict[str, str] = {}

    def __call__(self, event: EngineEvent) -> None:
        """Called by the Automation API from its own thread."""
        self.loop.call_soon_threadsafe(self.queue.put_nowait, to_json(event))

    def feed(self, line: dict[str, Any]) -> None:
        """Queue an `--event-log` line from the event loop itself (events Skyloom tells of a run it
        made under the SDK's mocks)."""
        self.queue.put_nowait(line)

    def close(self) -> None:
        """The update is over (call from any thread): `drain()` applies what is left and returns."""
        self.loop.call_soon_threadsafe(self.queue.put_nowait, None)

    async def drain(self) -> int:
        """Apply events as they come, a batch per wake-up; returns the number of batches."""
        batches = 0
        done = False
        while not done:
            batch = [await self.queue.get()]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            done = None in batch
            lines = [e for e in batch if e is not None]
            if not lines:
                continue
            steps = events.apply(events.Steps(config=dict(self.config)), lines)
            self.config = steps.config
            await apply_steps(self.db, steps, self.owner, self.organization, self.default_tenancy, "automation", self.progress)
            batches += 1
        return batches
