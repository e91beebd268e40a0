"""The architecture planner in a real browser: headless Chromium against a real `skyloom serve`.

Given a provider with an AWS cloud backend and a root tenancy, the root operator creates a client on
the Clients page and, for each of the four clouds, draws a small architecture on the canvas (palette,
connect mode, property panel), sees the server's validation land on a node while drawing and leave
once fixed, saves, previews (the table must list exactly what the API's own preview of that version
lists) and compares two versions. An operator with a fresh hardware proof (SoftHSM2) applies the AWS
design: the run's resources arrive live on the open canvas and the drift panel shows them in sync. A
tenant's viewer sees no planner and is refused by the server when the page's own GraphQL service asks
anyway. No page may report a CSP violation. Screenshots go to .pytest_cache/screenshots/.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.access_world import Persona, Token, World, build_world, proven_operator, softhsm_token
from tests.conftest import ROOT, Pg, Server, unique
# `browser`: Debian's Chromium, headless, one per test module (the explorer's fixture, imported).
from tests.test_console_explorer import Console, browser, open_console  # noqa: F401

# A small architecture per cloud: tenancy -> compartment -> network -> subnet -> instance, with values
# the examples in deploy/planner/examples/ show to be valid; `outside` is a subnet block outside the network.
REGIONS = {"AWS": "eu-central-1", "AZURE": "northeurope", "GCP": "europe-west4", "OCI": "eu-amsterdam-1"}
CLOUDS: dict[str, dict[str, Any]] = {
    "AWS": {"tenancy": ("acme-prod", {"email": "aws-prod@acme.example", "parentId": "ou-ab12-cd34ef56"}),
            "compartment": "acme-web", "network": ("acme-main", "10.20.0.0/16"), "subnet": ("acme-front", "10.20.1.0/24"),
            "outside": "10.21.1.0/24", "instance": "acme-web-1", "size": "t3.small"},
    "AZURE": {"tenancy": ("acme-prod", {"billingScope": "/providers/Microsoft.Billing/billingAccounts/1234567:abcd1234-ab12-cd34-"
                                                        "ef56-1234567890ab_2019-05-31/billingProfiles/AW4F-ABCD-BG7-TGB/"
                                                        "invoiceSections/SH3V-ABCD-PJA-TGB"}),
              "compartment": "acme-web-rg", "network": ("acme-main-vnet", "10.30.0.0/16"), "subnet": ("front", "10.30.1.0/24"),
              "outside": "10.31.1.0/24", "instance": "acme-web-1", "size": "Standard_B1s", "choice": {"workload": "DevTest"}},
    "GCP": {"tenancy": ("acme-prod-4821", {"billingAccount": "01ABCD-23EF45-67AB89", "folderId": "734512098812"}),
            "compartment": "Acme Web", "network": ("acme-main", "10.40.0.0/16"), "subnet": ("acme-front", "10.40.1.0/24"),
            "outside": "10.41.1.0/24", "instance": "acme-web-1", "size": "e2-medium"},
    "OCI": {"tenancy": ("acme-prod", {"parentCompartmentId": "ocid1.tenancy.oc1..aaaaaaaa3kxbqzrvn7w2cyhp5ojd4tfkqmx6ulnrgs5e2ov"
                                                              "bwyzt4ihapfkq"}),
            "compartment": "acme-web", "network": ("acme-main", "10.50.0.0/16"), "subnet": ("acme-front", "10.50.1.0/24"),
            "outside": "10.51.1.0/24", "instance": "acme-web-1", "size": "VM.Standard.E4.Flex"},
}

PREVIEW = ("mutation($id: ID!, $v: Int) { designPreview(id: $id, version: $v) { __typename ... on Problem { code message } "
           "... on DesignPreview { version planDigest resources { type name urn componentId } } } }")
DESIGN = ("query($id: ID!) { design(id: $id) { id name cloud tenantId latestVersion archived copiedFrom "
          "history { number errorCount warningCount } current { document } runs { id status engine } } }")
DESIGNS = ("query($t: ID, $a: Boolean!) { designs(tenantId: $t, first: 100, includeArchived: $a) "
           "{ edges { node { id name cloud archived copiedFrom } } } }")
COMPARE = ("query($id: ID!, $b: Int!, $a: Int!) { designCompare(id: $id, before: $b, after: $a) { added { id } removed { id } "
           "changed { id changes { field before after } } connectionsAdded { source } connectionsRemoved { source } "
           "settingsChanged { field } } }")
CREATE = ("mutation($i: DesignCreateInput!) { designCreate(input: $i) { __typename ... on Design { id name } "
          "... on Problem { code message } } }")
SAVE = ("mutation($i: DesignSaveInput!) { designSave(input: $i) { __typename ... on Design { latestVersion } "
        "... on Problem { code message } } }")
DRIFT = "query($id: ID!) { designDrift(id: $id) { version entries { status componentId urn } } }"
CY = "document.querySelector('.planner-canvas')._cyreg.cy"
HAS_CLASS = f"([id, cls]) => {CY}.getElementById(id).hasClass(cls)"
NODE_AT = f"""id => {{ const n = {CY}.getElementById(id); const p = n.renderedPosition();
  const r = document.querySelector('.planner-canvas').getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }}"""


@pytest.fixture(scope="module")
def world(server: Server, pg: Pg) -> World:
    """Provider P (tenants, personas) with an AWS cloud backend and a root tenancy, made through the API:
    an apply's sub-tenancy is placed under the client's provider's root tenancy."""
    w = build_world(server, pg)
    backend = server.gql("mutation($p: ID!, $n: String!) { cloudBackendCreate(input: {providerId: $p, name: $n, cloud: AWS}) "
                         "{ ... on CloudBackend { id } } }", {"p": w.provider, "n": unique("aws")})["cloudBackendCreate"]["id"]
    server.gql("mutation($b: ID!, $n: String!) { tenancyCreate(input: {parentId: $b, name: $n}) { ... on Tenancy { id } } }",
               {"b": backend, "n": unique("org-root")})
    return w


