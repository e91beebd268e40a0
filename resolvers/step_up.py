"""Step-up ("sudo mode"): a browser session signs a one-time challenge with a hardware key and holds the
provider tier for a few minutes.

The challenge is bound to the purpose "step-up" and to the session's id, so a proof made for one
session (or for any other action) raises nothing else. Verification is `policy.proofs` (PKCS#11
through `StepUp`, FIDO2 through `WebAuthnStepUp` only when the server runs with `--debug`);
what this module adds is the session: `proof_until`, the key and HARDWARE strength go onto the
session row in the same transaction as the `session.step_up` audit entry, and every later
request of the session resolves to an Actor with that `proof_until`. Refused proofs (forged,
replayed, expired, someone else's) are audited as `denied` too. Only the session's own person
steps up: API tokens have no session, and an impersonating session would prove for the wrong
person, so both are refused.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import strawberry

from skyloom.graph import audit, hsm_settings, identity_sessions
from skyloom.graph import proofs as store
from skyloom.policy.actor import AuthStrength
from skyloom.policy.proofs import ProofError, StepUp, WebAuthnStepUp
from skyloom.policy.proofs.challenge import Code
from skyloom.resolvers.access_views import entry, parse_uuid
from skyloom.resolvers.mutations.kit import Refused
from skyloom.resolvers.viewer import viewer_of
from skyloom.schema.access import (
    ProofRefused,
    StepUpBeginResult,
    StepUpChallenge,
    StepUpCompleteResult,
    StepUpMethod,
)
from skyloom.schema.common import JSON
from skyloom.schema.errors import ValidationProblem

PURPOSE = "step-up"


def problem(code: str, field: str, message: str) -> ValidationProblem:
    return ValidationProblem(code=code, message=message, field=field)


def debug(ctx: Any) -> bool:
    settings = getattr(ctx.services, "settings", None)
    return bool(settings is not None and settings.debug)


async def hsm(ctx: Any) -> tuple[StepUp, hsm_settings.HsmSettings]:
    """A PKCS#11 verifier configured from the HSM settings as they are now (read per use: a change
    applies at once on every replica; the object itself is only a few attributes)."""
    current = await hsm_settings.read(ctx.services.db)
    return StepUp(ctx.services.db, ttl=timedelta(seconds=current.challenge_ttl_seconds),
                  proof_validity=timedelta(seconds=current.proof_validity_seconds)), current


async def webauthn(ctx: Any) -> WebAuthnStepUp:
    """The FIDO2 verifier, for the panel's public origin; `enabled` is the server's --debug flag."""
    settings = ctx.services.settings
    origin = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    parts = urlsplit(origin)
    current = await hsm_settings.read(ctx.services.db)
    return WebAuthnStepUp(
        ctx.services.db, rp_id=parts.hostname or "localhost", origins={f"{parts.scheme}://{parts.netloc}"},
        enabled=debug(ctx), ttl=timedelta(seconds=current.challenge_ttl_seconds),
        proof_validity=timedelta(seconds=current.proof_validity_seconds),
    )


def require_session(ctx: Any) -> str:
    """The session id of a caller who may step up, or a refusal saying why not."""
    actor = ctx.actor
    if not actor.is_authenticated or actor.session_id is None:
        raise Refused(problem("SESSION_REQUIRED", "session", "step-up raises a browser session; sign in first"))
    if actor.impersonator is not None:
        raise Refused(problem("IMPERSONATING", "session", "end the impersonation before stepping up"))
    return actor.session_id


def refused_entry(ctx: Any, exc: ProofError, method: str, challenge_id: str) -> audit.Entry:
    return entry(ctx, "session.step_up", target=f"session:{ctx.actor.session_id}", priority="warn", outcome="denied",
                 detail={"method": method, "reason": str(exc.code), "challengeId": challenge_id})


async def begin(ctx: Any, method: StepUpMethod) -> Any:
    session_id = require_session(ctx)
    payload = {"session": session_id}
    if method == StepUpMethod.HSM:
        service, current = await hsm(ctx)
        if not [k for k in await service.list_keys(ctx.actor.id) if k.kind == "pkcs11"]:
            raise Refused(problem("NO_KEY", "method", "register an HSM key first (registeredKeyAdd)"))
        challenge = await service.issue(ctx.actor.id, PURPOSE, payload)
        return StepUpChallenge(
            challenge_id=strawberry.ID(challenge.id), method=method, expires_at=challenge.expires_at,
            challenge=challenge.to_json(), public_key_options=None, token_label=current.token_label,
            module_path=current.module_path,
        )
    if not debug(ctx):
        raise Refused(problem("WEBAUTHN_DISABLED", "method", "security keys are accepted only when the server runs with --debug"))
    try:
        challenge_id, options = await (await webauthn(ctx)).authenticate_begin(ctx.actor.id, PURPOSE, payload)
    except ProofError as exc:
        raise Refused(problem("NO_KEY" if exc.code == Code.UNKNOWN_KEY else str(exc.code), "method", exc.message)) from None
    return StepUpChallenge(challenge_id=strawberry.ID(challenge_id), method=method, expires_at=None, challenge=None,
                           public_key_options=options, token_label=None, module_path=None)


async def complete(ctx: Any, challenge_id: str, proof: Any) -> Any:
    session_id = require_session(ctx)
    challenge_uuid = str(parse_uuid("challengeId", challenge_id))
    payload = {"session": session_id}
    db = ctx.services.db
    async with db.connection() as conn:
        record = await store.get_challenge(conn, challenge_uuid)
    method = {"pkcs11": "pkcs11", "webauthn-authenticate": "webauthn"}.get(record.ceremony if record else "", "unknown")
    try:
        if not isinstance(proof, dict):
            raise ProofError(Code.MALFORMED_PROOF, "the proof must be a JSON object")
        if method == "pkcs11":
            if proof.get("challengeId") != challenge_uuid:
                raise ProofError(Code.MALFORMED_PROOF, "the proof names another challenge")
            verified = await (await hsm(ctx))[0].verify(ctx.actor.id, PURPOSE, payload, proof)
        elif method == "webauthn":
            verified = await (await webauthn(ctx)).authenticate_complete(ctx.actor.id, challenge_uuid, PURPOSE, payload, proof)
        else:
            raise ProofError(Code.UNKNOWN_CHALLENGE, "no such challenge")
    except ProofError as exc:
        ctx.denied = True
        async with db.connection() as conn, conn.transaction():
            await audit.record(conn, [refused_entry(ctx, exc, method, challenge_uuid)])
        return ProofRefused(code="PROOF_REFUSED", message=exc.message, reason=str(exc.code))
    async with db.connection() as conn, conn.transaction():
        if not await identity_sessions.record_step_up(conn, UUID(session_id), UUID(verified.key_id), verified.proof_until):
            raise Refused(problem("SESSION_ENDED", "session", "the session ended before the proof arrived"))
        await audit.record(conn, [entry(
            ctx, "session.step_up", target=f"session:{session_id}", priority="notice",
            tenant=ctx.actor.home_tenant, subtenant=ctx.actor.home_subtenant,
            detail={"method": method, "keyId": verified.key_id, "challengeId": verified.challenge_id,
                    "proofUntil": verified.proof_until.isoformat()},
        )])
    raised = replace(ctx.actor, proof_until=verified.proof_until, auth_strength=AuthStrength.HARDWARE)
    return viewer_of(ctx, raised)


@strawberry.type
class StepUpMutation:
    @strawberry.mutation(description="Start a step-up of this browser session: a challenge to sign with a registered key.")
    async def step_up_begin(self, info: strawberry.Info, method: StepUpMethod = StepUpMethod.HSM) -> StepUpBeginResult:
        try:
            return await begin(info.context, method)
        except Refused as refused:
            return refused.problem

    @strawberry.mutation(description="Finish a step-up with the signed challenge (`skyloom proof sign` output, or the "
                                     "WebAuthn assertion); the session holds the provider tier until `proofUntil`.")
    async def step_up_complete(self, info: strawberry.Info, challenge_id: strawberry.ID, proof: JSON) -> StepUpCompleteResult:
        try:
            return await complete(info.context, challenge_id, proof)
        except Refused as refused:
            return refused.problem
