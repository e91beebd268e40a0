"""Every GraphQL operation leaves an audit entry before its answer goes out.

The entry names the caller, the operation (type, name, top-level fields), the request id and the
source address, and its outcome: `success`, `failure` (the caller's mistake: a syntax or
validation error, a typed error such as NotFound), `denied` (the policy said no) or `error` (ours).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from graphql import ExecutionResult, FieldNode, GraphQLError, OperationDefinitionNode
from strawberry.extensions import FieldExtension, SchemaExtension

from skyloom.graph.audit import Entry
from skyloom.schema.errors import Problem

_PRIORITY = {"query": "info", "subscription": "info", "mutation": "notice"}


class AuditCalls(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:  # type: ignore[override]
        yield
        ctx = self.execution_context.context
        writer = getattr(getattr(ctx, "services", None), "audit", None)
        if writer is None:
            return
        try:
            await writer.write(_entry(ctx, self.execution_context))
        except Exception:  # noqa: BLE001 - fail closed: no answer goes out unaudited
            self.execution_context.result = ExecutionResult(
                data=None,
                errors=[GraphQLError("the audit trail is unavailable; try again shortly", extensions={"code": "AUDIT_UNAVAILABLE"})],
            )


def _entry(ctx: Any, execution: Any) -> Entry:
    operation = _operation(execution)
    kind = operation.operation.value if operation is not None else "unknown"
    fields = sorted({s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)}) if operation else []
    outcome, codes = _outcome(execution, ctx)
    priority = _PRIORITY.get(kind, "info")
    if outcome == "error":
        priority = "error"
    elif outcome in ("denied", "failure") and kind == "mutation":
        priority = "warn"
    detail: dict[str, Any] = {"operation": kind, "fields": fields}
    if execution.operation_name:
        detail["name"] = execution.operation_name[:128]
    if codes:
        detail["codes"] = codes
    return Entry(
        type=f"api.{kind}",
        actor=ctx.actor.id,
        impersonator=ctx.actor.impersonator.id if ctx.actor.impersonator else None,
        priority=priority,
        outcome=outcome,
        target=",".join(fields)[:1024] or None,
        request_id=ctx.request_id,
        source=ctx.source,
        detail=detail,
    )


def _operation(execution: Any) -> OperationDefinitionNode | None:
    document = execution.graphql_document
    if document is None:
        return None
    wanted = execution.operation_name
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (wanted is None or (definition.name and definition.name.value == wanted)):
            return definition
    return None


def _outcome(execution: Any, ctx: Any) -> tuple[str, list[str]]:
    if getattr(ctx, "denied", False):
        return "denied", ["FORBIDDEN"]
    errors = list(execution.pre_execution_errors or [])
    result = execution.result
    if result is not None and result.errors:
        errors += result.errors
    codes = sorted({str((e.extensions or {}).get("code", "")) for e in errors} - {""})
    if not errors:
        typed = getattr(ctx, "problems", None)
        return ("failure", sorted(set(typed))) if typed else ("success", [])
    if any(e.message == "internal error" or (e.extensions or {}).get("code") == "DATABASE_UNAVAILABLE" for e in errors):
        return "error", codes
    return "failure", codes


class NoteProblems(FieldExtension):
    """On mutation fields only: a typed problem in the answer makes the call's outcome `failure`."""

    def resolve(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        return self._note(info, next_(source, info, **kwargs))

    async def resolve_async(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        return self._note(info, await next_(source, info, **kwargs))

    @staticmethod
    def _note(info: Any, result: Any) -> Any:
        if isinstance(result, Problem):
            info.context.problems.append(result.code)
        return result


def note_problems(mutation_type: type) -> None:
    for field in mutation_type.__strawberry_definition__.fields:  # type: ignore[attr-defined]
        if not any(isinstance(e, NoteProblems) for e in field.extensions):
            field.extensions.append(NoteProblems())
