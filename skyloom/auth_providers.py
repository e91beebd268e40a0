"""The identity providers a login talks to: protocol objects built from stored IdP settings, cached per IdP.

An IdP's settings (`skyloom.identity_provider.settings`) say how to reach it; this module turns
them into an `OidcRelyingParty` or a `SamlServiceProvider`. Secrets and key file paths are never
in the settings, only the names of the environment variables that hold them (`client_secret_env`,
`sp_key_file_env`, `sp_cert_file_env`). Redirect URI, ACS URL and default SP entity id derive
from the panel's public URL, so they are the same on every replica.

OIDC settings: issuer, client_id, client_secret_env (absent: a public client), scopes, algorithms,
use_userinfo, claims. SAML settings: idp_metadata_xml, idp_entity_id, sp_entity_id,
sp_key_file_env, sp_cert_file_env, want_response_signed, claims. `claims` overrides where groups,
e-mail, names and multi-factor contexts are read: {"groups": [...], "email": [...],
"display_name": [...], "multi_factor_contexts": [...]}.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass

from skyloom.graph.identity import IdentityProvider, get_idp, secret_from_env
from skyloom.graph.pool import Database
from skyloom.identity import ClaimMapping
from skyloom.identity.claims import OIDC_DEFAULT_MAPPING, SAML_DEFAULT_MAPPING
from skyloom.identity.oidc import DEFAULT_ALGORITHMS, OidcProviderConfig, OidcRelyingParty
from skyloom.identity.saml import SamlProviderConfig, SamlServiceProvider


class IdpMisconfigured(Exception):
    """Stored settings that cannot make a working IdP: a missing field, an unset env var, bad metadata.
    The message names fields and variables, never their values."""


def _strings(settings: Mapping, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = settings.get(key)
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise IdpMisconfigured(f"{key} must be a list of strings")
    return tuple(value)


def _text(settings: Mapping, key: str, *, required: bool = True) -> str | None:
    value = settings.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise IdpMisconfigured(f"{key} must be a non-empty string")
    return value


def _mapping(settings: Mapping, default: ClaimMapping) -> ClaimMapping:
    """Where this IdP puts groups, e-mail and names (`settings.claims`), over the protocol's defaults."""
    claims = settings.get("claims") or {}
    if not isinstance(claims, Mapping):
        raise IdpMisconfigured("claims must be an object")
    return ClaimMapping(
        groups=_strings(claims, "groups", default.groups),
        email=_strings(claims, "email", default.email),
        display_name=_strings(claims, "display_name", default.display_name),
        multi_factor_contexts=frozenset(_strings(claims, "multi_factor_contexts", tuple(default.multi_factor_contexts))),
    )


def _from_env(record: IdentityProvider, key: str, environ: Mapping[str, str]) -> str | None:
    """`settings[key + '_env']` names where the value lives; naming an unset variable is a mistake."""
    value = secret_from_env(record, key, environ)
    if record.settings.get(f"{key}_env") and not value:
        raise IdpMisconfigured(f"environment variable {record.settings[f'{key}_env']} (from {key}_env) is not set")
    return value


def _oidc_party(record: IdentityProvider, base: str, environ: Mapping[str, str]) -> OidcRelyingParty:
    s = record.settings
    return OidcRelyingParty(OidcProviderConfig(
        idp=record.id,
        issuer=_text(s, "issuer"),
        client_id=_text(s, "client_id"),
        redirect_uri=f"{base}/auth/{record.id}/callback",
        client_secret=_from_env(record, "client_secret", environ),
        scopes=_strings(s, "scopes", ("openid", "email", "profile")),
        algorithms=_strings(s, "algorithms", DEFAULT_ALGORITHMS),
        use_userinfo=bool(s.get("use_userinfo", True)),
        mapping=_mapping(s, OIDC_DEFAULT_MAPPING),
    ))


def _saml_provider(record: IdentityProvider, base: str, environ: Mapping[str, str]) -> SamlServiceProvider:
    """Synchronous (pysaml2 parses metadata, xmlsec1 may run): call from a worker thread. The SP key
    and certificate paths come from env vars the settings name, so whoever edits IdP settings cannot
    point xmlsec1 at arbitrary files."""
    s = record.settings
    config = SamlProviderConfig(
        idp=record.id,
        sp_entity_id=_text(s, "sp_entity_id", required=False) or f"{base}/auth/{record.id}/metadata",
        acs_url=f"{base}/auth/{record.id}/acs",
        idp_metadata_xml=_text(s, "idp_metadata_xml"),
        idp_entity_id=_text(s, "idp_entity_id", required=False),
        sp_key_file=_from_env(record, "sp_key_file", environ),
        sp_cert_file=_from_env(record, "sp_cert_file", environ),
        want_response_signed=bool(s.get("want_response_signed", False)),
        mapping=_mapping(s, SAML_DEFAULT_MAPPING),
    )
    try:
        return SamlServiceProvider(config)
    except Exception as exc:  # pysaml2 raises assorted types for unusable metadata
        raise IdpMisconfigured(f"the SAML settings are not usable ({type(exc).__name__})") from None


@dataclass(frozen=True)
class ConfiguredIdp:
    """A configured IdP and its protocol object, valid while the stored record is unchanged."""

    record: IdentityProvider
    oidc: OidcRelyingParty | None = None
    saml: SamlServiceProvider | None = None

    @property
    def login_ttl(self) -> int:
        return (self.oidc or self.saml).config.login_ttl_seconds


class IdpRegistry:
    """Protocol objects per IdP id, rebuilt when the stored record changes. The record is read on
    every use, so disabling or editing an IdP applies at once on every replica. Comparing the whole
    record (not only `updated_at`, which the store's record does not carry) also catches an edit made
    behind the store's back. An outdated object is dropped, not closed: a login may still be using it."""

    def __init__(self, public_url: str, environ: Mapping[str, str] = os.environ) -> None:
        self._base = public_url.rstrip("/")
        self._environ = environ
        self._idps: dict[str, ConfiguredIdp] = {}
        self._building = asyncio.Lock()

    async def get(self, db: Database, idp_id: str) -> ConfiguredIdp | None:
        """The enabled IdP `idp_id`, or None; raises IdpMisconfigured when its settings do not work."""
        record = await get_idp(db, idp_id)
        if record is None or not record.enabled:
            return None
        cached = self._idps.get(idp_id)
        if cached is not None and cached.record == record:
            return cached
        async with self._building:
            cached = self._idps.get(idp_id)
            if cached is not None and cached.record == record:
                return cached
            if record.kind == "oidc":
                built = ConfiguredIdp(record, oidc=_oidc_party(record, self._base, self._environ))
            else:
                built = ConfiguredIdp(record, saml=await asyncio.to_thread(_saml_provider, record, self._base, self._environ))
            self._idps[idp_id] = built
            return built

    async def aclose(self) -> None:
        for idp in self._idps.values():
            if idp.oidc is not None:
                await idp.oidc.aclose()
        self._idps.clear()
