"""The exact bytes a hardware key signs for a step-up proof, and the failures a proof can meet.

Both sides build the signed message from the same fields with `Challenge.to_bytes`, never
from a string the other side sent, so what is signed is exactly what the server will check:
a versioned, domain-separated, length-prefixed encoding of the challenge id, a random nonce,
the action (purpose), the digest of the exact request payload, the actor and the expiry. The
domain tag keeps a signature made here from being valid for any other protocol the same key
is used with; the length prefixes keep two different field lists from encoding to the same bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any, Mapping

VERSION = 1
DOMAIN = b"skyloom/step-up-proof/v1\x00"
_PAYLOAD_DOMAIN = b"skyloom/step-up-payload/v1\x00"
MAX_FIELD = 1024


class Code(StrEnum):
    """Why a proof was refused; each is distinct so the audit trail can tell attacks apart."""

    MALFORMED_PROOF = "MALFORMED_PROOF"
    UNKNOWN_CHALLENGE = "UNKNOWN_CHALLENGE"
    WRONG_ACTOR = "WRONG_ACTOR"                # the challenge was issued to somebody else
    WRONG_PURPOSE = "WRONG_PURPOSE"            # the challenge approves another action
    PAYLOAD_MISMATCH = "PAYLOAD_MISMATCH"      # the challenge approves another request body
    EXPIRED = "EXPIRED"
    REPLAYED = "REPLAYED"                      # the challenge was already spent
    UNKNOWN_KEY = "UNKNOWN_KEY"
    FOREIGN_KEY = "FOREIGN_KEY"                # the key is registered to another actor
    KEY_REVOKED = "KEY_REVOKED"
    UNSUPPORTED_KEY = "UNSUPPORTED_KEY"
    KEY_ALREADY_REGISTERED = "KEY_ALREADY_REGISTERED"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    CHALLENGE_MISMATCH = "CHALLENGE_MISMATCH"  # a WebAuthn response made for another challenge
    COUNTER_REGRESSED = "COUNTER_REGRESSED"    # a WebAuthn counter went backwards: a cloned key?
    WEBAUTHN_DISABLED = "WEBAUTHN_DISABLED"


class ProofError(Exception):
    """An expected refusal; `code` is machine-readable, the message is safe to show the caller."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Strict base64url: a proof with stray characters is malformed, not silently trimmed."""
    if not isinstance(text, str):
        raise ValueError("expected a base64url string")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def canonical_json(payload: Any) -> bytes:
    """One byte string per JSON value (sorted keys, no spaces), so equal requests digest equally."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def payload_digest(payload: Any) -> bytes:
    """SHA-256 of the request payload: binds a proof to one exact request, not just to an action."""
    return hashlib.sha256(_PAYLOAD_DOMAIN + canonical_json(payload)).digest()


def key_fingerprint(public_key: bytes) -> bytes:
    """SHA-256 of a SubjectPublicKeyInfo DER (or a WebAuthn credential id): how a proof names its key."""
    return hashlib.sha256(public_key).digest()


def _field(value: bytes) -> bytes:
    if len(value) > MAX_FIELD:
        raise ValueError("challenge field too long")
    return len(value).to_bytes(2, "big") + value


@dataclass(frozen=True)
class Challenge:
    """One challenge as the signer sees it; `expires_at` is whole seconds, UTC."""

    id: str
    nonce: bytes
    purpose: str
    payload_digest: bytes
    actor_id: str
    expires_at: datetime

    def to_bytes(self) -> bytes:
        expiry = int(self.expires_at.timestamp())
        return DOMAIN + b"".join(
            _field(part)
            for part in (
                self.id.encode(),
                self.nonce,
                self.purpose.encode(),
                self.payload_digest,
                self.actor_id.encode(),
                str(expiry).encode("ascii"),
            )
        )

    def to_json(self) -> dict[str, Any]:
        """What the API hands the operator to sign (the `proof sign --challenge` input)."""
        return {
            "version": VERSION,
            "id": self.id,
            "nonce": b64url(self.nonce),
            "purpose": self.purpose,
            "payloadDigest": b64url(self.payload_digest),
            "actorId": self.actor_id,
            "expiresAt": self.expires_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Challenge":
        try:
            if data["version"] != VERSION:
                raise ValueError(f"unsupported challenge version {data['version']!r}")
            expires = datetime.strptime(data["expiresAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            challenge = cls(
                id=str(uuid.UUID(data["id"])),
                nonce=unb64url(data["nonce"]),
                purpose=str(data["purpose"]),
                payload_digest=unb64url(data["payloadDigest"]),
                actor_id=str(data["actorId"]),
                expires_at=expires,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a step-up challenge: {exc}") from None
        if len(challenge.nonce) != 32 or len(challenge.payload_digest) != 32:
            raise ValueError("not a step-up challenge: nonce and payload digest must be 32 bytes")
        return challenge


@dataclass(frozen=True)
class Proof:
    """A signed challenge as the operator sends it back: which challenge, which key, the signature."""

    challenge_id: str
    key_fingerprint: bytes     # SHA-256 of the key's SubjectPublicKeyInfo DER
    algorithm: str             # "ES256" (ECDSA P-256, DER signature) or "PS256" (RSA-PSS)
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "challengeId": self.challenge_id,
            "keyFingerprint": b64url(self.key_fingerprint),
            "algorithm": self.algorithm,
            "signature": b64url(self.signature),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Proof":
        try:
            if data["version"] != VERSION:
                raise ValueError("unsupported proof version")
            proof = cls(
                challenge_id=str(uuid.UUID(data["challengeId"])),
                key_fingerprint=unb64url(data["keyFingerprint"]),
                algorithm=str(data["algorithm"]),
                signature=unb64url(data["signature"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProofError(Code.MALFORMED_PROOF, f"not a step-up proof ({exc})") from None
        if len(proof.key_fingerprint) != 32 or not proof.signature or len(proof.signature) > 1024:
            raise ProofError(Code.MALFORMED_PROOF, "not a step-up proof (field sizes)")
        return proof