@pytest.fixture(scope="module")
def proven(server: Server, world: World, pg: Pg, tmp_path_factory: pytest.TempPathFactory) -> Persona:
    """A provider operator's browser session raised with a fresh proof from a SoftHSM2 key."""
    token: Token = softhsm_token(tmp_path_factory.mktemp("planner-console-hsm"))
    return proven_operator(server, pg, world, token, "planner-console-op")


def cookies(server: Server, persona: Persona) -> list[dict[str, Any]]:
    return [{"name": "skyloom_session", "value": persona.session, "url": server.url},
            {"name": "skyloom_csrf", "value": persona.csrf, "url": server.url}]


async def root_console(browser: Browser, server: Server) -> Console:
    console = await open_console(browser, server)
    await console.sign_in_with_token(ROOT["token"])
    await expect(console.page).to_have_url(f"{server.url}/console/#!/explorer")
    return console


@pytest.fixture(scope="module")
async def client(browser: Browser, server: Server, world: World) -> dict[str, str]:
    """A client made on the Clients page by the root operator, under the world's provider."""
    name = unique("planner-client")
    console = await root_console(browser, server)
    page = console.page
    await page.click(".menu >> text=Clients")
    await expect(page).to_have_url(f"{server.url}/console/#!/clients")
    await page.select_option(".client-create select[name=provider]", world.provider)
    await page.fill(".client-create input[name=name]", name)
    await page.fill(".client-create input[name=displayName]", "Planner Client")
    await page.click("text=Create the client")
    await expect(page.locator(".client-create .created .name")).to_have_text(name)
    row = page.locator(f".provider[data-id='{world.provider}'] tr.client", has_text=name)
    await expect(row).to_have_count(1)
    tenant_id = await row.get_attribute("data-id")
    # The API agrees: the client exists under that provider, with what was typed.
    made = server.gql("query($id: ID!) { tenant(id: $id) { name displayName provider { id } } }", {"id": tenant_id})["tenant"]
    assert made == {"name": name, "displayName": "Planner Client", "provider": {"id": world.provider}}
    await console.assert_clean()
    await page.context.close()
    return {"id": tenant_id, "name": name}


