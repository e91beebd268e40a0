"""Serving the AngularJS console: static files under /console/ with a strict Content-Security-Policy.

The console is plain files (`console/` at the top of the repository) that talk to Skyloom only
through GraphQL, so it needs no server of its own. AngularJS 1.x is end-of-life, and what keeps it
safe here is the browser refusing anything but our own files: no inline script or style, no eval,
nothing from another origin, no framing. That policy is set on this mount only, because GraphiQL
at /graphql runs inline scripts of its own.

The third-party files (AngularJS, angular-route, cytoscape.js) are copied from node_modules into
`console/vendor/` by `./dev setup`; it is git-ignored, so a clone that skipped the setup answers
503 with what to run instead of a page that cannot start.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

log = logging.getLogger(__name__)

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"
MOUNT = "/console"
# What `./dev setup` copies into console/vendor/ (index.html loads each of them).
VENDOR_FILES = ("angular.min.js", "angular-route.min.js", "angular-csp.css", "cytoscape.min.js")

_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
_STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# index.html is revalidated on every load so that a new release is picked up at once; our own
# scripts and styles too (a 304 costs little); the pinned vendor files change only with the lockfile.
_NO_CACHE = "no-cache"
_VENDOR_CACHE = "public, max-age=86400, must-revalidate"

_MISSING_VENDOR = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Skyloom console unavailable</title></head>
<body><h1>The Skyloom console is not installed on this server</h1>
<p>Its browser libraries are missing from <code>console/vendor/</code>.
The operator can install them with <code>./dev setup</code> (it copies them from the npm packages
of <code>package-lock.json</code>) and reload this page. The GraphQL API at <code>/graphql</code>
works without them.</p></body></html>
"""


def websocket_origin(scope: Scope, public_url: str | None) -> str | None:
    """The ws:// or wss:// origin of the page, for connect-src: some browsers do not let 'self'
    match a websocket. SKYLOOM_PUBLIC_URL wins (it is what browsers reach); otherwise the request's
    own Host, which only shapes the answer to that same request, and only when it looks like a host."""
    if public_url:
        parts = urlsplit(public_url)
        if parts.scheme in ("http", "https") and parts.netloc and _HOST.fullmatch(parts.netloc):
            return f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"
    host = next((v.decode("latin-1") for k, v in scope.get("headers") or [] if k == b"host"), "")
    if not _HOST.fullmatch(host):
        return None
    return f"{'wss' if scope.get('scheme') == 'https' else 'ws'}://{host}"


def content_security_policy(ws_origin: str | None) -> str:
    connect = "'self'" + (f" {ws_origin}" if ws_origin else "")
    return "; ".join((
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
        "font-src 'self'", f"connect-src {connect}", "base-uri 'none'", "form-action 'self'",
        "frame-ancestors 'none'",
    ))


def missing_vendor_files(directory: Path) -> list[str]:
    return [name for name in VENDOR_FILES if not (directory / "vendor" / name).is_file()]


class ConsoleFiles(StaticFiles):
    """StaticFiles (no directory listings, no way out of the directory, no symlinks followed) whose
    every answer, errors included, carries the console's security and cache headers."""

    def __init__(self, directory: Path, public_url: str | None = None) -> None:
        super().__init__(directory=directory, html=True)
        self.root = directory
        self.public_url = public_url

    async def get_response(self, path: str, scope: Scope) -> Response:
        index = path in (".", "index.html")
        try:
            if index and (missing := missing_vendor_files(self.root)):
                log.error("console/vendor/ lacks %s: run `./dev setup`", ", ".join(missing))
                response: Response = HTMLResponse(_MISSING_VENDOR, status_code=503)
            else:
                response = await super().get_response(path, scope)
        except HTTPException as exc:
            response = PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
        self._secure(response, scope, path, index)
        return response

    def _secure(self, response: Response, scope: Scope, path: str, index: bool) -> None:
        headers = response.headers
        headers["Content-Security-Policy"] = content_security_policy(websocket_origin(scope, self.public_url))
        headers.update(_STATIC_HEADERS)
        vendor = path.startswith("vendor/") and not index
        headers["Cache-Control"] = _VENDOR_CACHE if vendor and response.status_code < 400 else _NO_CACHE


def console_routes(public_url: str | None = None, directory: Path = CONSOLE_DIR) -> list[Route | Mount]:
    """The console's mount and the redirect of `/` to it (the app's home page)."""
    if missing := missing_vendor_files(directory):
        log.warning("the console's vendor files are missing (%s): run `./dev setup`", ", ".join(missing))

    async def home(_request: object) -> RedirectResponse:
        return RedirectResponse(f"{MOUNT}/", status_code=307)

    return [Route("/", home), Mount(MOUNT, app=ConsoleFiles(directory, public_url), name="console")]
