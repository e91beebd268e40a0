"""Pulumi Cloud's REST API through the official client (`pulumi-cloud-sdk`), with retries and backoff.

The SDK is synchronous (urllib); calls run in a worker thread so the event loop keeps serving.
Transient failures (connection errors, 429, 5xx) are retried with exponential backoff; anything
else (401 bad token, 404 unknown stack) is final and says so.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
from dataclasses import dataclass, replace
from typing import Any

from pulumi_cloud_sdk import ApiClient, Configuration
from pulumi_cloud_sdk.apis import OrganizationsApi, StacksApi, UsersApi

from skyloom.ingest import history, state


class CloudError(RuntimeError):
    """Pulumi Cloud refused or could not answer; `transient` says whether trying later may help."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class CloudSettings:
    api_url: str | None
    access_token: str | None
    attempts: int = 4
    backoff_seconds: float = 0.5
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class StackSummary:
    org: str
    project: str
    stack: str
    last_update: int | None  # Unix time of the stack's last update, as Pulumi Cloud reports it


class PulumiCloud:
    def __init__(self, settings: CloudSettings) -> None:
        if not settings.access_token:
            raise CloudError("no Pulumi access token configured (SKYLOOM_PULUMI_ACCESS_TOKEN)", transient=False)
        config = Configuration()
        if settings.api_url:
            config.host = settings.api_url.rstrip("/")
        config.access_token = settings.access_token
        client = ApiClient(config)
        self._stacks = StacksApi(client)
        self._users = UsersApi(client)
        self._orgs = OrganizationsApi(client)
        self.settings = settings

    async def stacks(self, org: str) -> list[StackSummary]:
        """Every stack of the organization the token can see, following continuation tokens."""
        found: list[StackSummary] = []
        token = None
        while True:
            page = await asyncio.to_thread(
                self._with_retries,
                lambda token=token: self._users.list_user_stacks(
                    organization=org, continuation_token=token, _request_timeout=self.settings.timeout_seconds
                ),
            )
            for item in page.stacks or []:
                found.append(StackSummary(item.org_name, item.project_name, item.stack_name, item.last_update))
            token = page.continuation_token
            if not token:
                return found

    async def export(self, org: str, project: str, stack: str) -> state.StackState:
        """The stack's current state, as `pulumi stack export` would write it."""
        deployment = await asyncio.to_thread(self._with_retries, lambda: self._stacks.export_stack(
            org, project, stack, _request_timeout=self.settings.timeout_seconds
        ))
        raw = {"version": deployment.version, "deployment": deployment.deployment}
        exported = state.parse(raw, f"export of {org}/{project}/{stack}")
        # Pulumi Cloud knows which stack it exported; that, not the URNs inside, names it.
        return replace(exported, project=project, stack=stack, organization=org)

    async def updates(self, org: str, project: str, stack: str) -> list[history.UpdateRecord]:
        """The stack's update history, oldest first."""
        raw = await asyncio.to_thread(self._with_retries, lambda: self._stacks.get_stack_updates(
            org, project, stack, _request_timeout=self.settings.timeout_seconds
        ))
        return history.parse_cloud_updates(raw, f"updates of {org}/{project}/{stack}")

    async def audit_events(self, org: str, since: int, max_pages: int = 1000) -> list[dict[str, Any]]:
        """The organization's audit events at or after `since` (Unix seconds), in Pulumi's JSON names.

        The API pages backwards from `startTime`; paging stops at the first page that reaches
        back past `since`, or when there is no continuation token.
        """
        found: list[dict[str, Any]] = []
        token: str | None = None
        start = int(time.time()) + 1
        for _ in range(max_pages):
            page = await asyncio.to_thread(self._with_retries, lambda token=token: self._orgs.list_audit_log_events_handler_v2(
                org, continuation_token=token, start_time=None if token else start,
                _request_timeout=self.settings.timeout_seconds,
            ))
            events = [_audit_event(e) for e in page.audit_log_events or []]
            found += [e for e in events if e["timestamp"] >= since]
            token = page.continuation_token
            if not token or any(e["timestamp"] < since for e in events):
                break
        return found

    def _with_retries(self, call):
        delay = self.settings.backoff_seconds
        for attempt in range(1, self.settings.attempts + 1):
            try:
                return call()
            except urllib.error.HTTPError as exc:
                transient = exc.code == 429 or exc.code >= 500
                if not transient or attempt == self.settings.attempts:
                    raise CloudError(f"Pulumi Cloud answered {exc.code} {exc.reason}", transient) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt == self.settings.attempts:
                    raise CloudError(f"Pulumi Cloud is unreachable: {getattr(exc, 'reason', exc)}", True) from None
            except (ValueError, TypeError) as exc:  # the SDK's models refuse what they cannot read
                raise CloudError(f"Pulumi Cloud sent an answer that does not match its API: {exc}", False) from None
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")


def _audit_event(event: Any) -> dict[str, Any]:
    """The SDK's model back in the JSON names of Pulumi's docs (what `ingest.audit_logs` reads)."""
    user = event.user
    raw = {
        "timestamp": event.timestamp, "sourceIP": event.source_ip, "event": event.event, "description": event.description,
        "user": {"name": getattr(user, "name", None), "githubLogin": getattr(user, "github_login", None)} if user else None,
        "tokenID": event.token_id, "tokenName": event.token_name, "reqOrgAdmin": event.req_org_admin,
        "reqStackAdmin": event.req_stack_admin, "authFailure": event.auth_failure, "actorName": event.actor_name,
        "actorUrn": event.actor_urn,
    }
    return {k: v for k, v in raw.items() if v is not None}