# -- drawing helpers ------------------------------------------------------------------------------------
async def click_node(page: Page, node_id: str) -> None:
    x, y = await page.evaluate(NODE_AT, node_id)
    await page.mouse.click(x, y)


async def add(page: Page, kind: str, name: str, properties: dict[str, str] | None = None) -> str:
    """Click a palette entry; the new component is selected: fill its name and properties. Its id."""
    await page.click(f".palette-kind[data-kind={kind}]")
    panel = page.locator(".inspect-component")
    await expect(panel.locator("h2")).to_contain_text(kind if kind != "ComputeInstance" else "Compute Instance")
    component_id = await panel.locator(".component-id").inner_text()
    await panel.locator("input[name=name]").fill(name)
    for key, value in (properties or {}).items():
        await panel.locator(f"[data-property={key}] input").fill(value)
    return component_id


async def select(page: Page, component_id: str) -> None:
    await page.click(f".component-list li[data-id='{component_id}'] a")
    await expect(page.locator(".inspect-component .component-id")).to_have_text(component_id)


async def has_class(page: Page, component_id: str, cls: str) -> bool:
    return await page.evaluate(HAS_CLASS, [component_id, cls])


async def wait_class(page: Page, component_id: str, cls: str, present: bool) -> None:
    await page.wait_for_function(f"([id, cls, on]) => {CY}.getElementById(id).hasClass(cls) === on", arg=[component_id, cls, present])


async def create_design(page: Page, server: Server, client: dict[str, str], cloud: str, name: str) -> str:
    await page.goto(f"{server.url}/console/#!/planner?client={client['id']}")
    await page.select_option(".design-create select[name=client]", client["id"])
    await page.select_option(".design-create select[name=cloud]", cloud)
    await page.fill(".design-create input[name=name]", name)
    await page.click(".create-design")
    await expect(page.locator(".planner .design-name")).to_have_text(name)
    design_id = page.url.rsplit("/", 1)[1]
    await expect(page.locator(".palette-kind")).to_have_count(8)
    return design_id


async def draw(page: Page, cloud: str) -> dict[str, str]:
    """Tenancy -> compartment -> network -> subnet -> instance, through the palette, the property panel and
    connect mode on the canvas. The subnet starts outside its network: the server's problem must land on it."""
    spec = CLOUDS[cloud]
    ids = {"tenancy": await add(page, "Tenancy", spec["tenancy"][0], spec["tenancy"][1])}
    for key, value in spec.get("choice", {}).items():   # a property with choices is a select
        await page.locator(f".inspect-component [data-property={key}] select").select_option(value)
    ids |= {"compartment": await add(page, "Compartment", spec["compartment"]),
           "network": await add(page, "Network", spec["network"][0], {"cidr": spec["network"][1]}),
           "subnet": await add(page, "Subnet", spec["subnet"][0], {"cidr": spec["outside"]}),
           "instance": await add(page, "ComputeInstance", spec["instance"])}
    assert len(set(ids.values())) == 5 and all(i.startswith("c") and len(i) == 7 for i in ids.values())
    await page.locator(".planner-canvas").scroll_into_view_if_needed()
    await page.click(".connect-mode")
    for source, target in (("tenancy", "compartment"), ("compartment", "network"), ("network", "subnet"), ("subnet", "instance")):
        await click_node(page, ids[source])
        await expect(page.locator(".component-list li.is-source")).to_have_attribute("data-id", ids[source])
        await click_node(page, ids[target])
    await page.click(".connect-mode")
    assert await page.evaluate(f"{CY}.edges().length") == 4
    return ids


async def preview_matches_the_api(page: Page, server: Server, design_id: str, version: int) -> dict[str, Any]:
    await page.click(".preview-design")
    await expect(page.locator(".preview-version")).to_have_text(str(version), timeout=60_000)
    api = server.gql(PREVIEW, {"id": design_id, "v": version})["designPreview"]
    assert api["__typename"] == "DesignPreview", api
    await expect(page.locator(".preview-resources tr.resource td.type")).to_have_text([r["type"] for r in api["resources"]])
    await expect(page.locator(".preview-resources tr.resource td.name")).to_have_text([r["name"] for r in api["resources"]])
    await expect(page.locator(".plan-digest")).to_have_text(api["planDigest"])
    await expect(page.locator(".preview-engine")).to_have_text("mocks")
    return api


