"""Tenant isolation as the console's setup assistant sees it: the mode, what the database can do, a switch."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from skyloom.schema.errors import Conflict, Forbidden, NotFound, ValidationProblem


@strawberry.enum(description="How tenants' data is kept apart (docs/isolation.md).")
class IsolationMode(Enum):
    DATABASE = "database"
    GRAPH = "graph"
    RLS = "rls"
    GRAPH_RLS = "graph_rls"


@strawberry.type
class IsolationModeInfo:
    mode: IsolationMode
    title: str
    offered: bool = strawberry.field(description="Whether this release can switch to it.")
    current: bool


@strawberry.type(description="Something a mode needs from the database or its roles, and what was found.")
class IsolationCapability:
    name: str
    ok: bool
    detail: str


@strawberry.type
class IsolationStatus:
    mode: IsolationMode
    changed_at: datetime | None
    changed_by: str | None
    tenants: int = strawberry.field(description="Tenants with a database role.")
    tenant_graphs: int = strawberry.field(description="Tenants with a graph of their own.")
    modes: list[IsolationModeInfo]
    capabilities: list[IsolationCapability]


@strawberry.type(description="What a switch to `target` would do, in order.")
class IsolationPlan:
    target: IsolationMode
    steps: list[str]


@strawberry.type
class IsolationLabelCount:
    label: str
    rows: int


@strawberry.type(description="A switch that committed: every label's rows, equal (count and checksum) before and after.")
class IsolationSwitchReport:
    previous: IsolationMode
    mode: IsolationMode
    verified: bool
    labels: list[IsolationLabelCount]
    seconds: float


IsolationSwitchResult = Annotated[
    IsolationSwitchReport | ValidationProblem | Conflict | NotFound | Forbidden, strawberry.union("IsolationSwitchResult")
]
