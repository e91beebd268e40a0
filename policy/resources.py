"""What the policy reasons about: light, immutable views of CIs, panel objects and configuration.

The policy never sees database rows or GraphQL types. Callers (resolvers, the graph layer, policy
tests) build one of these views from whatever they hold, so the Polar rules and `ScopeFilter`
read the same few fields everywhere: where the object sits in the panel hierarchy
(`provider_id` -> `tenant_id` -> `subtenant_id`, then `compartment_path`) and, for CIs, the
attributes ABAC rules may look at (`tags`, `region`, `cloud`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from skyloom.policy.actor import Actor

# One name per kind, end to end (CONVENTIONS.md). CI kinds mirror schema/vocabulary.json; a test
# checks they stay equal, so policy/ does not import the schema at runtime.
CI_KINDS: tuple[str, ...] = (
    "Tenancy", "Compartment", "Network", "Subnet", "SecurityRule", "LoadBalancer", "ComputeInstance",
    "KubernetesCluster", "Function", "Database", "ObjectStore", "Volume", "Identity", "Secret", "Dns",
    "Messaging", "Gateway", "RouteTable", "IpAddress", "NetworkInterface", "LogStore", "Resource",
)
PANEL_KINDS: tuple[str, ...] = ("Provider", "CloudBackend", "Tenant", "SubTenant", "Stack")
CONFIG_KINDS: tuple[str, ...] = (
    "User", "Group", "RoleBinding", "IdentityProvider", "PolicyFile", "HsmSettings", "RegisteredKey",
    "ImpersonationSettings", "ImpersonationRequest", "AuditEntry", "IsolationSettings", "Design",
)
ALL_KINDS: tuple[str, ...] = CI_KINDS + PANEL_KINDS + CONFIG_KINDS

ACTIONS: tuple[str, ...] = (
    "read", "create", "update", "delete", "configure", "impersonate", "approve", "read_audit", "preview", "apply",
)


def _check_kind(kind: str, allowed: tuple[str, ...], what: str) -> None:
    if kind not in allowed:
        raise ValueError(f"{kind!r} is not a {what} kind; expected one of {', '.join(allowed)}")


@dataclass(frozen=True, slots=True)
class Ci:
    """A configuration item of the CMDB. `compartment_path` lists the compartments that contain
    it, outermost first (the tenancy itself is not a compartment). For a Compartment, the path
    names only its ancestors; `ancestry` adds the compartment itself, so that a binding on a
    compartment covers that compartment and everything below it."""

    kind: str
    id: str
    provider_id: str | None
    tenant_id: str | None
    subtenant_id: str | None
    compartment_path: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    region: str | None = None
    cloud: str | None = None

    def __post_init__(self) -> None:
        _check_kind(self.kind, CI_KINDS, "CI")
        object.__setattr__(self, "compartment_path", tuple(self.compartment_path))

    @property
    def ancestry(self) -> tuple[str, ...]:
        if self.kind == "Compartment":
            return (*self.compartment_path, self.id)
        return self.compartment_path


@dataclass(frozen=True, slots=True)
class PanelObject:
    """A node of the panel itself: Provider, CloudBackend, Tenant, SubTenant, Stack. The ids say
    where it sits: a Tenant carries its own id as `tenant_id`, a SubTenant its own `subtenant_id`,
    a Stack the ids of whoever owns it. Panel objects live in no compartment."""

    kind: str
    id: str
    provider_id: str | None
    tenant_id: str | None = None
    subtenant_id: str | None = None

    def __post_init__(self) -> None:
        _check_kind(self.kind, PANEL_KINDS, "panel")

    @property
    def ancestry(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True, slots=True)
class ConfigObject:
    """A piece of panel configuration (users, groups, role bindings, identity providers, HSM and
    key settings, impersonation, audit entries). Objects with no `tenant_id` are provider-level:
    the root group, provider operator bindings, installation-wide settings. `created_by` is the
    actor id that made it (for an ImpersonationRequest: the requester, who may not approve it)."""

    kind: str
    id: str
    provider_id: str | None
    tenant_id: str | None = None
    subtenant_id: str | None = None
    created_by: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_kind(self.kind, CONFIG_KINDS, "configuration")

    @property
    def ancestry(self) -> tuple[str, ...]:
        return ()


AnyResource = Ci | PanelObject | ConfigObject


def make_resource(kind: str, **fields: Any) -> AnyResource:
    """The right view for a kind name: what policy tests and generic callers use."""
    if kind in CI_KINDS:
        return Ci(kind=kind, **fields)
    if kind in PANEL_KINDS:
        return PanelObject(kind=kind, **fields)
    if kind in CONFIG_KINDS:
        return ConfigObject(kind=kind, **fields)
    raise ValueError(f"unknown kind {kind!r}")


@dataclass(frozen=True, slots=True)
class Env:
    """The moment a decision is made. Passed into every Polar query so that decisions and filters
    are pure functions of (actor, action, resource, env): the same request decides the same way,
    and tests can pin the clock."""

    now: datetime

    @classmethod
    def at(cls, now: datetime | None = None) -> Env:
        now = now or datetime.now(timezone.utc)
        if now.tzinfo is None:
            raise ValueError("the decision time must be timezone-aware")
        return cls(now.astimezone(timezone.utc))

    def within_hours(self, actor: Actor) -> bool:
        """The actor's optional working window, attribute `hours` = "HH-HH" in UTC (end exclusive;
        "22-06" wraps past midnight). No attribute: no window. A malformed one: never inside,
        so a typo locks the account out rather than open."""
        spec = actor.attributes.get("hours")
        if spec is None:
            return True
        try:
            start, end = (int(part) for part in spec.split("-"))
        except ValueError:
            return False
        if not (0 <= start <= 24 and 0 <= end <= 24):
            return False
        hour = self.now.hour
        return start <= hour < end if start <= end else (hour >= start or hour < end)