# -- the tests ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cloud", list(CLOUDS))
async def test_an_architecture_is_drawn_checked_while_drawing_saved_previewed_and_compared(
        browser: Browser, server: Server, client: dict[str, str], cloud: str) -> None:
    console = await root_console(browser, server)
    page = console.page
    name = unique(f"plan-{cloud.lower()}")
    design_id = await create_design(page, server, client, cloud, name)
    # The palette shows both terms of each kind, from the API's palette for this cloud.
    palette = server.gql("query($c: Cloud!) { designPalette(cloud: $c) { kinds { kind display properties { name default } } } }",
                         {"c": cloud})["designPalette"]
    await expect(page.locator(".palette-kind")).to_have_text([k["display"] for k in palette["kinds"]])

    ids = await draw(page, cloud)
    # Given the subnet outside its network, the server's problem is on the subnet's node and in the list ...
    await wait_class(page, ids["subnet"], "has-error", True)
    await expect(page.locator(".problem-list li[data-code=CIDR_OUTSIDE_NETWORK]")).to_have_count(1)
    assert not await has_class(page, ids["network"], "has-error")
    # ... clicking the problem selects its component, and fixing the block clears it.
    await page.click(".problem-list li[data-code=CIDR_OUTSIDE_NETWORK] a")
    await expect(page.locator(".inspect-component .component-id")).to_have_text(ids["subnet"])
    if cloud == "AWS":
        await console.shot("planner-problems")
    await page.locator(".inspect-component [data-property=cidr] input").fill(CLOUDS[cloud]["subnet"][1])
    await wait_class(page, ids["subnet"], "has-error", False)
    await expect(page.locator(".problem-list li.design-problem")).to_have_count(0)
    await expect(page.locator(".check-state")).to_have_text("0 errors, 0 warnings")

    # The design-wide region: a click on the empty canvas shows the design's settings; a wrong region is
    # a design-wide problem until it is a region of this cloud.
    box = await page.locator(".planner-canvas").bounding_box()
    await page.mouse.click(box["x"] + 12, box["y"] + box["height"] - 12)
    await page.locator(".inspect-design input[name=region]").fill("Mars 1")
    await expect(page.locator(".problem-list li[data-code=REGION_INVALID]")).to_have_count(1)
    await expect(page.locator(".inspect-design .selected-problems li")).to_contain_text(["REGION_INVALID"])
    await page.locator(".inspect-design input[name=region]").fill(REGIONS[cloud])
    await expect(page.locator(".problem-list li.design-problem")).to_have_count(0)

    # Drag the instance: positions are saved with the document.
    position = f"id => {{ const p = {CY}.getElementById(id).position(); return [Math.round(p.x), Math.round(p.y)]; }}"
    placed = await page.evaluate(position, ids["instance"])
    box = await page.evaluate(NODE_AT, ids["instance"])
    await page.mouse.move(*box)
    await page.mouse.down()
    await page.mouse.move(box[0] + 40, box[1] + 60, steps=5)
    await page.mouse.up()
    dragged = await page.evaluate(position, ids["instance"])
    assert dragged != placed

    await page.click(".save-design")
    await expect(page.locator(".version-shown")).to_have_text("version 2 of 2")
    saved = server.gql(DESIGN, {"id": design_id})["design"]
    document = saved["current"]["document"]
    assert (saved["latestVersion"], saved["history"][0]["number"], saved["history"][0]["errorCount"]) == (2, 2, 0)
    assert (document["provider"], document["region"]) == (cloud.lower(), REGIONS[cloud])
    assert {c["id"]: c["kind"] for c in document["components"]} == {
        ids["tenancy"]: "Tenancy", ids["compartment"]: "Compartment", ids["network"]: "Network", ids["subnet"]: "Subnet",
        ids["instance"]: "ComputeInstance"}
    assert [(k["from"], k["to"]) for k in document["connections"]] == [
        (ids["tenancy"], ids["compartment"]), (ids["compartment"], ids["network"]), (ids["network"], ids["subnet"]),
        (ids["subnet"], ids["instance"])]
    moved = next(c for c in document["components"] if c["id"] == ids["instance"])
    assert [moved["x"], moved["y"]] == dragged
    tenancy = next(c for c in document["components"] if c["id"] == ids["tenancy"])
    assert tenancy["properties"] == {**CLOUDS[cloud]["tenancy"][1], **CLOUDS[cloud].get("choice", {})}

    preview = await preview_matches_the_api(page, server, design_id, 2)
    assert {r["componentId"] for r in preview["resources"]} >= set(ids.values())
    if cloud == "AWS":
        await console.shot("planner-preview")

    # A second version changes the instance's size (its default is the field's placeholder); the
    # comparison shows exactly what the API's does.
    await select(page, ids["instance"])
    size = next(p for k in palette["kinds"] if k["kind"] == "ComputeInstance" for p in k["properties"] if p["name"] == "size")
    await expect(page.locator(".inspect-component [data-property=size] input")).to_have_attribute("placeholder", size["default"])
    await page.locator(".inspect-component [data-property=size] input").fill(CLOUDS[cloud]["size"])
    await page.fill(".save-form input[name=comment]", "bigger instance")
    await page.click(".save-design")
    await expect(page.locator(".version-shown")).to_have_text("version 3 of 3")
    # The comparison offers the latest version against the one before it.
    await expect(page.locator(".compare-form select[name=before] option:checked")).to_have_text("v2")
    await expect(page.locator(".compare-form select[name=after] option:checked")).to_have_text("v3")
    await page.click(".compare-form .compare")
    api = server.gql(COMPARE, {"id": design_id, "b": 2, "a": 3})["designCompare"]
    assert api["changed"] == [{"id": ids["instance"], "changes": [
        {"field": "properties.size", "before": None, "after": CLOUDS[cloud]["size"]}]}]
    await expect(page.locator(".versions tr[data-version='3'] td").nth(2)).to_have_text("bigger instance")
    await expect(page.locator(".changes-list li")).to_have_count(1)
    await expect(page.locator(".changes-list li.changed")).to_contain_text(f"properties.size — → {CLOUDS[cloud]['size']}")
    # An older version opens read-only, and the latest is one click away.
    await page.click(".versions tr[data-version='2'] .open-version")
    await expect(page.locator(".read-only")).to_contain_text("Version 2, read-only.")
    await expect(page.locator(".palette-kind").first).to_be_disabled()
    await expect(page.locator(".planner-toolbar")).to_have_count(0)
    await page.click(".back-to-latest")
    await expect(page.locator(".version-shown")).to_have_text("version 3 of 3")
    await console.assert_clean()
    await page.context.close()


