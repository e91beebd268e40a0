"""The console's configuration pages in a real browser: headless Chromium against a real `skyloom serve`.

Given the access world (provider P with tenants T1 (sub-tenant S1) and T2, and its personas with
real browser sessions), the root operator's pages show what the API answers, and what is changed
on them (a role binding, a local group and its member, impersonation settings and decisions, HSM
settings, an identity provider and its mappings, the isolation mode) is found through the API
afterwards. Changes that need a fresh proof offer the step-up instead of failing: a real one with
a SoftHSM2 key signing the shown challenge, or Chromium's virtual security key on a `--debug`
server. A tenant admin sees only their tenant and none of the provider's pages; a viewer has no
administration at all, and the console's own `graphql` service gets typed refusals that change
nothing. Every page loads under the console's Content-Security-Policy without a violation or an
AngularJS error; screenshots go to .pytest_cache/screenshots/console-admin-*.png.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import psycopg
import pytest
from playwright.async_api import Browser, Page, expect

from skyloom.graph import identity as idn
from skyloom.graph import isolation as iso
from skyloom.graph.pool import Database
from tests.access_world import (
    Persona,
    Token,
    World,
    build_world,
    counts,
    operator,
    register_key,
    softhsm_token,
    step_up,
)
from tests.conftest import GRAPH, ROOT, Pg, Server, free_port, unique
from tests.test_console_explorer import SHOTS, WATCH_CSP, Console, browser, open_console  # noqa: F401

USERS = """query($f: UserFilter) { users(filter: $f, first: 50) { edges { node { id displayName homeTenantId homeSubTenantId disabled } } } }"""
USER = """query($f: UserFilter) { users(filter: $f, first: 2) { edges { node { id displayName subject disabled } } } }"""
BINDINGS = """query($f: RoleBindingFilter) { roleBindings(filter: $f, first: 100) {
  edges { node { id subjectKind subjectId role scopeKind scopeId } } } }"""
GROUPS = """query($t: String) { groups(tenantId: $t, first: 100) { edges { node { id name idpId homeTenantId memberCount } } } }"""
MEMBERS = """query($g: ID!) { groupMembers(groupId: $g) { source user { id displayName } } }"""
ROLES = "{ roles { name tier scopeKinds } }"
IDPS = """{ identityProviders { id kind name providerId tenantId settings autoCreateUsers autoCreateGroups enabled
  groupMappings { id groupName role scopeKind scopeId } } }"""
HSM = "{ hsmSettings { modulePath tokenLabel challengeTtlSeconds proofValiditySeconds updatedBy } }"
KEYS = "{ registeredKeys { id label method fingerprint } }"
VIEWER = "{ viewer { hasFreshProof authStrength } }"
IMP_SETTINGS = """query($t: ID!) { impersonationSettings(tenantId: $t) {
  requireReauth requireApproval maxMinutes targetMode updatedBy } }"""
IMP_REQUEST = """mutation($s: ID!, $r: String!, $m: Int!) { impersonationRequest(subTenantId: $s, reason: $r, minutes: $m) {
  __typename ... on ImpersonationRequest { id status } ... on Problem { code message } } }"""
IMP_INBOX = """{ impersonationRequests(first: 50) { edges { node { id reason status approver } } } }"""
IMP_ONE = """query { impersonationRequests(status: null, mine: true, first: 50) { edges { node { id status approver } } } }"""
AUDIT = """query($f: AuditFilter, $after: String) { auditTrail(filter: $f, first: 25, after: $after) {
  pageInfo { hasNextPage endCursor } edges { node { id type } } } }"""
VERIFY = "{ auditVerify { ok checked } }"
GROUP_CREATE = """mutation($n: String!, $t: String!) { groupCreate(name: $n, home: {scopeKind: TENANT, scopeId: $t}) {
  __typename ... on Group { id } } }"""
BINDING_CREATE = """mutation($i: RoleBindingCreateInput!) { roleBindingCreate(input: $i) { __typename ... on RoleBinding { id } } }"""
MEMBER_ADD = """mutation($g: ID!, $u: ID!) { groupMemberAdd(groupId: $g, userId: $u) { __typename } }"""
TENANT = "query($id: ID!) { tenant(id: $id) { name displayName } }"
ISOLATION = "{ isolation { mode modes { mode title offered current } capabilities { name ok detail } } }"
PLAN = "query($m: IsolationMode!) { isolationPlan(mode: $m) { target steps } }"
SWITCH = """mutation($m: IsolationMode!) { isolationSwitch(mode: $m, confirm: true) { __typename
  ... on IsolationSwitchReport { mode } ... on Problem { code message } } }"""
PAGES_OF_THE_TENANT_ADMIN = ["Users", "Groups", "Role bindings", "Impersonation", "Audit trail"]
PROVIDER_PAGES = {"/admin/hsm": "HSM", "/admin/identity-providers": "Identity providers", "/admin/keys": "Keys and step-up",
                  "/admin/isolation": "Tenant isolation"}


@pytest.fixture(scope="module")
def world(server: Server, pg: Pg) -> World:
    return build_world(server, pg)


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Token:
    return softhsm_token(tmp_path_factory.mktemp("console-hsm"))


# -- helpers ----------------------------------------------------------------------------------------
async def as_root(browser: Browser, server: Server, path: str) -> Console:
    """The test session's root operator (an API token), on one page of the console."""
    console = await open_console(browser, server)
    await console.sign_in_with_token(ROOT["token"])
    await expect(console.page).to_have_url(f"{server.url}/console/#!/explorer")
    await console.page.goto(f"{server.url}/console/#!{path}")
    return console


