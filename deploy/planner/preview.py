"""Preview a generated program under the Pulumi SDK's mocks: exactly which resources it would register.

The Pulumi CLI (and so `pulumi preview` through the Automation API) is not needed: the program
runs in a child Python process (`mockrun`) whose engine is the SDK's mock monitor, answering with
plausible ids and outputs. What comes back is what the program asks the engine for, with the URN
the engine would give each resource; what a provider would then do (diffs, cloud-side defaults)
needs a real `pulumi preview` where the CLI and credentials are.

Config values (secrets too) travel to the child on stdin, never in its arguments or environment,
and the child's environment is cut down to what Python needs: the program is generated from user
input and gets none of the caller's credentials.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from skyloom.deploy.planner.model import ID_RE, KINDS

STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
LOGICAL = re.compile(r"(?P<kind>[a-z]+)-(?P<id>[A-Za-z0-9_-]{1,40})(?:\.[a-z0-9-]+)?")
KIND_PREFIXES = {k.lower() for k in KINDS}
KEEP_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "PYTHONPATH", "SYSTEMROOT", "VIRTUAL_ENV")
TAG_FIELDS = ("tags", "labels", "freeformTags", "userLabels")


class PreviewFailed(RuntimeError):
    """The program did not run to the end under the mocks; the message has the tail of its traceback."""


@dataclass(frozen=True)
class PlannedResource:
    """One resource the program registers: type token, logical name, URN, the design component it is for."""

    type: str
    name: str
    urn: str
    component_id: str | None
    inputs: dict[str, Any]
    id: str | None = None  # the id the mocks gave it: a stand-in for the cloud's, to check wiring with
    outputs: dict[str, Any] | None = None  # the state the mocks answered with (inputs and plausible outputs)
    custom: bool = True
    parent: str | None = None  # the parent resource's URN (None: the stack)
    provider: str | None = None  # the explicit provider's URN (None: the default provider)
    dependencies: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "urn": self.urn, "componentId": self.component_id,
                "inputs": self.inputs, "outputs": self.outputs, "id": self.id, "custom": self.custom,
                "parent": self.parent, "provider": self.provider, "dependencies": list(self.dependencies)}


def component_of(name: str, inputs: Mapping[str, Any]) -> str | None:
    """The design component a resource is for: from its logical name (`subnet-c4.nat`), else from its tags."""
    m = LOGICAL.fullmatch(name)
    if m and m["kind"] in KIND_PREFIXES:
        return m["id"]
    for key in TAG_FIELDS:
        tags = inputs.get(key)
        if isinstance(tags, dict) and isinstance(tags.get("skyloom-component"), str):
            return tags["skyloom-component"] if ID_RE.fullmatch(tags["skyloom-component"]) else None
    return None


def _entries(project: str, config: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Config as full keys (`project:key`) to {value, secret}; values may be text or {value, secret} (or objects
    with those attributes, as the Automation API's ConfigValue)."""
    out: dict[str, dict[str, Any]] = {}
    for key, raw in (config or {}).items():
        full = key if ":" in key else f"{project}:{key}"
        if isinstance(raw, Mapping):
            value, is_secret = raw.get("value"), bool(raw.get("secret"))
        elif hasattr(raw, "value"):
            value, is_secret = raw.value, bool(getattr(raw, "secret", False))
        else:
            value, is_secret = raw, False
        out[full] = {"value": value if isinstance(value, str) else json.dumps(value), "secret": is_secret}
    return out


def _mask(text: str, secrets: list[str]) -> str:
    for value in sorted(secrets, key=len, reverse=True):
        text = text.replace(value, "[secret]")
    return text


def preview(program_text: str, *, project: str, stack: str, config: Mapping[str, Any] | None = None,
            timeout: float = 120.0) -> list[PlannedResource]:
    """The resources `program_text` registers, in program order. Required config the caller did not give is
    filled with placeholders (secret where the program reads a secret): the mocks never use them."""
    for label, value in (("project", project), ("stack", stack)):
        if not STACK_NAME.fullmatch(value):
            raise ValueError(f"a Pulumi {label} name is 1 to 100 letters, digits, '_', '.' or '-'")
    entries = _entries(project, config)
    secrets = [e["value"] for e in entries.values() if e["secret"] and e["value"]]
    request = json.dumps({"program": program_text, "project": project, "stack": stack, "config": entries})
    env = {k: v for k, v in os.environ.items() if k in KEEP_ENV}
    try:
        done = subprocess.run([sys.executable, "-m", "skyloom.deploy.planner.mockrun"], input=request,
                              capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise PreviewFailed(f"the program did not finish under the mocks within {timeout:g} seconds") from None
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or not answer.get("ok"):
        if isinstance(answer, dict):
            detail = f"{answer.get('error')}\n{answer.get('traceback', '')}".strip()
        else:
            detail = "\n".join(done.stderr.strip().splitlines()[-12:]) or f"exit status {done.returncode}"
        raise PreviewFailed(_mask(f"the program failed under the mocks: {detail}", secrets))
    resources = [PlannedResource(
        type=r["type"], name=r["name"], urn=r["urn"], component_id=component_of(r["name"], r["inputs"]),
        inputs=r["inputs"], id=r.get("id") or None, outputs=r.get("outputs"), custom=bool(r.get("custom", True)),
        parent=r.get("parent"),
        provider=r.get("provider"), dependencies=tuple(r.get("dependencies", ())),
    ) for r in answer["resources"]]
    return sorted(resources, key=lambda r: _position(program_text, r.name))


def _position(program: str, name: str) -> int:
    """Where the program declares a logical name: registrations finish in any order, declarations do not."""
    for quoted in (json.dumps(name), repr(name)):
        at = program.find(f"    {quoted},\n")
        if at >= 0:
            return at
    return len(program)
