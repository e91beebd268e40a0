"""Apply runs of the architecture planner: a design version's program against a client's stack.

A run starts only while this replica holds the stack's advisory lock, which it keeps until the
run ends: one run per client stack across every replica (`graph.design_runs` explains the second
guard). The program's engine events go through ingest's Automation API sink, so every resource
lands in the CMDB as it is created, in batches, and subscribers (the planner's canvas) see it.

Engines: `pulumi` runs `pulumi up` through the Automation API and needs the Pulumi CLI and the
cloud's credentials; `mocks` runs the program under the Pulumi SDK's mocks and reports what it
registered as the events of a successful `up` (`deploy.planner.events`). Without the CLI the
runner uses the mocks, and every run records which engine it used.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import shutil
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from skyloom.deploy import planner as engine
from skyloom.deploy.planner.events import engine_events
from skyloom.deploy.planner.preview import component_of
from skyloom.graph import audit, locks
from skyloom.graph import design_runs as runs
from skyloom.graph.pool import Database
from skyloom.ingest.automation import EventSink

log = logging.getLogger(__name__)
ORGANIZATION = "skyloom"
PREVIEW_SLOTS = 2   # programs run under the mocks at once per replica (each a child process)
PLANS_KEPT = 64     # mock plans remembered per replica


@dataclass(frozen=True, slots=True)
class RunRequest:
    design_id: UUID
    design_name: str
    version: int
    tenant_id: str
    project: str
    stack: str
    program: str
    plan_digest: str
    secrets: tuple[str, ...]   # the config keys the program reads as secrets (database passwords)
    actor: str
    impersonator: str | None
    request_id: str | None
    source: str | None


def available_engine() -> str:
    return "pulumi" if shutil.which("pulumi") else "mocks"


class DesignRunner:
    """Made in the app's lifespan; `stop()` waits for the runs in flight to record how they ended."""

    def __init__(self, db: Database, engine_name: str | None = None) -> None:
        self.db = db
        self.engine = engine_name or available_engine()
        self._tasks: set[asyncio.Task] = set()
        self._slots = asyncio.Semaphore(PREVIEW_SLOTS)
        self._plans: OrderedDict[bytes, list[engine.PlannedResource]] = OrderedDict()

    async def preview(self, program: str, project: str, stack: str) -> list[engine.PlannedResource]:
        """The resources `program` would create (raises `engine.PreviewFailed`): a real `pulumi
        preview` where the CLI is installed, the SDK's mocks otherwise. The mocks answer the same
        for the same program and stack, so their plans are kept (a few, newest used last): the
        canvas's drift panel asks for a plan after every change it hears of."""
        if self.engine == "pulumi":
            async with self._slots:
                return await asyncio.to_thread(_pulumi_preview, program, project, stack)
        key = hashlib.sha256(f"{project}\n{stack}\n{program}".encode()).digest()
        if key in self._plans:
            self._plans.move_to_end(key)
            return self._plans[key]
        async with self._slots:
            planned = await asyncio.to_thread(engine.preview, program, project=project, stack=stack)
        self._plans[key] = planned
        while len(self._plans) > PLANS_KEPT:
            self._plans.popitem(last=False)
        return planned

    async def start(self, request: RunRequest) -> runs.Run:
        """The run's row once it holds the stack; raises `runs.StackBusy` when another run does."""
        started: asyncio.Future[runs.Run] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._run(request, started), name=f"design-run:{request.project}/{request.stack}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await started

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, request: RunRequest, started: asyncio.Future[runs.Run]) -> None:
        async with locks.try_lock(self.db, runs.stack_key(request.project, request.stack)) as held:
            if not held:
                started.set_exception(runs.StackBusy(f"{request.project}/{request.stack} is being applied by another run"))
                return
            try:
                async with self.db.connection() as conn, conn.transaction():
                    run, orphans = await runs.begin(
                        conn, design_id=request.design_id, version=request.version, tenant_id=request.tenant_id,
                        project=request.project, stack=request.stack, plan_digest=request.plan_digest,
                        engine=self.engine, by=request.actor,
                    )
                    await audit.record(conn, [
                        *(_entry(request, "apply_interrupted", "warn", "failure", run_id=str(o.id)) for o in orphans),
                        _entry(request, "apply_started", "warn", "success", run_id=str(run.id), engine=self.engine),
                    ])
            except BaseException as exc:
                started.set_exception(exc)
                return
            started.set_result(run)
            await self._execute(request, run)

    async def _execute(self, request: RunRequest, run: runs.Run) -> None:
        count, error = 0, None
        try:
            count = await (self._pulumi(request, run) if self.engine == "pulumi" else self._mocks(request, run))
        except asyncio.CancelledError:
            error = "cancelled: the server stopped during the run"
        except Exception as exc:  # noqa: BLE001 - every failure ends the run with its reason
            log.warning("design run %s failed: %s", run.id, exc)
            error = f"{type(exc).__name__}: {exc}"
        async with self.db.connection() as conn, conn.transaction():
            await runs.finish(conn, run.id, count, error)
            await audit.record(conn, [_entry(
                request, "apply_failed" if error else "applied", "error" if error else "warn",
                "failure" if error else "success", run_id=str(run.id), resources=count, error=error,
            )])

    def _sink(self, request: RunRequest) -> EventSink:
        return EventSink(self.db, asyncio.get_running_loop(), owner=request.tenant_id, organization=ORGANIZATION)

    async def _mocks(self, request: RunRequest, run: runs.Run) -> int:
        planned = await self.preview(request.program, request.project, request.stack)
        sink = self._sink(request)
        drain = asyncio.create_task(sink.drain())
        count = 0
        for line in engine_events(planned):
            sink.feed(line)
            if "resOutputsEvent" in line:
                count += 1
                await asyncio.sleep(0)     # let the sink take what has arrived: batches as the run goes
        sink.close()
        await drain
        return count

    async def _pulumi(self, request: RunRequest, run: runs.Run) -> int:
        """A real `pulumi up` of the generated program (Automation API, inline program, local workspace)."""
        stack = await asyncio.to_thread(_stack, request.program, request.project, request.stack)
        await asyncio.to_thread(_generate_missing_secrets, stack, request.secrets)
        sink = self._sink(request)
        drain = asyncio.create_task(sink.drain())
        try:
            result = await asyncio.to_thread(stack.up, on_event=sink)
        finally:
            sink.close()
            await drain
        changes: dict[str, Any] = result.summary.resource_changes or {}
        return int(sum(changes.values()))


