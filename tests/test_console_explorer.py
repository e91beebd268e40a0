"""The console in a real browser: headless Chromium against a real `skyloom serve` with the demo data.

Given the demo installation, a root operator signs in with an API token, browses tenancies,
compartments and CIs, opens a CI's detail and history, looks at the graph, and sees changes made
through the API arrive without a reload; a tenant's viewer, signed in with a browser session
cookie, sees only their tenant and no administration. Every page must load under the console's
Content-Security-Policy without a single violation. Screenshots go to .pytest_cache/screenshots/.
"""

from __future__ import annotations

import asyncio
import http.client
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from skyloom import demo
from skyloom.graph import identity
from skyloom.graph.pool import Database
from skyloom.policy.actor import AuthStrength
from tests.conftest import GRAPH, REPO, ROOT, Pg, Server, free_port, make_token, unique
from tests.test_mutations import backend, compartment, provider, tenancy
from tests.test_proofs_webauthn import CHROMIUM_ARGS

SHOTS = REPO / ".pytest_cache" / "screenshots"
CONTOSO_PROD = next(t for t in demo.TENANCIES if t[0] == "contoso-prod")
# Records every CSP violation the page sees (Playwright injects this outside the page's CSP).
WATCH_CSP = """window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"""
CY_NODES = "() => { const c = document.querySelector('.graph-canvas'); return c && c._cyreg ? c._cyreg.cy.nodes().length : -1; }"
CY_EDGES = "t => document.querySelector('.graph-canvas')._cyreg.cy.edges('[type = \"' + t + '\"]').length"
CY_LABEL = "id => document.querySelector('.graph-canvas')._cyreg.cy.getElementById(id).data('label')"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


