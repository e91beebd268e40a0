"""Cursor connections of panel entities (CI connections live in `cmdb`)."""

from __future__ import annotations

import strawberry

from skyloom.schema.common import PageInfo
from skyloom.schema.panel import Tenant


@strawberry.type
class TenantEdge:
    cursor: str
    node: Tenant


@strawberry.type
class TenantConnection:
    edges: list[TenantEdge]
    page_info: PageInfo
