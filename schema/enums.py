"""Enumerations of the API; the semantic kinds come from the vocabulary data, one value per kind."""

from __future__ import annotations

from enum import Enum

import strawberry

from skyloom.schema import vocabulary


@strawberry.enum(description="A cloud a backend or a CI belongs to.")
class Cloud(Enum):
    AWS = "aws"
    AZURE = "azure"
    GCP = "gcp"
    OCI = "oci"
    KUBERNETES = "kubernetes"


# One member per kind, named exactly as the vertex label (CONVENTIONS: one name everywhere).
SemanticKind = strawberry.enum(
    Enum("SemanticKind", {name: name for name in vocabulary.kinds()}),
    description="Semantic kind of a configuration item; the same name is its graph label.",
)


@strawberry.enum
class RelationType(Enum):
    CONTAINS = "CONTAINS"
    OWNS = "OWNS"
    DEPENDS_ON = "DEPENDS_ON"
    PARENT_OF = "PARENT_OF"
    MANAGED_BY = "MANAGED_BY"


@strawberry.enum
class Direction(Enum):
    OUTGOING = "outgoing"
    INCOMING = "incoming"
    BOTH = "both"


@strawberry.enum
class ChangeOperation(Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    RESTORE = "restore"


@strawberry.enum(description="Level of the panel's tenant hierarchy: provider -> tenant -> sub-tenant.")
class TenantLevel(Enum):
    TENANT = "Tenant"
    SUB_TENANT = "SubTenant"
