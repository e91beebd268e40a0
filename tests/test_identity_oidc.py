"""OIDC login against a real OpenID provider (npm oidc-provider on loopback): flows and refusals."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from skyloom.identity import LoginError, LoginErrorCode as Code
from skyloom.identity.oidc import OidcProviderConfig, OidcRelyingParty, PendingOidcLogin
from skyloom.policy.actor import AuthStrength
from tests.conftest import free_port, stop_process

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Idp:
    issuer: str
    redirect_uri: str
    secrets: dict[str, str]


@pytest.fixture(scope="module")
def idp() -> Iterator[Idp]:
    """Given a real OpenID provider with three clients and test accounts, on a free port."""
    port = free_port()
    redirect_uri = f"http://127.0.0.1:{free_port()}/auth/oidc/callback"
    client_secrets = {"skyloom": secrets.token_urlsafe(24), "other-app": secrets.token_urlsafe(24)}
    env = {**os.environ, "OIDC_IDP_SECRET_MAIN": client_secrets["skyloom"], "OIDC_IDP_SECRET_OTHER": client_secrets["other-app"]}
    proc = subprocess.Popen(
        ["node", str(REPO / "tests" / "clients" / "oidc_idp.mjs"), str(port), redirect_uri],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line, f"oidc_idp.mjs exited with {proc.poll()}"
        ready = json.loads(line)
        assert ready["event"] == "ready"
        yield Idp(ready["issuer"], redirect_uri, client_secrets)
    finally:
        stop_process(proc)


class TokenTap(httpx.AsyncBaseTransport):
    """A real transport that records ID tokens from the token endpoint and can swap them, as a
    network attacker or a buggy proxy between the panel and the provider could."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.id_tokens: list[str] = []
        self.swap: Callable[[str], str] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path != "/token" or response.status_code != 200:
            return response
        body = json.loads(await response.aread())
        self.id_tokens.append(body["id_token"])
        if self.swap is not None:
            body["id_token"] = self.swap(body["id_token"])
        return httpx.Response(200, headers={"content-type": "application/json"}, content=json.dumps(body).encode())

    async def aclose(self) -> None:
        await self.inner.aclose()


def config(idp: Idp, client_id: str = "skyloom", **overrides: object) -> OidcProviderConfig:
    return OidcProviderConfig(
        idp="test-oidc",
        issuer=idp.issuer,
        client_id=client_id,
        client_secret=idp.secrets.get(client_id),
        redirect_uri=idp.redirect_uri,
        scopes=("openid", "email", "profile", "groups"),
        **overrides,
    )


@pytest.fixture
async def made() -> AsyncIterator[list[OidcRelyingParty]]:
    parties: list[OidcRelyingParty] = []
    yield parties
    for party in parties:
        await party.aclose()


@pytest.fixture
def party(idp: Idp, made: list[OidcRelyingParty]) -> Callable[..., tuple[OidcRelyingParty, TokenTap]]:
    def make(client_id: str = "skyloom", clock: Callable[[], float] = time.time, **overrides: object) -> tuple[OidcRelyingParty, TokenTap]:
        tap = TokenTap()
        rp = OidcRelyingParty(config(idp, client_id, **overrides), transport=tap, clock=clock)
        made.append(rp)
        return rp, tap

    return make


async def browse(url: str, redirect_uri: str, user: str, password: str, otp: str | None = None, *, abort: bool = False) -> dict[str, str]:
    """A cookie-keeping user agent: follows the provider's redirects, signs in and consents
    through its interaction endpoints, and stops at our redirect URI. Returns the callback query."""
    async with httpx.AsyncClient(timeout=10) as browser:
        location = url
        for _ in range(8):
            if location.startswith(redirect_uri):
                return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
            target = httpx.URL(url).join(location)
            if target.path.startswith("/interaction/"):
                prompt = (await browser.get(target)).json()["prompt"]
                if abort:
                    response = await browser.post(f"{target}/abort")
                elif prompt == "login":
                    form = {"login": user, "password": password} | ({"otp": otp} if otp else {})
                    response = await browser.post(f"{target}/login", data=form)
                else:
                    response = await browser.post(f"{target}/confirm")
            else:
                response = await browser.get(target)
            assert response.status_code in (302, 303), (response.status_code, response.text)
            location = response.headers["location"]
        raise AssertionError("the provider never redirected back")


async def login(rp: OidcRelyingParty, idp: Idp, user: str = "alice", password: str = "alice-pw", otp: str | None = None) -> tuple[PendingOidcLogin, dict[str, str]]:
    start = await rp.begin_login(return_to="/ci")
    return start.pending, await browse(start.url, idp.redirect_uri, user, password, otp)


async def refused(code: Code, awaitable: object) -> LoginError:
    with pytest.raises(LoginError) as caught:
        await awaitable  # type: ignore[misc]
    assert caught.value.code == code, caught.value
    assert caught.value.protocol == "oidc" and caught.value.idp == "test-oidc"
    return caught.value


