"""The architecture planner's types: designs, their versions, problems, comparisons and previews."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from skyloom.schema.common import JSON, PageInfo
from skyloom.schema.enums import Cloud
from skyloom.schema.errors import Conflict, Forbidden, NotFound, Problem, ValidationProblem


@strawberry.enum
class ProblemSeverity(Enum):
    ERROR = "error"
    WARNING = "warning"


@strawberry.type(description="Something wrong with a design, placed on the component (or connection) it concerns.")
class DesignProblem:
    code: str
    message: str
    severity: ProblemSeverity
    component_id: str | None
    connection: int | None = strawberry.field(description="The index of the connection it concerns, if any.")


@strawberry.type(description="One saved version of a design (versions are never rewritten).")
class DesignVersion:
    number: int
    document: JSON
    problems: list[DesignProblem] = strawberry.field(description="The design's problems under today's rules.")
    comment: str | None
    created_by: str
    created_at: datetime


@strawberry.type(description="A version in a design's history, without its document.")
class DesignVersionInfo:
    number: int
    error_count: int
    warning_count: int
    comment: str | None
    created_by: str
    created_at: datetime


@strawberry.type(description="A property a component of some kind takes at some cloud.")
class PaletteProperty:
    name: str
    help: str
    required: bool
    type: str = strawberry.field(description="text, int or cidr")
    default: JSON | None
    choices: list[str]
    pattern: str | None = strawberry.field(description="For text: what the whole value must match (a hint; "
                                                         "the server decides).")
    minimum: int | None
    maximum: int | None


@strawberry.type(description="A component the canvas offers: its semantic kind with the cloud's own term.")
class PaletteKind:
    kind: str
    term: str
    provider_term: str
    display: str = strawberry.field(description='Both terms as the product writes them: "Network (VPC)".')
    properties: list[PaletteProperty]


@strawberry.type
class PaletteConnection:
    source: str
    target: str
    meaning: str = strawberry.field(description="`contains` (a container holds it) or `attaches` (runs as).")


@strawberry.type(description="What the planner's canvas offers for one cloud.")
class Palette:
    cloud: Cloud
    default_region: str
    kinds: list[PaletteKind]
    connections: list[PaletteConnection]
    max_components: int
    max_connections: int


@strawberry.type(description="A client's architecture, drawn in the planner and kept as versioned documents.")
class Design:
    id: strawberry.ID
    name: str
    cloud: Cloud
    tenant_id: strawberry.ID
    latest_version: int
    error_count: int = strawberry.field(description="The latest version's errors (a design with errors cannot be "
                                                    "previewed or applied).")
    warning_count: int
    copied_from: strawberry.ID | None
    copied_version: int | None
    archived: bool
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    history: list[DesignVersionInfo]
    runs: list[DesignRun] = strawberry.field(description="Its applies, newest first (in a single fetch).")
    current: DesignVersion | None = strawberry.field(description="The latest version (in a single fetch).")


@strawberry.type
class DesignEdge:
    cursor: str
    node: Design


@strawberry.type
class DesignConnection:
    edges: list[DesignEdge]
    page_info: PageInfo


@strawberry.type(description="A component as a comparison lists it.")
class ComponentSummary:
    id: str
    kind: str
    name: str


@strawberry.type
class FieldChange:
    field: str
    before: JSON | None
    after: JSON | None


@strawberry.type
class ComponentChange:
    id: str
    kind: str
    name: str
    changes: list[FieldChange]


@strawberry.type
class ConnectionSummary:
    source: str
    target: str


@strawberry.type(description="What changed between two versions (of one design, or of a design and its copy).")
class DesignComparison:
    added: list[ComponentSummary]
    removed: list[ComponentSummary]
    changed: list[ComponentChange]
    connections_added: list[ConnectionSummary]
    connections_removed: list[ConnectionSummary]
    settings_changed: list[FieldChange] = strawberry.field(description="Design-wide settings: cloud, region.")


@strawberry.type(description="A resource the design's program would create, as Pulumi's engine would register it.")
class PlannedResource:
    type: str
    name: str
    urn: str
    component_id: str | None
    inputs: JSON


@strawberry.type(description="A preview: the generated Pulumi program and the resources it would create.")
class DesignPreview:
    design_id: strawberry.ID
    version: int
    project: str
    stack: str
    program: str
    resources: list[PlannedResource]
    engine: str = strawberry.field(description="`mocks` (the Pulumi SDK's mocks) or `pulumi` (a real preview).")
    plan_digest: str = strawberry.field(description="Names exactly this plan: give it to `designApply` to approve it.")


@strawberry.enum
class DesignRunStatus(Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@strawberry.type(description="One apply of a design version to its client's stack.")
class DesignRun:
    id: strawberry.ID
    design_id: strawberry.ID
    version: int
    project: str
    stack: str
    plan_digest: str
    engine: str = strawberry.field(description="`pulumi` (a real `pulumi up`) or `mocks` (the SDK's mocks: no cloud "
                                               "was touched; the CMDB shows what the program would have created).")
    status: DesignRunStatus
    resources: int
    error: str | None
    requested_by: str
    started_at: datetime
    finished_at: datetime | None


@strawberry.enum(description="How a planned resource compares with what the CMDB found.")
class DriftStatus(Enum):
    PLANNED = "planned"          # not found (yet): the CMDB has no CI with its URN
    IN_SYNC = "in_sync"          # found, and what the plan says of it holds
    DRIFTED = "drifted"          # found, but different from the plan (see `differences`)
    UNPLANNED = "unplanned"      # in the client's stack, but not in the plan


@strawberry.type
class DriftEntry:
    status: DriftStatus
    component_id: str | None
    type: str
    name: str
    urn: str
    ci_id: strawberry.ID | None
    differences: list[FieldChange]


@strawberry.type(description="A design's planned resources beside the CIs ingest found for its stack.")
class DesignDrift:
    version: int
    project: str
    stack: str
    entries: list[DriftEntry]


@strawberry.type(description="The design has errors: nothing was generated or run.")
class DesignInvalid(Problem):
    problems: list[DesignProblem]


DesignResult = Annotated[Design | ValidationProblem | NotFound | Conflict | Forbidden, strawberry.union("DesignResult")]
DesignRunResult = Annotated[
    DesignRun | DesignInvalid | ValidationProblem | NotFound | Conflict | Forbidden, strawberry.union("DesignRunResult")
]
DesignPreviewResult = Annotated[
    DesignPreview | DesignInvalid | ValidationProblem | NotFound | Forbidden, strawberry.union("DesignPreviewResult")
]


@strawberry.input
class DesignCreateInput:
    tenant_id: strawberry.ID
    name: str
    cloud: Cloud
    document: JSON | None = strawberry.field(default=None, description="The first version; an empty design when null.")
    comment: str | None = None


@strawberry.input
class DesignSaveInput:
    id: strawberry.ID
    expected_version: int = strawberry.field(description="The version this edit started from (refused when stale).")
    document: JSON
    comment: str | None = None


@strawberry.input
class DesignCopyInput:
    id: strawberry.ID
    name: str
    version: int | None = strawberry.field(default=None, description="The version to copy; the latest when null.")
    tenant_id: strawberry.ID | None = strawberry.field(default=None, description="Another client to copy it to.")
