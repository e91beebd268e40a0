"""Pulumi engine events (`pulumi up --event-log FILE`, the Automation API's `on_event`) -> resource steps.

Events are JSON objects with a `sequence`, a `timestamp` and one payload (FORMATS.md 2). Lines
may arrive out of order and sequences have gaps, so a batch is sorted by sequence and a step is
taken only when it finished (`resOutputsEvent`): a `resourcePreEvent` alone is a step still
running, or one an interrupted update never completed. Previews (`planning`) change nothing.
A finished step's `metadata.new` has the shape of a state resource, so it goes through the same
translator as a stack export; a finished delete names the URN to retire.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skyloom.ingest.state import StackState

_REMOVING = frozenset({"delete", "delete-replaced", "discard", "discard-replaced", "remove-pending-replace"})
_MAX_LINE = 16 * 1024 * 1024  # one event line; anything longer is refused, not buffered without end


class EventError(ValueError):
    """An event line that is not an engine event; the message says which and why."""


@dataclass
class Steps:
    """What a batch of events did: resources as they now are, URNs now gone, and the stack's config."""

    project: str | None = None
    stack: str | None = None
    config: dict[str, str] = field(default_factory=dict)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)  # urn -> state resource
    removed: set[str] = field(default_factory=set)
    last_sequence: int = -1

    def as_state(self) -> StackState:
        return StackState(self.project, self.stack, list(self.resources.values()))


def parse_lines(text: str, source: str = "events") -> list[dict[str, Any]]:
    """Events from JSON lines; tolerates pretty-printed objects written back to back."""
    events: list[dict[str, Any]] = []
    decoder = json.JSONDecoder()
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return events
        try:
            event, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise EventError(f"{source}: not an engine event at line {exc.lineno}: {exc.msg}") from None
        if not isinstance(event, dict) or not isinstance(event.get("sequence"), int):
            raise EventError(f"{source}: an engine event is an object with an integer 'sequence'")
        events.append(event)


def apply(steps: Steps, events: list[dict[str, Any]]) -> Steps:
    """Fold a batch of events (in any order) into `steps`."""
    for event in sorted(events, key=lambda e: e["sequence"]):
        steps.last_sequence = max(steps.last_sequence, event["sequence"])
        if "preludeEvent" in event:
            config = (event["preludeEvent"] or {}).get("config") or {}
            steps.config.update({k: v for k, v in config.items() if isinstance(v, str)})
        elif "resOutputsEvent" in event:
            _finished(steps, event["resOutputsEvent"] or {})
    return steps


def _finished(steps: Steps, payload: dict[str, Any]) -> None:
    if payload.get("planning"):
        return
    metadata = payload.get("metadata") or {}
    urn = metadata.get("urn")
    if not isinstance(urn, str):
        return
    _names(steps, urn)
    new = metadata.get("new")
    if metadata.get("op") in _REMOVING or not new:
        steps.resources.pop(urn, None)
        steps.removed.add(urn)
        return
    resource = {k: v for k, v in new.items() if v not in ("", None)}
    resource.setdefault("urn", urn)
    resource.setdefault("type", metadata.get("type"))
    steps.resources[urn] = resource
    steps.removed.discard(urn)


def _names(steps: Steps, urn: str) -> None:
    parts = urn.split("::")
    if steps.project is None and len(parts) >= 4:
        steps.stack = parts[0].removeprefix("urn:pulumi:")
        steps.project = parts[1]


class EventLogReader:
    """Reads whole lines appended to an event log since the last read; a half-written line waits."""

    def __init__(self, path: Path, offset: int = 0) -> None:
        self.path = path
        self.offset = offset

    def read_new(self) -> tuple[list[dict[str, Any]], int]:
        """The complete events after `offset`, and the offset just past the last complete line."""
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read()
        end = chunk.rfind(b"\n") + 1
        if end == 0:
            if len(chunk) > _MAX_LINE:
                raise EventError(f"{self.path}: an event line longer than {_MAX_LINE} bytes")
            return [], self.offset
        events = parse_lines(chunk[:end].decode("utf-8", errors="strict"), str(self.path))
        return events, self.offset + end
