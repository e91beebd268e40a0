"""Server side of the PKCS#11 step-up: register operators' public keys, issue challenges, verify proofs.

The private key never leaves the operator's token; the server keeps only the public key
(SubjectPublicKeyInfo DER) and checks signatures with `cryptography`. A proof is accepted once:
every check runs before the challenge is spent, and the spend itself is one conditional UPDATE,
so a refused proof leaves the challenge as it was (the operator may retry with the right key)
while a proof that was accepted can never be accepted again.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from psycopg import AsyncConnection

from skyloom.graph import proofs as store
from skyloom.graph.pool import Database
from skyloom.policy.proofs.challenge import Challenge, Code, Proof, ProofError, payload_digest
from skyloom.policy.proofs.challenge import key_fingerprint as fingerprint

ALGORITHMS = ("ES256", "PS256")
MIN_RSA_BITS = 2048


def load_public_key(data: bytes) -> bytes:
    """A registrable public key as SubjectPublicKeyInfo DER, from DER or PEM; only P-256 and RSA >= 2048."""
    try:
        key = (
            serialization.load_pem_public_key(data)
            if data.lstrip().startswith(b"-----BEGIN")
            else serialization.load_der_public_key(data)
        )
    except ValueError:
        raise ProofError(Code.UNSUPPORTED_KEY, "not a public key (expected SubjectPublicKeyInfo DER or PEM)") from None
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        pass
    elif isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS:
        pass
    else:
        raise ProofError(Code.UNSUPPORTED_KEY, f"only EC P-256 and RSA >= {MIN_RSA_BITS} bits are accepted")
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def signature_valid(spki_der: bytes, algorithm: str, signature: bytes, message: bytes) -> bool:
    """ES256 takes a DER ECDSA signature, PS256 an RSA-PSS one (MGF1-SHA-256, 32-byte salt)."""
    key = serialization.load_der_public_key(spki_der)
    try:
        if algorithm == "ES256" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif algorithm == "PS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def challenge_of(record: store.ChallengeRecord) -> Challenge:
    return Challenge(
        id=record.id,
        nonce=record.nonce,
        purpose=record.purpose,
        payload_digest=record.payload_digest,
        actor_id=record.actor_id,
        expires_at=record.expires_at,
    )


@dataclass(frozen=True)
class Verified:
    """An accepted proof: what the caller records in the audit trail and puts on the Actor."""

    challenge_id: str
    key_id: str
    actor_id: str
    purpose: str
    used_at: datetime
    proof_until: datetime     # for Actor.proof_until (with AuthStrength.HARDWARE)


async def check_open_challenge(
    conn: AsyncConnection, challenge_id: str, actor_id: str, purpose: str, payload: Any, ceremony: store.Ceremony
) -> store.ChallengeRecord:
    """The checks every ceremony shares, in an order that tells a stranger nothing about others' challenges."""
    record = await store.get_challenge(conn, challenge_id)
    if record is None or record.ceremony != ceremony:
        raise ProofError(Code.UNKNOWN_CHALLENGE, "no such challenge")
    if record.actor_id != actor_id:
        raise ProofError(Code.WRONG_ACTOR, "the challenge was issued to another actor")
    if record.used_at is not None:
        raise ProofError(Code.REPLAYED, "the challenge was already used")
    if not record.live:
        raise ProofError(Code.EXPIRED, "the challenge has expired")
    if record.purpose != purpose:
        raise ProofError(Code.WRONG_PURPOSE, "the challenge approves another action")
    if not secrets.compare_digest(record.payload_digest, payload_digest(payload)):
        raise ProofError(Code.PAYLOAD_MISMATCH, "the challenge approves another request")
    return record


async def owned_key(conn: AsyncConnection, key_fingerprint: bytes, actor_id: str, kind: store.KeyKind) -> store.KeyRecord:
    """The actor's live key with this fingerprint, or why there is none."""
    registrations = [k for k in await store.keys_by_fingerprint(conn, key_fingerprint) if k.kind == kind]
    if not registrations:
        raise ProofError(Code.UNKNOWN_KEY, "the key is not registered")
    live = [k for k in registrations if k.revoked_at is None]
    if live and live[0].owner == actor_id:
        return live[0]
    if live or all(k.owner != actor_id for k in registrations):
        raise ProofError(Code.FOREIGN_KEY, "the key is registered to another actor")
    raise ProofError(Code.KEY_REVOKED, "the key was revoked")