async def as_person(browser: Browser, server: Server, persona: Persona, path: str) -> Console:
    """A person signed in with their browser session (the cookies a login sets), on one page."""
    cookies = [{"name": "skyloom_session", "value": persona.session, "url": server.url},
               {"name": "skyloom_csrf", "value": persona.csrf, "url": server.url}]
    console = await open_console(browser, server, cookies)
    await console.page.goto(f"{server.url}/console/#!{path}")
    await expect(console.page.locator(".who .name")).to_have_text(persona.name)
    return console


async def shot(console: Console, name: str) -> None:
    await console.page.screenshot(path=str(SHOTS / f"console-admin-{name}.png"), full_page=True)


async def assert_clean(console: Console) -> None:
    """No CSP violation, no script error, and nothing AngularJS reported (digest loops, unhandled rejections)."""
    await console.assert_clean()
    assert [m for m in console.messages if "angularjs.org" in m or "Possibly unhandled" in m] == []


def nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["node"] for e in connection["edges"]]


def tenant_label(server: Server, tenant_id: str) -> str:
    t = server.gql(TENANT, {"id": tenant_id})["tenant"]
    return t["displayName"] or t["name"]


def person_of_t1(server: Server, world: World, name: str) -> dict[str, Any]:
    """The world's person of T1 with that name, as the API lists them (disabled or not)."""
    found = nodes(server.gql(USER, {"f": {"text": name, "tenantId": world.t1, "includeDisabled": True}})["users"])
    assert len(found) == 1, found
    return found[0]


def bindings_of(server: Server, subject: str) -> list[tuple[str, str, str]]:
    return sorted((b["role"], b["scopeKind"], b["scopeId"])
                  for b in nodes(server.gql(BINDINGS, {"f": {"subjectId": subject}})["roleBindings"]))


async def menu_pages(page: Page, section: str) -> list[str]:
    return await page.locator(f".menu [data-section='{section}'] a").all_inner_texts()


def label_rows(pg: Pg) -> dict[str, int]:
    """Rows of every CI and edge label, counted by the database owner (what a switch must keep)."""
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute('SET search_path = ag_catalog, "$user", public')
        return {label: s.rows for label, s in iso.sums(conn, GRAPH).items()}


async def with_db(pg: Pg, work: Any) -> Any:
    db = Database(pg.app_url, GRAPH, min_size=1, max_size=1)
    await db.open()
    try:
        return await work(db)
    finally:
        await db.close()


# -- the root operator ------------------------------------------------------------------------------
async def test_the_users_page_lists_filters_and_details_what_the_api_says(browser: Browser, server: Server, world: World) -> None:
    # Given a person of T1 in a local group of T1, with an editor binding there
    target = str(world.target_user)
    assert (await asyncio.to_thread(server.gql, MEMBER_ADD, {"g": str(world.group_t1), "u": target}))["groupMemberAdd"][
        "__typename"] == "GroupMembership"
    made = await asyncio.to_thread(server.gql, BINDING_CREATE, {"i": {
        "subjectKind": "USER", "subjectId": target, "role": "editor", "scopeKind": "TENANT", "scopeId": world.t1}})
    assert made["roleBindingCreate"]["__typename"] == "RoleBinding"
    everyone = nodes(server.gql(USERS, {"f": {"includeDisabled": False}})["users"])
    in_t1 = nodes(server.gql(USERS, {"f": {"tenantId": world.t1}})["users"])
    group_name = next(g["name"] for g in nodes(server.gql(GROUPS, {"t": world.t1})["groups"]) if g["id"] == str(world.group_t1))
    t1 = tenant_label(server, world.t1)

    console = await as_root(browser, server, "/admin/users")
    page = console.page
    names = page.locator(".user-list tr.user .name")
    # Then the list is the API's first page, in its order
    await expect(names).to_have_text([u["displayName"] for u in everyone])

    # When filtered by tenant, it is the API's answer to the same filter (and the outsider of T2 is not in it)
    await page.select_option("select[name=tenant]", label=t1)
    await page.click("form.filters button[type=submit]")
    await expect(names).to_have_text([u["displayName"] for u in in_t1])
    shown = set(await names.all_inner_texts())
    assert {"tenant_admin", "sub_admin", "editor", "viewer", "auditor", "target"} <= shown and "outsider" not in shown

    # When the person is opened, their bindings and groups are the API's
    await page.locator(f".user-list tr.user[data-id='{target}'] .name").click()
    detail = page.locator(".user-detail")
    await expect(detail.locator(".user-id")).to_have_text(target)
    assert bindings_of(server, target) == [("editor", "TENANT", world.t1)]
    await expect(detail.locator("tr.binding .role")).to_have_text(["editor"])
    await expect(detail.locator("tr.binding .scope")).to_have_text([f"Tenant {t1}"])
    await expect(detail.locator(".user-group .name")).to_have_text([group_name])
    await expect(detail.locator(".user-group .badge")).to_have_text(["manual"])
    await shot(console, "users")
    await assert_clean(console)
    await page.context.close()


