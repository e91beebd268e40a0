"""The `viewer` query: who the caller is to the policy, so the console shows only the pages it may use."""

from __future__ import annotations

from typing import Any

import strawberry

from skyloom.policy.actor import Actor
from skyloom.policy.resources import ACTIONS, CONFIG_KINDS, PANEL_KINDS
from skyloom.resolvers.access_views import with_fresh_proof
from skyloom.schema.access import (
    AuthStrength,
    KindPermission,
    ScopeKind,
    StepUpMethod,
    Tier,
    Viewer,
    ViewerBinding,
    ViewerIdentity,
)

_WRITES = ("create", "update", "delete", "configure")
# The kinds the console's pages are about; CI kinds follow the Compartment's answer there.
PERMISSION_KINDS = (*PANEL_KINDS, "Compartment", *CONFIG_KINDS)


def step_up_methods(ctx: Any) -> list[StepUpMethod]:
    settings = getattr(ctx.services, "settings", None)
    return [StepUpMethod.HSM, StepUpMethod.WEBAUTHN] if settings is not None and settings.debug else [StepUpMethod.HSM]


def _may(policy: Any, actor: Actor, kind: str, actions: tuple[str, ...]) -> bool:
    return any(not policy.read_filter(actor, action, kind).is_nothing for action in actions)


def viewer_of(ctx: Any, actor: Actor) -> Viewer:
    """The Viewer for `actor` (the request's, or the one a step-up just made)."""
    policy = ctx.access.policy
    proven = with_fresh_proof(actor) if actor.is_authenticated else actor
    permissions = [
        KindPermission(
            kind=kind, read=_may(policy, actor, kind, ("read",)), write=_may(policy, actor, kind, _WRITES),
            write_with_proof=_may(policy, proven, kind, _WRITES),
            actions=[a for a in ACTIONS if _may(policy, actor, kind, (a,))],
            actions_with_proof=[a for a in ACTIONS if _may(policy, proven, kind, (a,))],
        )
        for kind in PERMISSION_KINDS
    ]
    impersonator = actor.impersonator
    return Viewer(
        id=actor.id, kind=actor.kind, name=actor.name, authenticated=actor.is_authenticated,
        home_provider_id=actor.home_provider, home_tenant_id=actor.home_tenant, home_sub_tenant_id=actor.home_subtenant,
        tier=Tier(int(policy.tier(actor))),
        bindings=[
            ViewerBinding(role=b.role, scope_kind=ScopeKind(b.scope_kind), scope_id=b.scope_id, via_group=b.via_group,
                          tier=Tier(int(t)) if (t := policy.role_tier(b.role)) is not None else None)
            for b in actor.bindings
        ],
        groups=sorted(actor.groups), auth_strength=AuthStrength(int(actor.auth_strength)),
        proof_until=actor.proof_until, has_fresh_proof=actor.has_fresh_proof(),
        impersonator=ViewerIdentity(id=impersonator.id, kind=impersonator.kind, name=impersonator.name)
        if impersonator is not None else None,
        browser_session=actor.session_id is not None, step_up_methods=step_up_methods(ctx), permissions=permissions,
    )


@strawberry.type
class ViewerQuery:
    @strawberry.field(description="The calling actor: identity, tier, bindings, step-up state and permissions by kind.")
    def viewer(self, info: strawberry.Info) -> Viewer:
        return viewer_of(info.context, info.context.actor)