async def test_the_designs_list_shows_counts_and_copies_and_archives(
        browser: Browser, server: Server, client: dict[str, str]) -> None:
    valid = {"provider": "aws", "region": "eu-west-1", "components": [
        {"id": "account", "kind": "Tenancy", "name": "acme-list",
         "properties": {"email": "a@acme.example", "parentId": "ou-ab12-cd34ef56"}}],
        "connections": []}
    broken = {"provider": "gcp", "region": "europe-west1", "components": [
        {"id": "n", "kind": "Network", "name": "Not Valid", "properties": {}}], "connections": []}
    made = {}
    for label, cloud, document in (("ok", "AWS", valid), ("broken", "GCP", broken)):
        answer = server.gql(CREATE, {"i": {"tenantId": client["id"], "name": unique(f"list-{label}"), "cloud": cloud,
                                           "document": document}})["designCreate"]
        assert answer["__typename"] == "Design", answer
        made[label] = answer
    counts = {k: server.gql(DESIGN, {"id": v["id"]})["design"]["history"][0] for k, v in made.items()}   # newest first
    assert counts["ok"]["errorCount"] == 0 and counts["broken"]["errorCount"] > 0

    console = await root_console(browser, server)
    page = console.page
    await page.click(".menu >> text=Planner")
    await page.select_option("select[name=clientFilter]", client["id"])
    for label, cloud in (("ok", "AWS"), ("broken", "GCP")):
        row = page.locator(f"tr.design[data-id='{made[label]['id']}']")
        await expect(row.locator(".cloud")).to_have_text(cloud)
        await expect(row.locator(".version")).to_have_text("v1")
        await expect(row.locator(".client")).to_have_text("Planner Client")
        await expect(row.locator(".problems")).to_have_text(
            f"{counts[label]['errorCount']} errors, {counts[label]['warningCount']} warnings")
    await expect(page.locator("tr.design td.problems", has_text="…")).to_have_count(0)
    await expect(page.locator("tr.design td.problems", has_text="unknown")).to_have_count(0)
    await console.shot("planner-designs")

    # Copy the valid one from the list, then archive the copy: the API sees both.
    row = page.locator(f"tr.design[data-id='{made['ok']['id']}']")
    await row.locator("button.copy").click()
    copy_name = unique("list-copy")
    await page.fill("tr.copy-row input[name=copyName]", copy_name)
    await page.click("tr.copy-row button[type=submit]")
    copy_row = page.locator("tr.design", has_text=copy_name)
    await expect(copy_row).to_have_count(1)
    listed = {e["node"]["name"]: e["node"] for e in server.gql(DESIGNS, {"t": client["id"], "a": True})["designs"]["edges"]}
    assert listed[copy_name]["copiedFrom"] == made["ok"]["id"] and listed[copy_name]["archived"] is False
    await copy_row.locator("button.archive").click()
    await expect(copy_row).to_have_count(0)
    assert server.gql(DESIGN, {"id": listed[copy_name]["id"]})["design"]["archived"] is True
    await page.check("input[name=includeArchived]")
    await expect(page.locator("tr.design", has_text=copy_name).locator(".badge")).to_contain_text(["archived"])
    await console.assert_clean()
    await page.context.close()


