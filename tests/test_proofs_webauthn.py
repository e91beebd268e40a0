"""WebAuthn step-up end to end: headless Chromium's virtual authenticator against our fido2 server code.

The browser page is served on http://localhost (a secure context, so WebAuthn works without TLS);
the test passes our options into `navigator.credentials.create/get` and hands the browser's
answer back to `WebAuthnStepUp`, as the console will. The database is the real one.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest
from fido2.utils import websafe_encode
from playwright.async_api import Page, async_playwright

from skyloom.graph.pool import Database
from skyloom.policy.proofs import Code, ProofError, WebAuthnStepUp
from skyloom.policy.proofs.webauthn import REGISTER_PURPOSE
from tests.conftest import GRAPH, Pg

PURPOSE = "rootGroupUpdate"
PAYLOAD = {"rootGroup": "group:provider-ops", "members": ["user:1", "user:2"]}
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]

PAGE = b"""<!doctype html><meta charset="utf-8"><title>skyloom step-up</title>
<script>
const toBuf = s => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - s.length % 4) % 4)),
                                   c => c.charCodeAt(0)).buffer;
const toB64 = b => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
async function register(options) {
  const pk = options.publicKey;
  pk.challenge = toBuf(pk.challenge);
  pk.user.id = toBuf(pk.user.id);
  (pk.excludeCredentials || []).forEach(c => { c.id = toBuf(c.id); });
  const cred = await navigator.credentials.create({publicKey: pk});
  return {id: cred.id, rawId: toB64(cred.rawId), type: cred.type, clientExtensionResults: {},
          response: {clientDataJSON: toB64(cred.response.clientDataJSON),
                     attestationObject: toB64(cred.response.attestationObject)}};
}
async function authenticate(options) {
  const pk = options.publicKey;
  pk.challenge = toBuf(pk.challenge);
  (pk.allowCredentials || []).forEach(c => { c.id = toBuf(c.id); });
  const cred = await navigator.credentials.get({publicKey: pk});
  const r = cred.response;
  return {id: cred.id, rawId: toB64(cred.rawId), type: cred.type, clientExtensionResults: {},
          response: {clientDataJSON: toB64(r.clientDataJSON), authenticatorData: toB64(r.authenticatorData),
                     signature: toB64(r.signature), userHandle: r.userHandle ? toB64(r.userHandle) : null}};
}
</script>"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
async def page(origin: str) -> AsyncIterator[Page]:
    """One page with a CTAP2 platform authenticator that has user verification and resident keys."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        page = await browser.new_page()
        await page.goto(origin + "/")
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("WebAuthn.enable", {"enableUI": False})
        await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True,
        }})
        yield page
        await browser.close()


@pytest.fixture(scope="module")
async def db(pg: Pg) -> AsyncIterator[Database]:
    database = Database(pg.app_url, GRAPH, min_size=1, max_size=4)
    await database.open()
    yield database
    await database.close()


def service(db: Database, origin: str, enabled: bool = True) -> WebAuthnStepUp:
    return WebAuthnStepUp(db, rp_id="localhost", origins={origin}, enabled=enabled)


@dataclass(frozen=True)
class Registered:
    actor: str
    challenge_id: str
    key_id: str
    credential_id: bytes
    sign_count: int


@pytest.fixture(scope="module")
async def registered(db: Database, origin: str, page: Page) -> Registered:
    """An operator who registered the virtual authenticator's credential through our ceremony."""
    actor = f"user:{uuid.uuid4()}"
    webauthn = service(db, origin)
    challenge_id, options = await webauthn.register_begin(actor, "operator@example.net", "virtual key")
    assert options["publicKey"]["rp"] == {"id": "localhost", "name": "Skyloom"}
    response = await page.evaluate("options => register(options)", options)
    key = await webauthn.register_complete(actor, challenge_id, response)
    return Registered(actor, challenge_id, key.id, key.credential_id, key.sign_count)


def challenge_row(pg: Pg, challenge_id: str) -> tuple:
    with psycopg.connect(pg.admin_url) as conn:
        return conn.execute(
            "SELECT ceremony, purpose, used_at, used_key::text FROM skyloom.proof_challenge WHERE id = %s",
            (uuid.UUID(challenge_id),),
        ).fetchone()