async def test_a_user_is_disabled_and_enabled_and_a_role_is_granted_and_revoked_on_the_users_page(
    browser: Browser, server: Server, world: World
) -> None:
    target = str(world.target_user)
    t1 = tenant_label(server, world.t1)
    before = bindings_of(server, target)
    assert ("viewer", "TENANT", world.t1) not in before
    console = await as_root(browser, server, "/admin/users")
    page = console.page
    # (every module's world has a person called "target": the subject names this world's alone)
    await page.fill("input[name=text]", person_of_t1(server, world, "target")["subject"])
    await page.click("form.filters button[type=submit]")
    await page.locator(f".user-list tr.user[data-id='{target}'] .name").click()
    detail = page.locator(".user-detail")

    # When the operator disables the person, the API says they are disabled; enabling brings them back
    await detail.locator("button.disable-user").click()
    await expect(detail.locator(".user-status")).to_contain_text("disabled since")
    assert person_of_t1(server, world, "target")["disabled"] is True
    await detail.locator("button.enable-user").click()
    await expect(detail.locator(".user-status")).to_have_text("enabled")
    assert person_of_t1(server, world, "target")["disabled"] is False

    # When a role is granted at a scope through the form, the API has exactly that binding more
    form = detail.locator("form.binding-form")
    tier = next(r["tier"] for r in server.gql(ROLES)["roles"] if r["name"] == "viewer")
    await form.locator("select[name=role]").select_option(label=f"viewer ({tier})")
    await form.locator("select[name=scopeKind]").select_option(label="Tenant")
    await form.locator("select[name=scopeId]").select_option(label=t1)
    await form.locator("button.grant").click()
    await expect(form.locator(".ok")).to_have_text(f"Granted viewer at Tenant {t1}.")
    assert bindings_of(server, target) == sorted([*before, ("viewer", "TENANT", world.t1)])
    row = detail.locator("tr.binding", has=page.locator(".role", has_text=re.compile("^viewer$")))
    await expect(row).to_have_count(1)
    await shot(console, "users-granted")

    # And revoking it in the list ends it
    await row.locator("button.revoke").click()
    await expect(row).to_have_count(0)
    assert bindings_of(server, target) == before
    await assert_clean(console)
    await page.context.close()


async def test_the_groups_page_creates_a_local_group_adds_a_member_and_shows_the_idp_mappings(
    browser: Browser, server: Server, world: World, pg: Pg
) -> None:
    # Given an identity-provider group of T1 whose members get viewer at T1
    async def idp_group(db: Database) -> None:
        await idn.provision(db, idn.ProvisionRequest(world.idps["t1"], unique("dev"), display_name="dev", groups=("console-devs",)))
        await idn.add_group_mapping(db, world.idps["t1"], "console-devs", "viewer", "tenant", world.t1, "system:tests")

    await with_db(pg, idp_group)
    listed = nodes(server.gql(GROUPS, {"t": None})["groups"])
    mappings = [(m["groupName"], m["role"]) for i in server.gql(IDPS)["identityProviders"] for m in i["groupMappings"]]
    assert ("console-devs", "viewer") in mappings
    t1 = tenant_label(server, world.t1)

    console = await as_root(browser, server, "/admin/groups")
    page = console.page
    # Then the list and the mappings are the API's
    await expect(page.locator(".group-list tr.group .name")).to_have_text([g["name"] for g in listed])
    await expect(page.locator(".idp-mappings tr.mapping .group-name")).to_have_text([g for g, _ in mappings])
    await expect(page.locator(".idp-mappings tr.mapping .role")).to_have_text([r for _, r in mappings])
    devs = next(g for g in listed if g["name"] == "console-devs" and g["idpId"] == world.idps["t1"])
    await page.locator(f".group-list tr.group[data-id='{devs['id']}'] .name").click()
    await expect(page.locator(".group-detail .group-mapping")).to_have_text([f"viewer at Tenant {t1}"])
    await expect(page.locator(".group-detail tr.member .source")).to_have_text(["from the identity provider"])

    # When a local group is made for T1 through the form
    name = unique("console-group")
    create = page.locator(".create-group")
    await create.locator("input[name=groupName]").fill(name)
    await create.locator("select[name=homeKind]").select_option(label="Tenant")
    await create.locator("select[name=home]").select_option(label=t1)
    await create.locator("button.create").click()
    await expect(create.locator(".ok")).to_have_text(f"Created the group {name}.")
    # Then the API has it, homed at T1, and the page shows it selected
    made = [g for g in nodes(server.gql(GROUPS, {"t": world.t1})["groups"]) if g["name"] == name]
    assert [(g["homeTenantId"], g["idpId"], g["memberCount"]) for g in made] == [(world.t1, None, 0)]
    await expect(page.locator(".group-detail .detail-name")).to_have_text(name)

    # When the person of T1 is added to it, the API lists them as a manual member
    await page.fill("input[name=memberText]", person_of_t1(server, world, "target")["subject"])
    await page.locator(".add-member form").first.locator("button[type=submit]").click()
    await page.locator("button.add-member-button").click()
    await expect(page.locator(".group-detail tr.member .name")).to_have_text(["target"])
    assert server.gql(MEMBERS, {"g": made[0]["id"]})["groupMembers"] == [
        {"source": "manual", "user": {"id": str(world.target_user), "displayName": "target"}}]
    await shot(console, "groups")
    await assert_clean(console)
    await page.context.close()


