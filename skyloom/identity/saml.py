"""SAML 2.0 login: the panel as a service provider of one IdP (pysaml2, xmlsec1 for signatures).

Two steps, with the caller's storage in between (this module keeps no per-login state):

    sp = SamlServiceProvider(config)              # one per IdP, made in the app's lifespan
    start = sp.begin_login(return_to="/ci")       # redirect binding -> send the browser to start.url
    store(start.pending, key=start.pending.relay_state)
    ...                                           # the IdP POSTs SAMLResponse + RelayState to the ACS
    pending = take(form["RelayState"])            # read AND delete
    login = sp.finish_login(form["SAMLResponse"], form.get("RelayState"), pending)
    if not replay_cache.add(login.assertion_id, until=login.not_on_or_after): refuse

Why the pending login is keyed by RelayState rather than a cookie: the IdP's POST is a cross-site
request, so SameSite=Lax cookies do not come with it.

Assertion replay: a response is accepted only for an outstanding request, and the store deletes
the request on use, so a replayed response is refused as `replayed_state`. A caller that
cannot delete atomically must also keep `assertion_id` until `not_on_or_after` and refuse a
second sighting; both are returned for that purpose. Unsolicited (IdP-initiated) responses are
refused unless the config allows them, and then the replay cache is the only defence.

pysaml2 and xmlsec1 are synchronous (xmlsec1 is a subprocess); call `finish_login` from a
worker thread in async code.
"""
from __future__ import annotations

import base64
import binascii
import calendar
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, samlp
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.response import IncorrectlySigned, StatusError, UnsolicitedResponse
from saml2.sigver import SignatureError, SigverError
from saml2.time_util import str_to_time
from saml2.validate import ResponseLifetimeExceed, ToEarly

from skyloom.identity.claims import SAML_DEFAULT_MAPPING, ClaimMapping, LoginClaims, from_saml
from skyloom.identity.errors import LoginError, LoginErrorCode as Code

DEFAULT_XMLSEC1 = "/usr/bin/xmlsec1"   # Debian's xmlsec1; override per installation

# XML-DSig signature methods accepted on responses and assertions. xmlsec1 verifies whatever the
# document names, so SHA-1 (collisions are practical) is refused here, after verification.
DEFAULT_SIGNATURE_ALGORITHMS = frozenset({
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
})
_SP_SIGNING = ("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2001/04/xmlenc#sha256")


@dataclass(frozen=True, slots=True)
class SamlProviderConfig:
    """One IdP as the panel is registered with it. The SP key and certificate are file paths
    because xmlsec1 reads files; when given, AuthnRequests are signed."""

    idp: str                                  # our id for this IdP
    sp_entity_id: str
    acs_url: str                              # where the IdP POSTs responses (HTTP-POST binding)
    idp_metadata_xml: str
    idp_entity_id: str | None = None          # needed only when the metadata lists several IdPs
    sp_key_file: str | None = None
    sp_cert_file: str | None = None
    want_assertions_signed: bool = True
    want_response_signed: bool = False
    allow_unsolicited: bool = False
    mapping: ClaimMapping = SAML_DEFAULT_MAPPING
    accepted_time_diff: int = 60              # clock skew allowed on NotBefore / NotOnOrAfter
    login_ttl_seconds: int = 600
    xmlsec_binary: str = DEFAULT_XMLSEC1
    signature_algorithms: frozenset[str] = DEFAULT_SIGNATURE_ALGORITHMS


@dataclass(frozen=True, slots=True)
class PendingSamlLogin:
    """What the caller stores between the redirect and the POST to the ACS."""

    idp: str
    request_id: str                           # the AuthnRequest ID; the response's InResponseTo
    relay_state: str
    created_at: float
    return_to: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingSamlLogin:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class SamlRedirect:
    url: str
    pending: PendingSamlLogin


@dataclass(frozen=True, slots=True)
class SamlLogin:
    """A verified login plus what a replay cache needs: the assertion's ID, and until when the
    assertion would be accepted (keep the ID at least that long)."""

    claims: LoginClaims
    assertion_id: str
    not_on_or_after: datetime
    in_response_to: str


@dataclass(frozen=True, slots=True)
class _Peek:
    """Fields read from the response before its signature is checked: used only to choose the
    error code of a refusal, never to accept anything."""

    in_response_to: str | None
    destination: str | None


