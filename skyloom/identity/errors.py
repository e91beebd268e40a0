"""Login failures: one exception type with a machine-readable code for both protocols.

The code is what callers branch on, what the audit trail records and what an API may show; the
message is for operators and never holds a token, an assertion, a secret or a code verifier.
"""
from __future__ import annotations

from enum import StrEnum


class LoginErrorCode(StrEnum):
    # Binding the callback to the login this browser started (OIDC state, SAML InResponseTo)
    STATE_MISSING = "state_missing"
    STATE_MISMATCH = "state_mismatch"
    REPLAYED_STATE = "replayed_state"          # no outstanding login: unknown or already used
    LOGIN_EXPIRED = "login_expired"            # the outstanding login is older than its ttl
    UNSOLICITED = "unsolicited"                # a SAML response nobody asked for
    IN_RESPONSE_TO_MISMATCH = "in_response_to_mismatch"
    # What the identity provider said or did
    IDP_ERROR = "idp_error"                    # an error response (OIDC `error`, SAML status)
    IDP_UNAVAILABLE = "idp_unavailable"        # network failure, bad discovery document
    CODE_REJECTED = "code_rejected"            # the token endpoint refused the code exchange
    # The token or assertion itself
    BAD_RESPONSE = "bad_response"              # malformed, missing parts
    BAD_TOKEN = "bad_token"                    # not a JWS we accept (alg, format, unknown key)
    BAD_SIGNATURE = "bad_signature"
    UNSIGNED = "unsigned"
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    WRONG_DESTINATION = "wrong_destination"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    NONCE_MISMATCH = "nonce_mismatch"
    USERINFO_MISMATCH = "userinfo_mismatch"    # userinfo `sub` differs from the ID token's


class LoginError(Exception):
    """A login that must not go ahead. `protocol` is "oidc" or "saml"; `idp` is our id of the
    identity provider, so the audit trail can say where a forged response claimed to come from."""

    def __init__(self, code: LoginErrorCode, message: str, *, protocol: str, idp: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.protocol = protocol
        self.idp = idp