def segment(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# --- flows -------------------------------------------------------------------------------------

async def test_multi_factor_login_returns_claims_and_groups(idp: Idp, party) -> None:
    # Given the panel registered as a confidential client
    rp, _ = party()
    # When alice signs in with password and one-time code
    pending, callback = await login(rp, idp, otp="123456")
    claims = await rp.finish_login(callback, pending)
    # Then the claims are hers, with groups from the provider and a multi-factor strength
    assert (claims.protocol, claims.idp, claims.issuer, claims.subject) == ("oidc", "test-oidc", idp.issuer, "alice")
    assert (claims.email, claims.email_verified, claims.display_name) == ("alice@example.test", True, "Alice Admin")
    assert claims.groups == ("tenant-admins", "engineering")
    assert claims.auth_methods == ("pwd", "otp", "mfa")
    assert claims.auth_strength is AuthStrength.MULTI_FACTOR
    assert claims.auth_time is not None and abs(claims.auth_time.timestamp() - time.time()) < 60
    assert claims.raw == {"groups": ["tenant-admins", "engineering"], "email": "alice@example.test", "name": "Alice Admin",
                          "acr": "mfa", "amr": ["pwd", "otp"], "email_verified": True}
    assert pending.return_to == "/ci"


async def test_password_login_is_password_strength(idp: Idp, party) -> None:
    rp, _ = party()
    pending, callback = await login(rp, idp, "bob", "bob-pw")
    claims = await rp.finish_login(callback, pending)
    assert (claims.subject, claims.groups, claims.auth_methods) == ("bob", ("engineering",), ("pwd", "pwd"))
    assert claims.auth_strength is AuthStrength.PASSWORD


async def test_public_client_without_userinfo_sees_only_id_token_claims(idp: Idp, party) -> None:
    # Given a public client (no secret, PKCE alone) that does not call userinfo
    rp, _ = party("skyloom-public", use_userinfo=False)
    # When carol signs in
    pending, callback = await login(rp, idp, "carol", "carol-pw")
    claims = await rp.finish_login(callback, pending)
    # Then the provider (conforming) kept scope claims out of the ID token
    assert (claims.subject, claims.email, claims.display_name, claims.groups) == ("carol", None, None, ())


async def test_authorization_redirect_carries_pkce_state_and_nonce(idp: Idp, party) -> None:
    rp, _ = party()
    start = await rp.begin_login()
    query = {k: v[0] for k, v in parse_qs(urlsplit(start.url).query).items()}
    challenge = base64.urlsafe_b64encode(hashlib.sha256(start.pending.code_verifier.encode()).digest()).rstrip(b"=").decode()
    assert start.url.startswith(f"{idp.issuer}/auth?")
    assert query == {
        "response_type": "code", "client_id": "skyloom", "redirect_uri": idp.redirect_uri,
        "scope": "openid email profile groups", "state": start.pending.state, "nonce": start.pending.nonce,
        "code_challenge": challenge, "code_challenge_method": "S256",
    }
    assert start.pending.code_verifier not in start.url and start.pending.code_verifier not in repr(start.pending)
    assert PendingOidcLogin.from_dict(json.loads(json.dumps(start.pending.to_dict()))) == start.pending


# --- refusals ----------------------------------------------------------------------------------

async def test_wrong_and_missing_state_are_refused(idp: Idp, party) -> None:
    rp, _ = party()
    pending, callback = await login(rp, idp)
    await refused(Code.STATE_MISMATCH, rp.finish_login({**callback, "state": secrets.token_urlsafe(32)}, pending))
    await refused(Code.STATE_MISSING, rp.finish_login({k: v for k, v in callback.items() if k != "state"}, pending))
    # and the genuine callback still works: the refusals did not spend the code
    assert (await rp.finish_login(callback, pending)).subject == "alice"


async def test_replayed_state_is_refused_when_the_store_has_spent_it(idp: Idp, party) -> None:
    # Given a finished login whose pending entry the store deleted on use
    rp, _ = party()
    pending, callback = await login(rp, idp)
    store = {pending.state: pending}
    assert (await rp.finish_login(callback, store.pop(callback["state"], None))).subject == "alice"
    # When the same callback arrives again, Then there is no outstanding login for it
    await refused(Code.REPLAYED_STATE, rp.finish_login(callback, store.pop(callback["state"], None)))


async def test_replayed_code_is_refused_by_the_provider(idp: Idp, party) -> None:
    # Given a store that failed to delete the pending login
    rp, _ = party()
    pending, callback = await login(rp, idp)
    await rp.finish_login(callback, pending)
    # When the code is exchanged a second time, Then the provider refuses it
    error = await refused(Code.CODE_REJECTED, rp.finish_login(callback, pending))
    assert error.message == "the token endpoint refused the code: invalid_grant"


async def test_login_that_took_too_long_is_refused(idp: Idp, party) -> None:
    later = [0.0]
    rp, _ = party(clock=lambda: time.time() + later[0])
    pending, callback = await login(rp, idp)
    later[0] = 601
    await refused(Code.LOGIN_EXPIRED, rp.finish_login(callback, pending))


async def test_user_cancelling_at_the_provider_is_an_idp_error(idp: Idp, party) -> None:
    rp, _ = party()
    start = await rp.begin_login()
    callback = await browse(start.url, idp.redirect_uri, "alice", "", abort=True)
    assert callback["error"] == "access_denied"
    await refused(Code.IDP_ERROR, rp.finish_login(callback, start.pending))


async def test_mixed_up_issuer_in_the_callback_is_refused(idp: Idp, party) -> None:
    rp, _ = party()
    pending, callback = await login(rp, idp)
    await refused(Code.WRONG_ISSUER, rp.finish_login({**callback, "iss": "http://127.0.0.1:1"}, pending))


async def test_wrong_password_never_reaches_the_callback(idp: Idp, party) -> None:
    rp, _ = party()
    start = await rp.begin_login()
    with pytest.raises(AssertionError, match="401"):
        await browse(start.url, idp.redirect_uri, "alice", "not-her-password")


async def test_tampered_id_token_signature_is_refused(idp: Idp, party) -> None:
    # Given a token response whose ID token payload was changed in transit (sub -> mallory)
    rp, tap = party()

    def tamper(token: str) -> str:
        header, payload, signature = token.split(".")
        claims = {**segment(token, 1), "sub": "mallory"}
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return f"{header}.{forged}.{signature}"

    tap.swap = tamper
    pending, callback = await login(rp, idp)
    # Then the signature check refuses it
    await refused(Code.BAD_SIGNATURE, rp.finish_login(callback, pending))
    assert segment(tap.id_tokens[0], 1)["sub"] == "alice"


async def test_id_token_for_another_client_is_wrong_audience(idp: Idp, party) -> None:
    # Given a genuine ID token the provider issued to another relying party
    other, other_tap = party("other-app")
    other_pending, other_callback = await login(other, idp)
    assert (await other.finish_login(other_callback, other_pending)).subject == "alice"
    token = other_tap.id_tokens[0]
    assert segment(token, 1)["aud"] == "other-app"
    # When the panel is handed it (with that login's own nonce, so only the audience differs)
    rp, _ = party()
    await refused(Code.WRONG_AUDIENCE, rp.validate_id_token(token, nonce=other_pending.nonce))


async def test_id_token_from_another_login_is_nonce_mismatch(idp: Idp, party) -> None:
    # Given a genuine ID token from an earlier login of the same client
    rp, tap = party()
    first_pending, first_callback = await login(rp, idp)
    await rp.finish_login(first_callback, first_pending)
    earlier = tap.id_tokens[0]
    # When an attacker injects it into a new login's token response
    tap.swap = lambda _: earlier
    pending, callback = await login(rp, idp)
    # Then the nonce bound to this login does not match
    await refused(Code.NONCE_MISMATCH, rp.finish_login(callback, pending))


async def test_expired_id_token_is_refused(idp: Idp, party) -> None:
    # Given a genuine ID token (the provider issues them for an hour)
    rp, tap = party()
    pending, callback = await login(rp, idp)
    await rp.finish_login(callback, pending)
    token = tap.id_tokens[0]
    lifetime = segment(token, 1)["exp"] - time.time()
    assert 3000 < lifetime <= 3600
    # When it is presented after its expiry plus the allowed skew
    late, _ = party(clock=lambda: time.time() + lifetime + 61)
    await refused(Code.EXPIRED, late.validate_id_token(token, nonce=pending.nonce))
    # Then within the skew it is still accepted (the check is exp, not something else)
    on_time, _ = party(clock=lambda: time.time() + lifetime + 50)
    assert (await on_time.validate_id_token(token, nonce=pending.nonce))["sub"] == "alice"


async def test_algorithm_outside_the_allow_list_is_refused(idp: Idp, party) -> None:
    # Given a panel that accepts only ES256 while the provider signs ID tokens with RS256
    rp, tap = party(algorithms=("ES256",))
    pending, callback = await login(rp, idp)
    await refused(Code.BAD_TOKEN, rp.finish_login(callback, pending))
    assert segment(tap.id_tokens[0], 0)["alg"] == "RS256"


async def test_discovery_is_cached(idp: Idp, party) -> None:
    rp, _ = party()
    first = await rp.metadata()
    assert await rp.metadata() is first
    assert (await rp.metadata(force=True)) is not first
    assert first["issuer"] == idp.issuer


async def test_pending_login_of_another_provider_is_a_state_mismatch(idp: Idp, party) -> None:
    rp, _ = party()
    pending, callback = await login(rp, idp)
    await refused(Code.STATE_MISMATCH, rp.finish_login(callback, replace(pending, idp="another-idp")))
