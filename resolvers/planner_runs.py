"""From a design to a client's cloud: preview a version, approve exactly that plan, apply it, compare.

A plan is a design version's generated program for the client's stack; its digest names it. A
preview runs the program under the Pulumi SDK's mocks (in a child process, in one of the runner's
few preview slots, so previews cannot starve the API of CPU) and answers with the digest; `designApply` takes that digest as the operator's approval and refuses it if the plan
it would run is not the one previewed. The run itself belongs to the app's `DesignRunner`.
Drift compares a plan's resources with the CIs ingest found for the stack (by URN).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import strawberry

from skyloom.deploy import planner as engine
from skyloom.graph import audit
from skyloom.graph import design_runs as runs
from skyloom.graph import designs as store
from skyloom.planner_runs import RunRequest
from skyloom.resolvers.access_views import readable
from skyloom.resolvers.mutations.kit import Refused, guard_view
from skyloom.resolvers.planner import design_entry, judge, readable_design, view_of
from skyloom.resolvers.planner_views import problem_type, run_type
from skyloom.schema import cursors
from skyloom.schema.errors import PublicError, conflict, not_found
from skyloom.schema.planner import (
    DesignDrift,
    DesignInvalid,
    DesignPreview,
    DesignPreviewResult,
    DesignRun,
    DesignRunResult,
    DriftEntry,
    DriftStatus,
    FieldChange,
    PlannedResource,
)

_STACK_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_DESIGN_TAGS = ("skyloom-design", "skyloom-component")


@dataclass(frozen=True, slots=True)
class Plan:
    design: store.Design
    version: store.Version
    project: str
    stack: str
    program: str

    @property
    def digest(self) -> str:
        text = f"{self.project}\n{self.stack}\n{self.program}"
        return hashlib.sha256(text.encode()).hexdigest()


def stack_names(tenant_name: str, design: store.Design) -> tuple[str, str]:
    """Pulumi's project and stack names for a client's design (letters, digits, '-', '_', '.')."""
    project = _STACK_UNSAFE.sub("-", f"skyloom-{tenant_name}").strip("-.")[:100] or "skyloom-client"
    stack = _STACK_UNSAFE.sub("-", design.name).strip("-.")[:100] or str(design.id)
    return project, stack


async def plan_of(ctx: Any, design_id: Any, number: int | None, action: str) -> Plan:
    """The plan of a readable design's version that the caller may `action`; DesignInvalid (as a
    Refused) when the version has errors."""
    async with ctx.services.db.connection() as conn:
        design = await readable_design(ctx, conn, "id", design_id)
        await guard_view(ctx, action, view_of(design))
        version = await store.version(conn, design.id, number if number is not None else design.latest)
    if version is None:
        raise Refused(not_found(f"{design_id}@{number}", "design version"))
    problems = judge(version.document, design.cloud)
    if any(p.severity == "error" for p in problems):
        raise Refused(DesignInvalid(code="DESIGN_INVALID", message="the design has errors; fix them first",  # type: ignore[arg-type]
                                    problems=[problem_type(p) for p in problems]))
    tenant = await ctx.loaders.vertex.load(design.tenant_id)
    project, stack = stack_names((tenant.props.get("name") if tenant else None) or design.tenant_id, design)
    return Plan(design, version, project, stack, engine.generate(version.document, design_id=str(design.id)))


async def planned(ctx: Any, plan: Plan) -> list[engine.PlannedResource]:
    try:
        return await ctx.services.runner.preview(plan.program, plan.project, plan.stack)
    except engine.PreviewFailed as exc:
        raise PublicError(f"the preview failed: {exc}", "PREVIEW_FAILED") from None


async def preview(ctx: Any, design_id: strawberry.ID, number: int | None) -> DesignPreviewResult:
    try:
        plan = await plan_of(ctx, design_id, number, "preview")
    except Refused as refused:
        return refused.problem
    resources = await planned(ctx, plan)
    async with ctx.services.db.connection() as conn, conn.transaction():
        await audit.record(conn, [design_entry(ctx, "previewed", plan.design, priority="info",
                                               previewed=plan.version.version, resources=len(resources))])
    return DesignPreview(
        design_id=strawberry.ID(str(plan.design.id)), version=plan.version.version, project=plan.project,
        stack=plan.stack, program=plan.program, plan_digest=plan.digest, engine=ctx.services.runner.engine,
        resources=[PlannedResource(type=r.type, name=r.name, urn=r.urn, component_id=r.component_id, inputs=r.inputs)
                   for r in resources],
    )


async def apply(ctx: Any, design_id: strawberry.ID, number: int, plan_digest: str) -> DesignRunResult:
    try:
        plan = await plan_of(ctx, design_id, number, "apply")
    except Refused as refused:
        return refused.problem
    if plan.design.archived_at is not None:
        return conflict("id", "the design is archived")
    if plan_digest != plan.digest:
        return conflict("planDigest", "this is not the plan that was previewed (the design, its client's name or "
                                      "the program generator changed): preview it again and approve that")
    actor = ctx.actor
    request = RunRequest(
        design_id=plan.design.id, design_name=plan.design.name, version=plan.version.version,
        tenant_id=plan.design.tenant_id, project=plan.project, stack=plan.stack, program=plan.program,
        plan_digest=plan.digest, secrets=tuple(k.key for k in engine.required_config(plan.version.document) if k.secret),
        actor=actor.id, impersonator=actor.impersonator.id if actor.impersonator else None,
        request_id=ctx.request_id, source=ctx.source,
    )
    try:
        run = await ctx.services.runner.start(request)
    except runs.StackBusy as exc:
        return conflict("id", str(exc))
    return run_type(run)


async def run(ctx: Any, run_id: strawberry.ID) -> DesignRun | None:
    async with ctx.services.db.connection() as conn:
        found = await runs.get(conn, UUID(cursors.parse_id(run_id)))
        design = await store.get(conn, found.design_id) if found else None
    if found is None or design is None or not readable(ctx, view_of(design)):
        return None
    return run_type(found)


def _differences(r: engine.PlannedResource, ci: Any, region: str | None, tags: bool) -> list[FieldChange]:
    """What the plan says of a resource that the CI does not: its type, its region, the design's tags
    (not for a tenancy found by its cloud id: the tags are on the resource that made it)."""
    props = ci.props
    out = []
    if props.get("nativeType") not in (None, r.type):
        out.append(FieldChange(field="type", before=r.type, after=props.get("nativeType")))
    if region and props.get("region") and props["region"] != region:
        out.append(FieldChange(field="region", before=region, after=props["region"]))
    planned_tags = next((t for key in ("tags", "labels", "freeformTags") if isinstance(t := r.inputs.get(key), dict)), {})
    found_tags = props.get("tags") or {}
    for key in sorted(k for k in planned_tags if k in _DESIGN_TAGS and tags):
        if found_tags.get(key) != planned_tags[key]:
            out.append(FieldChange(field=f"tags.{key}", before=planned_tags[key], after=found_tags.get(key)))
    return out


async def drift(ctx: Any, design_id: strawberry.ID, number: int | None) -> DesignDrift | None:
    try:
        plan = await plan_of(ctx, design_id, number, "read")
    except Refused as refused:
        if isinstance(refused.problem, DesignInvalid):
            raise PublicError("the design has errors, so it has no plan to compare", "DESIGN_INVALID") from None
        return None
    # Provider resources configure the engine; no cloud holds them.
    resources = [r for r in await planned(ctx, plan) if not r.type.startswith("pulumi:providers:")]
    reader = ctx.services.reader
    stacks = await reader.find("Stack", {"name": f"skyloom/{plan.project}/{plan.stack}", "parentUid": plan.design.tenant_id})
    in_stack = await ctx.access.visible(await reader.find(None, {"stackUid": stacks[0].uid})) if stacks else []
    by_urn = await reader.by_urns([r.urn for r in resources])
    seen = {v.uid for v in await ctx.access.visible(list(by_urn.values()))}
    found = {urn: ci for urn, ci in by_urn.items() if ci.uid in seen}
    # A sub-tenancy the program creates (an account, subscription, project) is the client's Tenancy
    # that ingest placed the program's resources in: found by the cloud's id.
    by_cloud_id: set[str] = set()
    for r in resources:
        if r.urn not in found and r.id:
            owned = await ctx.access.visible(await reader.find("Tenancy", {"nativeId": r.id, "ownerUid": plan.design.tenant_id}))
            if owned:
                found[r.urn] = owned[0]
                by_cloud_id.add(r.urn)
    region = plan.version.document.get("region")
    entries = []
    for r in resources:
        ci = found.get(r.urn)
        if ci is None:
            entries.append(DriftEntry(status=DriftStatus.PLANNED, component_id=r.component_id, type=r.type, name=r.name,
                                      urn=r.urn, ci_id=None, differences=[]))
            continue
        differences = _differences(r, ci, region, tags=r.urn not in by_cloud_id)
        entries.append(DriftEntry(status=DriftStatus.DRIFTED if differences else DriftStatus.IN_SYNC,
                                  component_id=r.component_id, type=r.type, name=r.name, urn=r.urn,
                                  ci_id=strawberry.ID(ci.uid), differences=differences))
    planned_urns = {r.urn for r in resources}
    for ci in in_stack:
        if ci.props.get("urn") not in planned_urns:
            entries.append(DriftEntry(status=DriftStatus.UNPLANNED, component_id=None, type=ci.props.get("nativeType", ""),
                                      name=ci.props.get("name", ""), urn=ci.props.get("urn", ""),
                                      ci_id=strawberry.ID(ci.uid), differences=[]))
    return DesignDrift(version=plan.version.version, project=plan.project, stack=plan.stack, entries=entries)


@strawberry.type
class PlannerRunQuery:
    @strawberry.field(description="One apply of a design; null when absent or hidden.")
    async def design_run(self, info: strawberry.Info, id: strawberry.ID) -> DesignRun | None:
        return await run(info.context, id)

    @strawberry.field(description="A design version's planned resources beside the CIs ingest found for its stack.")
    async def design_drift(self, info: strawberry.Info, id: strawberry.ID, version: int | None = None) -> DesignDrift | None:
        return await drift(info.context, id, version)


@strawberry.type
class PlannerRunMutation:
    @strawberry.mutation(description="Generate a design's Pulumi program and list what it would create "
                                      "(under the Pulumi SDK's mocks here: no cloud is touched).")
    async def design_preview(self, info: strawberry.Info, id: strawberry.ID, version: int | None = None
                             ) -> DesignPreviewResult:
        return await preview(info.context, id, version)

    @strawberry.mutation(description="Apply a previewed plan to the client's stack (provider tier, needs a fresh "
                                      "proof): `planDigest` is the preview's, as the approval of exactly that plan.")
    async def design_apply(self, info: strawberry.Info, id: strawberry.ID, version: int, plan_digest: str) -> DesignRunResult:
        return await apply(info.context, id, version, plan_digest)
