"""Pulumi Cloud webhooks: verified at the door, recorded once per delivery, applied by a worker.

The endpoint answers fast and does no ingest itself: it checks the HMAC-SHA256 signature of the
raw body (lower-case hex, `Pulumi-Webhook-Signature`, constant-time compare), records the
delivery under its `Pulumi-Webhook-ID` (a second delivery of the same id and body is answered
as a duplicate and not applied again; the same id with another body is refused as a replay),
and wakes the worker. Webhook payloads carry no resources (FORMATS.md 3), so the worker fetches
the stack's export from Pulumi Cloud and reconciles the whole stack: the order deliveries arrive
in does not matter, since each one applies the stack as it is now.

A stack is applied for the owner it was first ingested for; a stack never seen before belongs
to the tenant or sub-tenant named like the Pulumi organization (its login), else it waits as
"unbound" until someone ingests it once with an owner.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse

from skyloom.graph import deliveries
from skyloom.graph.pool import Database, DatabaseUnavailable
from skyloom.graph.tasks import stop_task
from skyloom.ingest import cloud_poll, reconcile
from skyloom.ingest.pulumi_cloud import CloudError, CloudSettings, PulumiCloud
from skyloom.ingest.state import StateError

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")  # Pulumi's organization, project and stack names


def signature_ok(secret: bytes, body: bytes, signature: str | None) -> bool:
    if not signature:
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


def actionable(kind: str, payload: dict[str, Any]) -> bool:
    """Which deliveries change what a stack holds: finished updates, refreshes, destroys, deployments."""
    if kind == "stack_update":
        return payload.get("result") == "succeeded" and not payload.get("isPreview")
    if kind == "deployment":
        return payload.get("status") == "succeeded"
    return False


class WebhookEndpoint:
    """POST /webhooks/pulumi (`handle`)."""

    def __init__(self, secret: str | None) -> None:
        self.secret = secret.encode() if secret else None
        self.db: Database | None = None
        self.wake = asyncio.Event()

    async def handle(self, request: Request) -> JSONResponse:
        if self.secret is None or self.db is None:
            return _answer(503, "unavailable", "webhooks are not configured on this server (SKYLOOM_PULUMI_WEBHOOK_SECRET)")
        body = await request.body()
        delivery_id = request.headers.get("pulumi-webhook-id")
        kind = request.headers.get("pulumi-webhook-kind")
        source = request.client.host if request.client else None
        if not delivery_id or not kind or len(delivery_id) > 200 or len(kind) > 100:
            return _answer(400, "invalid", "Pulumi-Webhook-ID and Pulumi-Webhook-Kind headers are required")
        if not signature_ok(self.secret, body, request.headers.get("pulumi-webhook-signature")):
            await deliveries.reject(self.db, delivery_id, kind, "bad or missing signature", source)
            return _answer(401, "rejected", "signature does not match")
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            return _answer(400, "invalid", "the body is not a JSON object")
        status = "pending" if actionable(kind, payload) else "ignored"
        outcome = await deliveries.record(self.db, delivery_id, kind, hashlib.sha256(body).hexdigest(), payload, status)
        if outcome == "conflict":
            await deliveries.reject(self.db, delivery_id, kind, "delivery id replayed with another body", source)
            return _answer(401, "rejected", "this delivery id was already received with another body")
        if outcome == "duplicate":
            return _answer(200, "duplicate", "already received")
        if status == "pending":
            self.wake.set()
        return _answer(202 if status == "pending" else 200, "accepted" if status == "pending" else "ignored", kind)


def _answer(code: int, status: str, detail: str) -> JSONResponse:
    return JSONResponse({"status": status, "detail": detail}, status_code=code)


class WebhookWorker:
    """Applies pending deliveries; every replica runs one, and SKIP LOCKED keeps them apart."""

    def __init__(self, db: Database, cloud: CloudSettings, wake: asyncio.Event, interval: float = 5.0) -> None:
        self.db = db
        self.cloud = cloud
        self.wake = wake
        self.interval = interval
        self._task: asyncio.Task | None = None
        self._cloud_client: PulumiCloud | None = None

    def _client(self) -> PulumiCloud:
        """One client for the worker's life (made on first use: without a token it raises, per delivery)."""
        if self._cloud_client is None:
            self._cloud_client = PulumiCloud(self.cloud)
        return self._cloud_client

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="skyloom-webhooks")

    async def stop(self) -> None:
        await stop_task(self._task)

    async def _run(self) -> None:
        while True:
            try:
                while batch := await deliveries.claim(self.db, max_attempts=MAX_ATTEMPTS):
                    for delivery in batch:
                        await self._process(delivery)
            except DatabaseUnavailable as exc:
                log.warning("webhook worker paused: %s", exc)
            except Exception:  # noqa: BLE001 - the worker must outlive one bad delivery
                log.exception("webhook worker failed; continuing")
            try:
                await asyncio.wait_for(self.wake.wait(), self.interval)
            except TimeoutError:
                pass
            self.wake.clear()

    async def _process(self, delivery: deliveries.Delivery) -> None:
        payload = delivery.payload
        org_info = payload.get("organization") or {}
        org = org_info.get("githubLogin") or org_info.get("name")
        project, stack = payload.get("projectName"), payload.get("stackName")
        if not all(isinstance(v, str) and _NAME.match(v) for v in (org, project, stack)):
            await deliveries.finish(
                self.db, delivery.delivery_id, "failed", "payload names no valid organization, project and stack"
            )
            return
        owner = await reconcile.default_owner(self.db, org, project, stack)
        if owner is None:
            await deliveries.finish(
                self.db, delivery.delivery_id, "unbound",
                f"no owner for stack {org}/{project}/{stack}: ingest it once with an owner, or name a tenant {org!r}",
            )
            return
        try:
            result, _ = await cloud_poll.ingest_stack(
                self.db, self._client(), org, project, stack, owner=owner, actor=f"pulumi-webhook:{delivery.delivery_id}",
                cause={"source": "pulumi-webhook", "delivery": delivery.delivery_id, "kind": delivery.kind},
            )
        except CloudError as exc:
            if exc.transient and delivery.attempts < MAX_ATTEMPTS:
                return  # stays pending: the next round tries again
            await deliveries.finish(self.db, delivery.delivery_id, "failed", str(exc))
            return
        except (StateError, reconcile.ReconcileError) as exc:
            await deliveries.finish(self.db, delivery.delivery_id, "failed", str(exc))
            return
        await deliveries.finish(self.db, delivery.delivery_id, "applied", result.summary().split(": ", 1)[1])
