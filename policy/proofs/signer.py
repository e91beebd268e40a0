"""Operator side of the PKCS#11 step-up: make a key in a token, export its public half, sign challenges.

Runs on the operator's machine (the `skyloom proof` commands), never in the API server: the
private key stays in the token, which signs; this code only hashes and formats. The PIN is a
parameter handed straight to the token and is never stored, logged or echoed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, MGF, ObjectClass
from pkcs11.util.ec import encode_ec_public_key, encode_ecdsa_signature, encode_named_curve_parameters
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

from skyloom.policy.proofs.challenge import Challenge, Proof, key_fingerprint

MODULE_ENV = "SKYLOOM_PKCS11_MODULE"
# Debian's SoftHSM2 module, only a default: `--module` or SKYLOOM_PKCS11_MODULE name the real HSM's.
DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


class SignerError(Exception):
    """The token, key or PIN could not be used; the message never contains the PIN."""


def module_path(explicit: str | None = None) -> str:
    return explicit or os.environ.get(MODULE_ENV) or DEFAULT_MODULE


@lru_cache(maxsize=None)
def _library(path: str) -> pkcs11.lib:
    """A PKCS#11 module may be initialised once per process (C_Initialize), so one handle per path."""
    return pkcs11.lib(path)


@contextmanager
def session(module: str, token_label: str, pin: str, rw: bool = False) -> Iterator[pkcs11.Session]:
    try:
        token = _library(module).get_token(token_label=token_label)
    except pkcs11.NoSuchToken:
        raise SignerError(f"no token labelled {token_label!r} in {module}") from None
    except pkcs11.PKCS11Error as exc:
        raise SignerError(f"cannot load PKCS#11 module {module}: {type(exc).__name__}") from None
    try:
        opened = token.open(rw=rw, user_pin=pin)
    except (pkcs11.PinIncorrect, pkcs11.PinLenRange):
        raise SignerError("the token refused the PIN") from None
    with opened as s:
        yield s


def _private_key(s: pkcs11.Session, key_label: str) -> pkcs11.PrivateKey:
    try:
        return s.get_key(object_class=ObjectClass.PRIVATE_KEY, label=key_label)
    except pkcs11.NoSuchKey:
        raise SignerError(f"no private key labelled {key_label!r} in the token") from None
    except pkcs11.MultipleObjectsReturned:
        raise SignerError(f"several private keys are labelled {key_label!r}; labels must be unique") from None


def _public_der(s: pkcs11.Session, key_label: str) -> bytes:
    try:
        public = s.get_key(object_class=ObjectClass.PUBLIC_KEY, label=key_label)
    except pkcs11.NoSuchKey:
        raise SignerError(f"no public key labelled {key_label!r} in the token") from None
    if public.key_type == KeyType.EC:
        return encode_ec_public_key(public)
    if public.key_type == KeyType.RSA:
        numbers = RSAPublicNumbers(
            int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big"), int.from_bytes(public[Attribute.MODULUS], "big")
        )
        return numbers.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    raise SignerError(f"key {key_label!r} is neither EC nor RSA")


def generate_ec_key(module: str, token_label: str, key_label: str, pin: str) -> bytes:
    """A new P-256 pair in the token (private half sensitive, never extractable); returns the public SPKI DER."""
    with session(module, token_label, pin, rw=True) as s:
        if list(s.get_objects({Attribute.LABEL: key_label})):
            raise SignerError(f"the token already holds an object labelled {key_label!r}")
        params = s.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
        )
        public, _private = params.generate_keypair(
            store=True, label=key_label,
            private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
        )
        return encode_ec_public_key(public)


def export_public_key(module: str, token_label: str, key_label: str, pin: str) -> bytes:
    with session(module, token_label, pin) as s:
        return _public_der(s, key_label)


def public_key_pem(spki_der: bytes) -> str:
    key = serialization.load_der_public_key(spki_der)
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def sign_challenge(module: str, token_label: str, key_label: str, pin: str, challenge: Challenge) -> Proof:
    """ES256 for EC keys, PS256 for RSA keys. The digest is taken here and the token signs it with
    plain CKM_ECDSA, because tokens such as SoftHSM2 lack the combined CKM_ECDSA_SHA256."""
    message = challenge.to_bytes()
    with session(module, token_label, pin) as s:
        private = _private_key(s, key_label)
        spki = _public_der(s, key_label)
        if private.key_type == KeyType.EC:
            raw = private.sign(hashlib.sha256(message).digest(), mechanism=Mechanism.ECDSA)
            algorithm, signature = "ES256", encode_ecdsa_signature(raw)
        elif private.key_type == KeyType.RSA:
            algorithm = "PS256"
            signature = private.sign(
                message, mechanism=Mechanism.SHA256_RSA_PKCS_PSS, mechanism_param=(Mechanism.SHA256, MGF.SHA256, 32)
            )
        else:
            raise SignerError(f"key {key_label!r} is neither EC nor RSA")
    return Proof(challenge_id=challenge.id, key_fingerprint=key_fingerprint(spki), algorithm=algorithm, signature=signature)
