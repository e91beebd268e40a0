"""The preview's child process: run a Pulumi program under the SDK's mocks and print what it registered.

`python -m skyloom.deploy.planner.mockrun` reads one JSON request on stdin (`program`, `project`,
`stack`, `config`: full key -> {value, secret}) and writes one JSON answer on stdout: `{"ok": true,
"resources": [...]}` or `{"ok": false, "error": ..., "traceback": ...}`. The program's own prints go
to stderr, so they cannot garble the answer. A child process keeps the SDK's process-wide state
(settings, the root stack, config) away from the caller, and lets the caller stop a program that
does not finish.
"""

from __future__ import annotations

import ast
import json
import math
import os
import sys
import threading
import time
import traceback
from typing import Any

PLACEHOLDER = "preview-placeholder"
READS = {"require": False, "require_secret": True, "require_int": False, "require_bool": False}


def config_reads(program: str, project: str) -> dict[str, bool]:
    """The config keys a program requires (full key -> secret?), read from its `config.require*("key")` calls."""
    reads: dict[str, bool] = {}
    for node in ast.walk(ast.parse(program)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in READS
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            key = node.args[0].value
            reads[key if ":" in key else f"{project}:{key}"] = READS[node.func.attr]
    return reads


def jsonable(value: Any) -> Any:
    """Inputs as JSON: secrets masked, unknowns marked, whole floats as ints (protobuf numbers are floats)."""
    from pulumi.runtime import rpc
    from pulumi.output import Unknown

    if rpc.is_rpc_secret(value):
        return "[secret]"
    if isinstance(value, Unknown) or value is rpc.UNKNOWN:
        return "[unknown]"
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return int(value) if value.is_integer() else (value if math.isfinite(value) else str(value))
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def run(program: str, project: str, stack: str, config: dict[str, dict[str, Any]]) -> tuple[list[dict], list[str]]:
    from pulumi.runtime import mocks, rpc
    from pulumi.runtime import config as runtime_config
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

    from skyloom.deploy.planner.mocks import CloudMocks

    class Monitor(mocks.MockMonitor):
        """The SDK's mock monitor, recording each registration with the URN the engine would give it."""

        def __init__(self, cloud: CloudMocks) -> None:
            super().__init__(cloud)
            self.records: list[dict[str, Any]] = []
            self._lock = threading.Lock()

        def make_urn(self, parent: str, type_: str, name: str) -> str:
            # As the engine does: a resource's type is qualified by its parents' types, the root stack excepted
            # (the SDK's mock qualifies by the stack too, which no real URN does).
            qualified = type_
            if parent and parent.split("::")[2] != "pulumi:pulumi:Stack":
                qualified = parent.split("::")[2] + "$" + type_
            return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"

        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method's name)
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                _ensure_event_loop()
                inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
                outputs = rpc.deserialize_properties(response.object, keep_unknowns=True)
                parent = request.parent if request.parent and "::pulumi:pulumi:Stack::" not in request.parent else None
                with self._lock:
                    self.records.append({
                        "type": request.type, "name": request.name, "urn": response.urn, "id": response.id,
                        "custom": request.custom,
                        "parent": parent, "provider": request.provider.rsplit("::", 1)[0] or None,
                        "dependencies": sorted(set(request.dependencies)), "inputs": jsonable(inputs),
                        "outputs": jsonable(outputs),
                    })
            return response

    reads = config_reads(program, project)
    values = {key: entry["value"] for key, entry in config.items()}
    secrets = {key for key, entry in config.items() if entry.get("secret")}
    placeholders = sorted(key for key in reads if key not in values)
    for key in placeholders:
        values[key] = PLACEHOLDER
        if reads[key]:
            secrets.add(key)
    runtime_config.set_all_config(values, sorted(secrets))
    cloud = CloudMocks(salt=f"{project}/{stack}")
    monitor = Monitor(cloud)
    mocks.set_mocks(cloud, project=project, stack=stack, preview=True, monitor=monitor)
    code = compile(program, "<program>", "exec")
    _sync_await(run_pulumi_func(lambda: exec(code, {"__name__": "__main__"})))
    return monitor.records, placeholders


def _traceback_tail(exc: BaseException, lines: int = 12) -> str:
    text = "".join(traceback.format_exception(exc))
    return "\n".join(text.rstrip().splitlines()[-lines:])


def main() -> None:
    answer_to = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything the program prints goes to stderr, not into the answer
    started = time.perf_counter()
    try:
        request = json.load(sys.stdin)
        records, placeholders = run(request["program"], request["project"], request["stack"], request["config"])
        answer: dict[str, Any] = {"ok": True, "resources": records, "placeholders": placeholders}
    except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent, which raises
        answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": _traceback_tail(exc)}
    answer["seconds"] = round(time.perf_counter() - started, 3)
    answer_to.write(json.dumps(answer))
    answer_to.flush()
    os._exit(0)  # skip interpreter teardown: the SDK's event loop and threads have nothing left to say


if __name__ == "__main__":
    main()
