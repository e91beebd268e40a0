"""A security key steps a browser session up through the API: `serve --debug`, headless Chromium's
virtual authenticator, the page on the panel's own origin calling GraphQL with the session
cookie and its CSRF token, as the console will."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import async_playwright

from tests.access_world import BEGIN, COMPLETE, build_world, operator
from tests.conftest import Pg, Server, free_port
from tests.test_proofs_webauthn import CHROMIUM_ARGS, PAGE
from tests.test_step_up import HSM_UPDATE

REGISTER_BEGIN = """mutation($l: String!) { webauthnRegisterBegin(label: $l) { __typename
  ... on StepUpChallenge { challengeId publicKeyOptions } ... on Problem { code message } } }"""
REGISTER_COMPLETE = """mutation($c: ID!, $r: JSON!) { webauthnRegisterComplete(challengeId: $c, response: $r) { __typename
  ... on RegisteredKey { id method label } ... on ProofRefused { code reason } ... on Problem { code message } } }"""

# The ceremony helpers of the module-level WebAuthn test (base64url <-> ArrayBuffer), plus a
# GraphQL call that rides on the session cookie with the CSRF token, as the console does.
HELPERS = PAGE.decode().split("<script>", 1)[1].split("</script>", 1)[0] + """
async function gql(csrf, query, variables) {
  const r = await fetch("/graphql", {method: "POST", credentials: "same-origin",
    headers: {"content-type": "application/json", "x-csrf-token": csrf}, body: JSON.stringify({query, variables})});
  return r.json();
}
"""


async def ceremony(port: int, session: str, csrf: str) -> dict[str, Any]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context()
            await context.add_cookies([{"name": "skyloom_session", "value": session, "url": f"http://localhost:{port}"}])
            page = await context.new_page()
            await page.goto(f"http://localhost:{port}/healthz")
            cdp = await context.new_cdp_session(page)
            await cdp.send("WebAuthn.enable", {"enableUI": False})
            await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
                "protocol": "ctap2", "transport": "usb", "hasResidentKey": True,
                "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True,
            }})
            await page.add_script_tag(content=HELPERS)
            return await page.evaluate(
                """async ([csrf, RB, RC, B, C]) => {
                  const begun = (await gql(csrf, RB, {l: "yubikey"})).data.webauthnRegisterBegin;
                  const attestation = await register(begun.publicKeyOptions);
                  const key = (await gql(csrf, RC, {c: begun.challengeId, r: attestation})).data.webauthnRegisterComplete;
                  const challenge = (await gql(csrf, B, {m: "WEBAUTHN"})).data.stepUpBegin;
                  const assertion = await authenticate(challenge.publicKeyOptions);
                  const stepped = (await gql(csrf, C, {c: challenge.challengeId, p: assertion})).data.stepUpComplete;
                  const replayed = (await gql(csrf, C, {c: challenge.challengeId, p: assertion})).data.stepUpComplete;
                  return {key, stepped, replayed};
                }""",
                [csrf, REGISTER_BEGIN, REGISTER_COMPLETE, BEGIN, COMPLETE],
            )
        finally:
            await browser.close()


def test_a_security_key_registered_and_used_in_the_browser_unlocks_the_provider_tier(server: Server, pg: Pg) -> None:
    # Given an operator with a browser session and no key, and a server started with --debug
    world = build_world(server, pg)
    op = asyncio.run(operator(pg, world, "yubikey-holder"))
    port = free_port()
    debug = Server(pg.app_url, {"SKYLOOM_PUBLIC_URL": f"http://localhost:{port}", "SKYLOOM_COOKIE_SECURE": "false"},
                   args=("--debug",), port=port)
    try:
        assert op.gql(debug, HSM_UPDATE, {"ttl": 75})["hsmSettingsUpdate"]["code"] == "PROOF_REQUIRED"
        # When the browser registers its security key, then answers a step-up challenge with it
        done = asyncio.run(ceremony(port, op.session, op.csrf))
        # Then the key is the operator's, the session holds the hardware tier, and a replay is refused
        assert (done["key"]["__typename"], done["key"]["method"], done["key"]["label"]) == ("RegisteredKey", "WEBAUTHN", "yubikey")
        assert (done["stepped"]["__typename"], done["stepped"]["hasFreshProof"], done["stepped"]["authStrength"]) == (
            "Viewer", True, "HARDWARE")
        assert done["replayed"]["__typename"] == "ProofRefused"
        # And the provider-tier change the session could not make before now goes through
        assert op.gql(debug, HSM_UPDATE, {"ttl": 75})["hsmSettingsUpdate"] == {
            "__typename": "HsmSettings", "challengeTtlSeconds": 75, "updatedBy": op.actor}
    finally:
        debug.stop()
