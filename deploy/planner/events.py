"""A program run under the mocks, told as the engine events a real `pulumi up` would emit.

Where the Pulumi CLI cannot run (here: it is not installable), an apply runs the program under
the SDK's mocks and reports each registered resource as the `--event-log` lines of a successful
create: a `preludeEvent` with the stack's configuration, then per resource a `resourcePreEvent`
and a `resOutputsEvent` whose `new` state carries the mocks' id and outputs. Skyloom's ingest
reads them exactly as it reads a real update's events, so the CMDB and the planner's canvas fill
in the same way; only the cloud is imaginary, and the run's `engine` says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

from skyloom.deploy.planner.preview import PlannedResource


def _state(r: PlannedResource) -> dict[str, Any]:
    return {
        "type": r.type, "urn": r.urn, "custom": r.custom, "delete": False, "id": r.id or "", "parent": r.parent or "",
        "inputs": r.inputs, "outputs": {**r.inputs, **(r.outputs or {})}, "provider": r.provider or "",
    }


def engine_events(resources: Iterable[PlannedResource], config: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """`--event-log` lines, in registration order, with increasing sequence numbers."""
    now = int(datetime.now(timezone.utc).timestamp())
    sequence = 0
    yield {"sequence": sequence, "timestamp": now, "preludeEvent": {"config": dict(config or {})}}
    for r in resources:
        sequence += 1
        metadata = {"op": "create", "urn": r.urn, "type": r.type, "old": None, "new": _state(r), "provider": r.provider or ""}
        yield {"sequence": sequence, "timestamp": now, "resourcePreEvent": {"metadata": metadata, "planning": False}}
        sequence += 1
        yield {"sequence": sequence, "timestamp": now, "resOutputsEvent": {"metadata": metadata, "planning": False}}