def key_row(pg: Pg, key_id: str) -> tuple:
    with psycopg.connect(pg.admin_url) as conn:
        return conn.execute(
            "SELECT owner, kind, label, sign_count, revoked_at FROM skyloom.proof_key WHERE id = %s", (uuid.UUID(key_id),)
        ).fetchone()


async def refused(coro, code: Code) -> None:
    with pytest.raises(ProofError) as caught:
        await coro
    assert caught.value.code == code, caught.value


async def test_registration_stores_the_credential_and_spends_its_challenge(registered: Registered, pg: Pg) -> None:
    # Given the registration ceremony done in the browser (fixture), Then the key is the actor's
    assert key_row(pg, registered.key_id) == (registered.actor, "webauthn", "virtual key", registered.sign_count, None)
    assert len(registered.credential_id) >= 16
    # And the registration challenge was spent by that key
    ceremony, purpose, used_at, used_key = challenge_row(pg, registered.challenge_id)
    assert (ceremony, purpose, used_key) == ("webauthn-register", REGISTER_PURPOSE, registered.key_id)
    assert used_at is not None


async def test_assertion_is_accepted_once_and_advances_the_counter(
    registered: Registered, db: Database, origin: str, page: Page, pg: Pg
) -> None:
    webauthn = service(db, origin)
    count_before = key_row(pg, registered.key_id)[3]
    # Given a step-up challenge for one exact request, answered by the authenticator
    challenge_id, options = await webauthn.authenticate_begin(registered.actor, PURPOSE, PAYLOAD)
    assert [c["id"] for c in options["publicKey"]["allowCredentials"]] == [
        websafe_encode(registered.credential_id)
    ]
    assertion = await page.evaluate("options => authenticate(options)", options)
    # When it is verified
    verified = await webauthn.authenticate_complete(registered.actor, challenge_id, PURPOSE, PAYLOAD, assertion)
    # Then it is accepted with that key, the challenge is spent, and the counter moved forward
    assert (verified.challenge_id, verified.key_id, verified.actor_id) == (challenge_id, registered.key_id, registered.actor)
    assert challenge_row(pg, challenge_id) == ("webauthn-authenticate", PURPOSE, verified.used_at, registered.key_id)
    count_after = key_row(pg, registered.key_id)[3]
    assert count_after > count_before
    # When the same assertion is replayed, Then it is refused and nothing changes
    await refused(webauthn.authenticate_complete(registered.actor, challenge_id, PURPOSE, PAYLOAD, assertion), Code.REPLAYED)
    assert challenge_row(pg, challenge_id)[2] == verified.used_at
    assert key_row(pg, registered.key_id)[3] == count_after


async def test_assertion_for_another_challenge_is_refused(
    registered: Registered, db: Database, origin: str, page: Page, pg: Pg
) -> None:
    webauthn = service(db, origin)
    # Given two open challenges and an assertion made for the first
    first_id, first_options = await webauthn.authenticate_begin(registered.actor, PURPOSE, PAYLOAD)
    second_id, _ = await webauthn.authenticate_begin(registered.actor, PURPOSE, PAYLOAD)
    assertion = await page.evaluate("options => authenticate(options)", first_options)
    count = key_row(pg, registered.key_id)[3]
    # When it is presented for the second, Then it is refused and neither challenge nor counter changes
    await refused(
        webauthn.authenticate_complete(registered.actor, second_id, PURPOSE, PAYLOAD, assertion), Code.CHALLENGE_MISMATCH
    )
    assert challenge_row(pg, first_id)[2] is None and challenge_row(pg, second_id)[2] is None
    assert key_row(pg, registered.key_id)[3] == count
    # And presented with another payload or by another actor, it is refused too
    await refused(
        webauthn.authenticate_complete(registered.actor, first_id, PURPOSE, {**PAYLOAD, "members": []}, assertion),
        Code.PAYLOAD_MISMATCH,
    )
    await refused(
        webauthn.authenticate_complete(f"user:{uuid.uuid4()}", first_id, PURPOSE, PAYLOAD, assertion), Code.WRONG_ACTOR
    )
    # And for its own challenge it is still good
    verified = await webauthn.authenticate_complete(registered.actor, first_id, PURPOSE, PAYLOAD, assertion)
    assert verified.challenge_id == first_id


