"""The architecture planner over GraphQL: a client's designs, their versions, comparisons and previews.

A design lives at its client (tenant) and is judged by the policy as the `Design` kind there: a
client's admin plans and previews, provisioning is the provider's (and needs a fresh proof).
Saving never requires a valid design (a drawing in progress is saved with its problems); a
preview or an apply does (see `planner_runs`).
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import strawberry

from skyloom.deploy import planner as engine
from skyloom.graph import audit
from skyloom.graph import design_runs as runs
from skyloom.graph import designs as store
from skyloom.resolvers.access_views import config_view, entry, expand, in_transaction, place_of, read_scope, readable
from skyloom.resolvers.mutations.kit import Refused, guard_view, parse_id
from skyloom.resolvers.planner_views import comparison, design_type, palette, problem_type, problems_of, version_type
from skyloom.schema import cursors
from skyloom.schema.common import JSON, PageInfo
from skyloom.schema.errors import PublicError, conflict, duplicate, invalid, not_found
from skyloom.schema.enums import Cloud
from skyloom.schema.planner import (
    Design,
    DesignComparison,
    DesignConnection,
    DesignCopyInput,
    DesignCreateInput,
    DesignEdge,
    DesignProblem,
    DesignResult,
    DesignSaveInput,
    DesignVersion,
    Palette,
)

MAX_PAGE = 100
MAX_COMMENT = 500
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}")


def view_of(d: store.Design) -> Any:
    return config_view("Design", str(d.id), d.provider_id, d.tenant_id, created_by=d.created_by)


def empty_document(cloud: str) -> dict[str, Any]:
    return {"provider": cloud, "region": engine.DEFAULT_REGIONS[cloud], "components": [], "connections": []}


def _check_name(name: str, field: str = "name") -> str:
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise Refused(invalid(field, "a design name is 1 to 100 letters, digits, spaces, '.', '_' or '-', "
                                     "starting with a letter or digit"))
    return name


def _check_comment(comment: str | None) -> str | None:
    if comment is not None and len(comment) > MAX_COMMENT:
        raise Refused(invalid("comment", f"a comment is at most {MAX_COMMENT} characters"))
    return comment or None


def unusable(document: Any) -> str | None:
    """Why `document` cannot be a design at all (not a JSON object, too large), or None."""
    if not isinstance(document, dict):
        return "a design document is a JSON object"
    if engine.document_size(document) > engine.MAX_DOCUMENT_BYTES:
        return f"a design document is at most {engine.MAX_DOCUMENT_BYTES} bytes"
    return None


def judge(document: Any, cloud: str) -> list[Any]:
    """A document's problems. One that cannot be a design at all is refused outright (there is
    nothing to draw); any other is stored with what is wrong with it."""
    reason = unusable(document)
    if reason:
        raise Refused(invalid("document", reason))
    return problems_of(document, cloud)


def _counts(problems: list[Any]) -> tuple[int, int]:
    errors = sum(1 for p in problems if p.severity == "error")
    return errors, len(problems) - errors


async def readable_design(ctx: Any, conn: Any, field: str, value: Any, *, lock: bool = False) -> store.Design:
    design = await store.get(conn, UUID(parse_id(field, value)), lock=lock)
    if design is None or not readable(ctx, view_of(design)):
        if design is not None:
            ctx.denied = True
        raise Refused(not_found(str(value), "design"))
    return design


def design_entry(ctx: Any, kind: str, d: store.Design, priority: str = "notice", **detail: Any) -> audit.Entry:
    return entry(ctx, f"design.{kind}", target=f"Design:{d.id}", priority=priority, tenant=d.tenant_id,
                 detail={"name": d.name, "cloud": d.cloud, "version": d.latest, **detail})


async def create(ctx: Any, value: DesignCreateInput, copied: tuple[store.Design, store.Version] | None = None) -> Any:
    async def work(conn: Any) -> Design:
        name = _check_name(value.name)
        comment = _check_comment(value.comment)
        place = await place_of(ctx, "tenant", value.tenant_id, "tenantId")
        await guard_view(ctx, "create", place.view("Design", created_by=ctx.actor.id))
        cloud = value.cloud.value
        if cloud not in engine.PROVIDERS:
            raise Refused(invalid("cloud", f"the planner draws for {', '.join(engine.PROVIDERS)}"))
        document = value.document if value.document is not None else empty_document(cloud)
        errors, warnings = _counts(judge(document, cloud))
        design = await store.create(
            conn, provider_id=place.place.provider_id, tenant_id=place.place.tenant_id, name=name, cloud=cloud,
            document=document, errors=errors, warnings=warnings, comment=comment, by=ctx.actor.id,
            copied_from=(copied[0].id, copied[1].version) if copied else None,
        )
        detail = {"copiedFrom": str(copied[0].id), "copiedVersion": copied[1].version} if copied else {}
        await audit.record(conn, [design_entry(ctx, "copied" if copied else "created", design, errors=errors, **detail)])
        return await _full(conn, design)

    return await _designs_transaction(ctx, work)


async def _full(conn: Any, design: store.Design) -> Design:
    """A design as a single fetch shows it: with its history and its latest version."""
    current = await store.version(conn, design.id, design.latest)
    return design_type(design, await store.versions(conn, design.id), version_type(current, design.cloud),
                       await runs.of_design(conn, design.id))


async def save(ctx: Any, value: DesignSaveInput) -> Any:
    async def work(conn: Any) -> Design:
        design = await readable_design(ctx, conn, "id", value.id, lock=True)
        await guard_view(ctx, "update", view_of(design))
        if design.archived_at is not None:
            raise Refused(conflict("id", "the design is archived"))
        errors, warnings = _counts(judge(value.document, design.cloud))
        saved = await store.save(conn, design.id, value.expected_version, value.document, errors, warnings,
                                 _check_comment(value.comment), ctx.actor.id)
        await audit.record(conn, [design_entry(ctx, "saved", saved, priority="info", errors=errors)])
        return await _full(conn, saved)

    return await _designs_transaction(ctx, work)


async def copy(ctx: Any, value: DesignCopyInput) -> Any:
    try:
        async with ctx.services.db.connection() as conn:
            source = await readable_design(ctx, conn, "id", value.id)
            number = value.version if value.version is not None else source.latest
            version = await store.version(conn, source.id, number)
    except Refused as refused:
        return refused.problem
    if version is None:
        return not_found(f"{value.id}@{number}", "design version")
    target = DesignCreateInput(tenant_id=value.tenant_id or strawberry.ID(source.tenant_id), name=value.name,
                               cloud=Cloud(source.cloud), document=version.document,
                               comment=f"copied from {source.name} version {number}")
    return await create(ctx, target, copied=(source, version))


async def archive(ctx: Any, design_id: strawberry.ID) -> Any:
    async def work(conn: Any) -> Design:
        design = await readable_design(ctx, conn, "id", design_id, lock=True)
        await guard_view(ctx, "delete", view_of(design))
        archived = await store.archive(conn, design.id, ctx.actor.id)
        if archived is None:
            raise Refused(conflict("id", "the design is archived already"))
        await audit.record(conn, [design_entry(ctx, "archived", archived)])
        return await _full(conn, archived)

    return await _designs_transaction(ctx, work)


async def _designs_transaction(ctx: Any, work: Any) -> Any:
    try:
        return await in_transaction(ctx, work)
    except store.DesignNameTaken as exc:
        return duplicate("name", str(exc))
    except store.StaleVersion as exc:
        return conflict("expectedVersion", f"the design is at version {exc.latest}: reload it and apply your changes again")


async def page(ctx: Any, tenant_id: strawberry.ID | None, first: int, after: str | None,
               include_archived: bool) -> DesignConnection:
    if not 1 <= first <= MAX_PAGE:
        raise PublicError(f"first must be between 1 and {MAX_PAGE}", "INVALID_INPUT")
    position = cursors.decode(after)
    scope = await expand(ctx, read_scope(ctx, "Design"))
    if scope.is_nothing:
        return DesignConnection(edges=[], page_info=PageInfo(has_next_page=False, end_cursor=None))
    tenants = None if scope.everything or "*" in scope.providers else sorted(scope.tenants)
    if tenant_id is not None:
        wanted = cursors.parse_id(tenant_id, "tenantId")
        tenants = [wanted] if tenants is None or wanted in tenants else []
    async with ctx.services.db.connection() as conn:
        rows = await store.page(conn, tenants=tenants, after_seq=position[0] if position else None, limit=first + 1,
                                include_archived=include_archived)
    visible = [d for d in rows[:first] if readable(ctx, view_of(d))]
    edges = [DesignEdge(cursor=cursors.encode(d.seq), node=design_type(d, [], None)) for d in visible]
    has_next = len(rows) > first
    end = cursors.encode(rows[first - 1].seq) if has_next else (edges[-1].cursor if edges else None)
    return DesignConnection(edges=edges, page_info=PageInfo(has_next_page=has_next, end_cursor=end))


async def one(ctx: Any, design_id: strawberry.ID) -> Design | None:
    async with ctx.services.db.connection() as conn:
        design = await store.get(conn, UUID(cursors.parse_id(design_id)))
        if design is None or not readable(ctx, view_of(design)):
            return None
        return await _full(conn, design)


async def version(ctx: Any, design_id: strawberry.ID, number: int) -> DesignVersion | None:
    async with ctx.services.db.connection() as conn:
        design = await store.get(conn, UUID(cursors.parse_id(design_id)))
        if design is None or not readable(ctx, view_of(design)):
            return None
        return version_type(await store.version(conn, design.id, number), design.cloud)


async def compare(ctx: Any, design_id: strawberry.ID, before: int, after: int,
                  other_id: strawberry.ID | None) -> DesignComparison | None:
    """`before` of this design against `after` of `other_id` (this design when null): a copy is
    compared with what it was copied from the same way as two versions of one design."""
    async with ctx.services.db.connection() as conn:
        left = await store.get(conn, UUID(cursors.parse_id(design_id)))
        right = left if other_id is None else await store.get(conn, UUID(cursors.parse_id(other_id, "otherId")))
        if any(d is None or not readable(ctx, view_of(d)) for d in (left, right)):
            return None
        old = await store.version(conn, left.id, before)
        new = await store.version(conn, right.id, after)
    if old is None or new is None:
        return None
    return comparison(engine.compare(old.document, new.document))


@strawberry.type
class PlannerQuery:
    @strawberry.field(description="Architecture designs the caller may read, newest first.")
    async def designs(self, info: strawberry.Info, tenant_id: strawberry.ID | None = None, first: int = 20,
                      after: str | None = None, include_archived: bool = False) -> DesignConnection:
        return await page(info.context, tenant_id, first, after, include_archived)

    @strawberry.field(description="One design with its history and latest version; null when absent or hidden.")
    async def design(self, info: strawberry.Info, id: strawberry.ID) -> Design | None:
        return await one(info.context, id)

    @strawberry.field(description="One version of a design.")
    async def design_version(self, info: strawberry.Info, id: strawberry.ID, number: int) -> DesignVersion | None:
        return await version(info.context, id, number)

    @strawberry.field(description="What changed from version `before` to version `after` (of `otherId` if given).")
    async def design_compare(self, info: strawberry.Info, id: strawberry.ID, before: int, after: int,
                             other_id: strawberry.ID | None = None) -> DesignComparison | None:
        return await compare(info.context, id, before, after, other_id)

    @strawberry.field(description="What the planner's canvas offers for a cloud: kinds, properties, connections.")
    def design_palette(self, info: strawberry.Info, cloud: Cloud) -> Palette:
        if not info.context.actor.is_authenticated:
            raise PublicError("sign in first", "UNAUTHENTICATED")
        if cloud.value not in engine.PROVIDERS:
            raise PublicError(f"the planner draws for {', '.join(engine.PROVIDERS)}", "INVALID_INPUT")
        return palette(cloud.value)

    @strawberry.field(description="Check a document against the planner's rules without saving it.")
    def design_validate(self, info: strawberry.Info, document: JSON) -> list[DesignProblem]:
        if not info.context.actor.is_authenticated:
            raise PublicError("sign in first", "UNAUTHENTICATED")
        reason = unusable(document)
        if reason:
            raise PublicError(reason, "INVALID_INPUT")
        return [problem_type(p) for p in engine.validate(document)]


@strawberry.type
class PlannerMutation:
    @strawberry.mutation(description="Start a design for a client (the first version is empty unless given).")
    async def design_create(self, info: strawberry.Info, input: DesignCreateInput) -> DesignResult:
        return await create(info.context, input)

    @strawberry.mutation(description="Save a new version of a design (refused when `expectedVersion` is stale).")
    async def design_save(self, info: strawberry.Info, input: DesignSaveInput) -> DesignResult:
        return await save(info.context, input)

    @strawberry.mutation(description="Copy a version of a design into a new design (for the same or another client).")
    async def design_copy(self, info: strawberry.Info, input: DesignCopyInput) -> DesignResult:
        return await copy(info.context, input)

    @strawberry.mutation(description="Archive a design: it keeps its history and frees its name.")
    async def design_archive(self, info: strawberry.Info, id: strawberry.ID) -> DesignResult:
        return await archive(info.context, id)

