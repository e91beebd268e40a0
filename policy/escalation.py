"""The privilege-escalation rule: nobody hands out a role above their own tier, or at a scope they do not hold.

The Polar policy decides whether an actor may create a RoleBinding at some place at all (a
tenant admin may manage its tenant's bindings). That alone would let a tenant admin bind
`provider-operator` at its own tenant, add itself to a group another tenant granted more, or
mint a token for a service account that holds more than it does. So every change that gives a
subject roles (a binding, a group mapping, a membership, a token, re-enabling a user) is checked
here as well, against each (role, place) the subject would hold:

    some binding B of the actor covers the place (the same `binding_covers` the policy uses)
    and tier(B.role) >= tier(role)

Taking roles away (revoking a binding, removing a member, disabling a user) is held to the same
rule, so nobody can strip or lock out somebody who outranks them. Unrestricted actors (the
system) pass; a role the policy gives no tier is never granted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from skyloom.policy.actor import Actor, Tier
from skyloom.policy.adapter import Policy
from skyloom.policy.scopes import binding_covers


@dataclass(frozen=True, slots=True)
class Outranked:
    """Why a grant is refused: the role and place the actor does not outrank."""

    role: str
    place: str
    reason: str


def holding_tier(actor: Actor, policy: Policy, place: Any) -> Tier:
    """The highest tier among the actor's bindings that cover `place` (a resource view)."""
    best = Tier.NONE
    for binding in actor.bindings:
        if binding_covers(binding.scope_kind, binding.scope_id, place):
            best = max(best, policy.role_tier(binding.role) or Tier.NONE)
    return best


def first_outranked(actor: Actor, policy: Policy, grants: Iterable[tuple[str, Any, str]]) -> Outranked | None:
    """The first of `grants` (role, place view, place label) the actor may not hand out, or None."""
    if policy.unrestricted(actor):
        return None
    if not actor.is_authenticated:
        return Outranked("", "", "anonymous callers grant nothing")
    for role, place, label in grants:
        wanted = policy.role_tier(role)
        if wanted is None:
            return Outranked(role, label, f"role {role!r} has no tier in the policy")
        held = holding_tier(actor, policy, place)
        if held < wanted:
            return Outranked(role, label, f"{role} at {label} is above what you hold there ({held.name})")
    return None
