"""Stack state files: `pulumi stack export` / the Cloud export endpoint, and self-managed checkpoints.

Both envelopes carry the same deployment object (FORMATS.md 1.1): `{"version": 3|4,
"deployment": {...}}` from an export, `{"version": 3, "checkpoint": {"stack": "org/project/stack",
"latest": {...}}}` from a DIY backend. Unknown keys are accepted; anything else is refused with
a message that says what was expected. A file is never held whole: it is read as a stream, once
to check it (and to find its providers), then again by whoever translates its resources.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import ijson

SUPPORTED_VERSIONS = (3, 4)


class StateError(ValueError):
    """The input is not a stack state this reader understands; the message says why."""


@dataclass(frozen=True)
class StackState:
    """A stack's resources: a list (an export already in memory, a batch of engine events) or a
    file streamed again on every pass (`StreamedResources`), never all held at once."""

    project: str | None
    stack: str | None
    resources: Iterable[dict[str, Any]] = field(repr=False)
    pending_operations: list[dict[str, Any]] = field(default_factory=list, repr=False)
    organization: str | None = None  # DIY checkpoints name it (`organization/<project>/<stack>`)

    @property
    def name(self) -> str:
        return f"{self.project or '?'}/{self.stack or '?'}"

    @property
    def providers(self) -> list[dict[str, Any]]:
        """The provider resources: their configuration places the others, so they are known first."""
        if isinstance(self.resources, StreamedResources):
            return self.resources.providers
        return [r for r in self.resources if str(r.get("type", "")).startswith(PROVIDER_PREFIX)]


PROVIDER_PREFIX = "pulumi:providers:"


class StreamedResources:
    """The resources of a state file, read afresh (compacted, one at a time) each time they are iterated.

    `load` reads the file once up front, so a malformed or truncated file is refused before any
    write begins; that pass keeps only the providers (a handful) and the first URN.
    """

    def __init__(self, path: Path, prefix: str) -> None:
        self.path = path
        self.prefix = prefix
        self.providers: list[dict[str, Any]] = []
        self.count = 0
        self.names: tuple[str | None, str | None] = (None, None)  # project and stack, from the first URN that says
        for resource in self._items():
            self.count += 1
            if self.names == (None, None):
                self.names = _names(None, [resource])
            if str(resource["type"]).startswith(PROVIDER_PREFIX):
                self.providers.append(compact(resource))

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(compact, self._items())

    def _items(self) -> Iterator[dict[str, Any]]:
        path = self.path
        try:
            with _open(path) as fh:
                for item in ijson.items(fh, self.prefix, use_float=True):
                    if not isinstance(item, dict) or "urn" not in item or "type" not in item:
                        raise StateError(f"{path}: 'resources' must be a list of objects with 'urn' and 'type'")
                    yield item
        except ijson.JSONError as exc:
            raise StateError(f"{path}: not JSON ({exc})") from None
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise StateError(f"{path}: cannot read it ({exc})") from None


def load(path: Path) -> StackState:
    """A state file (DIY backends may gzip theirs: `<stack>.json.gz`), streamed.

    Resources are read one at a time and kept only in the compact form the translator reads
    (`compact`); the returned state streams them again from the file whenever it is iterated, so
    memory does not grow with the size of the stack.
    """
    try:
        version, envelope, stack_ref = _header(path)
    except ijson.JSONError as exc:
        raise StateError(f"{path}: not JSON ({exc})") from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise StateError(f"{path}: cannot read it ({exc})") from None
    if version not in SUPPORTED_VERSIONS:
        raise StateError(f"{path}: unsupported state version {version!r} (expected one of {SUPPORTED_VERSIONS})")
    if envelope is None:
        raise StateError(f"{path}: neither a 'deployment' (stack export) nor a 'checkpoint' (DIY backend) object")
    prefix = "deployment.resources.item" if envelope == "deployment" else "checkpoint.latest.resources.item"
    resources = StreamedResources(path, prefix)
    project, stack = _names(stack_ref, [])
    if (project, stack) == (None, None):
        project, stack = resources.names
    parts = stack_ref.split("/") if isinstance(stack_ref, str) else []
    return StackState(project, stack, resources, [], parts[0] if len(parts) == 3 else None)


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _header(path: Path) -> tuple[Any, str | None, str | None]:
    """version, envelope ('deployment' or 'checkpoint') and the DIY stack reference, from parse events only.

    Pulumi writes these keys before the resources, so the scan usually stops after a few events.
    """
    version = envelope = stack_ref = None
    with _open(path) as fh:
        events = ijson.parse(fh, use_float=True)
        first = next(events, None)
        if first is None or first[1] != "start_map":
            raise StateError(f"{path}: a stack state is a JSON object")
        for prefix, event, value in events:
            if prefix == "version" and event == "number":
                version = int(value) if float(value).is_integer() else value
            elif prefix in ("deployment", "checkpoint") and event == "start_map":
                envelope = prefix
            elif prefix == "checkpoint.stack" and event == "string":
                stack_ref = value
            if version is not None and (envelope == "deployment" or (envelope == "checkpoint" and stack_ref is not None)):
                break  # the rest is the resources, which `StreamedResources` reads (and checks) to the end
    return version, envelope, stack_ref


# What the translator reads of a resource; everything else (most of the inputs and outputs) is
# dropped while streaming. Long strings cannot be cloud ids and are dropped too.
_TOP_KEYS = ("urn", "type", "custom", "id", "parent", "provider", "dependencies", "propertyDependencies",
             "deletedWith", "delete", "external")
_KEPT_PROPERTIES = ("id", "selfLink", "arn", "ownerId", "accountId", "region", "location", "project", "zone",
                    "compartmentId", "tenancyOcid", "name", "displayName", "tags", "labels", "freeformTags", "metadata")
_MAX_ID_STRING = 512


def compact(resource: dict[str, Any]) -> dict[str, Any]:
    kept = {k: resource[k] for k in _TOP_KEYS if k in resource}
    for side in ("inputs", "outputs"):
        props = resource.get(side)
        if not isinstance(props, dict):
            continue
        slim: dict[str, Any] = {}
        for key, value in props.items():
            if key in _KEPT_PROPERTIES:
                slim[key] = value
            elif isinstance(value, str) and len(value) <= _MAX_ID_STRING:
                slim[key] = value  # may name another resource by its cloud id
            elif isinstance(value, list) and all(isinstance(v, str) and len(v) <= _MAX_ID_STRING for v in value):
                slim[key] = value
        kept[side] = slim
    return kept


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


def _names(stack_ref: str | None, resources: Iterable[dict[str, Any]]) -> tuple[str | None, str | None]:
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
