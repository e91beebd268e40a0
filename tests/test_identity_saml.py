"""SAML 2.0 login against a real IdP (pysaml2's IdP side, xmlsec1 signatures): flows and refusals."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from skyloom.identity import LoginError, LoginErrorCode as Code
from skyloom.identity.saml import PendingSamlLogin, SamlLogin, SamlProviderConfig, SamlServiceProvider
from skyloom.policy.actor import AuthStrength
from tests.clients.saml_idp import PASSWORD, SIG_RSA_SHA1, TWO_FACTOR, SamlIdp, make_key_pair, tamper

SP = "https://panel.example.test/saml"
ACS = "https://panel.example.test/auth/saml/acs"
OTHER_SP = "https://other.example.test/saml"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("saml-keys")


@pytest.fixture(scope="module")
def idp(keys: Path) -> SamlIdp:
    """Given a real IdP that trusts the panel and one other service provider."""
    server = SamlIdp(keys)
    for entity_id, acs in ((SP, ACS), (OTHER_SP, "https://other.example.test/acs")):
        server.trust(SamlServiceProvider(SamlProviderConfig("x", entity_id, acs, server.metadata_xml())).metadata_xml())
    return server


@pytest.fixture
def make_sp(idp: SamlIdp) -> Callable[..., SamlServiceProvider]:
    def make(clock: Callable[[], float] = time.time, **overrides: object) -> SamlServiceProvider:
        config = SamlProviderConfig(idp="test-saml", sp_entity_id=SP, acs_url=ACS, idp_metadata_xml=idp.metadata_xml(), **overrides)
        return SamlServiceProvider(config, clock=clock)

    return make


@pytest.fixture
def sp(make_sp: Callable[..., SamlServiceProvider]) -> SamlServiceProvider:
    return make_sp()


def refused(code: Code, call: Callable[[], object]) -> LoginError:
    with pytest.raises(LoginError) as caught:
        call()
    assert caught.value.code == code, caught.value
    assert caught.value.protocol == "saml" and caught.value.idp == "test-saml"
    return caught.value


class ReplayCache:
    """What the session layer keeps: assertion ids until they would expire anyway."""

    def __init__(self) -> None:
        self.seen: dict[str, datetime] = {}

    def first_use(self, login: SamlLogin) -> bool:
        now = datetime.now(timezone.utc)
        self.seen = {k: v for k, v in self.seen.items() if v > now}
        if login.assertion_id in self.seen:
            return False
        self.seen[login.assertion_id] = login.not_on_or_after
        return True


# --- flows -------------------------------------------------------------------------------------

def test_login_returns_claims_groups_and_replay_facts(idp: SamlIdp, sp: SamlServiceProvider) -> None:
    # Given a login started by the panel and answered by the IdP for alice (two-factor)
    start = sp.begin_login(return_to="/ci")
    request = idp.receive(start.url)
    response = idp.respond(request, "alice", ["tenant-admins", "engineering"], email="alice@example.test", name="Alice Admin", authn_class=TWO_FACTOR)
    # When the panel verifies the POSTed response
    login = sp.finish_login(response, request.relay_state, start.pending)
    # Then
    claims = login.claims
    assert (claims.protocol, claims.idp, claims.issuer, claims.subject) == ("saml", "test-saml", idp.entity_id, "alice")
    assert (claims.email, claims.email_verified, claims.display_name) == ("alice@example.test", None, "Alice Admin")
    assert claims.groups == ("tenant-admins", "engineering")
    assert claims.auth_methods == (TWO_FACTOR,)
    assert claims.auth_strength is AuthStrength.MULTI_FACTOR
    assert claims.raw == {"groups": ["tenant-admins", "engineering"], "mail": ["alice@example.test"], "displayName": ["Alice Admin"]}
    assert login.in_response_to == start.pending.request_id
    assert login.assertion_id.startswith("id-") and login.assertion_id != login.in_response_to
    left = (login.not_on_or_after - datetime.now(timezone.utc)).total_seconds()
    assert 240 < left <= 300


def test_password_login_without_groups(idp: SamlIdp, sp: SamlServiceProvider) -> None:
    start = sp.begin_login()
    request = idp.receive(start.url)
    login = sp.finish_login(idp.respond(request, "carol", [], authn_class=PASSWORD), request.relay_state, start.pending)
    assert (login.claims.subject, login.claims.groups, login.claims.email, login.claims.display_name) == ("carol", (), None, None)
    assert login.claims.auth_strength is AuthStrength.PASSWORD


def test_authn_request_reaches_the_idp_as_sent(idp: SamlIdp, sp: SamlServiceProvider) -> None:
    start = sp.begin_login(return_to="/x")
    request = idp.receive(start.url)
    assert start.url.startswith(f"{idp.entity_id}/sso/redirect?SAMLRequest=")
    assert (request.id, request.issuer, request.acs_url, request.relay_state) == (start.pending.request_id, SP, ACS, start.pending.relay_state)
    assert PendingSamlLogin.from_dict(start.pending.to_dict()) == start.pending


def test_authn_requests_are_signed_when_the_sp_has_a_key(idp: SamlIdp, make_sp, tmp_path: Path) -> None:
    key, cert = make_key_pair(tmp_path, "panel-sp")
    signing = make_sp(sp_key_file=str(key), sp_cert_file=str(cert))
    query = parse_qs(urlsplit(signing.begin_login().url).query)
    assert query["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    assert len(query["Signature"][0]) > 300
    assert "Signature" not in parse_qs(urlsplit(make_sp().begin_login().url).query)


# --- refusals ----------------------------------------------------------------------------------

def test_attribute_tampered_after_signing_is_refused(idp: SamlIdp, sp: SamlServiceProvider) -> None:
    start = sp.begin_login()
    request = idp.receive(start.url)
    forged = tamper(idp.respond(request, "bob", ["engineering"]), ">engineering<", ">provider-operators<")
    refused(Code.BAD_SIGNATURE, lambda: sp.finish_login(forged, request.relay_state, start.pending))


def test_assertion_signed_by_another_key_is_refused(idp: SamlIdp, sp: SamlServiceProvider, tmp_path: Path) -> None:
    # Given an impostor using the IdP's entity id but its own key (its certificate travels in KeyInfo)
    impostor = SamlIdp(tmp_path, entity_id=idp.entity_id)
    impostor.trust(sp.metadata_xml())
    start = sp.begin_login()
    request = idp.receive(start.url)
    forged = impostor.respond(request, "mallory", ["provider-operators"])
    refused(Code.BAD_SIGNATURE, lambda: sp.finish_login(forged, request.relay_state, start.pending))


def test_sha1_signature_is_refused(idp: SamlIdp, sp: SamlServiceProvider) -> None:
    start = sp.begin_login()
    request = idp.receive(start.url)
    weak = idp.respond(request, "bob", ["engineering"], sign_alg=SIG_RSA_SHA1)
    error = refused(Code.BAD_SIGNATURE, lambda: sp.finish_login(weak, request.relay_state, start.pending))
    assert error.message == "signature method http://www.w3.org/2000/09/xmldsig#rsa-sha1 is not accepted"


def test_unsigned_assertion_is_refused(idp: SamlIdp, sp: SamlServiceProvider) -> None:
    start = sp.begin_login()
    request = idp.receive(start.url)
    unsigned = idp.respond(request, "bob", ["engineering"], sign_assertion=False)
    refused(Code.UNSIGNED, lambda: sp.finish_login(unsigned, request.relay_state, start.pending))


def test_assertion_for_another_sp_is_wrong_audience(idp: SamlIdp, sp: SamlServiceProvider) -> None:
    start = sp.begin_login()
    request = idp.receive(start.url)
    elsewhere = idp.respond(request, "bob", ["engineering"], audience=OTHER_SP)
    refused(Code.WRONG_AUDIENCE, lambda: sp.finish_login(elsewhere, request.relay_state, start.pending))


def test_expired_assertion_is_refused(idp: SamlIdp, sp: SamlServiceProvider) -> None:
    start = sp.begin_login()
    request = idp.receive(start.url)
    stale = idp.respond(request, "bob", ["engineering"], issued_minutes_ago=10)
    refused(Code.EXPIRED, lambda: sp.finish_login(stale, request.relay_state, start.pending))


def test_response_sent_to_another_endpoint_is_refused(idp: SamlIdp, sp: SamlServiceProvider) -> None:
    start = sp.begin_login()
    request = idp.receive(start.url)
    misdirected = idp.respond(request, "bob", ["engineering"], acs_url="https://evil.example.test/acs")
    refused(Code.WRONG_DESTINATION, lambda: sp.finish_login(misdirected, request.relay_state, start.pending))


def test_unsolicited_response_is_refused(idp: SamlIdp, sp: SamlServiceProvider) -> None:
    # Given an IdP-initiated response (no InResponseTo) while the panel has a login outstanding
    start = sp.begin_login()
    unsolicited = idp.respond(None, "bob", ["engineering"], audience=SP, acs_url=ACS)
    refused(Code.UNSOLICITED, lambda: sp.finish_login(unsolicited, start.pending.relay_state, start.pending))
    refused(Code.UNSOLICITED, lambda: sp.finish_login(unsolicited, None, None))


def test_response_to_another_request_is_in_response_to_mismatch(idp: SamlIdp, sp: SamlServiceProvider) -> None:
    # Given two logins outstanding, and the answer to the second arriving with the first's RelayState
    first, second = sp.begin_login(), sp.begin_login()
    answer = idp.respond(idp.receive(second.url), "bob", ["engineering"])
    refused(Code.IN_RESPONSE_TO_MISMATCH, lambda: sp.finish_login(answer, first.pending.relay_state, first.pending))
    # and a forged RelayState does not find the right login either
    refused(Code.STATE_MISMATCH, lambda: sp.finish_login(answer, first.pending.relay_state, second.pending))
    assert sp.finish_login(answer, second.pending.relay_state, second.pending).claims.subject == "bob"


def test_replayed_response_is_refused(idp: SamlIdp, sp: SamlServiceProvider) -> None:
    # Given a verified login whose outstanding request the store deleted, and a replay cache
    store = {}
    cache = ReplayCache()
    start = sp.begin_login()
    store[start.pending.relay_state] = start.pending
    request = idp.receive(start.url)
    response = idp.respond(request, "alice", ["tenant-admins"])
    login = sp.finish_login(response, request.relay_state, store.pop(request.relay_state, None))
    assert cache.first_use(login) is True
    # When the same POST is replayed, Then the spent request refuses it
    refused(Code.REPLAYED_STATE, lambda: sp.finish_login(response, request.relay_state, store.pop(request.relay_state, None)))
    # and a store that failed to delete is backed by the assertion id
    again = sp.finish_login(response, request.relay_state, start.pending)
    assert again.assertion_id == login.assertion_id
    assert cache.first_use(again) is False
    # while a genuine new login has a new assertion id and passes
    other = sp.begin_login()
    fresh = sp.finish_login(idp.respond(idp.receive(other.url), "alice", ["tenant-admins"]), other.pending.relay_state, other.pending)
    assert fresh.assertion_id != login.assertion_id and cache.first_use(fresh) is True


def test_login_that_took_too_long_is_refused(idp: SamlIdp, make_sp) -> None:
    later = [0.0]
    sp = make_sp(clock=lambda: time.time() + later[0])
    start = sp.begin_login()
    request = idp.receive(start.url)
    response = idp.respond(request, "bob", ["engineering"])
    later[0] = 601
    refused(Code.LOGIN_EXPIRED, lambda: sp.finish_login(response, request.relay_state, start.pending))


def test_garbage_is_a_bad_response(sp: SamlServiceProvider) -> None:
    start = sp.begin_login()
    refused(Code.BAD_RESPONSE, lambda: sp.finish_login("not base64!", start.pending.relay_state, start.pending))
    refused(Code.BAD_RESPONSE, lambda: sp.finish_login("PGZvbz48L2Zvbz4=", start.pending.relay_state, start.pending))


def test_pending_login_of_another_idp_is_a_state_mismatch(idp: SamlIdp, sp: SamlServiceProvider) -> None:
    start = sp.begin_login()
    request = idp.receive(start.url)
    response = idp.respond(request, "bob", ["engineering"])
    refused(Code.STATE_MISMATCH, lambda: sp.finish_login(response, request.relay_state, replace(start.pending, idp="other")))
