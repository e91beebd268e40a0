"""Step-up proofs: a fresh signature from a hardware-held key approves one provider-tier request.

Server side (made once in the app's lifespan, handed a `Database`):
    StepUp(db, ttl=..., proof_validity=...)                         PKCS#11 HSM keys
        .register_key(owner, label, public_key_der_or_pem) -> KeyRecord
        .list_keys(owner, include_revoked=False) -> list[KeyRecord]
        .revoke_key(owner, key_id) -> KeyRecord
        .issue(actor_id, purpose, payload) -> Challenge              (Challenge.to_json() for the client)
        .verify(actor_id, purpose, payload, proof_json) -> Verified
    WebAuthnStepUp(db, rp_id=..., origins=..., enabled=<--debug>)   security keys, debug mode only
        .register_begin / .register_complete / .authenticate_begin / .authenticate_complete

`purpose` is the mutation being approved (e.g. "hsmSettingsUpdate") and `payload` the exact input
it will apply; both must be the same at issue and at verify. Every refusal is a `ProofError`
whose `code` (a `Code`) says why. `Verified.proof_until` goes on the Actor together with
`AuthStrength.HARDWARE`. Operator side: `signer` (python-pkcs11) and `skyloom proof ...`.
"""

from skyloom.policy.proofs.challenge import Challenge, Code, Proof, ProofError, payload_digest
from skyloom.policy.proofs.hsm import StepUp, Verified
from skyloom.policy.proofs.webauthn import WebAuthnStepUp

__all__ = ["Challenge", "Code", "Proof", "ProofError", "StepUp", "Verified", "WebAuthnStepUp", "payload_digest"]
