"""FIDO2 / WebAuthn step-up (a YubiKey instead of the HSM), accepted only when the server runs with `--debug`.

The issue allows a security key in place of the PKCS#11 HSM only in debug mode, so this service
takes `enabled` and refuses every call with WEBAUTHN_DISABLED unless it is true; the app's
wiring passes the `--debug` flag there. Verification is `fido2.server.Fido2Server`; what is
ours is the binding and the bookkeeping:

- the WebAuthn challenge is SHA-256 of the same canonical challenge bytes the HSM signs
  (`Challenge.to_bytes`), so an assertion approves exactly one actor, action, payload and expiry;
- the fido2 ceremony state lives in `skyloom.proof_challenge` (and the challenge value is
  derived from that row), so `begin` and `complete` may run on different replicas;
- the spend and the signature-counter update commit together or not at all.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Awaitable, Callable, Collection
from datetime import timedelta
from typing import Any, Mapping

from fido2 import cbor
from fido2.cose import CoseKey
from fido2.server import Fido2Server
from fido2.webauthn import (
    AttestedCredentialData,
    AuthenticationResponse,
    RegistrationResponse,
    UserVerificationRequirement,
)
from psycopg import AsyncConnection

from skyloom.graph import proofs as store
from skyloom.graph.pool import Database
from skyloom.policy.proofs.challenge import Code, ProofError, b64url, key_fingerprint, payload_digest
from skyloom.policy.proofs.hsm import Verified, challenge_of, check_open_challenge, owned_key, why_not_spent

REGISTER_PURPOSE = "webauthnKeyRegister"


def credential_of(key: store.KeyRecord) -> AttestedCredentialData:
    return AttestedCredentialData.create(key.aaguid, key.credential_id, CoseKey.parse(cbor.decode(key.cose_key)))


def _webauthn_challenge(record: store.ChallengeRecord) -> bytes:
    return hashlib.sha256(challenge_of(record).to_bytes()).digest()


def _state(record: store.ChallengeRecord) -> dict[str, Any]:
    """fido2's ceremony state, rebuilt from our row rather than trusted from anywhere else."""
    return {"challenge": b64url(_webauthn_challenge(record)), "user_verification": record.webauthn_state["uv"]}


def _require_challenge(record: store.ChallengeRecord, client_challenge: bytes) -> None:
    if not secrets.compare_digest(_webauthn_challenge(record), client_challenge):
        raise ProofError(Code.CHALLENGE_MISMATCH, "the response was made for another challenge")