async def test_the_role_bindings_page_shows_the_catalogue_and_the_bindings_at_a_scope(
    browser: Browser, server: Server, world: World
) -> None:
    roles = server.gql(ROLES)["roles"]
    at_t1 = nodes(server.gql(BINDINGS, {"f": {"scopeKind": "TENANT", "scopeId": world.t1}})["roleBindings"])
    assert {"tenant-admin", "editor", "viewer", "auditor"} <= {b["role"] for b in at_t1}
    titles = {"INSTALLATION": "Installation", "PROVIDER": "Provider", "TENANT": "Tenant", "SUB_TENANT": "Sub-tenant",
              "COMPARTMENT": "Compartment"}
    console = await as_root(browser, server, "/admin/bindings")
    page = console.page
    await expect(page.locator("table.roles tr.role .name")).to_have_text([r["name"] for r in roles])
    await expect(page.locator("table.roles tr.role .tier")).to_have_text([r["tier"] or "—" for r in roles])
    for r in roles:
        kinds = page.locator(f"table.roles tr.role[data-role='{r['name']}'] .scope-kinds .badge")
        await expect(kinds).to_have_text([titles[k] for k in r["scopeKinds"]])

    await page.select_option("select[name=scopeKind]", label="Tenant")
    await page.select_option("select[name=scopeId]", label=tenant_label(server, world.t1))
    await page.click("form.filters button[type=submit]")
    rows = page.locator("table.binding-list tr.binding")
    await expect(rows.locator(".role")).to_have_text([b["role"] for b in at_t1])
    assert await rows.evaluate_all("rs => rs.map(r => r.dataset.id)") == [b["id"] for b in at_t1]
    await expect(rows.filter(has_text="tenant_admin").locator(".role")).to_have_text(["tenant-admin"])
    await shot(console, "bindings")
    await assert_clean(console)
    await page.context.close()


async def test_impersonation_settings_change_through_the_page(browser: Browser, server: Server, world: World) -> None:
    before = server.gql(IMP_SETTINGS, {"t": world.t2})["impersonationSettings"]
    assert before == {"requireReauth": True, "requireApproval": True, "maxMinutes": 30, "targetMode": "SUBTENANT_ROOT",
                      "updatedBy": None}
    console = await as_root(browser, server, "/admin/impersonation")
    page = console.page
    settings = page.locator(".impersonation-settings")
    await settings.locator("select[name=settingsTenant]").select_option(label=tenant_label(server, world.t2))
    await expect(settings.locator("input[name=maxMinutes]")).to_have_value("30")
    await expect(settings.locator("input[name=requireApproval]")).to_be_checked()
    await expect(settings.locator("input[name=requireReauth]")).to_be_checked()

    await settings.locator("input[name=requireApproval]").uncheck()
    await settings.locator("input[name=maxMinutes]").fill("45")
    await settings.locator("button.save").click()
    await expect(settings.locator(".ok")).to_have_text("Saved.")
    assert server.gql(IMP_SETTINGS, {"t": world.t2})["impersonationSettings"] == {
        "requireReauth": True, "requireApproval": False, "maxMinutes": 45, "targetMode": "SUBTENANT_ROOT",
        "updatedBy": ROOT["actor"]}

    # A value the server refuses comes back as its typed problem next to the form, and nothing changes
    await settings.locator("input[name=maxMinutes]").fill("100000")
    await settings.locator("button.save").click()
    await expect(settings.locator(".problem .error")).to_contain_text("maxMinutes")
    assert server.gql(IMP_SETTINGS, {"t": world.t2})["impersonationSettings"]["maxMinutes"] == 45
    await shot(console, "impersonation-settings")
    await assert_clean(console)
    await page.context.close()


async def test_the_approval_inbox_approves_and_denies_requests(browser: Browser, server: Server, world: World) -> None:
    # Given two requests of the installation's operator to act in S1
    root_op, approver = world.personas["root_op"], world.personas["provider_op"]
    asked = [root_op.gql(server, IMP_REQUEST, {"s": world.s1, "r": reason, "m": 20})["impersonationRequest"]
             for reason in (unique("ticket-approve"), unique("ticket-deny"))]
    assert [a["status"] for a in asked] == ["REQUESTED", "REQUESTED"], asked
    inbox = nodes(approver.gql(server, IMP_INBOX)["impersonationRequests"])
    assert {a["id"] for a in asked} <= {r["id"] for r in inbox}

    # When the provider's operator opens their inbox, it is the API's
    console = await as_person(browser, server, approver, "/admin/impersonation")
    page = console.page
    rows = page.locator("table.requests tr.request")
    await expect(rows.locator(".reason")).to_have_text([r["reason"] for r in inbox])
    # And approving one and denying the other is what the API records
    await page.locator(f"tr.request[data-id='{asked[0]['id']}'] button.approve").click()
    await expect(page.locator(f"tr.request[data-id='{asked[0]['id']}'] .status")).to_have_text("APPROVED")
    await page.locator(f"tr.request[data-id='{asked[1]['id']}'] button.deny").click()
    await expect(page.locator(f"tr.request[data-id='{asked[1]['id']}'] .status")).to_have_text("DENIED")
    mine = {r["id"]: r for r in nodes(root_op.gql(server, IMP_ONE)["impersonationRequests"])}
    assert (mine[asked[0]["id"]]["status"], mine[asked[0]["id"]]["approver"]) == ("APPROVED", approver.actor)
    assert (mine[asked[1]["id"]]["status"], mine[asked[1]["id"]]["approver"]) == ("DENIED", approver.actor)
    await shot(console, "impersonation-inbox")
    await assert_clean(console)
    await page.context.close()


