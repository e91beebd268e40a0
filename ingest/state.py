"""Stack state files: `pulumi stack export` / the Cloud export endpoint, and self-managed checkpoints.

Both envelopes carry the same deployment object (FORMATS.md 1.1): `{"version": 3|4,
"deployment": {...}}` from an export, `{"version": 3, "checkpoint": {"stack": "org/project/stack",
"latest": {...}}}` from a DIY backend. Unknown keys are accepted; anything else is refused with
a message that says what was expected.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUPPORTED_VERSIONS = (3, 4)


class StateError(ValueError):
    """The input is not a stack state this reader understands; the message says why."""


@dataclass(frozen=True)
class StackState:
    project: str | None
    stack: str | None
    resources: list[dict[str, Any]] = field(repr=False)
    pending_operations: list[dict[str, Any]] = field(default_factory=list, repr=False)
    organization: str | None = None  # DIY checkpoints name it (`organization/<project>/<stack>`)

    @property
    def name(self) -> str:
        return f"{self.project or '?'}/{self.stack or '?'}"


def load(path: Path) -> StackState:
    """A state file; DIY backends may gzip theirs (`<stack>.json.gz`)."""
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        raw = json.loads(data)
    except json.JSONDecodeError as exc:
        raise StateError(f"{path}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise StateError(f"{path}: cannot read it ({exc})") from None
    return parse(raw, str(path))


def parse(raw: Any, source: str = "state") -> StackState:
    if not isinstance(raw, dict):
        raise StateError(f"{source}: a stack state is a JSON object, not {type(raw).__name__}")
    version = raw.get("version")
    if version not in SUPPORTED_VERSIONS:
        raise StateError(f"{source}: unsupported state version {version!r} (expected one of {SUPPORTED_VERSIONS})")
    stack_ref = None
    if isinstance(raw.get("deployment"), dict):
        deployment = raw["deployment"]
    elif isinstance(raw.get("checkpoint"), dict):
        checkpoint = raw["checkpoint"]
        deployment = checkpoint.get("latest") or {}
        stack_ref = checkpoint.get("stack")
    else:
        raise StateError(f"{source}: neither a 'deployment' (stack export) nor a 'checkpoint' (DIY backend) object")
    resources = deployment.get("resources") or []
    if not isinstance(resources, list) or not all(isinstance(r, dict) and "urn" in r and "type" in r for r in resources):
        raise StateError(f"{source}: 'resources' must be a list of objects with 'urn' and 'type'")
    project, stack = _names(stack_ref, resources)
    pending = [op for op in deployment.get("pending_operations") or [] if isinstance(op, dict)]
    parts = stack_ref.split("/") if isinstance(stack_ref, str) else []
    return StackState(project, stack, resources, pending, parts[0] if len(parts) == 3 else None)


def _names(stack_ref: str | None, resources: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """Project and stack from the DIY reference, else from any URN (`urn:pulumi:<stack>::<project>::...`)."""
    if stack_ref:
        parts = stack_ref.split("/")
        if len(parts) >= 2:
            return parts[-2], parts[-1]
    for resource in resources:
        parts = resource["urn"].split("::")
        if len(parts) >= 4 and parts[0].startswith("urn:pulumi:"):
            return parts[1], parts[0].removeprefix("urn:pulumi:")
    return None, None
