"""What a login proved, in one shape for OIDC and SAML, and which claim says what per provider.

Identity providers disagree on where groups, e-mail and names live (`groups`, `roles`,
`memberOf`, long schema URIs); a `ClaimMapping` per configured provider says where to look, and
everything downstream (just-in-time provisioning, group -> role mappings, ABAC on
authentication strength) reads only `LoginClaims`.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from skyloom.policy.actor import AuthStrength

Protocol = Literal["oidc", "saml"]

# RFC 8176 method references that are a factor beyond a password.
_SECOND_FACTOR_AMR = frozenset({"mfa", "mca", "otp", "hwk", "swk", "sc", "sms", "tel", "fpt", "face", "iris", "retina", "vbm"})

# SAML 2.0 authentication context classes (saml-authn-context-2.0-os) that imply more than a password.
_SAML_MULTI_FACTOR = frozenset({
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MultiFactor",      # not in the spec, common (ADFS, Okta)
    "http://schemas.microsoft.com/claims/multipleauthn",
})

MAX_GROUPS = 1000  # a login carrying more is a misconfigured provider; refuse to fan out further


@dataclass(frozen=True, slots=True)
class ClaimMapping:
    """Where one provider puts each fact. Each field is a list of claim names tried in order; an
    OIDC name may be a dotted path into nested objects (Keycloak's `realm_access.roles`)."""

    groups: tuple[str, ...]
    email: tuple[str, ...]
    display_name: tuple[str, ...]
    # `acr` values (OIDC) or AuthnContextClassRefs (SAML) that this provider uses for multi-factor
    multi_factor_contexts: frozenset[str] = frozenset()


OIDC_DEFAULT_MAPPING = ClaimMapping(
    groups=("groups",),
    email=("email",),
    display_name=("name", "preferred_username"),
    multi_factor_contexts=frozenset({"mfa", "http://schemas.openid.net/pape/policies/2007/06/multi-factor"}),
)

SAML_DEFAULT_MAPPING = ClaimMapping(
    groups=("groups", "memberOf", "http://schemas.xmlsoap.org/claims/Group", "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"),
    email=("mail", "email", "emailAddress", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"),
    display_name=("displayName", "cn", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"),
    multi_factor_contexts=_SAML_MULTI_FACTOR,
)


@dataclass(frozen=True, slots=True)
class LoginClaims:
    """A verified login. `idp` is our id of the configured provider (the key for group -> role
    mappings), `issuer` what the provider calls itself; (`idp`, `subject`) identifies the user.
    `raw` keeps only the claims the mapping read, for the audit trail, never tokens."""

    protocol: Protocol
    idp: str
    issuer: str
    subject: str
    email: str | None
    email_verified: bool | None
    display_name: str | None
    groups: tuple[str, ...]
    auth_strength: AuthStrength
    auth_methods: tuple[str, ...]          # OIDC `amr` and `acr`, or SAML AuthnContextClassRefs
    auth_time: datetime | None
    raw: Mapping[str, Any] = field(default_factory=dict)


def _lookup(claims: Mapping[str, Any], name: str) -> Any:
    if name in claims:
        return claims[name]
    node: Any = claims
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _first(claims: Mapping[str, Any], names: Iterable[str]) -> tuple[str | None, Any]:
    for name in names:
        value = _lookup(claims, name)
        if value not in (None, "", [], ()):
            return name, value
    return None, None


def _single(value: Any) -> str | None:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return str(value) if value not in (None, "") else None


def normalise_groups(value: Any) -> tuple[str, ...]:
    """A list (or one string) of group names, deduplicated in order, blanks dropped."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    seen: dict[str, None] = {}
    for item in items:
        text = str(item).strip()
        if text:
            seen.setdefault(text, None)
    if len(seen) > MAX_GROUPS:
        raise ValueError(f"more than {MAX_GROUPS} groups in one login")
    return tuple(seen)


def strength_of(methods: Iterable[str], multi_factor_contexts: frozenset[str]) -> AuthStrength:
    """What the provider says about how the user authenticated. A successful login is at least
    PASSWORD; HARDWARE is never granted from a provider's word, only from our own challenge."""
    values = set(methods)
    if values & multi_factor_contexts or values & _SECOND_FACTOR_AMR:
        return AuthStrength.MULTI_FACTOR
    return AuthStrength.PASSWORD


def from_oidc(idp: str, claims: Mapping[str, Any], mapping: ClaimMapping = OIDC_DEFAULT_MAPPING) -> LoginClaims:
    """Claims of a validated ID token, merged with userinfo, as LoginClaims."""
    groups_key, groups = _first(claims, mapping.groups)
    email_key, email = _first(claims, mapping.email)
    name_key, name = _first(claims, mapping.display_name)
    amr = claims.get("amr") or []
    methods = tuple(str(m) for m in (amr if isinstance(amr, list) else [amr]))
    if claims.get("acr"):
        methods += (str(claims["acr"]),)
    auth_time = claims.get("auth_time")
    kept = {k: claims[k] for k in (groups_key, email_key, name_key, "acr", "amr", "email_verified") if k and k in claims}
    verified = claims.get("email_verified")
    return LoginClaims(
        protocol="oidc",
        idp=idp,
        issuer=str(claims["iss"]),
        subject=str(claims["sub"]),
        email=_single(email),
        email_verified=verified if isinstance(verified, bool) else None,
        display_name=_single(name),
        groups=normalise_groups(groups),
        auth_strength=strength_of(methods, mapping.multi_factor_contexts),
        auth_methods=methods,
        auth_time=datetime.fromtimestamp(auth_time, timezone.utc) if isinstance(auth_time, (int, float)) else None,
        raw=kept,
    )


def from_saml(
    idp: str,
    issuer: str,
    name_id: str,
    attributes: Mapping[str, list[Any]],
    authn_contexts: tuple[str, ...],
    authn_instant: datetime | None,
    mapping: ClaimMapping = SAML_DEFAULT_MAPPING,
) -> LoginClaims:
    """A verified assertion's subject, attributes and AuthnStatement as LoginClaims."""
    groups_key, groups = _first(attributes, mapping.groups)
    email_key, email = _first(attributes, mapping.email)
    name_key, name = _first(attributes, mapping.display_name)
    kept = {k: attributes[k] for k in (groups_key, email_key, name_key) if k}
    return LoginClaims(
        protocol="saml",
        idp=idp,
        issuer=issuer,
        subject=name_id,
        email=_single(email),
        email_verified=None,
        display_name=_single(name),
        groups=normalise_groups(groups),
        auth_strength=strength_of(authn_contexts, mapping.multi_factor_contexts),
        auth_methods=authn_contexts,
        auth_time=authn_instant,
        raw=kept,
    )