async def test_the_audit_trail_filters_by_type_and_loads_the_next_page(browser: Browser, server: Server, world: World) -> None:
    # Given more than a page of one type of entry
    for _ in range(27):
        assert server.gql(GROUP_CREATE, {"n": unique("audit-fill"), "t": world.t2})["groupCreate"]["__typename"] == "Group"
    await asyncio.sleep(1.5)   # sealed within a second
    f = {"types": ["access.group_created"]}
    first = server.gql(AUDIT, {"f": f})["auditTrail"]
    second = server.gql(AUDIT, {"f": f, "after": first["pageInfo"]["endCursor"]})["auditTrail"]
    assert first["pageInfo"]["hasNextPage"] and len(first["edges"]) == 25
    verified_before = server.gql(VERIFY)["auditVerify"]

    console = await as_root(browser, server, "/admin/audit")
    page = console.page
    await expect(page.locator(".chain-ok")).to_have_text("Intact" if verified_before["ok"] else "Broken")
    checked = int(await page.locator(".chain-checked").inner_text())
    verified_after = server.gql(VERIFY)["auditVerify"]
    assert verified_before["checked"] <= checked <= verified_after["checked"]

    # (unfiltered, the newest entries are of other types, e.g. the page's own audited queries)
    await expect(page.locator("table.audit-entries tr.entry .type").first).not_to_have_text("access.group_created")
    await page.fill("input[name=types]", "access.group_created")
    await page.click("form.audit-filters button.apply")
    rows = page.locator("table.audit-entries tr.entry")
    await expect(rows.locator(".type")).to_have_text(["access.group_created"] * 25)
    assert await rows.evaluate_all("rs => rs.map(r => r.dataset.id)") == [e["id"] for e in nodes(first)]

    await page.click("button.load-more")
    await expect(rows).to_have_count(25 + len(second["edges"]))
    assert await rows.evaluate_all("rs => rs.map(r => r.dataset.id)") == [e["id"] for e in nodes(first) + nodes(second)]
    # One entry's detail opens under it
    await rows.first.locator("td a").click()
    await expect(page.locator("tr.entry-detail pre.json")).to_contain_text('"name"')
    await shot(console, "audit")
    await assert_clean(console)
    await page.context.close()


# -- step-up with a real HSM key --------------------------------------------------------------------
async def test_a_change_needing_proof_offers_the_step_up_and_a_signed_challenge_unlocks_it(
    browser: Browser, server: Server, world: World, pg: Pg, token: Token
) -> None:
    op = await operator(pg, world, "console-op")
    before = server.gql(HSM)["hsmSettings"]
    console = await as_person(browser, server, op, "/admin/hsm")
    page = console.page
    await expect(page.locator(".hsm-current .challenge-ttl")).to_have_text(f"{before['challengeTtlSeconds']} seconds")
    await expect(page.locator(".hsm-current .updated-by")).to_have_text(before["updatedBy"])

    # When the operator changes a setting without a fresh proof, the page offers the step-up instead
    new_ttl = before["challengeTtlSeconds"] + 17
    await page.fill("input[name=challengeTtlSeconds]", str(new_ttl))
    await page.click("form.hsm-edit button.save")
    offer = page.locator(".step-up-offer")
    await expect(page.locator(".problem .problem-code")).to_have_text("PROOF_REQUIRED")
    await expect(offer.locator("button.begin-step-up")).to_be_visible()
    assert server.gql(HSM)["hsmSettings"] == before
    # ... which, with no key registered yet, says so
    await offer.locator("button.begin-step-up").click()
    await expect(offer.locator(".step-up .error")).to_contain_text("NO_KEY")
    await shot(console, "hsm-needs-proof")

    # When the operator registers the public key of their HSM key on the keys page
    await page.goto(f"{server.url}/console/#!/admin/keys")
    pem = await asyncio.to_thread(token.keygen, "console-key")
    await page.fill("input[name=keyLabel]", "console-key")
    await page.fill("#public-key-pem", pem)
    await page.click("button.register-key")
    await expect(page.locator(".key-list tr.key .label")).to_have_text(["console-key"])
    keys = op.gql(server, KEYS)["registeredKeys"]
    assert [(k["label"], k["method"]) for k in keys] == [("console-key", "HSM")]
    await expect(page.locator(".key-list tr.key .fingerprint")).to_have_text([keys[0]["fingerprint"]])

    # ... and steps up: the challenge is shown, signed in the token, the signature pasted back
    screen = page.locator(".step-up-screen")
    await screen.locator("button.begin-step-up").click()
    challenge = json.loads(await screen.locator("pre.challenge").inner_text())
    assert (challenge["actorId"], challenge["purpose"]) == (op.actor, "step-up")
    await expect(screen.locator(".sign-command")).to_contain_text("skyloom proof sign")
    proof = await asyncio.to_thread(token.sign, "console-key", challenge)
    await screen.locator("#step-up-proof").fill(json.dumps(proof))
    await screen.locator("button.complete-step-up").click()
    await expect(screen.locator(".fresh-proof")).to_contain_text("Fresh proof until")
    assert op.gql(server, VIEWER)["viewer"] == {"hasFreshProof": True, "authStrength": "HARDWARE"}
    await shot(console, "keys-stepped-up")

    # Then the change goes through, and the API has it
    await page.goto(f"{server.url}/console/#!/admin/hsm")
    await page.fill("input[name=challengeTtlSeconds]", str(new_ttl))
    await page.click("form.hsm-edit button.save")
    await expect(page.locator("form.hsm-edit .ok")).to_have_text("Saved.")
    assert server.gql(HSM)["hsmSettings"] == {**before, "challengeTtlSeconds": new_ttl, "updatedBy": op.actor}
    await expect(page.locator(".hsm-current .challenge-ttl")).to_have_text(f"{new_ttl} seconds")
    await shot(console, "hsm")
    await page.fill("input[name=challengeTtlSeconds]", str(before["challengeTtlSeconds"]))
    await page.click("form.hsm-edit button.save")
    await expect(page.locator(".hsm-current .challenge-ttl")).to_have_text(f"{before['challengeTtlSeconds']} seconds")
    await assert_clean(console)
    await page.context.close()


