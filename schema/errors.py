"""Typed problems: expected failures are part of the schema, each with a machine-readable `code`.

Mutations return them in result unions; queries raise `PublicError`, the one exception class
whose message reaches clients (everything else is masked, see `skyloom.app`).
"""

from __future__ import annotations

import strawberry


class PublicError(Exception):
    """An error whose message and code are safe to show the caller."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code
        self.extensions = {"code": code}


@strawberry.interface(description="Something the caller can fix; `code` is stable and machine-readable.")
class Problem:
    code: str
    message: str


@strawberry.type
class NotFound(Problem):
    id: strawberry.ID


@strawberry.type(description="An input value is not acceptable; `field` names it.")
class ValidationProblem(Problem):
    field: str


@strawberry.type(description="The change collides with existing data, e.g. a duplicate name.")
class Conflict(Problem):
    field: str


@strawberry.type(description="The policy does not allow this; `needsProof`: a fresh hardware-key proof would.")
class Forbidden(Problem):
    needs_proof: bool


def forbidden(action: str, kind: str, needs_proof: bool) -> Forbidden:
    if needs_proof:
        return Forbidden(code="PROOF_REQUIRED", message=f"{action} on {kind} needs a fresh hardware-key proof (stepUp)",
                         needs_proof=True)
    return Forbidden(code="FORBIDDEN", message=f"you may not {action} this {kind}", needs_proof=False)


def not_found(node_id: str, what: str) -> NotFound:
    return NotFound(code="NOT_FOUND", message=f"no {what} with id {node_id}", id=strawberry.ID(node_id))


def invalid(field: str, message: str) -> ValidationProblem:
    return ValidationProblem(code="INVALID_INPUT", message=message, field=field)


def duplicate(field: str, message: str) -> Conflict:
    return Conflict(code="DUPLICATE", message=message, field=field)


def conflict(field: str, message: str) -> Conflict:
    return Conflict(code="CONFLICT", message=message, field=field)
