"""The architecture planner's engine: validate a design document, generate its Pulumi program, preview it.

No database and no cloud: `validate` and `generate` are pure, `preview` runs the generated program
under the Pulumi SDK's mocks in a child process. See docs/planner.md.
"""

from skyloom.deploy.planner.compare import compare
from skyloom.deploy.planner.model import (
    DEFAULT_REGIONS, KINDS, MAX_COMPONENTS, MAX_CONNECTIONS, MAX_DOCUMENT_BYTES, PROVIDERS, Problem, document_size,
)
from skyloom.deploy.planner.preview import PlannedResource, PreviewFailed, preview
from skyloom.deploy.planner.program import ConfigKey, InvalidDesign, generate, required_config
from skyloom.deploy.planner.validate import check, validate

__all__ = [
    "DEFAULT_REGIONS", "KINDS", "MAX_COMPONENTS", "MAX_CONNECTIONS", "MAX_DOCUMENT_BYTES", "PROVIDERS",
    "ConfigKey", "InvalidDesign", "PlannedResource", "PreviewFailed", "Problem",
    "check", "compare", "document_size", "generate", "preview", "required_config", "validate",
]
