"""Who is calling: the actor every policy decision, data filter and audit entry is about.

An actor is built once per request (from a browser session, a bearer token or the websocket
handshake) and is immutable afterwards, so the same facts decide every field of one request.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import IntEnum
from typing import Literal, Mapping

ScopeKind = Literal["installation", "provider", "tenant", "subtenant", "compartment"]
SubjectKind = Literal["user", "group", "service"]


class Tier(IntEnum):
    """The panel's tiers, highest first in power; comparisons (`>=`) follow the order of the brief."""

    NONE = 0
    AUDITOR = 1
    USER = 2
    SUBTENANT_ADMIN = 3
    TENANT_ADMIN = 4
    PROVIDER_OPERATOR = 5


class AuthStrength(IntEnum):
    """How strongly the caller proved who they are in this session (an ABAC attribute)."""

    NONE = 0
    PASSWORD = 1          # a password at the identity provider, as far as its claims say
    MULTI_FACTOR = 2      # the identity provider reported a second factor (amr / AuthnContext)
    HARDWARE = 3          # a hardware-held key signed a challenge of ours (HSM or FIDO2)


@dataclass(frozen=True, slots=True)
class Binding:
    """A role granted at one scope: a TenantRoleBinding (tenant / sub-tenant / provider scope, or the
    whole installation: scope id "*"), or a RoleBinding (one compartment, the seeds' "workspace",
    and everything below it)."""

    role: str
    scope_kind: ScopeKind
    scope_id: str
    via_group: str | None = None   # the group the binding came through, for the audit trail


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller of one request. `home_*` say where the actor belongs in the panel hierarchy
    (provider -> tenant -> sub-tenant); bindings say what they may do, and where."""

    id: str                                  # "user:<uuid>", "service:<uuid>", "api:anonymous", ...
    kind: Literal["user", "service", "anonymous", "system"]
    name: str = ""
    home_provider: str | None = None
    home_tenant: str | None = None
    home_subtenant: str | None = None
    groups: frozenset[str] = frozenset()
    bindings: tuple[Binding, ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict)   # department, clearance, ...
    auth_strength: AuthStrength = AuthStrength.NONE
    proof_until: datetime | None = None      # a fresh hardware-key proof is valid until then
    impersonator: Actor | None = None        # the root user acting as this actor, if any
    session_id: str | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.kind in ("user", "service", "system")

    def has_fresh_proof(self, now: datetime | None = None) -> bool:
        now = now or datetime.now(timezone.utc)
        return self.proof_until is not None and now < self.proof_until


ANONYMOUS = Actor(id="api:anonymous", kind="anonymous", name="anonymous")