async def test_identity_providers_are_created_after_an_offered_step_up_then_edited_and_mapped(
    browser: Browser, server: Server, world: World, pg: Pg, token: Token
) -> None:
    op = await operator(pg, world, "console-idp-op")
    assert (await asyncio.to_thread(register_key, server, op, token, "console-idp-key"))["__typename"] == "RegisteredKey"
    listed = server.gql(IDPS)["identityProviders"]
    provider_name = next(p["displayName"] or p["name"] for p in server.gql("{ providers { id name displayName } }")["providers"]
                         if p["id"] == world.provider)
    t1 = tenant_label(server, world.t1)

    console = await as_person(browser, server, op, "/admin/identity-providers")
    page = console.page
    await expect(page.locator(".idp-list tr.idp .idp-id")).to_have_text([i["id"] for i in listed])

    # When the operator configures an OIDC provider whose secret is named by an environment variable
    idp_id = unique("console-oidc")
    await page.click("button.new-idp")
    create = page.locator(".idp-create")
    await create.locator("input[name=id]").fill(idp_id)
    await create.locator("input[name=name]").fill("Console OIDC")
    await create.locator("select[name=providerId]").select_option(label=provider_name)
    await create.locator("input[name=issuer]").fill("https://login.example.test/realms/acme")
    await create.locator("input[name=client_id]").fill("skyloom-console")
    await create.locator("input[name=client_secret_env]").fill("SKYLOOM_CONSOLE_OIDC_SECRET")
    await create.locator("input[name=scopes]").fill("openid, email, groups")
    await create.locator("input[name=claims-groups]").fill("groups, roles")
    await create.locator("button.create").click()
    # ... it needs a fresh proof: the step-up is offered next to the form, and the creation is retried after it
    assert idp_id not in [i["id"] for i in server.gql(IDPS)["identityProviders"]]
    offer = create.locator(".step-up-offer")
    await expect(create.locator(".problem .problem-code")).to_have_text("PROOF_REQUIRED")
    await offer.locator("button.begin-step-up").click()
    challenge = json.loads(await offer.locator("pre.challenge").inner_text())
    proof = await asyncio.to_thread(token.sign, "console-idp-key", challenge)
    await offer.locator("#step-up-proof").fill(json.dumps(proof))
    await offer.locator("button.complete-step-up").click()
    await expect(page.locator(".idp-detail .detail-name")).to_contain_text("Console OIDC")
    made = next(i for i in server.gql(IDPS)["identityProviders"] if i["id"] == idp_id)
    assert made == {"id": idp_id, "kind": "OIDC", "name": "Console OIDC", "providerId": world.provider, "tenantId": None,
                    "settings": {"issuer": "https://login.example.test/realms/acme", "client_id": "skyloom-console",
                                 "client_secret_env": "SKYLOOM_CONSOLE_OIDC_SECRET", "scopes": ["openid", "email", "groups"],
                                 "claims": {"groups": ["groups", "roles"]}},
                    "autoCreateUsers": False, "autoCreateGroups": False, "enabled": True, "groupMappings": []}

    # A pasted secret instead of a variable name is refused by the server, shown next to the form, and changes nothing
    edit = page.locator("form.idp-edit")
    await edit.locator("input[name=client_secret_env]").fill("hunter2-not-a-variable")
    await edit.locator("button.save").click()
    await expect(page.locator(".idp-detail .problem .error")).to_contain_text("names an environment variable")
    assert next(i for i in server.gql(IDPS)["identityProviders"] if i["id"] == idp_id)["settings"] == made["settings"]

    # The switches change one thing each
    await page.click("button.toggle-users")
    await expect(page.locator(f".idp-list tr.idp[data-id='{idp_id}'] .auto-users")).to_have_text("yes")
    await page.click("button.toggle-enabled")
    await expect(page.locator(f".idp-list tr.idp[data-id='{idp_id}'] .status")).to_have_text("disabled")
    now = next(i for i in server.gql(IDPS)["identityProviders"] if i["id"] == idp_id)
    assert (now["autoCreateUsers"], now["autoCreateGroups"], now["enabled"]) == (True, False, False)

    # A group -> role mapping is added and removed
    mapping = page.locator("form.add-mapping")
    await mapping.locator("input[name=mappingGroup]").fill("acme-t1-admins")
    await mapping.locator("select[name=mappingRole]").select_option(label="tenant-admin")
    await mapping.locator("select[name=mappingScope]").select_option(label=t1)
    await mapping.locator("button.add-mapping-button").click()
    await expect(page.locator(".idp-detail tr.mapping .group-name")).to_have_text(["acme-t1-admins"])
    await expect(page.locator(".idp-detail tr.mapping .scope")).to_have_text([f"Tenant {t1}"])
    now = next(i for i in server.gql(IDPS)["identityProviders"] if i["id"] == idp_id)
    assert [(m["groupName"], m["role"], m["scopeKind"], m["scopeId"]) for m in now["groupMappings"]] == [
        ("acme-t1-admins", "tenant-admin", "TENANT", world.t1)]
    await shot(console, "identity-providers")
    await page.click(".idp-detail button.remove-mapping")
    await expect(page.locator(".idp-detail tr.mapping")).to_have_count(0)
    assert next(i for i in server.gql(IDPS)["identityProviders"] if i["id"] == idp_id)["groupMappings"] == []
    await assert_clean(console)
    await page.context.close()