async def test_the_server_judges_what_the_palette_does_not_list_and_a_stale_save_offers_a_reload(
        browser: Browser, server: Server, client: dict[str, str]) -> None:
    document = {"provider": "aws", "region": "eu-west-1", "components": [
        {"id": "net", "kind": "Network", "name": "judged-net", "properties": {"cidr": "10.70.0.0/16"}, "x": 90, "y": 70},
        {"id": "sub", "kind": "Subnet", "name": "judged-sub", "properties": {"cidr": "10.70.1.0/24"}, "x": 300, "y": 70}],
        "connections": []}
    made = server.gql(CREATE, {"i": {"tenantId": client["id"], "name": unique("judged"), "cloud": "AWS",
                                     "document": document}})["designCreate"]
    console = await root_console(browser, server)
    page = console.page
    await page.goto(f"{server.url}/console/#!/planner/{made['id']}")
    await expect(page.locator(".component-list li.component")).to_have_count(2)
    await page.locator(".planner-canvas").scroll_into_view_if_needed()

    # A subnet cannot hold its network: the canvas draws it anyway, and the server's answer marks the edge.
    await page.click(".connect-mode")
    await click_node(page, "sub")
    await click_node(page, "net")
    await page.click(".connect-mode")
    await expect(page.locator(".connect-note")).to_have_text(
        "The palette does not list Subnet → Network; the server will say why.")
    await page.wait_for_function(f"() => {CY}.edges().length === 1 && {CY}.edges()[0].hasClass('has-error')")
    await page.click(".problem-list li[data-code=CONNECTION_NOT_ALLOWED] a")
    await expect(page.locator(".inspect-connection h2")).to_have_text("Connection 1")
    await expect(page.locator(".inspect-connection .selected-problems")).to_contain_text("CONNECTION_NOT_ALLOWED")
    await page.click(".inspect-connection .danger")
    await page.wait_for_function(f"() => {CY}.edges().length === 0")
    await expect(page.locator(".problem-list li[data-code=CONNECTION_NOT_ALLOWED]")).to_have_count(0)

    # Someone else saves version 2 while this page edits version 1: Save is refused, nothing is overwritten.
    await page.click(".palette-kind[data-kind=Identity]")
    theirs = {**document, "components": [{**document["components"][0], "name": "their-net"}, document["components"][1]]}
    saved = server.gql(SAVE, {"i": {"id": made["id"], "expectedVersion": 1, "document": theirs}})["designSave"]
    assert saved["latestVersion"] == 2
    await page.click(".save-design")
    await expect(page.locator(".conflict")).to_contain_text("The design moved on while you edited it")
    await expect(page.locator(".conflict")).to_contain_text("the design is at version 2")
    after = server.gql(DESIGN, {"id": made["id"]})["design"]
    assert after["latestVersion"] == 2
    assert [c["name"] for c in after["current"]["document"]["components"]] == ["their-net", "judged-sub"]
    await page.click(".conflict .reload")
    await expect(page.locator(".version-shown")).to_have_text("version 2 of 2")
    await expect(page.locator(".component-list li.component .name")).to_have_text(["their-net", "judged-sub"])
    await expect(page.locator(".conflict")).to_have_count(0)
    await console.assert_clean()
    await page.context.close()


