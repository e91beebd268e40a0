"""What every mutation does the same way: parse ids, find and lock parents, refuse to orphan children."""

from __future__ import annotations

import uuid
from typing import Any

from skyloom.graph.records import Vertex
from skyloom.graph.store import GraphWriter
from skyloom.schema.errors import Conflict, Forbidden, NotFound, ValidationProblem, conflict, forbidden, invalid, not_found


class Refused(Exception):
    """Raised inside a write transaction to roll it back and answer with a typed problem."""

    def __init__(self, problem: NotFound | ValidationProblem | Conflict | Forbidden) -> None:
        super().__init__(problem.message)
        self.problem = problem


async def guard(ctx: Any, action: str, vertex: Vertex, what: str) -> None:
    """Refuse `action` on an existing vertex: NotFound when the caller may not even see it (so a
    refusal says nothing about what exists elsewhere), Forbidden when it may look but not touch."""
    access = ctx.access
    view = await access.view(vertex)
    if not access.filter("read", vertex.label).matches(view):
        ctx.denied = True
        raise Refused(not_found(vertex.uid, what))
    await guard_view(ctx, action, view)


async def guard_view(ctx: Any, action: str, view: Any) -> None:
    """Refuse `action` on a policy view (an existing object's, or the one a create would make)."""
    decision = await ctx.access.decide(action, view)
    if not decision.allowed:
        ctx.denied = True
        raise Refused(forbidden(action, view.kind, decision.needs_proof))


async def admit(
    ctx: Any, writer: GraphWriter, operation: str, kind: str, obj: dict[str, Any], quota: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Admission control (seeds 001): the mutating steps, then the validating ones (naming, required
    tags, quotas), as `policy/admission.json` lists them. Returns the object as it will be stored;
    the first problem refuses the mutation, with the field it names."""
    count = None
    if operation == "create" and quota is not None:
        found = await writer.count_live(kind, quota)
        count = lambda *_: found  # noqa: E731 - the count is taken inside this transaction
    result = ctx.services.admission.admit(operation, kind, obj, count=count)
    if result.problems:
        problem = result.problems[0]
        field = _camel(problem.path.split(".")[0])
        raise Refused(ValidationProblem(code=problem.code.upper(), message=problem.message, field=field))
    return result.object


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def parse_id(field: str, value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise Refused(invalid(field, f"{field} is not a valid id")) from None


async def live_vertex(writer: GraphWriter, field: str, value: Any, allowed: tuple[str, ...], what: str) -> Vertex:
    """The live vertex `value` names, locked for this transaction, if it has one of the `allowed` labels."""
    uid = parse_id(field, value)
    vertex = await writer.find_for_update(uid)
    if vertex is None or vertex.props.get("deleted"):
        raise Refused(not_found(uid, what))
    if vertex.label not in allowed:
        raise Refused(invalid(field, f"{field} must name a {what}, not a {vertex.label}"))
    return vertex


async def refuse_if_live(writer: GraphWriter, checks: list[tuple[str | None, dict[str, Any], str]]) -> None:
    """Deleting something that still holds live things would orphan them: say what is in the way."""
    for label, match, what in checks:
        if await writer.has_live(label, match):
            raise Refused(conflict("id", f"it still has live {what}; delete those first"))