# -- a tenant admin ---------------------------------------------------------------------------------
async def test_a_tenant_admin_sees_only_their_tenant_and_none_of_the_provider_pages(
    browser: Browser, server: Server, world: World
) -> None:
    admin = world.personas["tenant_admin"]
    users = nodes(admin.gql(server, USERS, {"f": {"includeDisabled": False}})["users"])
    groups = nodes(admin.gql(server, GROUPS, {"t": None})["groups"])
    assert users and {u["homeTenantId"] for u in users} == {world.t1}
    assert groups and {g["homeTenantId"] for g in groups} == {world.t1}
    outsiders = {u["displayName"] for u in nodes(server.gql(USERS, {"f": {"tenantId": world.t2}})["users"])}
    assert "outsider" in outsiders

    console = await as_person(browser, server, admin, "/admin/users")
    page = console.page
    assert await menu_pages(page, "Administration") == PAGES_OF_THE_TENANT_ADMIN
    names = page.locator(".user-list tr.user .name")
    await expect(names).to_have_text([u["displayName"] for u in users])
    assert not outsiders & set(await names.all_inner_texts())
    await shot(console, "users-tenant-admin")

    await page.click(".menu >> text=Groups")
    await expect(page.locator(".group-list tr.group .name")).to_have_text([g["name"] for g in groups])
    await expect(page.locator(".idp-mappings")).to_have_count(0)
    await shot(console, "groups-tenant-admin")

    for path, title in PROVIDER_PAGES.items():
        await page.goto(f"{server.url}/console/#!{path}")
        await expect(page).to_have_url(f"{server.url}/console/#!/account")
        await expect(page.locator(".account .notice")).to_have_text(f'You may not use the page "{title}".')
    await assert_clean(console)
    await page.context.close()


# -- a viewer ---------------------------------------------------------------------------------------
async def test_a_viewer_has_no_administration_and_the_api_refuses_the_pages_changes(
    browser: Browser, server: Server, world: World, pg: Pg
) -> None:
    viewer = world.personas["viewer"]
    console = await as_person(browser, server, viewer, "/explorer")
    page = console.page
    await expect(page.locator(".menu [data-page]")).to_have_text(["CMDB explorer", "My access"])
    await expect(page.locator(".menu [data-section='Administration']")).to_have_count(0)
    await page.goto(f"{server.url}/console/#!/admin/groups")
    await expect(page).to_have_url(f"{server.url}/console/#!/account")

    # When the page's own graphql service is made to send administration changes anyway
    before = await asyncio.to_thread(counts, pg)
    refused = await page.evaluate(
        """async ([t1, target]) => {
          const graphql = angular.element(document.body).injector().get('graphql');
          const group = await graphql.mutate('AdminGroupCreate', {name: 'viewer-was-here', home: {scopeKind: 'TENANT', scopeId: t1}});
          const disable = await graphql.mutate('AdminUserDisable', {id: target});
          const grant = await graphql.mutate('AdminBindingCreate', {input: {subjectKind: 'USER', subjectId: target,
            role: 'tenant-admin', scopeKind: 'TENANT', scopeId: t1}});
          return [group.groupCreate, disable.userDisable, grant.roleBindingCreate].map(p => [p.__typename, p.code]);
        }""",
        [world.t1, str(world.target_user)],
    )
    # Then each is a typed refusal, and nothing changed
    assert all(r[0] in ("Forbidden", "NotFound") and r[1] in ("FORBIDDEN", "NOT_FOUND") for r in refused), refused
    assert await asyncio.to_thread(counts, pg) == before
    assert person_of_t1(server, world, "target")["disabled"] is False
    assert not [g for g in nodes(server.gql(GROUPS, {"t": world.t1})["groups"]) if g["name"] == "viewer-was-here"]
    await shot(console, "viewer")
    await assert_clean(console)
    await page.context.close()


# -- the tenant isolation assistant -----------------------------------------------------------------
async def choose_and_switch(page: Page, mode: str, confirm: bool = True) -> None:
    await page.locator(f".mode-choice[data-mode='{mode}'] input[type=radio]").check()
    await expect(page.locator(".plan .step").first).to_be_visible()
    if confirm:
        await page.locator("form.switch-form input[name=confirm]").check()
    await page.click("form.switch-form button.switch")


