"""GraphQL types of the caller and the provider tier: the viewer, step-up, registered keys, HSM settings, policy reports."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from skyloom.schema.common import JSON
from skyloom.schema.errors import Conflict, Forbidden, NotFound, Problem, ValidationProblem


@strawberry.enum(description="The panel's tiers, lowest first (Policy.tier).")
class Tier(Enum):
    NONE = 0
    AUDITOR = 1
    USER = 2
    SUBTENANT_ADMIN = 3
    TENANT_ADMIN = 4
    PROVIDER_OPERATOR = 5


@strawberry.enum(description="How strongly the caller proved who they are in this session.")
class AuthStrength(Enum):
    NONE = 0
    PASSWORD = 1
    MULTI_FACTOR = 2
    HARDWARE = 3


@strawberry.enum(description="Where a role is bound. INSTALLATION is every provider (scope id `*`).")
class ScopeKind(Enum):
    INSTALLATION = "installation"
    PROVIDER = "provider"
    TENANT = "tenant"
    SUB_TENANT = "subtenant"
    COMPARTMENT = "compartment"


@strawberry.enum(description="A hardware key kind: a PKCS#11 HSM key, or a FIDO2 security key (server in --debug only).")
class StepUpMethod(Enum):
    HSM = "pkcs11"
    WEBAUTHN = "webauthn"


@strawberry.type
class ViewerBinding:
    role: str
    scope_kind: ScopeKind
    scope_id: str
    via_group: str | None = strawberry.field(description="The group the role comes through; null: bound directly.")
    tier: Tier | None


@strawberry.type
class ViewerIdentity:
    id: str
    kind: str
    name: str


@strawberry.type(description="What the caller may do with one kind somewhere in its scopes (for showing pages and buttons).")
class KindPermission:
    kind: str
    read: bool
    write: bool = strawberry.field(description="May create, update or delete some objects of the kind right now.")
    write_with_proof: bool = strawberry.field(description="Would, after a step-up (a fresh hardware-key proof).")
    actions: list[str] = strawberry.field(description="Every action (read, create, ..., approve, preview, apply) the "
                                                      "caller may take on some objects of the kind right now.")
    actions_with_proof: list[str] = strawberry.field(description="The same after a step-up.")


@strawberry.type(description="The calling actor, as the policy sees it.")
class Viewer:
    id: str
    kind: str
    name: str
    authenticated: bool
    home_provider_id: str | None
    home_tenant_id: str | None
    home_sub_tenant_id: str | None
    tier: Tier
    bindings: list[ViewerBinding]
    groups: list[str]
    auth_strength: AuthStrength
    proof_until: datetime | None = strawberry.field(description="A hardware-key proof holds until then (step-up).")
    has_fresh_proof: bool
    impersonator: ViewerIdentity | None
    browser_session: bool = strawberry.field(description="Signed in with a session cookie: step-up is possible.")
    step_up_methods: list[StepUpMethod] = strawberry.field(description="The methods this server accepts for step-up.")
    permissions: list[KindPermission]


@strawberry.type(description="A challenge to sign: `challenge` for `skyloom proof sign` (HSM), or `publicKeyOptions` "
                             "for navigator.credentials.get / create (WebAuthn).")
class StepUpChallenge:
    challenge_id: strawberry.ID
    method: StepUpMethod
    expires_at: datetime | None
    challenge: JSON | None
    public_key_options: JSON | None
    token_label: str | None = strawberry.field(description="The HSM token label from the HSM settings (a hint).")
    module_path: str | None = strawberry.field(description="The PKCS#11 module from the HSM settings (a hint).")


@strawberry.type(description="A hardware-key proof was not accepted; `reason` says why (MALFORMED_PROOF, REPLAYED, ...).")
class ProofRefused(Problem):
    reason: str


@strawberry.type
class RegisteredKey:
    id: strawberry.ID
    owner: str
    method: StepUpMethod
    label: str
    fingerprint: str = strawberry.field(description="base64url SHA-256 of the public key (HSM) or credential id.")
    created_at: datetime
    revoked_at: datetime | None


@strawberry.type
class HsmSettings:
    module_path: str | None
    token_label: str | None
    challenge_ttl_seconds: int
    proof_validity_seconds: int
    updated_by: str
    updated_at: datetime


@strawberry.input
class HsmSettingsInput:
    module_path: str | None = None
    token_label: str | None = None
    challenge_ttl_seconds: int = 120
    proof_validity_seconds: int = 300


@strawberry.input
class PolicyFileInput:
    name: str = strawberry.field(description="`<name>.polar` or `<name>.tests.toml`.")
    text: str


@strawberry.type
class PolicyCaseFailure:
    case: str
    expected: str
    got: str


@strawberry.type(description="A policy check: compiled or not, test cases run, failures. `applied`: now serving.")
class PolicyReport:
    ok: bool
    applied: bool
    error: str | None
    cases_run: int
    failures: list[PolicyCaseFailure]
    warnings: list[str]
    policy_files: list[str]
    test_files: list[str]


@strawberry.type
class Role:
    name: str
    description: str
    tier: Tier | None
    scope_kinds: list[ScopeKind]


StepUpBeginResult = Annotated[StepUpChallenge | ValidationProblem | Forbidden, strawberry.union("StepUpBeginResult")]
StepUpCompleteResult = Annotated[
    Viewer | ProofRefused | ValidationProblem | NotFound | Forbidden, strawberry.union("StepUpCompleteResult")
]
RegisteredKeyResult = Annotated[
    RegisteredKey | ProofRefused | ValidationProblem | NotFound | Conflict | Forbidden, strawberry.union("RegisteredKeyResult")
]
HsmSettingsResult = Annotated[HsmSettings | ValidationProblem | NotFound | Forbidden, strawberry.union("HsmSettingsResult")]
PolicyReportResult = Annotated[PolicyReport | ValidationProblem | NotFound | Forbidden, strawberry.union("PolicyReportResult")]