SMALL_AWS = {"provider": "aws", "region": "eu-west-1", "components": [
    {"id": "account", "kind": "Tenancy", "name": "acme-applied",
     "properties": {"email": "ops@acme.example", "parentId": "ou-ab12-cd34ef56"}, "x": 90, "y": 70},
    {"id": "web", "kind": "Compartment", "name": "acme-web", "properties": {}, "x": 280, "y": 70},
    {"id": "vpc", "kind": "Network", "name": "acme-main", "properties": {"cidr": "10.60.0.0/16"}, "x": 470, "y": 70},
    {"id": "front", "kind": "Subnet", "name": "acme-front", "properties": {"cidr": "10.60.1.0/24"}, "x": 660, "y": 70},
    {"id": "web-1", "kind": "ComputeInstance", "name": "acme-web-1", "properties": {}, "x": 850, "y": 70}],
    "connections": [{"from": "account", "to": "web"}, {"from": "web", "to": "vpc"}, {"from": "vpc", "to": "front"},
                    {"from": "front", "to": "web-1"}]}


async def test_an_operator_with_a_fresh_proof_applies_and_the_canvas_fills_in_live(
        browser: Browser, server: Server, client: dict[str, str], proven: Persona) -> None:
    made = server.gql(CREATE, {"i": {"tenantId": client["id"], "name": unique("applied"), "cloud": "AWS",
                                     "document": SMALL_AWS}})["designCreate"]
    design_id = made["id"]

    # The root token is a service account without a hardware proof: the apply is refused, the step-up offered.
    console = await root_console(browser, server)
    page = console.page
    await page.goto(f"{server.url}/console/#!/planner/{design_id}")
    await page.click(".preview-design")
    await page.click(".apply-design", timeout=60_000)
    await expect(page.locator(".confirm-digest")).to_have_text(await page.locator(".plan-digest").inner_text())
    await page.click(".confirm-apply .confirm")
    await expect(page.locator(".step-up-offer")).to_contain_text("Prove it is you with your hardware key")
    await expect(page.locator(".apply-error")).to_contain_text("fresh hardware-key proof")
    assert server.gql(DESIGN, {"id": design_id})["design"]["runs"] == []
    await console.assert_clean()
    await page.context.close()

    # The operator's browser session, raised with a fresh proof, applies it.
    console = await open_console(browser, server, cookies(server, proven))
    page = console.page
    await page.goto(f"{server.url}/console/#!/planner/{design_id}")
    await expect(page.locator(".planner .design-name")).to_have_text(made["name"])
    await expect(page.locator(".live-indicator .label")).to_have_text("live")
    await expect(page.locator(".drift-counts [data-status=PLANNED]")).to_have_text("PLANNED 5", timeout=30_000)
    await page.evaluate("window.__sameDocument = true")
    preview = await preview_matches_the_api(page, server, design_id, 1)
    await page.click(".apply-design")
    await page.click(".confirm-apply .confirm")

    await expect(page.locator(".run-status")).to_have_text("SUCCEEDED", timeout=90_000)
    await expect(page.locator(".run-engine")).to_have_text("mocks")
    await expect(page.locator(".run-resources")).to_have_text(str(len(preview["resources"])))
    await expect(page.locator(".mocks-notice")).to_contain_text("ran under the Pulumi SDK's mocks: no cloud was touched")
    # Every component but the account arrived through the change stream; the account is the client's
    # tenancy, which the drift report finds by its cloud id. All five are marked found on the canvas.
    for component in ("web", "vpc", "front", "web-1"):
        await expect(page.locator(f".live-arrivals li.live-found[data-component='{component}']").first).to_be_visible(timeout=60_000)
    api = server.gql(DRIFT, {"id": design_id})["designDrift"]
    assert {e["status"] for e in api["entries"]} == {"IN_SYNC"} and len(api["entries"]) == 5
    await expect(page.locator(".drift-counts [data-status=IN_SYNC]")).to_have_text("IN_SYNC 5", timeout=30_000)
    await expect(page.locator(".drift-entries tr.drift-entry td.status")).to_have_text(["IN_SYNC"] * 5)
    for component in ("account", "web", "vpc", "front", "web-1"):
        await wait_class(page, component, "found", True)
    assert await page.evaluate("window.__sameDocument") is True
    await console.shot("planner-applied")
    await console.assert_clean()
    await page.context.close()


