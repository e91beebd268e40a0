"""Small shared object types: tags, page info, JSON, and conversions of stored values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

__all__ = ["JSON", "PageInfo", "Tag", "tags_of", "when"]


@strawberry.type
class Tag:
    key: str
    value: str


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None

    @classmethod
    def of(cls, edges: list[Any], has_next: bool) -> "PageInfo":
        """The page info of a page of edges: the last edge's cursor ends it."""
        return cls(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None)


def tags_of(props: dict[str, Any]) -> list[Tag]:
    tags = props.get("tags") or {}
    return [Tag(key=k, value=str(v)) for k, v in sorted(tags.items())]


def when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