class Console:
    """One browser context on the console, with what it logged."""

    def __init__(self, page: Page, server: Server) -> None:
        self.page, self.server = page, server
        self.messages: list[str] = []
        self.errors: list[str] = []
        page.on("console", lambda m: self.messages.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    async def sign_in_with_token(self, token: str) -> None:
        await self.page.goto(self.server.url + "/")
        await expect(self.page).to_have_url(f"{self.server.url}/console/#!/signin")
        await self.page.fill("#api-token", token)
        await self.page.click("text=Sign in with the token")

    async def shot(self, name: str) -> None:
        await self.page.screenshot(path=str(SHOTS / f"console-{name}.png"), full_page=True)

    async def assert_clean(self) -> None:
        """No CSP violation (event or console report) and no script error on this page."""
        assert await self.page.evaluate("window.__csp") == []
        assert [m for m in self.messages if "Content Security Policy" in m or "Content-Security-Policy" in m] == []
        assert self.errors == []


async def open_console(browser: Browser, server: Server, cookies: list[dict[str, Any]] | None = None) -> Console:
    context = await browser.new_context(viewport={"width": 1500, "height": 1000})
    await context.add_init_script(WATCH_CSP)
    if cookies:
        await context.add_cookies(cookies)
    return Console(await context.new_page(), server)


def texts(values: list[str]) -> list[str]:
    return [" ".join(v.split()) for v in values]


def raw_status(server: Server, path: str) -> int:
    """GET a path exactly as written: no client-side dot-segment or percent-escape normalisation."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def revoke_tokens(pg: Pg, actor: str) -> None:
    async def revoke() -> None:
        db = Database(pg.app_url, GRAPH, min_size=1, max_size=1)
        await db.open()
        try:
            for token in await identity.list_api_tokens(db, UUID(actor.split(":", 1)[1])):
                assert await identity.revoke_api_token(db, token.id)
        finally:
            await db.close()

    asyncio.run(revoke())


# -- serving ----------------------------------------------------------------------------------------
def test_the_console_is_served_with_its_security_headers_and_nothing_else(server: Server) -> None:
    r = httpx.get(f"{server.url}/", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (307, "/console/")
    page = httpx.get(f"{server.url}/console/")
    assert page.status_code == 200 and 'ng-app="skyloom"' in page.text
    assert page.headers["content-security-policy"] == (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
        f"connect-src 'self' ws://127.0.0.1:{server.port}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    assert {k: page.headers[k] for k in ("x-content-type-options", "referrer-policy", "x-frame-options",
                                         "cross-origin-opener-policy", "cache-control")} == {
        "x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "x-frame-options": "DENY",
        "cross-origin-opener-policy": "same-origin", "cache-control": "no-cache"}
    vendor = httpx.get(f"{server.url}/console/vendor/angular.min.js")
    assert vendor.status_code == 200 and vendor.headers["cache-control"] == "public, max-age=86400, must-revalidate"
    assert "content-security-policy" in vendor.headers
    # GraphiQL needs its inline scripts: the console's policy is not on /graphql.
    assert "content-security-policy" not in httpx.get(f"{server.url}/graphql", headers={"accept": "text/html"}).headers
    for path in ("/console/../pyproject.toml", "/console/..%2f..%2fpyproject.toml", "/console/%2e%2e/%2e%2e/README.md",
                 "/console/..%2fnode_modules/angular/angular.js", "/console/vendor/", "/console/app/",
                 "/console/%00", "/console/app/../../skyloom/app.py"):
        assert raw_status(server, path) == 404, path
    refused = httpx.get(f"{server.url}/console/..%2f..%2fpyproject.toml")
    assert refused.status_code == 404 and "content-security-policy" in refused.headers


# -- the root operator with an API token ------------------------------------------------------------
async def test_a_refused_token_keeps_the_sign_in_page(browser: Browser, server: Server) -> None:
    console = await open_console(browser, server)
    await console.sign_in_with_token("sky_not-a-real-token")
    await expect(console.page.locator(".signin .error")).to_have_text("The token was refused: unknown, revoked or expired.")
    assert console.page.url.endswith("#!/signin")
    assert await console.page.evaluate("sessionStorage.getItem('skyloom.apiToken')") is None
    await console.shot("signin")
    await console.assert_clean()
    # An identity provider's login starts on the server, which brings the browser back to the console.
    await console.page.fill("#idp-id", "no-such-idp")
    await console.page.click("text=Continue to the identity provider")
    await expect(console.page).to_have_url(f"{server.url}/auth/no-such-idp/login?return_to=%2Fconsole%2F")
    await console.page.context.close()


async def test_the_explorer_drills_from_tenancies_to_a_ci_with_its_terms_and_history(browser: Browser, server: Server) -> None:
    listed = server.gql("{ tenancies(first: 50) { edges { node { name } } } }")["tenancies"]["edges"]
    demo_names = {b[3] for b in demo.BACKENDS} | {t[0] for t in demo.TENANCIES}
    console = await open_console(browser, server)
    page = console.page
    await console.sign_in_with_token(ROOT["token"])

    await expect(page).to_have_url(f"{server.url}/console/#!/explorer")
    tenancy_names = page.locator(".tenancies li.tenancy .name")
    await expect(tenancy_names).to_have_text([e["node"]["name"] for e in listed])
    assert demo_names <= set(await tenancy_names.all_inner_texts())
    await expect(page.locator(".menu [data-section='Administration'] a")).to_have_text([
        "Users", "Groups", "Role bindings", "Identity providers", "Keys and step-up", "HSM", "Impersonation", "Audit trail",
        "Tenant isolation"])
    await expect(page.locator(".live-indicator .label")).to_have_text("live")

    await page.click(".tenancies >> text=contoso-prod")
    # Compartments nested under their parents, each with the product's "semantic (provider)" kind.
    await expect(page.locator(".tree li.compartment .name")).to_have_text(["contoso-apps", "contoso-apps-web", "contoso-network"])
    await expect(page.locator(".tree li.compartment").nth(1)).to_have_class(re.compile(r"\bdepth-2\b"))
    await expect(page.locator(".tree li.compartment .kind").first).to_have_text("Compartment (Resource Group)")
    await expect(page.locator(".detail .display-kind")).to_have_text("Tenancy (Account)")
    await expect(page.locator(".ci-count")).to_have_text(f"({len(CONTOSO_PROD[3]) + len(CONTOSO_PROD[4])})")

    await page.click(".tree >> text=contoso-apps-web")
    await expect(page.locator(".breadcrumb")).to_have_text("contoso-prod › contoso-apps › contoso-apps-web")
    await expect(page.locator("table.cis tr.ci td:first-child")).to_have_text(["contoso-alb", "contoso-web-1"])

    await page.click("table.cis >> text=contoso-web-1")
    detail = page.locator(".detail")
    await expect(detail.locator(".ci-name")).to_have_text("contoso-web-1")
    await expect(detail.locator(".display-kind")).to_have_text("Compute Instance (EC2 Instance)")
    assert texts(await detail.locator(".terms td").all_inner_texts()) == ["Compute Instance", "EC2 Instance"]
    assert "contoso-apps-web · Compartment (Resource Group)" in texts(await detail.locator(".properties dd").all_inner_texts())
    await expect(detail.locator(".history .version")).to_have_count(1)
    assert texts(await detail.locator(".history .version").all_inner_texts())[0].startswith("v1 CREATE")
    await expect(detail.locator(".relations li")).to_have_count(3)   # two dependencies, its compartment
    await console.shot("explorer-ci")

    # The compartment's own detail, through the detail's link, with both terms side by side.
    await detail.locator(".properties >> text=contoso-apps-web").click()
    await expect(detail.locator(".display-kind")).to_have_text("Compartment (Resource Group)")
    assert texts(await detail.locator(".terms td").all_inner_texts()) == ["Compartment", "Resource Group"]

    # The administration section is there for the root operator, and its pages work.
    await page.click(".menu >> text=Users")
    await expect(page.locator(".users tr", has_text="test-root")).to_have_count(1)
    await console.shot("admin-users")
    await page.click(".menu >> text=CMDB explorer")

    # Search: kind and name text narrow the list over everything the operator may see.
    await page.click(".tenancies >> text=Everything I may see")
    await page.select_option("select[name=kind]", "Database")
    await page.fill("input[name=text]", "erp")
    await page.click("form.filters button[type=submit]")
    await expect(page.locator("table.cis tr.ci td:first-child")).to_have_text(["erp-adb"])
    await expect(page.locator("table.cis tr.ci td:nth-child(2)")).to_have_text(["Database (Autonomous Database)"])
    await console.assert_clean()
    await page.context.close()


def fresh_tenancy(server: Server) -> dict[str, Any]:
    """A tenancy of its own (a provider's AWS root tenancy with one compartment), so that live
    changes touch nothing other tests count."""
    p = provider(server)
    root = tenancy(server, backend(server, p["id"], "AWS")["id"], name=unique("console-root"))
    first = compartment(server, root["id"], name=unique("console-rg"))
    return {"tenancy": root, "compartment": first}


@pytest.fixture(scope="module")
def own_tenancy(server: Server) -> dict[str, Any]:
    return fresh_tenancy(server)


async def test_the_graph_shows_a_tenancy_with_its_containment_and_dependencies(browser: Browser, server: Server) -> None:
    tenancy_id = server.gql('{ cis(filter: {kinds: [Tenancy], text: "contoso-prod"}) { edges { node { id } } } }')["cis"]["edges"][0]["node"]["id"]
    _, _, _, compartments, resources = CONTOSO_PROD
    console = await open_console(browser, server)
    await console.sign_in_with_token(ROOT["token"])
    await expect(console.page.locator(".live-indicator .label")).to_have_text("live")
    await console.page.goto(f"{server.url}/console/#!/explorer?tenancy={tenancy_id}&view=graph")

    await console.page.wait_for_function(f"() => ({CY_NODES})() === {1 + len(compartments) + len(resources)}")
    assert await console.page.evaluate(CY_EDGES, "CONTAINS") == len(compartments) + len(resources)
    assert await console.page.evaluate(CY_EDGES, "DEPENDS_ON") == sum(len(r[4]) for r in resources)
    await console.shot("explorer-graph")
    await console.assert_clean()
    await console.page.context.close()


async def test_changes_made_through_the_api_arrive_live_without_a_reload(
    browser: Browser, server: Server, own_tenancy: dict[str, Any]
) -> None:
    ty, first = own_tenancy["tenancy"], own_tenancy["compartment"]
    console = await open_console(browser, server)
    page = console.page
    await console.sign_in_with_token(ROOT["token"])
    await expect(page.locator(".live-indicator .label")).to_have_text("live")
    await page.goto(f"{server.url}/console/#!/explorer?tenancy={ty['id']}&view=graph")
    await page.wait_for_function(f"() => ({CY_NODES})() === 2")
    await expect(page.locator(".tree li.compartment .name")).to_have_text([first["name"]])
    await page.evaluate("window.__sameDocument = true")

    # When a compartment is created and another renamed through the API ...
    added = await asyncio.to_thread(compartment, server, ty["id"], unique("console-new"))
    renamed = unique("console-renamed")
    update = "mutation($i: CompartmentUpdateInput!) { compartmentUpdate(input: $i) { ... on Compartment { name } } }"
    await asyncio.to_thread(server.gql, update, {"i": {"id": first["id"], "name": renamed}})

    # ... the open page shows both, in the tree, the graph and the change list, without reloading.
    await expect(page.locator(".tree li.compartment .name")).to_have_text(sorted([renamed, added["name"]]))   # by name
    await page.wait_for_function(f"() => ({CY_NODES})() === 3")
    assert await page.evaluate(CY_LABEL, first["id"]) == renamed
    await expect(page.locator(".detail .relations")).to_contain_text(renamed)   # the tenancy's detail, re-read
    await expect(page.locator(".changes li.change").first).to_contain_text(f"UPDATE Compartment {renamed}")
    await expect(page.locator(".changes li.change").nth(1)).to_contain_text(f"CREATE Compartment {added['name']}")
    assert await page.evaluate("window.__sameDocument") is True
    await console.shot("explorer-live")
    await console.assert_clean()
    await page.context.close()


async def test_the_live_stream_reconnects_and_resumes_after_a_server_restart(browser: Browser, server: Server, pg: Pg) -> None:
    ty = (await asyncio.to_thread(fresh_tenancy, server))["tenancy"]
    port = free_port()
    own = await asyncio.to_thread(Server, pg.app_url, None, (), None, port)
    try:
        console = await open_console(browser, own)
        page = console.page
        await console.sign_in_with_token(ROOT["token"])
        await page.goto(f"{own.url}/console/#!/explorer?tenancy={ty['id']}")
        await expect(page.locator(".live-indicator .label")).to_have_text("live")

        # When the page's server goes away, a change is made elsewhere, and the server comes back ...
        await asyncio.to_thread(own.stop)
        await expect(page.locator(".live-indicator .label")).to_have_text("reconnecting")
        added = await asyncio.to_thread(compartment, server, ty["id"], unique("console-offline"))
        own = await asyncio.to_thread(Server, pg.app_url, None, (), None, port)

        # ... the page reconnects by itself and receives what it missed (resumed from its last event).
        await expect(page.locator(".live-indicator .label")).to_have_text("live", timeout=30_000)
        await expect(page.locator(".changes li.change").first).to_contain_text(f"CREATE Compartment {added['name']}")
        await expect(page.locator(".tree li.compartment .name", has_text=added["name"])).to_have_count(1)
        await console.assert_clean()
        await page.context.close()
    finally:
        await asyncio.to_thread(own.stop)


async def test_a_revoked_token_sends_the_user_back_to_sign_in(browser: Browser, server: Server, pg: Pg) -> None:
    token, actor = await asyncio.to_thread(make_token, pg.app_url, unique("console-revoked"), [("provider-operator", "installation", "*")])
    console = await open_console(browser, server)
    await console.sign_in_with_token(token)
    await expect(console.page.locator(".tenancies li.tenancy").first).to_be_visible()

    # Revoked where the credentials live (through the API it needs a step-up, which is not this test's subject).
    await asyncio.to_thread(revoke_tokens, pg, actor)
    await console.page.click(".tenancies >> text=contoso-prod")

    await expect(console.page).to_have_url(f"{server.url}/console/#!/signin")
    await expect(console.page.locator(".signin .notice")).to_have_text("Your sign-in was refused or has expired. Please sign in again.")
    assert await console.page.evaluate("sessionStorage.getItem('skyloom.apiToken')") is None
    await console.assert_clean()
    await console.page.context.close()


# -- a tenant's viewer with a browser session -------------------------------------------------------
@pytest.fixture(scope="module")
def viewer_session(server: Server, pg: Pg) -> dict[str, str]:
    """A person from an identity provider, viewer of the demo tenant contoso, signed in as the login
    routes would sign them in: (session cookie, CSRF cookie)."""
    contoso = next(e["node"]["id"] for e in server.gql("{ tenants { edges { node { id name } } } }")["tenants"]["edges"]
                   if e["node"]["name"] == "contoso")
    provider_id = server.gql("{ providers { id name } }")["providers"]
    provider_id = next(p["id"] for p in provider_id if p["name"] == demo.PROVIDER)

    async def make() -> tuple[str, str]:
        db = Database(pg.app_url, GRAPH, min_size=1, max_size=1)
        await db.open()
        try:
            idp_id = unique("console-idp")
            await identity.create_idp(db, identity.IdentityProvider(idp_id, "oidc", "console idp", provider_id, contoso, {},
                                                                    auto_create_users=True))
            user = await identity.provision(db, identity.ProvisionRequest(idp_id, unique("viewer"), "viewer@example.test", "Vera Viewer"))
            await identity.create_binding(db, "user", user.id, "viewer", "tenant", contoso, "system:tests")
            return await identity.open_session(db, user.id, AuthStrength.MULTI_FACTOR, timedelta(minutes=30))
        finally:
            await db.close()

    session, csrf = asyncio.run(make())
    return {"skyloom_session": session, "skyloom_csrf": csrf}


async def test_a_tenant_viewer_sees_their_tenant_and_no_administration(
    browser: Browser, server: Server, viewer_session: dict[str, str]
) -> None:
    cookies = [{"name": name, "value": value, "url": server.url} for name, value in viewer_session.items()]
    console = await open_console(browser, server, cookies)
    page = console.page
    await page.goto(f"{server.url}/console/")

    await expect(page).to_have_url(f"{server.url}/console/#!/explorer")
    await expect(page.locator(".who .name")).to_have_text("Vera Viewer")
    await expect(page.locator(".tenancies li.tenancy .name")).to_have_text(["contoso-prod", "contoso-finance-azure"])
    await expect(page.locator(".menu [data-page]")).to_have_text(["CMDB explorer", "My access"])
    await expect(page.locator(".menu [data-section='Administration']")).to_have_count(0)
    # The websocket signs in with the session's CSRF token.
    await expect(page.locator(".live-indicator .label")).to_have_text("live")
    await console.shot("explorer-tenant-viewer")

    # An administration page asked for by address is not opened.
    await page.goto(f"{server.url}/console/#!/admin/users")
    await expect(page).to_have_url(f"{server.url}/console/#!/account")
    await expect(page.locator(".account .notice")).to_have_text('You may not use the page "Users".')
    await expect(page.locator(".permissions tr", has_text="User").first.locator("td").nth(1)).to_have_text("no")
    # Leaving the explorer ended its subscription, and the idle socket closed.
    await expect(page.locator(".live-indicator .label")).to_have_text("offline")
    await console.shot("account-tenant-viewer")

    # Sign-out ends the session on the server too.
    await page.click("button.sign-out")
    await expect(page).to_have_url(f"{server.url}/console/#!/signin")
    gone = httpx.get(f"{server.url}/auth/session", cookies={"skyloom_session": viewer_session["skyloom_session"]})
    assert gone.status_code == 401
    await console.assert_clean()
    await page.context.close()
