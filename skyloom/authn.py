"""Who is calling: bearer tokens for API clients, session cookies (with CSRF) for browsers, both for websockets.

Every request is authenticated before GraphQL sees it. A credential that is present but wrong
(unknown, revoked, expired, tampered, or a cookie without its CSRF token on a state-changing
request) is answered with 401 and audited; it never falls back to anonymous, so a client learns
at once that its credential is bad. No credential at all is the anonymous actor, whom the
policy grants nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from skyloom.graph import audit, identity
from skyloom.graph.pool import Database, DatabaseUnavailable
from skyloom.policy.actor import ANONYMOUS, Actor

SESSION_COOKIE = "skyloom_session"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Unauthenticated(Exception):
    def __init__(self, reason: str, code: str = "UNAUTHENTICATED") -> None:
        super().__init__(reason)
        self.code = code


class Authenticator:
    def __init__(self, db_of: Callable[[], Database]) -> None:
        self.db_of = db_of

    async def credentials(self, authorization: str | None, session: str | None, csrf: str | None,
                          csrf_required: bool) -> Actor:
        db = self.db_of()
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
            actor = await identity.resolve_api_token(db, token.strip())
            if actor is None:
                raise Unauthenticated("the bearer token is unknown, revoked or expired")
            return actor
        if session:
            if csrf_required and not (csrf and await identity.check_csrf(db, session, csrf)):
                raise Unauthenticated("a session cookie needs its X-CSRF-Token here", "CSRF")
            actor = await identity.resolve_session(db, session)
            if actor is None:
                raise Unauthenticated("the session is unknown, revoked or expired")
            return actor
        return ANONYMOUS

    async def http(self, request: Request) -> Actor:
        return await self.credentials(
            request.headers.get("authorization"), request.cookies.get(SESSION_COOKIE),
            request.headers.get(CSRF_HEADER), request.method not in _SAFE_METHODS,
        )

    async def websocket(self, params: dict[str, Any], cookies: dict[str, str]) -> Actor:
        """The graphql-transport-ws `connection_init` payload carries `authorization` (a bearer
        token) or, with the session cookie, `csrfToken`: browsers send cookies with cross-site
        websocket handshakes, so a cookie alone proves nothing."""
        authorization = params.get("authorization")
        csrf = params.get("csrfToken")
        return await self.credentials(
            authorization if isinstance(authorization, str) else None, cookies.get(SESSION_COOKIE),
            csrf if isinstance(csrf, str) else None, True,
        )

    async def refused(self, reason: Unauthenticated, source: str | None, request_id: str | None, via: str) -> None:
        """Audit a refused credential in its own transaction: refusals are rare, and are audited even
        when call auditing is off (so not through the app's call writer)."""
        async with self.db_of().connection() as conn:
            async with conn.transaction():
                await audit.record(conn, [audit.Entry(
                    type="auth.failure", actor="anonymous", priority="warn", outcome="denied", source=source,
                    request_id=request_id, target=via, detail={"code": reason.code, "reason": str(reason)},
                )])


class Authenticate:
    """ASGI middleware for the GraphQL endpoint's HTTP requests: the actor goes into
    `scope["state"]["actor"]`; a bad credential ends the request with 401 here."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            actor = await self.authenticator.http(request)
        except DatabaseUnavailable:
            # Credentials live in the database: without it nobody can be recognised (503, retry).
            await _answer(send, 503, "the database is unavailable; try again shortly", "DATABASE_UNAVAILABLE")
            return
        except Unauthenticated as exc:
            source = request.client.host if request.client else None
            await self.authenticator.refused(exc, source, request.headers.get("x-request-id"), "graphql")
            await _answer(send, 401, str(exc), exc.code, [(b"www-authenticate", b"Bearer")])
            return
        scope.setdefault("state", {})["actor"] = actor
        await self.app(scope, receive, send)


async def _answer(send: Send, status: int, message: str, code: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