def _sp_settings(config: SamlProviderConfig) -> dict[str, Any]:
    signing = config.sp_key_file is not None and config.sp_cert_file is not None
    settings: dict[str, Any] = {
        "entityid": config.sp_entity_id,
        "xmlsec_binary": config.xmlsec_binary,
        "metadata": {"inline": [config.idp_metadata_xml]},
        "accepted_time_diff": config.accepted_time_diff,
        "allow_unknown_attributes": True,
        "service": {
            "sp": {
                "endpoints": {"assertion_consumer_service": [(config.acs_url, BINDING_HTTP_POST)]},
                "allow_unsolicited": config.allow_unsolicited,
                "want_assertions_signed": config.want_assertions_signed,
                "want_response_signed": config.want_response_signed,
                "want_assertions_or_response_signed": True,
                "authn_requests_signed": signing,
            }
        },
    }
    if signing:
        settings["key_file"] = config.sp_key_file
        settings["cert_file"] = config.sp_cert_file
    return settings


class SamlServiceProvider:
    """The panel as the SP of one IdP. Holds only configuration and the IdP's metadata."""

    def __init__(self, config: SamlProviderConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        sp_config = SPConfig()
        sp_config.load(_sp_settings(config))
        self._client = Saml2Client(config=sp_config)
        idps = list(self._client.metadata.identity_providers())
        if config.idp_entity_id is not None:
            if config.idp_entity_id not in idps:
                raise ValueError(f"IdP {config.idp_entity_id!r} is not in the metadata")
            self.idp_entity_id = config.idp_entity_id
        elif len(idps) == 1:
            self.idp_entity_id = idps[0]
        else:
            raise ValueError(f"the metadata lists {len(idps)} IdPs; set idp_entity_id")

    def _fail(self, code: Code, message: str) -> LoginError:
        return LoginError(code, message, protocol="saml", idp=self.config.idp)

    def metadata_xml(self) -> str:
        """This SP's metadata, for registering the panel at the IdP."""
        from saml2.metadata import entity_descriptor

        return str(entity_descriptor(self._client.config))

    def begin_login(self, return_to: str | None = None) -> SamlRedirect:
        """An AuthnRequest over the redirect binding, and the pending login to store."""
        relay_state = secrets.token_urlsafe(32)
        request_id, info = self._client.prepare_for_authenticate(
            entityid=self.idp_entity_id,
            relay_state=relay_state,
            binding=BINDING_HTTP_REDIRECT,
            sigalg=_SP_SIGNING[0],
            digest_alg=_SP_SIGNING[1],
        )
        url = dict(info["headers"])["Location"]
        pending = PendingSamlLogin(self.config.idp, request_id, relay_state, self._clock(), return_to)
        return SamlRedirect(url=url, pending=pending)

    def _peek(self, saml_response: str) -> tuple[str, _Peek]:
        try:
            xml = base64.b64decode(saml_response, validate=True).decode("utf-8")
            message = samlp.response_from_string(xml)   # defusedxml underneath
        except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
            raise self._fail(Code.BAD_RESPONSE, "SAMLResponse is not a base64 SAML Response") from None
        except Exception:  # pysaml2 raises assorted types for malformed XML
            raise self._fail(Code.BAD_RESPONSE, "SAMLResponse is not well-formed") from None
        if message is None:
            raise self._fail(Code.BAD_RESPONSE, "SAMLResponse is not a SAML Response")
        return xml, _Peek(message.in_response_to, message.destination)

    def _check_binding(self, peek: _Peek, relay_state: str | None, pending: PendingSamlLogin | None) -> PendingSamlLogin:
        if peek.in_response_to is None and not self.config.allow_unsolicited:
            raise self._fail(Code.UNSOLICITED, "the response answers no request of ours")
        if pending is None:
            raise self._fail(Code.REPLAYED_STATE, "no outstanding request for this response (unknown or already used)")
        if pending.idp != self.config.idp or not hmac.compare_digest((relay_state or "").encode(), pending.relay_state.encode()):
            raise self._fail(Code.STATE_MISMATCH, "RelayState is not this login's")
        if self._clock() - pending.created_at > self.config.login_ttl_seconds:
            raise self._fail(Code.LOGIN_EXPIRED, "the login took longer than allowed")
        if peek.in_response_to is not None and peek.in_response_to != pending.request_id:
            raise self._fail(Code.IN_RESPONSE_TO_MISMATCH, "the response answers another request")
        if peek.destination is not None and peek.destination != self.config.acs_url:
            raise self._fail(Code.WRONG_DESTINATION, "the response was sent to another endpoint")
        return pending

    def _parse(self, saml_response: str, pending: PendingSamlLogin) -> Any:
        outstanding = {pending.request_id: pending.return_to or ""}
        try:
            response = self._client.parse_authn_request_response(saml_response, BINDING_HTTP_POST, outstanding)
        except (SignatureError, IncorrectlySigned, SigverError) as exc:
            text = str(exc)
            unsigned = "missing" in text.lower() or "neither" in text.lower() or "not signed" in text.lower()
            raise self._fail(Code.UNSIGNED if unsigned else Code.BAD_SIGNATURE, "signature check failed") from None
        except ResponseLifetimeExceed:
            raise self._fail(Code.EXPIRED, "the assertion has expired") from None
        except ToEarly:
            raise self._fail(Code.NOT_YET_VALID, "the assertion is not valid yet") from None
        except UnsolicitedResponse:
            raise self._fail(Code.IN_RESPONSE_TO_MISMATCH, "the assertion answers another request") from None
        except StatusError as exc:
            raise self._fail(Code.IDP_ERROR, f"the IdP answered {type(exc).__name__}") from None
        except Exception as exc:  # pysaml2 signals audience and subject problems with bare Exception
            if "AudienceRestrictions" in str(exc):
                raise self._fail(Code.WRONG_AUDIENCE, "the assertion is for another service provider") from None
            raise self._fail(Code.BAD_RESPONSE, f"the response does not validate ({type(exc).__name__})") from None
        # pysaml2 returns a half-checked response (no assertion) when e.g. the status or
        # IssueInstant check fails; only a response with a verified assertion counts.
        if response is None or response.assertion is None or response.name_id is None:
            raise self._fail(Code.BAD_RESPONSE, "the response carries no valid assertion")
        return response

    def finish_login(self, saml_response: str, relay_state: str | None, pending: PendingSamlLogin | None) -> SamlLogin:
        """Verify a POSTed SAMLResponse against the pending login the caller took (and deleted)
        from its store; `None` when it had none."""
        _, peek = self._peek(saml_response)
        pending = self._check_binding(peek, relay_state, pending)
        response = self._parse(saml_response, pending)
        try:
            return self._login_of(response, pending)
        finally:
            self._client.users.remove_person(response.name_id)   # pysaml2 caches identities; we do not

    def _check_algorithms(self, response: Any) -> None:
        for signed in (response.response, response.assertion):
            signature = getattr(signed, "signature", None)
            if signature is None:
                continue
            method = signature.signed_info.signature_method.algorithm
            if method not in self.config.signature_algorithms:
                raise self._fail(Code.BAD_SIGNATURE, f"signature method {method} is not accepted")

    def _login_of(self, response: Any, pending: PendingSamlLogin) -> SamlLogin:
        self._check_algorithms(response)
        assertion = response.assertion
        issuer = (assertion.issuer.text or "").strip() if assertion.issuer is not None else ""
        if issuer != self.idp_entity_id:
            raise self._fail(Code.WRONG_ISSUER, "the assertion was issued by another IdP")
        if response.in_response_to != pending.request_id:
            raise self._fail(Code.IN_RESPONSE_TO_MISMATCH, "the response answers another request")
        contexts: list[str] = []
        instant: datetime | None = None
        for class_ref, _authorities, authn_instant in response.authn_info():
            if class_ref:
                contexts.append(class_ref)
            if authn_instant and instant is None:
                instant = _utc(authn_instant)
        claims = from_saml(
            self.config.idp, issuer, response.name_id.text.strip(), response.ava or {}, tuple(contexts), instant, self.config.mapping
        )
        until = _until(assertion)
        if until is None:
            raise self._fail(Code.BAD_RESPONSE, "the assertion has no NotOnOrAfter")
        return SamlLogin(claims, assertion.id, until, pending.request_id)


def _utc(text: str) -> datetime:
    return datetime.fromtimestamp(calendar.timegm(str_to_time(text)), timezone.utc)


def _until(assertion: Any) -> datetime | None:
    """The latest moment the assertion could still be accepted: the earliest NotOnOrAfter among
    its conditions and bearer subject confirmations (pysaml2 checks each against the clock)."""
    limits = []
    if assertion.conditions is not None and assertion.conditions.not_on_or_after:
        limits.append(_utc(assertion.conditions.not_on_or_after))
    for confirmation in assertion.subject.subject_confirmation or []:
        data = confirmation.subject_confirmation_data
        if data is not None and data.not_on_or_after:
            limits.append(_utc(data.not_on_or_after))
    return min(limits) if limits else None