class WebAuthnStepUp:
    """Registration and step-up assertions for security keys (made once in the app's lifespan).

    `rp_id` is the panel's host name, `origins` the exact browser origins allowed (for example
    {"https://panel.example.net"}); `enabled` is the server's `--debug` flag.
    """

    def __init__(
        self,
        db: Database,
        *,
        rp_id: str,
        origins: Collection[str],
        enabled: bool,
        rp_name: str = "Skyloom",
        ttl: timedelta = timedelta(minutes=2),
        proof_validity: timedelta = timedelta(minutes=5),
        user_verification: UserVerificationRequirement = UserVerificationRequirement.REQUIRED,
    ) -> None:
        self.db = db
        self.enabled = enabled
        allowed = frozenset(origins)
        self.server = Fido2Server({"id": rp_id, "name": rp_name}, verify_origin=lambda origin: origin in allowed)
        self.ttl_seconds = max(1, int(ttl.total_seconds()))
        self.proof_validity = proof_validity
        self.user_verification = UserVerificationRequirement(user_verification)

    def _require_enabled(self) -> None:
        if not self.enabled:
            raise ProofError(Code.WEBAUTHN_DISABLED, "security keys are accepted only when the server runs with --debug")

    async def _open(self, conn: AsyncConnection, actor_id: str, ceremony: store.Ceremony, purpose: str, payload: Any,
                    extra: Mapping[str, Any]) -> store.ChallengeRecord:
        return await store.insert_challenge(
            conn, str(uuid.uuid4()), actor_id, ceremony, purpose, payload_digest(payload), secrets.token_bytes(32),
            self.ttl_seconds, {"uv": self.user_verification.value, **extra},
        )

    async def register_begin(self, actor_id: str, user_name: str, label: str) -> tuple[str, dict[str, Any]]:
        """Returns (challenge id, CredentialCreationOptions as JSON for `navigator.credentials.create`)."""
        self._require_enabled()
        async with self.db.connection() as conn:
            existing = await store.list_keys(conn, actor_id, "webauthn")
            record = await self._open(conn, actor_id, "webauthn-register", REGISTER_PURPOSE,
                                      {"label": label}, {"label": label})
        options, _state_unused = self.server.register_begin(
            {"id": actor_id.encode(), "name": user_name, "displayName": user_name},
            credentials=[credential_of(k) for k in existing],
            user_verification=self.user_verification,
            challenge=_webauthn_challenge(record),
        )
        return record.id, dict(options)

    async def register_complete(
        self, actor_id: str, challenge_id: str, response: Mapping[str, Any],
        on_stored: Callable[[AsyncConnection, store.KeyRecord], Awaitable[None]] | None = None,
    ) -> store.KeyRecord:
        """Stores the new credential and spends the challenge in one transaction. `on_stored` runs in
        that transaction after both (the API's last policy check and its audit entry): if it raises,
        neither the key nor the spend is kept."""
        self._require_enabled()
        try:
            registration = RegistrationResponse.from_dict(response)
            client_challenge = registration.response.client_data.challenge
        except (KeyError, TypeError, ValueError) as exc:
            raise ProofError(Code.MALFORMED_PROOF, f"not a WebAuthn registration ({exc})") from None
        async with self.db.connection() as conn:
            # The label was chosen at `register_begin` and kept with the challenge; the shared
            # checks (actor, spent, expiry) then run on the row as for any other ceremony.
            opened = await store.get_challenge(conn, challenge_id)
            label = str((opened.webauthn_state or {}).get("label", "")) if opened else ""
            record = await check_open_challenge(conn, challenge_id, actor_id, REGISTER_PURPOSE, {"label": label},
                                                "webauthn-register")
            _require_challenge(record, client_challenge)
            try:
                auth_data = self.server.register_complete(_state(record), registration)
            except ValueError as exc:
                raise ProofError(Code.BAD_SIGNATURE, f"the registration does not verify ({exc})") from None
            credential = auth_data.credential_data
            async with conn.transaction():
                try:
                    key = await store.insert_key(
                        conn, actor_id, "webauthn", label, key_fingerprint(credential.credential_id),
                        credential_id=credential.credential_id, aaguid=bytes(credential.aaguid),
                        cose_key=cbor.encode(credential.public_key), sign_count=auth_data.counter,
                    )
                except store.DuplicateKey:
                    raise ProofError(Code.KEY_ALREADY_REGISTERED, "this credential is already registered") from None
                if await store.consume_challenge(conn, record.id, actor_id, key.id) is None:
                    raise await why_not_spent(conn, record.id)
                if on_stored is not None:
                    await on_stored(conn, key)
        return key

    async def authenticate_begin(self, actor_id: str, purpose: str, payload: Any) -> tuple[str, dict[str, Any]]:
        """Returns (challenge id, CredentialRequestOptions as JSON for `navigator.credentials.get`)."""
        self._require_enabled()
        async with self.db.connection() as conn:
            keys = await store.list_keys(conn, actor_id, "webauthn")
            if not keys:
                raise ProofError(Code.UNKNOWN_KEY, "the actor has no registered security key")
            record = await self._open(conn, actor_id, "webauthn-authenticate", purpose, payload, {})
        options, _state_unused = self.server.authenticate_begin(
            [credential_of(k) for k in keys], user_verification=self.user_verification,
            challenge=_webauthn_challenge(record),
        )
        return record.id, dict(options)

    async def authenticate_complete(
        self, actor_id: str, challenge_id: str, purpose: str, payload: Any, response: Mapping[str, Any]
    ) -> Verified:
        """Accepts the assertion once or raises ProofError; on a refusal nothing in the database changed."""
        self._require_enabled()
        try:
            assertion = AuthenticationResponse.from_dict(response)
            client_challenge = assertion.response.client_data.challenge
            counter = assertion.response.authenticator_data.counter
        except (KeyError, TypeError, ValueError) as exc:
            raise ProofError(Code.MALFORMED_PROOF, f"not a WebAuthn assertion ({exc})") from None
        async with self.db.connection() as conn:
            record = await check_open_challenge(conn, challenge_id, actor_id, purpose, payload, "webauthn-authenticate")
            _require_challenge(record, client_challenge)
            key = await owned_key(conn, key_fingerprint(assertion.raw_id), actor_id, "webauthn")
            try:
                self.server.authenticate_complete(_state(record), [credential_of(key)], assertion)
            except ValueError as exc:
                raise ProofError(Code.BAD_SIGNATURE, f"the assertion does not verify ({exc})") from None
            async with conn.transaction():
                used_at = await store.consume_challenge(conn, record.id, actor_id, key.id)
                if used_at is None:
                    raise await why_not_spent(conn, record.id)
                if not await store.advance_sign_count(conn, key.id, counter):
                    raise ProofError(Code.COUNTER_REGRESSED, "the key's signature counter did not advance")
        return Verified(record.id, key.id, actor_id, purpose, used_at, used_at + self.proof_validity)
