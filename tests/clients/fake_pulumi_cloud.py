"""A local stand-in for the two Pulumi Cloud REST endpoints ingest calls (Pulumi Cloud cannot be reached here).

It answers exactly as the REST docs describe (FORMATS.md 4): `GET /api/user/stacks?organization=`
with `{"stacks": [...], "continuationToken": ...}` (paged two at a time, to exercise paging) and
`GET /api/stacks/{org}/{project}/{stack}/export` with a recorded export, `.../updates` with the
stack's update list, `GET /api/orgs/{org}/auditlogs/v2` paging backwards from `startTime`; 401 to a wrong token,
404 to an unknown stack. Skyloom's client (the official `pulumi-cloud-sdk`) talks to it unchanged.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakeCloud(BaseHTTPRequestHandler):
    token: str = ""
    exports: dict[str, bytes] = {}
    stacks: dict[str, list[dict]] = {}  # org -> stack summaries
    updates: dict[str, dict] = {}  # /api/stacks/{org}/{project}/{stack}/updates -> response
    audit_events: dict[str, list[dict]] = {}  # org -> events (any order)
    calls: list[str] = []
    PAGE = 2

    @classmethod
    def add_stack(cls, org: str, project: str, stack: str, export: bytes, last_update: int = 1) -> None:
        cls.exports[f"/api/stacks/{org}/{project}/{stack}/export"] = export
        summaries = [s for s in cls.stacks.setdefault(org, []) if (s["projectName"], s["stackName"]) != (project, stack)]
        summaries.append({
            "id": f"{org}/{project}/{stack}", "orgName": org, "projectName": project, "stackName": stack,
            "lastUpdate": last_update, "resourceCount": 0,
        })
        cls.stacks[org] = summaries

    @classmethod
    @contextmanager
    def serving(cls, token: str) -> Iterator[str]:
        cls.token = token
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), cls)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}"
        finally:
            httpd.shutdown()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        FakeCloud.calls.append(self.path)
        url = urlparse(self.path)
        if self.headers.get("Authorization") != f"token {FakeCloud.token}":
            self._send(401, {"code": 401, "message": "Unauthorized"})
        elif url.path == "/api/user/stacks":
            query = parse_qs(url.query)
            summaries = FakeCloud.stacks.get(query.get("organization", [""])[0], [])
            start = int(query.get("continuationToken", ["0"])[0])
            page = summaries[start : start + self.PAGE]
            more = start + self.PAGE < len(summaries)
            self._send(200, {"stacks": page, "continuationToken": str(start + self.PAGE) if more else None})
        elif url.path.startswith("/api/orgs/") and url.path.endswith("/auditlogs/v2"):
            self._audit_page(url.path.split("/")[3], parse_qs(url.query))
        elif url.path in FakeCloud.exports:
            self._send(200, FakeCloud.exports[url.path])
        elif url.path.endswith("/updates") and url.path.removesuffix("/updates") + "/export" in FakeCloud.exports:
            self._send(200, FakeCloud.updates.get(url.path, {"updates": [], "itemsPerPage": 0, "total": 0}))
        else:
            self._send(404, {"code": 404, "message": "stack not found"})

    def _audit_page(self, org: str, query: dict[str, list[str]]) -> None:
        """Newest first, older than `startTime`; the continuation token is opaque base64 (as in the docs)."""
        if "continuationToken" in query:
            before, skip = json.loads(base64.b64decode(query["continuationToken"][0]))
        elif "startTime" in query:
            before, skip = int(query["startTime"][0]), 0
        else:
            self._send(400, {"code": 400, "message": "one of startTime or continuationToken is required"})
            return
        events = sorted((e for e in FakeCloud.audit_events.get(org, []) if e["timestamp"] < before),
                        key=lambda e: -e["timestamp"])[skip:]
        page, more = events[: self.PAGE], len(events) > self.PAGE
        token = base64.b64encode(json.dumps([before, skip + self.PAGE]).encode()).decode() if more else None
        self._send(200, {"auditLogEvents": page, **({"continuationToken": token} if token else {})})

    def _send(self, code: int, body: dict | bytes) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass
