"""The semantic layer as an API: the vocabulary with each cloud's terms, and an installation's overrides."""

from __future__ import annotations

from typing import Annotated

import strawberry

from skyloom.schema.enums import Cloud, SemanticKind
from skyloom.schema.errors import Forbidden, NotFound, ValidationProblem


@strawberry.type(description="A cloud's word for a kind; `overridden` when the installation set its own.")
class CloudTerm:
    cloud: Cloud
    term: str | None
    default_term: str | None
    overridden: bool


@strawberry.type
class SemanticKindInfo:
    kind: SemanticKind
    term: str
    container: bool = strawberry.field(description="Tenancies and compartments hold other CIs.")
    cloud_terms: list[CloudTerm]


@strawberry.type(description="An installation's rule: type tokens matching the glob `tokenPattern` are `kind`.")
class SemanticMapping:
    token_pattern: str
    kind: SemanticKind


@strawberry.type
class SemanticClassification:
    token: str
    kind: SemanticKind
    cloud: Cloud | None
    mapped: bool = strawberry.field(description="A rule named the kind (false: the fallback Resource).")
    ignored: bool = strawberry.field(description="Not a configuration item (provider configuration, the stack, ...).")


@strawberry.type
class Removed:
    removed: bool


@strawberry.input
class SemanticMappingInput:
    provider_id: strawberry.ID
    token_pattern: str = strawberry.field(description="Glob on type tokens, e.g. `aws:ec2/eip:*`; case-insensitive.")
    kind: SemanticKind


@strawberry.input
class SemanticTermInput:
    provider_id: strawberry.ID
    kind: SemanticKind
    cloud: Cloud
    term: str


SemanticMappingResult = Annotated[SemanticMapping | ValidationProblem | NotFound | Forbidden, strawberry.union("SemanticMappingResult")]
CloudTermResult = Annotated[CloudTerm | ValidationProblem | NotFound | Forbidden, strawberry.union("CloudTermResult")]
RemovedResult = Annotated[Removed | ValidationProblem | NotFound | Forbidden, strawberry.union("RemovedResult")]