async def test_the_isolation_assistant_plans_and_switches_with_a_proof_verifying_every_row(
    browser: Browser, server: Server, world: World, pg: Pg, token: Token
) -> None:
    status = server.gql(ISOLATION)["isolation"]
    start, target = status["mode"], ("RLS" if status["mode"] != "RLS" else "GRAPH")
    plan = server.gql(PLAN, {"m": target})["isolationPlan"]
    rows_before = await asyncio.to_thread(label_rows, pg)

    # The root operator's API token sees the assistant, but a switch needs a fresh proof it cannot give
    console = await as_root(browser, server, "/admin/isolation")
    page = console.page
    await expect(page.locator(".current-mode .mode")).to_have_text(start)
    await expect(page.locator(".capability .capability-name")).to_have_text([c["name"] for c in status["capabilities"]])
    await expect(page.locator(".capability .capability-ok")).to_have_text(["yes" if c["ok"] else "no" for c in status["capabilities"]])
    for m in status["modes"]:
        radio = page.locator(f".mode-choice[data-mode='{m['mode']}'] input[type=radio]")
        assert await radio.is_disabled() == (not m["offered"] or m["current"]), m
    await page.locator(f".mode-choice[data-mode='{target}'] input[type=radio]").check()
    await expect(page.locator(".plan .step")).to_have_text(plan["steps"])
    await page.locator("form.switch-form input[name=confirm]").check()
    await page.click("form.switch-form button.switch")
    await expect(page.locator(".problem .problem-code")).to_have_text("PROOF_REQUIRED")
    await expect(page.locator(".step-up-offer .notice")).to_contain_text("API token, which cannot step up")
    assert server.gql(ISOLATION)["isolation"]["mode"] == start
    await shot(console, "isolation-needs-proof")
    await assert_clean(console)
    await page.context.close()

    # An operator with a fresh proof: an unconfirmed switch is the server's typed refusal; a confirmed one moves and verifies
    op = await operator(pg, world, "console-iso-op")
    assert (await asyncio.to_thread(register_key, server, op, token, "console-iso-key"))["__typename"] == "RegisteredKey"
    await asyncio.to_thread(step_up, server, op, token, "console-iso-key")
    console = await as_person(browser, server, op, "/admin/isolation")
    page = console.page
    try:
        await choose_and_switch(page, target, confirm=False)
        await expect(page.locator(".problem .error")).to_contain_text("confirm")
        assert server.gql(ISOLATION)["isolation"]["mode"] == start

        await page.locator("form.switch-form input[name=confirm]").check()
        await page.click("form.switch-form button.switch")
        report = page.locator(".switch-report")
        await expect(report.locator(".report-mode")).to_have_text(target, timeout=60_000)
        await expect(report.locator(".report-previous")).to_have_text(start)
        await expect(report.locator(".report-verified")).to_have_text("every row verified (count and checksum)")
        shown = dict(zip(await report.locator(".label-count .label").all_inner_texts(),
                         map(int, await report.locator(".label-count .rows").all_inner_texts())))
        assert shown == rows_before
        assert server.gql(ISOLATION)["isolation"]["mode"] == target
        await expect(page.locator(".current-mode .mode")).to_have_text(target)
        await shot(console, "isolation")

        # And back, through the page again
        await choose_and_switch(page, start)
        await expect(report.locator(".report-mode")).to_have_text(start, timeout=60_000)
        assert server.gql(ISOLATION)["isolation"]["mode"] == start
        assert await asyncio.to_thread(label_rows, pg) == rows_before
    finally:
        if server.gql(ISOLATION)["isolation"]["mode"] != start:
            op.gql(server, SWITCH, {"m": start})
    await assert_clean(console)
    await page.context.close()


# -- a security key (WebAuthn), on a server started with --debug ------------------------------------
async def test_a_security_key_is_registered_and_steps_the_session_up_in_the_console(
    browser: Browser, server: Server, world: World, pg: Pg
) -> None:
    # Given an operator without a key, and a --debug server on http://localhost (a secure context for WebAuthn)
    op = await operator(pg, world, "console-yubikey")
    port = free_port()
    debug = await asyncio.to_thread(Server, pg.app_url, {"SKYLOOM_PUBLIC_URL": f"http://localhost:{port}",
                                                         "SKYLOOM_COOKIE_SECURE": "false"}, ("--debug",), None, port)
    try:
        origin = f"http://localhost:{port}"
        context = await browser.new_context(viewport={"width": 1500, "height": 1000})
        await context.add_init_script(WATCH_CSP)
        await context.add_cookies([{"name": "skyloom_session", "value": op.session, "url": origin},
                                   {"name": "skyloom_csrf", "value": op.csrf, "url": origin}])
        page = await context.new_page()
        console = Console(page, debug)
        cdp = await context.new_cdp_session(page)
        await cdp.send("WebAuthn.enable", {"enableUI": False})
        await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "usb", "hasResidentKey": True, "hasUserVerification": True,
            "isUserVerified": True, "automaticPresenceSimulation": True}})
        await page.goto(f"{origin}/console/#!/admin/keys")

        # When the browser registers its security key on the keys page
        await page.fill("input[name=securityKeyLabel]", "console-yubikey")
        await page.click("button.register-security-key")
        await expect(page.locator(".key-list tr.key .label")).to_have_text(["console-yubikey"])
        keys = op.gql(debug, KEYS)["registeredKeys"]
        assert [(k["label"], k["method"]) for k in keys] == [("console-yubikey", "WEBAUTHN")]
        await expect(page.locator(".key-list tr.key .fingerprint")).to_have_text([keys[0]["fingerprint"]])

        # ... and answers a step-up challenge with it
        screen = page.locator(".step-up-screen")
        await screen.locator("input[name=step-up-method][value='WEBAUTHN']").check()
        await screen.locator("button.begin-step-up").click()
        await expect(screen.locator(".fresh-proof")).to_contain_text("Fresh proof until")
        assert op.gql(debug, VIEWER)["viewer"] == {"hasFreshProof": True, "authStrength": "HARDWARE"}
        await shot(console, "keys-security-key")
        await assert_clean(console)
        await context.close()
    finally:
        await asyncio.to_thread(debug.stop)
