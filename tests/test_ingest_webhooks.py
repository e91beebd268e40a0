"""Pulumi Cloud webhooks against a real server: signatures, replays, idempotency, and the export they trigger.

Pulumi Cloud itself cannot be reached from here, so its two documented pieces this needs run
locally: the sender (these tests sign and post the documented payloads) and the stack export
endpoint (a small HTTP server that answers `GET /api/stacks/{org}/{project}/{stack}/export`
with a real recorded export, and 401 to a wrong token). Skyloom's side runs unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from tests.clients.fake_pulumi_cloud import FakeCloud
from tests.conftest import REPO, Pg, Server, unique
from tests.test_ingest_translate import STATES
from tests.test_mutations import backend, provider, tenancy, tenant

SECRET = "whsec-test-" + "x" * 20
TOKEN = "pul-test-token"
PAYLOADS = REPO.parent / "shared" / "data" / "pulumi" / "webhook-payloads" / "generic"
EXPORT = next(p for p in STATES if p.name == "azure-native-networked-vm.json")


@pytest.fixture(scope="module")
def cloud() -> Iterator[str]:
    with FakeCloud.serving(TOKEN) as url:
        yield url


@pytest.fixture(scope="module")
def hooked(pg: Pg, cloud: str, demo_loaded) -> Iterator[Server]:
    srv = Server(pg.app_url, {
        "SKYLOOM_PULUMI_WEBHOOK_SECRET": SECRET, "SKYLOOM_PULUMI_API_URL": cloud, "SKYLOOM_PULUMI_ACCESS_TOKEN": TOKEN,
    })
    yield srv
    srv.stop()


def payload(org: str, project: str, stack: str, **changes) -> bytes:
    body = json.loads((PAYLOADS / "pulumi-docs-stack-update.json").read_text())
    body["organization"]["githubLogin"] = org
    body.update({"projectName": project, "stackName": stack, "kind": "update", **changes})
    return json.dumps(body).encode()


def post(server: Server, body: bytes, delivery: str, kind: str = "stack_update", secret: str | None = SECRET) -> httpx.Response:
    headers = {"Pulumi-Webhook-ID": delivery, "Pulumi-Webhook-Kind": kind, "Content-Type": "application/json"}
    if secret is not None:
        headers["Pulumi-Webhook-Signature"] = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return server.http.post("/webhooks/pulumi", content=body, headers=headers)


def delivery_status(pg: Pg, delivery: str, wait_for_final: bool = True) -> tuple[str, str | None] | None:
    deadline = time.monotonic() + 30
    while True:
        with psycopg.connect(pg.admin_url) as conn:
            row = conn.execute("SELECT status, detail FROM skyloom.webhook_delivery WHERE delivery_id = %s", (delivery,)).fetchone()
        if row is None or not wait_for_final or row[0] != "pending" or time.monotonic() > deadline:
            return row
        time.sleep(0.1)


def rejections(pg: Pg, delivery: str) -> list[str]:
    with psycopg.connect(pg.admin_url) as conn:
        return [r[0] for r in conn.execute("SELECT reason FROM skyloom.webhook_rejection WHERE delivery_id = %s", (delivery,))]


@pytest.fixture
def org(hooked: Server) -> str:
    """An organization whose login names a tenant (the default owner rule), with an Azure root tenancy."""
    name = unique("org")
    p = provider(hooked)
    tenancy(hooked, backend(hooked, p["id"], "AZURE")["id"])
    tenant(hooked, p["id"], name=name)
    FakeCloud.add_stack(name, "upgrade-networked-vm", "test", EXPORT.read_bytes())
    return name


def test_a_signed_update_fetches_the_export_and_applies_it(pg: Pg, hooked: Server, org: str) -> None:
    delivery = unique("d")
    response = post(hooked, payload(org, "upgrade-networked-vm", "test", result="succeeded"), delivery)
    assert response.status_code == 202 and response.json()["status"] == "accepted"
    status, detail = delivery_status(pg, delivery)
    assert status == "applied" and detail.startswith("6 created, 0 updated, 0 unchanged, 0 retired; new tenancies ")
    stacks = hooked.gql(
        "query($n: String!) { cis(filter: {kinds: [Compartment], text: $n}) { totalCount } }", {"n": "rg8baa4592"}
    )
    assert stacks["cis"]["totalCount"] >= 1
    owned = hooked.gql("{ tenants(first: 100) { edges { node { name tenancies { name displayKind } } } } }")
    [mine] = [e["node"] for e in owned["tenants"]["edges"] if e["node"]["name"] == org]
    assert mine["tenancies"] == [{"name": "0282681f-7a9e-424b-80b2-96babd57a8a1", "displayKind": "Tenancy (Subscription)"}]


def test_the_same_delivery_twice_is_applied_once(pg: Pg, hooked: Server, org: str) -> None:
    delivery, body = unique("d"), payload(org, "upgrade-networked-vm", "test", result="succeeded")
    assert post(hooked, body, delivery).status_code == 202
    assert delivery_status(pg, delivery)[0] == "applied"
    calls = len(FakeCloud.calls)
    again = post(hooked, body, delivery)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    time.sleep(0.5)
    assert len(FakeCloud.calls) == calls  # no second fetch, no second apply


def test_a_replayed_id_with_another_body_is_refused_and_changes_nothing(pg: Pg, hooked: Server, org: str) -> None:
    delivery = unique("d")
    assert post(hooked, payload(org, "upgrade-networked-vm", "test", result="succeeded"), delivery).status_code == 202
    assert delivery_status(pg, delivery)[0] == "applied"
    forged = post(hooked, payload(org, "upgrade-networked-vm", "test", result="succeeded", kind="destroy"), delivery)
    assert forged.status_code == 401 and forged.json()["status"] == "rejected"
    assert rejections(pg, delivery) == ["delivery id replayed with another body"]
    assert delivery_status(pg, delivery)[0] == "applied"


@pytest.mark.parametrize("secret", [None, "wrong-secret"])
def test_unsigned_or_badly_signed_deliveries_are_refused(pg: Pg, hooked: Server, org: str, secret: str | None) -> None:
    delivery = unique("d")
    response = post(hooked, payload(org, "upgrade-networked-vm", "test", result="succeeded"), delivery, secret=secret)
    assert response.status_code == 401
    assert delivery_status(pg, delivery, wait_for_final=False) is None  # not recorded as a delivery
    assert rejections(pg, delivery) == ["bad or missing signature"]


def test_previews_and_failed_updates_are_recorded_and_ignored(pg: Pg, hooked: Server, org: str) -> None:
    preview = (PAYLOADS / "pulumi-docs-stack-preview.json").read_bytes()
    d1, d2 = unique("d"), unique("d")
    assert post(hooked, preview, d1, kind="stack_preview").json()["status"] == "ignored"
    assert post(hooked, payload(org, "upgrade-networked-vm", "test", result="failed"), d2).json()["status"] == "ignored"
    assert delivery_status(pg, d1)[0] == "ignored" and delivery_status(pg, d2)[0] == "ignored"


def test_unknown_stack_owner_waits_unbound(pg: Pg, hooked: Server) -> None:
    delivery = unique("d")
    assert post(hooked, payload(unique("nobody"), "p", "s", result="succeeded"), delivery).status_code == 202
    status, detail = delivery_status(pg, delivery)
    assert status == "unbound" and "no owner for stack" in detail


def test_a_stack_the_cloud_does_not_know_fails_the_delivery(pg: Pg, hooked: Server, org: str) -> None:
    delivery = unique("d")
    assert post(hooked, payload(org, "no-such-project", "test", result="succeeded"), delivery).status_code == 202
    status, detail = delivery_status(pg, delivery)
    assert status == "failed" and "404" in detail


def test_malformed_bodies_and_missing_headers(hooked: Server) -> None:
    body = b"{not json"
    bad = post(hooked, body, unique("d"))
    assert bad.status_code == 400
    missing = hooked.http.post("/webhooks/pulumi", content=b"{}", headers={"Content-Type": "application/json"})
    assert missing.status_code == 400


def test_without_a_secret_the_endpoint_is_closed(server: Server) -> None:
    response = server.http.post("/webhooks/pulumi", content=b"{}", headers={"Pulumi-Webhook-ID": "x", "Pulumi-Webhook-Kind": "stack"})
    assert response.status_code == 503


@pytest.mark.parametrize("name", ["pulumi-docs-deployment.json", "pulumi-docs-stack-created.json", "pulumi-docs-stack-preview.json", "pulumi-docs-stack-update.json"])
def test_every_documented_payload_is_accepted_by_kind(pg: Pg, hooked: Server, name: str) -> None:
    kinds = {"pulumi-docs-deployment.json": "deployment", "pulumi-docs-stack-created.json": "stack",
             "pulumi-docs-stack-preview.json": "stack_preview", "pulumi-docs-stack-update.json": "stack_update"}
    delivery = unique("doc")
    response = post(hooked, (PAYLOADS / name).read_bytes(), delivery, kind=kinds[name])
    # The stack update is a finished refresh, so it is applied (to an organization nobody owns here);
    # a running deployment, a new stack and a preview change no resources.
    expected = ("accepted", "unbound") if name == "pulumi-docs-stack-update.json" else ("ignored", "ignored")
    assert response.json()["status"] == expected[0]
    assert delivery_status(pg, delivery)[0] == expected[1]


@pytest.mark.parametrize("path", STATES, ids=lambda p: p.name)
def test_every_real_state_arrives_through_a_webhook(pg: Pg, hooked: Server, path) -> None:
    org = unique("wh")
    p = provider(hooked)
    roots = {cloud: tenancy(hooked, backend(hooked, p["id"], cloud)["id"]) for cloud in ("AWS", "AZURE", "GCP")}
    client = tenant(hooked, p["id"], name=org)
    # An S3 bucket's state names no account: it goes to the owner's one AWS tenancy.
    tenancy(hooked, roots["AWS"]["id"], owner_id=client["id"], name="the-aws-account")
    raw = json.loads(path.read_text())
    if "checkpoint" in raw:  # Pulumi Cloud exports every stack in the export envelope
        raw = {"version": raw["version"], "deployment": raw["checkpoint"]["latest"]}
    FakeCloud.add_stack(org, "proj", "stack", json.dumps(raw).encode())
    delivery = unique("d")
    assert post(hooked, payload(org, "proj", "stack", result="succeeded"), delivery).status_code == 202
    status, detail = delivery_status(pg, delivery)
    assert status == "applied", detail
    created = int(detail.split(" created")[0])
    assert created == len(translate_file(path).records)


def translate_file(path):
    from skyloom.ingest import state, translate

    return translate.translate(state.load(path))


def test_payload_names_outside_pulumis_rules_fail_without_a_fetch(pg: Pg, hooked: Server) -> None:
    delivery = unique("d")
    calls = len(FakeCloud.calls)
    assert post(hooked, payload("../../api/orgs/x", "p", "s", result="succeeded"), delivery).status_code == 202
    status, detail = delivery_status(pg, delivery)
    assert status == "failed" and "no valid organization" in detail
    assert len(FakeCloud.calls) == calls