async def test_a_client_admin_plans_and_previews_but_is_not_offered_an_apply(
        browser: Browser, server: Server, world: World) -> None:
    made = server.gql(CREATE, {"i": {"tenantId": world.t1, "name": unique("admin-plan"), "cloud": "AWS",
                                     "document": SMALL_AWS}})["designCreate"]
    admin = world.personas["tenant_admin"]
    console = await open_console(browser, server, cookies(server, admin))
    page = console.page
    await page.goto(f"{server.url}/console/#!/clients")
    # The client's admin reads its client, not the provider: no create form, its own client listed.
    t1 = server.gql("query($id: ID!) { tenant(id: $id) { name } }", {"id": world.t1})["tenant"]["name"]
    await expect(page.locator("tr.client .name")).to_have_text([t1])
    await expect(page.locator(".client-create")).to_have_count(0)
    await page.click(f"tr.client[data-id='{world.t1}'] .designs-link")
    await expect(page.locator(f"tr.design[data-id='{made['id']}']")).to_have_count(1)
    await expect(page.locator("tr.design .client")).to_have_text([t1] * await page.locator("tr.design").count())
    await page.click(f"tr.design[data-id='{made['id']}'] a.name")
    await expect(page.locator(".planner .design-name")).to_have_text(made["name"])
    await expect(page.locator(".palette-kind").first).to_be_enabled()
    await preview_matches_the_api(page, server, made["id"], 1)
    await expect(page.locator(".apply-design")).to_have_count(0)
    await console.assert_clean()
    await page.context.close()


async def test_a_tenant_viewer_sees_no_planner_and_the_server_refuses_a_design(
        browser: Browser, server: Server, world: World) -> None:
    viewer = world.personas["viewer"]
    console = await open_console(browser, server, cookies(server, viewer))
    page = console.page
    await page.goto(f"{server.url}/console/")
    await expect(page).to_have_url(f"{server.url}/console/#!/explorer")
    await expect(page.locator(".menu [data-page]")).to_have_text(["CMDB explorer", "My access"])
    await expect(page.locator(".menu [data-section='Administration']")).to_have_count(0)
    await page.goto(f"{server.url}/console/#!/planner")
    await expect(page).to_have_url(f"{server.url}/console/#!/account")
    await expect(page.locator(".account .notice")).to_have_text('You may not use the page "Planner".')

    # The page's own GraphQL service, asked anyway: the server answers Forbidden and creates nothing.
    name = unique("sneaky")
    answer = await page.evaluate("""([tenantId, name]) => new Promise(resolve => {
        const graphql = angular.element(document.body).injector().get('graphql');
        graphql.mutate('PlannerDesignCreate', {input: {tenantId, name, cloud: 'AWS'}})
          .then(data => resolve(data.designCreate), failure => resolve({failed: failure.message}));
      })""", [world.t1, name])
    assert (answer["__typename"], answer["code"]) == ("Forbidden", "FORBIDDEN")
    listed = server.gql(DESIGNS, {"t": world.t1, "a": True})["designs"]["edges"]
    assert [e for e in listed if e["node"]["name"] == name] == []
    await console.assert_clean()
    await page.context.close()
