"""Login protocols: OIDC and SAML 2.0 single sign-on, ending in one verified `LoginClaims`.

This package speaks to identity providers and verifies what they send; it stores nothing. The
caller (the session layer) keeps each started login server side, hands it back exactly once at
the callback, and keeps used SAML assertion ids until they expire:

    skyloom.identity.oidc   OidcRelyingParty.begin_login / finish_login  (PendingOidcLogin)
    skyloom.identity.saml   SamlServiceProvider.begin_login / finish_login  (PendingSamlLogin)
    skyloom.identity.claims LoginClaims, ClaimMapping (where each provider puts groups, e-mail, name)
    skyloom.identity.errors LoginError with a LoginErrorCode for every refusal

The SAML module imports pysaml2 (and needs the xmlsec1 binary) only when it is used.
"""
from skyloom.identity.claims import ClaimMapping, LoginClaims
from skyloom.identity.errors import LoginError, LoginErrorCode

__all__ = ["ClaimMapping", "LoginClaims", "LoginError", "LoginErrorCode"]
