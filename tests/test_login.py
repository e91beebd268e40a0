"""Browser login over HTTP against a real `skyloom serve`, a real OpenID provider and a real SAML IdP.

The panel's public URL is a name the IdPs redirect browsers to (as behind a reverse proxy); the
test plays the browser, following each redirect by hand and sending the panel's part of it to
the real server. Cookies are sent explicitly, so every assertion about them is exact.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from skyloom.graph import identity as idn
from skyloom.graph import login_state
from skyloom.graph.pool import Database
from tests.clients.saml_idp import TWO_FACTOR, SamlIdp
from tests.conftest import Pg, Server, free_port, stop_process, unique
from tests.test_identity_oidc import browse
from tests.test_identity_store import admin_rows

REPO = Path(__file__).resolve().parent.parent
PUBLIC = "https://panel.example.test"
SECRET_ENV = "SKYLOOM_TEST_LOGIN_OIDC_SECRET"
SESSION_HOURS = 8


@dataclass(frozen=True)
class Panel:
    server: Server
    oidc: str          # our ids of the configured IdPs
    saml: str
    saml_closed: str   # a SAML IdP that does not create users on login
    saml_idp: SamlIdp


@dataclass(frozen=True)
class Cookie:
    value: str
    attributes: dict[str, str | bool]


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
async def db(pg: Pg) -> AsyncIterator[Database]:
    database = Database(pg.app_url, "cmdb", min_size=1, max_size=2)
    await database.open()
    yield database
    await database.close()


@pytest.fixture(scope="module")
def oidc_id() -> str:
    return unique("login-oidc")


@pytest.fixture(scope="module")
def oidc_provider(oidc_id: str) -> Iterator[tuple[str, str]]:
    """Given a real OpenID provider that sends browsers back to the panel's public callback URL."""
    secret = secrets.token_urlsafe(24)
    env = {**os.environ, "OIDC_IDP_SECRET_MAIN": secret, "OIDC_IDP_SECRET_OTHER": secrets.token_urlsafe(24)}
    proc = subprocess.Popen(
        ["node", str(REPO / "tests" / "clients" / "oidc_idp.mjs"), str(free_port()), f"{PUBLIC}/auth/{oidc_id}/callback"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line, f"oidc_idp.mjs exited with {proc.poll()}"
        yield json.loads(line)["issuer"], secret
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
async def panel(pg: Pg, db: Database, oidc_id: str, oidc_provider: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Panel]:
    """Given both IdPs configured in the store (the client secret only as an env var name), and the
    panel serving with that variable set."""
    issuer, secret = oidc_provider
    saml_idp = SamlIdp(tmp_path_factory.mktemp("login-saml"))
    saml, closed = unique("login-saml"), unique("login-closed")
    await idn.create_idp(db, idn.IdentityProvider(
        id=oidc_id, kind="oidc", name="Test OIDC", provider_id="p-login", tenant_id="t-login",
        settings={"issuer": issuer, "client_id": "skyloom", "client_secret_env": SECRET_ENV,
                  "scopes": ["openid", "email", "profile", "groups"]},
        auto_create_users=True, auto_create_groups=True,
    ))
    for idp_id, create in ((saml, True), (closed, False)):
        await idn.create_idp(db, idn.IdentityProvider(
            id=idp_id, kind="saml", name="Test SAML", provider_id="p-login", tenant_id="t-login",
            settings={"idp_metadata_xml": saml_idp.metadata_xml()}, auto_create_users=create, auto_create_groups=create,
        ))
    server = await asyncio.to_thread(Server, pg.app_url, {"SKYLOOM_PUBLIC_URL": PUBLIC, SECRET_ENV: secret})
    try:
        for idp_id in (saml, closed):   # the IdP trusts the panel through the panel's own metadata
            metadata = call(server, "GET", f"/auth/{idp_id}/metadata")
            assert metadata.status_code == 200 and metadata.headers["content-type"] == "application/samlmetadata+xml"
            saml_idp.trust(metadata.text)
        yield Panel(server, oidc_id, saml, closed, saml_idp)
    finally:
        server.stop()


# --- a browser, by hand ------------------------------------------------------------------------

def call(server: Server, method: str, path: str, *, cookies: dict[str, str] | None = None, request_id: str | None = None,
         **kwargs: Any) -> httpx.Response:
    headers = dict(kwargs.pop("headers", {}))
    if cookies:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    if request_id:
        headers["X-Request-ID"] = request_id
    with httpx.Client(base_url=server.url, timeout=30) as client:
        return client.request(method, path, headers=headers, **kwargs)


def set_cookies(response: httpx.Response) -> dict[str, Cookie]:
    out = {}
    for header in response.headers.get_list("set-cookie"):
        first, *rest = [part.strip() for part in header.split(";")]
        name, _, value = first.partition("=")
        attributes: dict[str, str | bool] = {}
        for part in rest:
            key, sep, val = part.partition("=")
            attributes[key.lower()] = val.lower() if sep and key.lower() == "samesite" else (val if sep else True)
        out[name] = Cookie(value.strip('"'), attributes)
    return out


async def oidc_start(panel: Panel, user: str, password: str, otp: str | None = None, return_to: str = "/ci") -> tuple[str, dict[str, str]]:
    """Start at the panel, sign in at the provider; returns the login cookie and the callback query."""
    start = call(panel.server, "GET", f"/auth/{panel.oidc}/login", params={"return_to": return_to})
    assert start.status_code == 302, start.text
    login = set_cookies(start)["skyloom_login"]
    assert login.attributes == {"httponly": True, "max-age": "600", "path": "/auth/", "samesite": "lax", "secure": True}
    callback = await browse(start.headers["location"], f"{PUBLIC}/auth/{panel.oidc}/callback", user, password, otp)
    return login.value, callback


def oidc_finish(panel: Panel, login_key: str | None, callback: dict[str, str], request_id: str | None = None) -> httpx.Response:
    cookies = {"skyloom_login": login_key} if login_key else None
    return call(panel.server, "GET", f"/auth/{panel.oidc}/callback", params=callback, cookies=cookies, request_id=request_id)


def saml_start(panel: Panel, idp_id: str, return_to: str = "/ci") -> Any:
    start = call(panel.server, "GET", f"/auth/{idp_id}/login", params={"return_to": return_to})
    assert start.status_code == 302, start.text
    assert "set-cookie" not in start.headers   # the IdP's POST back is cross-site: RelayState is the key
    return panel.saml_idp.receive(start.headers["location"])


def saml_post(panel: Panel, idp_id: str, response: str, relay_state: str, request_id: str | None = None) -> httpx.Response:
    return call(panel.server, "POST", f"/auth/{idp_id}/acs", data={"SAMLResponse": response, "RelayState": relay_state},
                request_id=request_id)


async def counts(pg: Pg) -> dict[str, int]:
    out = {}
    for table in ("identity_user", "user_session", "pending_login", "saml_assertion_seen"):
        (row,) = await admin_rows(pg, f"SELECT count(*) FROM skyloom.{table}")
        out[table] = row[0]
    return out


async def audited(pg: Pg, request_id: str) -> list[tuple]:
    return await admin_rows(
        pg, "SELECT type, actor, outcome, priority, target, tenant, source, detail FROM skyloom.audit_entry "
        "WHERE request_id = %s ORDER BY id", (request_id,),
    )


def session_of(response: httpx.Response) -> dict[str, str]:
    jar = set_cookies(response)
    return {"skyloom_session": jar["skyloom_session"].value, "skyloom_csrf": jar["skyloom_csrf"].value}


def who(panel: Panel, cookies: dict[str, str]) -> httpx.Response:
    return call(panel.server, "GET", "/auth/session", cookies=cookies)


# --- logins ------------------------------------------------------------------------------------

async def test_oidc_login_creates_the_user_and_opens_a_cookie_session(panel: Panel, db: Database, pg: Pg) -> None:
    # Given alice has never logged in here
    assert await idn.find_user(db, panel.oidc, "alice") is None
    # When she signs in at the provider with a second factor and comes back
    login_key, callback = await oidc_start(panel, "alice", "alice-pw", "123456")
    request_id = unique("req")
    response = oidc_finish(panel, login_key, callback, request_id)
    # Then she lands where she asked to go, with a session and its CSRF token
    assert (response.status_code, response.headers["location"], response.headers["cache-control"]) == (303, "/ci", "no-store")
    jar = set_cookies(response)
    max_age = str(SESSION_HOURS * 3600)
    assert jar["skyloom_session"].attributes == {"httponly": True, "max-age": max_age, "path": "/", "samesite": "lax", "secure": True}
    assert jar["skyloom_csrf"].attributes == {"max-age": max_age, "path": "/", "samesite": "strict", "secure": True}
    assert jar["skyloom_login"].attributes["max-age"] == "0" and jar["skyloom_login"].attributes["path"] == "/auth/"
    assert len(jar["skyloom_session"].value) == 43 and jar["skyloom_session"].value != jar["skyloom_csrf"].value
    # and the user was created from her claims
    user = await idn.find_user(db, panel.oidc, "alice")
    assert (user.email, user.display_name, user.home_provider, user.home_tenant) == ("alice@example.test", "Alice Admin", "p-login", "t-login")
    # and the session says who she is, with no secret in the answer
    me = who(panel, session_of(response))
    assert me.status_code == 200
    assert me.json() == {"actor": f"user:{user.id}", "name": "Alice Admin", "authStrength": "MULTI_FACTOR", "impersonator": None}
    # and the login is audited with her address, without tokens; the pending login is gone
    assert await audited(pg, request_id) == [(
        "login.success", f"user:{user.id}", "success", "notice", f"idp:{panel.oidc}", "t-login", "127.0.0.1",
        {"idp": panel.oidc, "protocol": "oidc", "authStrength": "MULTI_FACTOR"},
    )]
    assert await admin_rows(pg, "SELECT count(*) FROM skyloom.pending_login WHERE id = %s", (login_key,)) == [(0,)]


async def test_replayed_oidc_callback_is_refused_and_audited(panel: Panel, pg: Pg) -> None:
    # Given bob's finished login
    login_key, callback = await oidc_start(panel, "bob", "bob-pw")
    assert oidc_finish(panel, login_key, callback).status_code == 303
    before = await counts(pg)
    # When the same callback arrives again with the same login cookie
    request_id = unique("req")
    replay = oidc_finish(panel, login_key, callback, request_id)
    # Then it is refused, nothing is created, and the refusal is audited
    assert (replay.status_code, replay.json()) == (401, {"error": "replayed_state", "message": "the login was refused"})
    assert "skyloom_session" not in set_cookies(replay)
    assert await counts(pg) == before
    assert await audited(pg, request_id) == [(
        "login.failure", "anonymous", "denied", "warn", f"idp:{panel.oidc}", "t-login", "127.0.0.1",
        {"idp": panel.oidc, "protocol": "oidc", "code": "replayed_state",
         "message": "no outstanding login for this callback (unknown or already used)"},
    )]


async def test_callback_from_another_browser_finds_no_login(panel: Panel, pg: Pg) -> None:
    # Given a login started in one browser, whose callback URL an attacker hands to another browser
    login_key, callback = await oidc_start(panel, "bob", "bob-pw")
    before = await counts(pg)
    # When it arrives without the starting browser's login cookie, Then it is refused and changes nothing
    refused = oidc_finish(panel, None, callback)
    assert (refused.status_code, refused.json()["error"]) == (401, "replayed_state")
    assert await counts(pg) == before
    # while the browser that started it still completes its login
    assert oidc_finish(panel, login_key, callback).status_code == 303


async def test_saml_login_creates_the_user_and_opens_a_cookie_session(panel: Panel, db: Database, pg: Pg) -> None:
    # Given dave has never logged in through the SAML IdP
    assert await idn.find_user(db, panel.saml, "dave") is None
    # When the IdP answers the panel's request for him (two factors) and the browser POSTs it back
    request = saml_start(panel, panel.saml, "/planner?tab=2")
    assert (request.issuer, request.acs_url) == (f"{PUBLIC}/auth/{panel.saml}/metadata", f"{PUBLIC}/auth/{panel.saml}/acs")
    answer = panel.saml_idp.respond(request, "dave", ["engineering"], email="dave@example.test", name="Dave Ops", authn_class=TWO_FACTOR)
    request_id = unique("req")
    response = saml_post(panel, panel.saml, answer, request.relay_state, request_id)
    # Then
    assert (response.status_code, response.headers["location"]) == (303, "/planner?tab=2")
    jar = set_cookies(response)
    assert jar["skyloom_session"].attributes == {"httponly": True, "max-age": "28800", "path": "/", "samesite": "lax", "secure": True}
    assert jar["skyloom_csrf"].attributes == {"max-age": "28800", "path": "/", "samesite": "strict", "secure": True}
    user = await idn.find_user(db, panel.saml, "dave")
    assert (user.email, user.display_name) == ("dave@example.test", "Dave Ops")
    assert who(panel, session_of(response)).json() == {
        "actor": f"user:{user.id}", "name": "Dave Ops", "authStrength": "MULTI_FACTOR", "impersonator": None,
    }
    assert await audited(pg, request_id) == [(
        "login.success", f"user:{user.id}", "success", "notice", f"idp:{panel.saml}", "t-login", "127.0.0.1",
        {"idp": panel.saml, "protocol": "saml", "authStrength": "MULTI_FACTOR"},
    )]
    assert await admin_rows(pg, "SELECT count(*) FROM skyloom.saml_assertion_seen WHERE idp_id = %s", (panel.saml,)) == [(1,)]


async def test_replayed_saml_response_is_refused_and_audited(panel: Panel, pg: Pg) -> None:
    # Given erin's finished SAML login
    request = saml_start(panel, panel.saml)
    answer = panel.saml_idp.respond(request, "erin", ["engineering"])
    assert saml_post(panel, panel.saml, answer, request.relay_state).status_code == 303
    before = await counts(pg)
    # When the same POST is replayed, Then the spent RelayState finds nothing
    request_id = unique("req")
    replay = saml_post(panel, panel.saml, answer, request.relay_state, request_id)
    assert (replay.status_code, replay.json()) == (401, {"error": "replayed_state", "message": "the login was refused"})
    assert await audited(pg, request_id) == [(
        "login.failure", "anonymous", "denied", "warn", f"idp:{panel.saml}", "t-login", "127.0.0.1",
        {"idp": panel.saml, "protocol": "saml", "code": "replayed_state",
         "message": "no outstanding request for this response (unknown or already used)"},
    )]
    # and grafted onto a fresh login's RelayState, it answers another request
    fresh = saml_start(panel, panel.saml)
    grafted = saml_post(panel, panel.saml, answer, fresh.relay_state)
    assert (grafted.status_code, grafted.json()["error"]) == (401, "in_response_to_mismatch")
    # and nothing was created (the fresh login's pending row was spent by the refusal)
    assert await counts(pg) == before


async def test_subject_the_idp_may_not_create_is_refused_with_its_name_in_the_audit(panel: Panel, db: Database, pg: Pg) -> None:
    # Given an IdP that does not create users on login, and no user for frank there
    before = await counts(pg)
    request = saml_start(panel, panel.saml_closed)
    answer = panel.saml_idp.respond(request, "frank", ["engineering"])
    request_id = unique("req")
    # When frank logs in
    refused = saml_post(panel, panel.saml_closed, answer, request.relay_state, request_id)
    # Then he is refused, no user or session exists, and the audit names who tried
    assert (refused.status_code, refused.json()["error"]) == (401, "provisioning_refused")
    assert await idn.find_user(db, panel.saml_closed, "frank") is None
    after = await counts(pg)
    assert (after["identity_user"], after["user_session"]) == (before["identity_user"], before["user_session"])
    [(kind, actor, outcome, priority, *_rest, detail)] = await audited(pg, request_id)
    assert (kind, actor, outcome, priority, detail["code"]) == (
        "login.failure", f"idp:{panel.saml_closed}:frank", "denied", "warn", "provisioning_refused")


async def test_garbage_at_the_acs_is_a_bad_request(panel: Panel, pg: Pg) -> None:
    before = await counts(pg)
    empty = call(panel.server, "POST", f"/auth/{panel.saml}/acs", data={"RelayState": "x" * 43})
    garbage = saml_post(panel, panel.saml, "not base64!", "x" * 43)
    assert (empty.status_code, empty.json()) == (400, {"error": "bad_response", "message": "the login response is malformed"})
    assert (garbage.status_code, garbage.json()["error"]) == (400, "bad_response")
    assert await counts(pg) == before


# --- refusals before any login -----------------------------------------------------------------

@pytest.mark.parametrize("path", ["/auth/no-such-idp/login", "/auth/no-such-idp/callback", "/auth/no-such-idp/metadata", "/auth/NOT..valid/login"])
async def test_unknown_identity_provider_is_not_found(panel: Panel, pg: Pg, path: str) -> None:
    before = await counts(pg)
    response = call(panel.server, "GET", path, params={"return_to": "/"})
    assert (response.status_code, response.json()) == (404, {"error": "unknown_identity_provider", "message": "no such identity provider"})
    assert await counts(pg) == before


async def test_wrong_protocol_routes_are_not_found(panel: Panel) -> None:
    assert call(panel.server, "GET", f"/auth/{panel.saml}/callback").status_code == 404
    assert call(panel.server, "POST", f"/auth/{panel.oidc}/acs", data={"SAMLResponse": "x"}).status_code == 404
    assert call(panel.server, "GET", f"/auth/{panel.oidc}/metadata").status_code == 404


@pytest.mark.parametrize("return_to", [
    "//evil.example/x", "https://evil.example/", "/\\evil.example", "\\\\evil.example", "javascript:alert(1)",
    "/\t/evil.example", "evil.example", "http:/evil.example", "/%0a" + "\n",
])
async def test_open_redirect_is_refused(panel: Panel, pg: Pg, return_to: str) -> None:
    before = await counts(pg)
    for idp_id in (panel.oidc, panel.saml):
        response = call(panel.server, "GET", f"/auth/{idp_id}/login", params={"return_to": return_to})
        assert (response.status_code, response.json()) == (400, {"error": "bad_return_to", "message": "return_to must be a path on this site"})
        assert "location" not in response.headers and "set-cookie" not in response.headers
    assert await counts(pg) == before


async def test_edited_idp_is_rebuilt_and_a_disabled_one_is_gone(panel: Panel, db: Database, pg: Pg, oidc_provider: tuple[str, str]) -> None:
    # Given a working OIDC IdP the panel has already used
    idp_id = unique("login-edit")
    settings = {"issuer": oidc_provider[0], "client_id": "skyloom", "client_secret_env": SECRET_ENV}
    await idn.create_idp(db, idn.IdentityProvider(id=idp_id, kind="oidc", name="Edited", provider_id="p-login", settings=settings))
    assert call(panel.server, "GET", f"/auth/{idp_id}/login").status_code == 302
    before = await counts(pg)
    # When its settings name a variable the server does not have, Then the next login sees the change
    await idn.update_idp(db, idp_id, settings={**settings, "client_secret_env": "SKYLOOM_TEST_UNSET_VARIABLE"})
    broken = call(panel.server, "GET", f"/auth/{idp_id}/login")
    assert (broken.status_code, broken.json()) == (503, {"error": "idp_misconfigured", "message": "this identity provider is not set up correctly"})
    # and once disabled it does not exist for logins
    await idn.update_idp(db, idp_id, settings=settings, enabled=False)
    assert call(panel.server, "GET", f"/auth/{idp_id}/login").status_code == 404
    assert await counts(pg) == before


def test_cookie_and_url_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from skyloom.settings import Settings

    for name in ("SKYLOOM_COOKIE_SECURE", "SKYLOOM_SESSION_HOURS", "SKYLOOM_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    defaults = Settings.from_env()
    assert (defaults.cookie_secure, defaults.session_hours, defaults.public_url) == (True, 8, None)
    monkeypatch.setenv("SKYLOOM_COOKIE_SECURE", "false")
    monkeypatch.setenv("SKYLOOM_SESSION_HOURS", "2")
    monkeypatch.setenv("SKYLOOM_PUBLIC_URL", PUBLIC)
    settings = Settings.from_env()
    assert (settings.cookie_secure, settings.session_hours, settings.public_url) == (False, 2, PUBLIC)
    monkeypatch.setenv("SKYLOOM_COOKIE_SECURE", "maybe")
    with pytest.raises(SystemExit):
        Settings.from_env()


# --- the session afterwards --------------------------------------------------------------------

async def logged_in(panel: Panel) -> dict[str, str]:
    login_key, callback = await oidc_start(panel, "carol", "carol-pw")
    response = oidc_finish(panel, login_key, callback)
    assert response.status_code == 303
    return session_of(response)


async def test_logout_needs_the_csrf_header_then_revokes_the_session(panel: Panel, pg: Pg) -> None:
    # Given carol's session
    cookies = await logged_in(panel)
    assert who(panel, cookies).status_code == 200
    # When a cross-site form posts to logout with her cookies but no header, or a wrong one
    for headers in ({}, {"X-CSRF-Token": secrets.token_urlsafe(32)}, {"X-CSRF-Token": cookies["skyloom_session"]}):
        denied = call(panel.server, "POST", "/auth/logout", cookies=cookies, headers=headers)
        assert (denied.status_code, denied.json()["error"]) == (403, "csrf_mismatch")
        assert "set-cookie" not in denied.headers
    # Then her session still works
    assert who(panel, cookies).json()["name"] == "Carol Nogroups"
    # When her console logs out with the CSRF token echoed
    request_id = unique("req")
    out = call(panel.server, "POST", "/auth/logout", cookies=cookies, headers={"X-CSRF-Token": cookies["skyloom_csrf"]}, request_id=request_id)
    # Then both cookies are cleared, the session is revoked, and the logout is audited
    assert (out.status_code, out.json()) == (200, {"loggedOut": True})
    jar = set_cookies(out)
    assert (jar["skyloom_session"].value, jar["skyloom_session"].attributes["max-age"]) == ("", "0")
    assert (jar["skyloom_csrf"].value, jar["skyloom_csrf"].attributes["max-age"]) == ("", "0")
    gone = who(panel, cookies)
    assert (gone.status_code, gone.json()) == (401, {"error": "no_session", "message": "not logged in"})
    [(kind, actor, outcome, *_rest)] = await audited(pg, request_id)
    assert (kind, actor.startswith("user:"), outcome) == ("session.logout", True, "success")
    again = call(panel.server, "POST", "/auth/logout", cookies=cookies, headers={"X-CSRF-Token": cookies["skyloom_csrf"]})
    assert again.status_code == 403


async def test_tampered_or_missing_session_cookie_is_not_a_session(panel: Panel) -> None:
    cookies = await logged_in(panel)
    token = cookies["skyloom_session"]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for jar in ({"skyloom_session": tampered}, {"skyloom_session": cookies["skyloom_csrf"]}, {"skyloom_session": "x" * 5000}, None):
        response = call(panel.server, "GET", "/auth/session", cookies=jar)
        assert (response.status_code, response.json()) == (401, {"error": "no_session", "message": "not logged in"})
    assert who(panel, cookies).status_code == 200


async def test_a_new_login_replaces_the_browsers_old_session(panel: Panel) -> None:
    old = await logged_in(panel)
    login_key, callback = await oidc_start(panel, "carol", "carol-pw")
    new = call(panel.server, "GET", f"/auth/{panel.oidc}/callback", params=callback,
               cookies={"skyloom_login": login_key, "skyloom_session": old["skyloom_session"]})
    assert new.status_code == 303
    assert who(panel, old).status_code == 401
    assert who(panel, session_of(new)).status_code == 200


# --- the store behind it -----------------------------------------------------------------------

async def test_pending_login_is_taken_once_and_an_expired_one_is_refused(panel: Panel, db: Database) -> None:
    key, stale = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await login_state.put_pending(db, key, panel.oidc, "oidc", {"state": "s"}, "/x", timedelta(minutes=10))
    await login_state.put_pending(db, stale, panel.oidc, "oidc", {"state": "t"}, "/y", timedelta(milliseconds=1))
    await asyncio.sleep(0.01)
    taken = await login_state.take_pending(db, key)
    assert taken == login_state.TakenLogin(panel.oidc, "oidc", {"state": "s"}, "/x", False)
    assert await login_state.take_pending(db, key) is None
    assert (await login_state.take_pending(db, stale)).expired is True
    assert await login_state.take_pending(db, stale) is None
    assert await login_state.take_pending(db, "k" * 129) is None


async def test_assertion_id_is_accepted_once_per_idp(panel: Panel, db: Database, pg: Pg) -> None:
    until = datetime.now(timezone.utc) + timedelta(minutes=5)
    assertion = unique("id")
    assert await login_state.first_sighting(db, panel.saml, assertion, until) is True
    assert await login_state.first_sighting(db, panel.saml, assertion, until) is False
    assert await login_state.first_sighting(db, panel.saml_closed, assertion, until) is True
    # and the API's role cannot forget a sighting, only the purge can, once it is long expired
    async with db.connection() as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await conn.execute("DELETE FROM skyloom.saml_assertion_seen")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await conn.execute("UPDATE skyloom.pending_login SET return_to = '/'")
    await login_state.purge_expired(db)
    assert await admin_rows(pg, "SELECT count(*) FROM skyloom.saml_assertion_seen WHERE assertion_id = %s", (assertion,)) == [(2,)]
