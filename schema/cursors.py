"""Opaque cursors and ids: what clients pass back, checked before anything reaches a query."""

from __future__ import annotations

import base64
import uuid

from skyloom.schema.errors import PublicError


def encode(*parts: int) -> str:
    raw = ":".join(str(p) for p in parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None, arity: int = 1) -> tuple[int, ...] | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = tuple(int(p) for p in base64.urlsafe_b64decode(padded.encode()).decode().split(":"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise PublicError("malformed cursor", "INVALID_CURSOR") from exc
    if len(parts) != arity or any(p < 0 for p in parts):
        raise PublicError("malformed cursor", "INVALID_CURSOR")
    return parts


def parse_id(value: str, argument: str = "id") -> str:
    """Node ids are UUIDs; anything else is a client error, not a lookup."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise PublicError(f"{argument} is not a valid id", "INVALID_ID") from None