async def why_not_spent(conn: AsyncConnection, challenge_id: str) -> ProofError:
    """After a spend found nothing to update: somebody else spent it, time ran out, or the key went."""
    record = await store.get_challenge(conn, challenge_id)
    if record is not None and record.used_at is not None:
        return ProofError(Code.REPLAYED, "the challenge was already used")
    if record is not None and not record.live:
        return ProofError(Code.EXPIRED, "the challenge has expired")
    return ProofError(Code.KEY_REVOKED, "the key was revoked")


class StepUp:
    """Hardware-key step-up for provider-tier actions (made once in the app's lifespan).

    Flow: `issue(actor, purpose, payload)` -> the operator signs `Challenge.to_bytes()` in the
    token (`skyloom proof sign`) -> `verify(actor, purpose, payload, proof)` with the same
    payload the mutation will apply. `ttl` bounds how long an operator has to sign;
    `proof_validity` is how long the returned `proof_until` lasts.
    """

    def __init__(self, db: Database, *, ttl: timedelta = timedelta(minutes=2),
                 proof_validity: timedelta = timedelta(minutes=5)) -> None:
        self.db = db
        self.ttl_seconds = max(1, int(ttl.total_seconds()))
        self.proof_validity = proof_validity

    async def register_key(self, owner: str, label: str, public_key: bytes) -> store.KeyRecord:
        """Registering is itself a provider-tier change: the caller checks policy and proof first."""
        spki = load_public_key(public_key)
        async with self.db.connection() as conn:
            try:
                return await store.insert_key(conn, owner, "pkcs11", label, fingerprint(spki), public_key=spki)
            except store.DuplicateKey:
                raise ProofError(Code.KEY_ALREADY_REGISTERED, "this key is already registered") from None

    async def list_keys(self, owner: str, include_revoked: bool = False) -> list[store.KeyRecord]:
        async with self.db.connection() as conn:
            return await store.list_keys(conn, owner, None, include_revoked)

    async def revoke_key(self, owner: str, key_id: str) -> store.KeyRecord:
        async with self.db.connection() as conn:
            revoked = await store.revoke_key(conn, key_id, owner)
        if revoked is None:
            raise ProofError(Code.UNKNOWN_KEY, "no such live key of this actor")
        return revoked

    async def issue(self, actor_id: str, purpose: str, payload: Any) -> Challenge:
        async with self.db.connection() as conn:
            record = await store.insert_challenge(
                conn, str(uuid.uuid4()), actor_id, "pkcs11", purpose, payload_digest(payload),
                secrets.token_bytes(32), self.ttl_seconds,
            )
        return challenge_of(record)

    async def verify(self, actor_id: str, purpose: str, payload: Any, proof: Proof | Mapping[str, Any]) -> Verified:
        """Accepts the proof once or raises ProofError; on a refusal nothing in the database changed."""
        if not isinstance(proof, Proof):
            proof = Proof.from_json(proof)
        if proof.algorithm not in ALGORITHMS:
            raise ProofError(Code.MALFORMED_PROOF, f"algorithm must be one of {', '.join(ALGORITHMS)}")
        async with self.db.connection() as conn:
            record = await check_open_challenge(conn, proof.challenge_id, actor_id, purpose, payload, "pkcs11")
            key = await owned_key(conn, proof.key_fingerprint, actor_id, "pkcs11")
            if not signature_valid(key.public_key, proof.algorithm, proof.signature, challenge_of(record).to_bytes()):
                raise ProofError(Code.BAD_SIGNATURE, "the signature does not verify")
            used_at = await store.consume_challenge(conn, record.id, actor_id, key.id)
            if used_at is None:
                raise await why_not_spent(conn, record.id)
        return Verified(record.id, key.id, actor_id, purpose, used_at, used_at + self.proof_validity)
