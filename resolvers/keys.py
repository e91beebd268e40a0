"""Registered hardware keys: listing, adding (HSM public keys; FIDO2 credentials in --debug), revoking.

RegisteredKey is provider configuration: changing it needs the provider tier with a fresh
hardware-key proof. That would leave a new operator unable to ever start, so one bootstrap
rule applies: an actor whom the policy would allow with a proof (so: an operator), and who has
no live registered key, may register one without a proof. The count and the insert run in one
transaction under a per-owner lock, so two concurrent "first keys" cannot both pass, and the
audit entry says `bootstrap: true`. From then on every key change needs a step-up with a key
already held. An operator whose keys were all revoked (a lost token) bootstraps again like a
new operator: the same exposure, and the audit trail shows it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import strawberry
from psycopg import AsyncConnection

from skyloom.graph import audit, identity_lists
from skyloom.graph import proofs as store
from skyloom.policy.proofs import ProofError
from skyloom.policy.proofs.challenge import b64url, key_fingerprint
from skyloom.policy.proofs.hsm import load_public_key
from skyloom.resolvers.access_views import (
    AuditedRefusal,
    config_view,
    entry,
    guard_config,
    held_places,
    in_transaction,
    parse_uuid,
    readable,
    require_outranks,
)
from skyloom.resolvers.mutations.kit import Refused
from skyloom.resolvers.step_up import debug, problem, webauthn
from skyloom.schema.access import (
    ProofRefused,
    RegisteredKey,
    RegisteredKeyResult,
    StepUpBeginResult,
    StepUpChallenge,
    StepUpMethod,
)
from skyloom.schema.common import JSON
from skyloom.schema.errors import duplicate, forbidden, invalid, not_found


def key_type(key: store.KeyRecord) -> RegisteredKey:
    return RegisteredKey(
        id=strawberry.ID(key.id), owner=key.owner, method=StepUpMethod(key.kind), label=key.label,
        fingerprint=b64url(key.fingerprint), created_at=key.created_at, revoked_at=key.revoked_at,
    )


async def owner_home(conn: AsyncConnection, owner: str) -> tuple[Any, UUID | None]:
    """(the user row, its id) behind an actor id such as "user:<uuid>"; (None, None) for anything else."""
    kind, _, raw = owner.partition(":")
    try:
        user_id = UUID(raw)
    except ValueError:
        return None, None
    user = await identity_lists.user_on(conn, user_id)
    return (user, user_id) if user is not None and user.kind == kind else (None, None)


def key_view(ctx: Any, owner_user: Any, key_id: str = "new") -> Any:
    home = owner_user.home_provider if owner_user is not None else ctx.actor.home_provider
    return config_view("RegisteredKey", key_id, home, created_by=ctx.actor.id)


async def may_register(ctx: Any, conn: AsyncConnection, just_added: int = 0) -> bool:
    """The policy's answer for the caller's own new key, with the bootstrap rule; True when it is a bootstrap.
    `just_added`: keys this transaction already inserted (a WebAuthn registration checks after storing)."""
    owner, _ = await owner_home(conn, ctx.actor.id)
    decision = await ctx.access.decide("create", key_view(ctx, owner))
    if decision.allowed:
        await store.live_keys_locked(conn, ctx.actor.id)   # still serialise with a concurrent bootstrap
        return False
    if decision.needs_proof and await store.live_keys_locked(conn, ctx.actor.id) == just_added:
        return True
    ctx.denied = True
    raise Refused(forbidden("create", "RegisteredKey", decision.needs_proof))


def _label(label: str) -> str:
    label = label.strip()
    if not 1 <= len(label) <= 200 or any(ord(c) < 0x20 for c in label):
        raise Refused(invalid("label", "label must be 1 to 200 printable characters"))
    return label


def registered(ctx: Any, key: store.KeyRecord, bootstrap: bool) -> Any:
    return entry(ctx, "key.registered", target=f"key:{key.id}", priority="warn" if bootstrap else "notice",
                 detail={"keyId": key.id, "method": key.kind, "label": key.label, "fingerprint": b64url(key.fingerprint),
                         "bootstrap": bootstrap})


async def add_hsm_key(ctx: Any, label: str, public_key_pem: str) -> Any:
    label = _label(label)
    try:
        spki = load_public_key(public_key_pem.encode())
    except ProofError as exc:
        return invalid("publicKeyPem", exc.message)

    async def work(conn: AsyncConnection) -> RegisteredKey:
        bootstrap = await may_register(ctx, conn)
        try:
            key = await store.insert_key(conn, ctx.actor.id, "pkcs11", label, key_fingerprint(spki), public_key=spki)
        except store.DuplicateKey:
            raise Refused(duplicate("publicKeyPem", "this key is already registered")) from None
        await audit.record(conn, [registered(ctx, key, bootstrap)])
        return key_type(key)

    if not ctx.actor.is_authenticated:
        ctx.denied = True
        return forbidden("create", "RegisteredKey", False)
    return await in_transaction(ctx, work)


async def revoke(ctx: Any, key_id: Any) -> Any:
    async def work(conn: AsyncConnection) -> RegisteredKey:
        found = await store.get_key(conn, str(parse_uuid("id", key_id)))
        if found is None or found.revoked_at is not None:
            raise Refused(not_found(str(key_id), "registered key"))
        owner, owner_id = await owner_home(conn, found.owner)
        await guard_config(ctx, "delete", key_view(ctx, owner, found.id), found.id, "registered key")
        if found.owner != ctx.actor.id and owner_id is not None:
            held = await identity_lists.held_bindings(conn, owner.kind, owner_id)
            require_outranks(ctx, await held_places(ctx, held), "revoke the key of someone who outranks you", f"key:{found.id}")
        key = await store.revoke_key(conn, found.id, found.owner)
        await audit.record(conn, [entry(ctx, "key.revoked", target=f"key:{found.id}", priority="warn",
                                        detail={"keyId": found.id, "owner": found.owner, "method": found.kind})])
        return key_type(key)

    return await in_transaction(ctx, work)


async def list_keys(ctx: Any, owner: str | None, include_revoked: bool) -> list[RegisteredKey]:
    actor = ctx.actor
    if not actor.is_authenticated:
        return []
    async with ctx.services.db.connection() as conn:
        if owner is not None and owner != actor.id:
            user, _ = await owner_home(conn, owner)
            if user is None or not readable(ctx, key_view(ctx, user)):
                return []
        keys = await store.list_keys(conn, owner or actor.id, None, include_revoked)
    return [key_type(k) for k in keys]


@strawberry.type
class KeyQuery:
    @strawberry.field(description="Registered hardware keys: the caller's own, or (for readers of provider "
                                   "configuration) another actor's.")
    async def registered_keys(self, info: strawberry.Info, owner: str | None = None,
                              include_revoked: bool = False) -> list[RegisteredKey]:
        return await list_keys(info.context, owner, include_revoked)


@strawberry.type
class KeyMutation:
    @strawberry.mutation(description="Register the caller's PKCS#11 public key (PEM). Needs a step-up, except for the "
                                     "first key of an operator who has none (bootstrap).")
    async def registered_key_add(self, info: strawberry.Info, label: str, public_key_pem: str) -> RegisteredKeyResult:
        try:
            return await add_hsm_key(info.context, label, public_key_pem)
        except Refused as refused:
            return refused.problem

    @strawberry.mutation(description="Revoke a registered key (needs a step-up).")
    async def registered_key_revoke(self, info: strawberry.Info, id: strawberry.ID) -> RegisteredKeyResult:
        return await revoke(info.context, id)

    @strawberry.mutation(description="Start registering a FIDO2 security key (server in --debug only).")
    async def webauthn_register_begin(self, info: strawberry.Info, label: str) -> StepUpBeginResult:
        ctx = info.context
        try:
            label = _label(label)
            if not debug(ctx):
                raise Refused(problem("WEBAUTHN_DISABLED", "method", "security keys are accepted only with --debug"))
            if not ctx.actor.is_authenticated:
                ctx.denied = True
                return forbidden("create", "RegisteredKey", False)
            async with ctx.services.db.connection() as conn, conn.transaction():
                await may_register(ctx, conn)
            challenge_id, options = await (await webauthn(ctx)).register_begin(ctx.actor.id, ctx.actor.name or ctx.actor.id, label)
        except Refused as refused:
            return refused.problem
        return StepUpChallenge(challenge_id=strawberry.ID(challenge_id), method=StepUpMethod.WEBAUTHN, expires_at=None,
                               challenge=None, public_key_options=options, token_label=None, module_path=None)

    @strawberry.mutation(description="Finish registering a FIDO2 security key with the browser's attestation.")
    async def webauthn_register_complete(self, info: strawberry.Info, challenge_id: strawberry.ID,
                                         response: JSON) -> RegisteredKeyResult:
        ctx = info.context
        if not debug(ctx):
            return problem("WEBAUTHN_DISABLED", "method", "security keys are accepted only with --debug")
        if not ctx.actor.is_authenticated:
            ctx.denied = True
            return forbidden("create", "RegisteredKey", False)

        async def check_and_audit(conn: AsyncConnection, key: store.KeyRecord) -> None:
                await audit.record(conn, [registered(ctx, key, await may_register(ctx, conn, just_added=1))])

        try:
            key = await (await webauthn(ctx)).register_complete(ctx.actor.id, str(parse_uuid("challengeId", challenge_id)),
                                                                response if isinstance(response, dict) else {}, check_and_audit)
        except (Refused, AuditedRefusal) as refused:
            return refused.problem
        except ProofError as exc:
            return ProofRefused(code="PROOF_REFUSED", message=exc.message, reason=str(exc.code))
        return key_type(key)