def _stack(program: str, project: str, stack: str) -> Any:
    """The client's stack in a local workspace, running `program` inline."""
    from pulumi import automation as auto

    code = compile(program, f"<{project}/{stack}>", "exec")
    return auto.create_or_select_stack(stack_name=stack, project_name=project,
                                       program=lambda: exec(code, {"__name__": "__main__"}))


def _generate_missing_secrets(stack: Any, keys: tuple[str, ...]) -> None:
    """A database's admin password is made on its stack's first run and kept only there, encrypted by
    the stack's secrets provider: Skyloom never stores or shows it (`pulumi config get` does, to
    whoever holds the stack)."""
    from pulumi import automation as auto

    present = stack.get_all_config()
    for key in keys:
        if key not in present and key.split(":", 1)[-1] not in present:
            stack.set_config(key, auto.ConfigValue(value=secrets.token_urlsafe(24), secret=True))


def _pulumi_preview(program: str, project: str, stack: str) -> list[engine.PlannedResource]:
    """What a real `pulumi preview` would create, from its engine events' steps."""
    from pulumi.automation.errors import CommandError

    planned: list[engine.PlannedResource] = []

    def collect(event: Any) -> None:
        pre = event.resource_pre_event
        if pre is None or pre.metadata is None or pre.metadata.new is None:
            return
        m, new = pre.metadata, pre.metadata.new
        name = m.urn.rsplit("::", 1)[-1]
        inputs = dict(new.inputs or {})
        planned.append(engine.PlannedResource(type=m.type, name=name, urn=m.urn, component_id=component_of(name, inputs),
                                              inputs=inputs, custom=bool(new.custom), parent=new.parent or None))

    try:
        _stack(program, project, stack).preview(on_event=collect)
    except CommandError as exc:
        raise engine.PreviewFailed(str(exc)[-2000:]) from None
    return planned


def _entry(request: RunRequest, kind: str, priority: str, outcome: str, **detail: Any) -> audit.Entry:
    return audit.Entry(
        type=f"design.{kind}", actor=request.actor, impersonator=request.impersonator, priority=priority,  # type: ignore[arg-type]
        outcome=outcome, target=f"Design:{request.design_id}", tenant=request.tenant_id, subtenant=None,  # type: ignore[arg-type]
        request_id=request.request_id, source=request.source,
        detail={"name": request.design_name, "version": request.version, "stack": f"{request.project}/{request.stack}",
                "planDigest": request.plan_digest, **{k: v for k, v in detail.items() if v is not None}},
    )