async def test_tampered_assertion_or_foreign_origin_is_refused(
    registered: Registered, db: Database, origin: str, page: Page, pg: Pg
) -> None:
    webauthn = service(db, origin)
    challenge_id, options = await webauthn.authenticate_begin(registered.actor, PURPOSE, PAYLOAD)
    assertion = await page.evaluate("options => authenticate(options)", options)
    signature = assertion["response"]["signature"]
    tampered = {**assertion, "response": {**assertion["response"], "signature": signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")}}
    # A changed signature, or a server that trusts another origin, refuses it and spends nothing
    await refused(webauthn.authenticate_complete(registered.actor, challenge_id, PURPOSE, PAYLOAD, tampered), Code.BAD_SIGNATURE)
    elsewhere = WebAuthnStepUp(db, rp_id="localhost", origins={"https://localhost"}, enabled=True)
    await refused(elsewhere.authenticate_complete(registered.actor, challenge_id, PURPOSE, PAYLOAD, assertion), Code.BAD_SIGNATURE)
    await refused(webauthn.authenticate_complete(registered.actor, challenge_id, PURPOSE, PAYLOAD, {"rawId": "x"}), Code.MALFORMED_PROOF)
    assert challenge_row(pg, challenge_id)[2] is None


async def test_counter_that_goes_back_refuses_and_leaves_the_challenge_open(
    registered: Registered, db: Database, origin: str, page: Page, pg: Pg
) -> None:
    webauthn = service(db, origin)
    # Given a valid assertion, and a stored counter already past the one it carries (a cloned key)
    challenge_id, options = await webauthn.authenticate_begin(registered.actor, PURPOSE, PAYLOAD)
    assertion = await page.evaluate("options => authenticate(options)", options)
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute("UPDATE skyloom.proof_key SET sign_count = sign_count + 1000 WHERE id = %s", (uuid.UUID(registered.key_id),))
    count = key_row(pg, registered.key_id)[3]
    # When verified, Then refused; the spend was rolled back with the counter check
    await refused(
        webauthn.authenticate_complete(registered.actor, challenge_id, PURPOSE, PAYLOAD, assertion), Code.COUNTER_REGRESSED
    )
    assert challenge_row(pg, challenge_id)[2:] == (None, None)
    assert key_row(pg, registered.key_id)[3] == count


async def test_without_debug_every_call_is_refused_and_nothing_is_written(
    registered: Registered, db: Database, origin: str, pg: Pg
) -> None:
    # Given the service as wired when the server runs without --debug
    off = service(db, origin, enabled=False)
    actor = f"user:{uuid.uuid4()}"
    # Then each step is refused
    await refused(off.register_begin(actor, "x", "key"), Code.WEBAUTHN_DISABLED)
    await refused(off.register_complete(actor, str(uuid.uuid4()), {}), Code.WEBAUTHN_DISABLED)
    await refused(off.authenticate_begin(registered.actor, PURPOSE, PAYLOAD), Code.WEBAUTHN_DISABLED)
    await refused(off.authenticate_complete(registered.actor, str(uuid.uuid4()), PURPOSE, PAYLOAD, {}), Code.WEBAUTHN_DISABLED)
    # And no challenge was written for the new actor
    with psycopg.connect(pg.admin_url) as conn:
        assert conn.execute("SELECT count(*) FROM skyloom.proof_challenge WHERE actor_id = %s", (actor,)).fetchone() == (0,)


async def test_authentication_needs_a_registered_key(db: Database, origin: str, pg: Pg) -> None:
    actor = f"user:{uuid.uuid4()}"
    await refused(service(db, origin).authenticate_begin(actor, PURPOSE, PAYLOAD), Code.UNKNOWN_KEY)
    with psycopg.connect(pg.admin_url) as conn:
        assert conn.execute("SELECT count(*) FROM skyloom.proof_challenge WHERE actor_id = %s", (actor,)).fetchone() == (0,)
