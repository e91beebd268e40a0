"""Browser login over HTTP: OIDC and SAML single sign-on into cookie sessions, who-am-I, and logout.

    GET  /auth/{idp}/login?return_to=/path  302 to the IdP; the pending login is kept server side
    GET  /auth/{idp}/callback                OIDC: finish, provision the user, open a session, 303
    POST /auth/{idp}/acs                     SAML POST binding: the same
    GET  /auth/{idp}/metadata                the panel's SAML SP metadata for that IdP
    GET  /auth/session                       who the session cookie stands for
    POST /auth/logout                        needs the session cookie and a matching X-CSRF-Token

Cookies. `skyloom_session` carries the session (HttpOnly, so no script can steal it; SameSite=Lax,
so the IdP's redirect back and links from elsewhere arrive logged in). `skyloom_csrf` is the
session's CSRF token: not HttpOnly because the console's JavaScript reads it and echoes it in the
`X-CSRF-Token` header of every state-changing request; a page on another site cannot read our
cookies, so it cannot forge that header (SameSite=Strict: no other site needs it). Both are Secure
unless SKYLOOM_COOKIE_SECURE=false. An OIDC login in flight is bound to the browser that started
it by `skyloom_login` (HttpOnly, Lax, Path=/auth/): a callback URL replayed from elsewhere finds
no login. A SAML login is keyed by its RelayState instead, because the IdP's cross-site POST
brings no Lax cookie.

Pending logins are taken with delete-on-read and SAML assertion ids kept until they expire
(`graph.login_state`), so a replayed callback or response is refused. Every login success and
failure and every logout is audited with the caller's address; tokens never reach the audit
trail, the logs or a URL.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from skyloom.auth_providers import ConfiguredIdp, IdpMisconfigured, IdpRegistry
from skyloom.graph import audit
from skyloom.graph.identity import (
    IdentityError,
    IdentityProvider,
    ProvisionRequest,
    check_csrf,
    open_session,
    provision,
    resolve_session,
    revoke_session,
)
from skyloom.graph.login_state import TakenLogin, first_sighting, put_pending, take_pending
from skyloom.graph.pool import Database
from skyloom.identity import LoginClaims, LoginError, LoginErrorCode as Code
from skyloom.identity.oidc import PendingOidcLogin
from skyloom.identity.saml import PendingSamlLogin
from skyloom.resolvers.context import request_id_of, source_of
from skyloom.settings import Settings

log = logging.getLogger(__name__)

SESSION_COOKIE = "skyloom_session"
CSRF_COOKIE = "skyloom_csrf"
LOGIN_COOKIE = "skyloom_login"
CSRF_HEADER = "x-csrf-token"
_LOGIN_COOKIE_PATH = "/auth/"
_NO_STORE = {"Cache-Control": "no-store"}
_IDP_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")   # the identity_provider.id CHECK
_MAX_RETURN_TO = 2048
_MAX_COOKIE = 256          # our tokens are 43 characters; anything far longer is not ours
_MALFORMED = frozenset({Code.BAD_RESPONSE, Code.STATE_MISSING})    # 400 rather than 401
_IDP_SIDE = frozenset({Code.IDP_ERROR, Code.IDP_UNAVAILABLE})      # the IdP said no: "failure", not "denied"


def safe_return_to(value: str | None) -> str | None:
    """A path on this site to land on after login ("/" when none is asked), or None when `value` could
    lead elsewhere: `//host`, a scheme, backslashes (browsers read `/\\host` as `//host`), or control
    characters (browsers drop tabs and newlines, so `/\\t/host` becomes `//host`)."""
    if value is None or value == "":
        return "/"
    if len(value) > _MAX_RETURN_TO or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return None
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else None


def _problem(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=_NO_STORE)


class AuthRoutes:
    """The login routes of one app. `db_of` returns the app's Database (made in its lifespan, so it
    does not exist yet when the routes are built)."""

    def __init__(self, db_of: Callable[[], Database], settings: Settings, *, environ: Mapping[str, str] = os.environ) -> None:
        self._db_of = db_of
        self._settings = settings
        self._session_ttl = timedelta(hours=settings.session_hours)
        self._idps = IdpRegistry(settings.public_url or f"http://{settings.host}:{settings.port}", environ)

    def routes(self) -> list[Route]:
        return [
            Route("/auth/session", self.session, methods=["GET"]),
            Route("/auth/logout", self.logout, methods=["POST"]),
            Route("/auth/{idp}/login", self.login, methods=["GET"]),
            Route("/auth/{idp}/callback", self.callback, methods=["GET"]),
            Route("/auth/{idp}/acs", self.acs, methods=["POST"]),
            Route("/auth/{idp}/metadata", self.metadata, methods=["GET"]),
        ]

    async def aclose(self) -> None:
        await self._idps.aclose()

    # -- IdPs -----------------------------------------------------------------------------------
    async def _lookup(self, request: Request, kind: str | None = None) -> ConfiguredIdp | Response:
        idp_id = request.path_params["idp"]
        try:
            idp = await self._idps.get(self._db_of(), idp_id) if _IDP_ID.fullmatch(idp_id) else None
        except IdpMisconfigured as exc:
            log.warning("identity provider %s is misconfigured: %s", idp_id, exc)
            return _problem(503, "idp_misconfigured", "this identity provider is not set up correctly")
        if idp is None or (kind is not None and idp.record.kind != kind):
            return _problem(404, "unknown_identity_provider", "no such identity provider")
        return idp

    # -- routes ---------------------------------------------------------------------------------
    async def login(self, request: Request) -> Response:
        idp = await self._lookup(request)
        if isinstance(idp, Response):
            return idp
        return_to = safe_return_to(request.query_params.get("return_to"))
        if return_to is None:
            return _problem(400, "bad_return_to", "return_to must be a path on this site")
        try:
            if idp.oidc is not None:
                start = await idp.oidc.begin_login(return_to=return_to)
                key = secrets.token_urlsafe(32)
            else:
                start = await asyncio.to_thread(idp.saml.begin_login, return_to)
                key = start.pending.relay_state
        except LoginError as exc:
            log.warning("login at %s could not start: %s", idp.record.id, exc.code.value)
            return _problem(502, exc.code.value, "the identity provider cannot be reached")
        ttl = idp.login_ttl
        await put_pending(self._db_of(), key, idp.record.id, idp.record.kind, start.pending.to_dict(), return_to, timedelta(seconds=ttl))
        response = RedirectResponse(start.url, status_code=302, headers=_NO_STORE)
        if idp.oidc is not None:
            self._cookie(response, LOGIN_COOKIE, key, max_age=ttl, path=_LOGIN_COOKIE_PATH)
        return response

    async def callback(self, request: Request) -> Response:
        idp = await self._lookup(request, "oidc")
        if isinstance(idp, Response):
            return idp
        taken = await take_pending(self._db_of(), self._cookie_value(request, LOGIN_COOKIE))
        try:
            pending = _pending(taken, idp.record, "oidc")
            claims = await idp.oidc.finish_login(dict(request.query_params), pending and PendingOidcLogin.from_dict(pending.state))
        except LoginError as exc:
            response = await self._refuse(request, idp.record, exc)
        else:
            response = await self._complete(request, idp.record, claims, taken.return_to)
        response.delete_cookie(LOGIN_COOKIE, path=_LOGIN_COOKIE_PATH, secure=self._settings.cookie_secure, httponly=True, samesite="lax")
        return response

    async def acs(self, request: Request) -> Response:
        idp = await self._lookup(request, "saml")
        if isinstance(idp, Response):
            return idp
        form = await _form(request)
        saml_response, relay_state = form.get("SAMLResponse"), form.get("RelayState")
        if not saml_response:
            return await self._refuse(request, idp.record, _saml_error(idp, Code.BAD_RESPONSE, "no SAMLResponse in a form POST"))
        db = self._db_of()
        taken = await take_pending(db, relay_state)
        try:
            pending = _pending(taken, idp.record, "saml")
            login = await asyncio.to_thread(
                idp.saml.finish_login, saml_response, relay_state, pending and PendingSamlLogin.from_dict(pending.state)
            )
        except LoginError as exc:
            return await self._refuse(request, idp.record, exc)
        if not await first_sighting(db, idp.record.id, login.assertion_id, login.not_on_or_after):
            error = _saml_error(idp, Code.REPLAYED_STATE, "the assertion was used before")
            return await self._refuse(request, idp.record, error, subject=login.claims.subject)
        return await self._complete(request, idp.record, login.claims, taken.return_to)

    async def metadata(self, request: Request) -> Response:
        idp = await self._lookup(request, "saml")
        if isinstance(idp, Response):
            return idp
        xml = await asyncio.to_thread(idp.saml.metadata_xml)
        return Response(xml, media_type="application/samlmetadata+xml")

    async def session(self, request: Request) -> Response:
        token = self._cookie_value(request, SESSION_COOKIE)
        actor = await resolve_session(self._db_of(), token) if token else None
        if actor is None:
            return _problem(401, "no_session", "not logged in")
        impersonator = actor.impersonator.id if actor.impersonator is not None else None
        body = {"actor": actor.id, "name": actor.name, "authStrength": actor.auth_strength.name, "impersonator": impersonator}
        return JSONResponse(body, headers=_NO_STORE)

    async def logout(self, request: Request) -> Response:
        db = self._db_of()
        token = self._cookie_value(request, SESSION_COOKIE)
        if not token:
            return _problem(401, "no_session", "not logged in")
        if not await check_csrf(db, token, request.headers.get(CSRF_HEADER, "")):
            return _problem(403, "csrf_mismatch", "the X-CSRF-Token header does not match this session")
        actor = await resolve_session(db, token)
        await revoke_session(db, token)
        await self._audit(request, audit.Entry(
            type="session.logout", actor=actor.id if actor else "anonymous", priority="info",
            impersonator=actor.impersonator.id if actor and actor.impersonator else None,
            tenant=actor.home_tenant if actor else None, subtenant=actor.home_subtenant if actor else None,
        ))
        response = JSONResponse({"loggedOut": True}, headers=_NO_STORE)
        secure = self._settings.cookie_secure
        response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
        response.delete_cookie(CSRF_COOKIE, path="/", secure=secure, httponly=False, samesite="strict")
        return response

    # -- ends of a login ------------------------------------------------------------------------
    async def _complete(self, request: Request, record: IdentityProvider, claims: LoginClaims, return_to: str) -> Response:
        """Provision the user, open a session, audit, set the cookies. A session whose audit entry
        cannot be written is revoked: no login without a trace."""
        db = self._db_of()
        try:
            user = await provision(db, ProvisionRequest(
                record.id, claims.subject, claims.email, claims.display_name or "", claims.groups, claims.auth_strength
            ))
            token, csrf = await open_session(db, user.id, claims.auth_strength, self._session_ttl)
        except IdentityError as exc:
            return await self._refuse(request, record, exc, protocol=claims.protocol, subject=claims.subject)
        entry = audit.Entry(
            type="login.success", actor=user.actor_id, priority="notice", target=f"idp:{record.id}",
            tenant=user.home_tenant, subtenant=user.home_subtenant,
            detail={"idp": record.id, "protocol": claims.protocol, "authStrength": claims.auth_strength.name},
        )
        try:
            await self._audit(request, entry)
        except Exception:
            await revoke_session(db, token)
            raise
        previous = self._cookie_value(request, SESSION_COOKIE)
        if previous:
            await revoke_session(db, previous)   # a new login replaces the browser's old session
        response = RedirectResponse(return_to, status_code=303, headers=_NO_STORE)
        max_age = int(self._session_ttl.total_seconds())
        self._cookie(response, SESSION_COOKIE, token, max_age=max_age)
        self._cookie(response, CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="strict")
        return response

    async def _refuse(
        self, request: Request, record: IdentityProvider, error: LoginError | IdentityError,
        *, protocol: str | None = None, subject: str | None = None,
    ) -> Response:
        """Audit a refused login and answer it; no session is written. Detail holds codes and the
        protocol layer's operator message, which by contract never carries a token or assertion."""
        if isinstance(error, LoginError):
            code, protocol, message = error.code.value, error.protocol, error.message
            status = 400 if error.code in _MALFORMED else 401
            outcome = "failure" if error.code in _IDP_SIDE else "denied"
        else:
            code, message, status, outcome = error.code, str(error), 401, "denied"
        entry = audit.Entry(
            type="login.failure", actor=f"idp:{record.id}:{subject}" if subject else "anonymous",
            outcome=outcome, priority="warn", target=f"idp:{record.id}", tenant=record.tenant_id,
            detail={"idp": record.id, "protocol": protocol or record.kind, "code": code, "message": message[:300]},
        )
        try:
            await self._audit(request, entry)
        except Exception:
            log.exception("could not audit a refused login at %s", record.id)
        answer = "the login response is malformed" if status == 400 else "the login was refused"
        return _problem(status, code, answer)

    async def _audit(self, request: Request, entry: audit.Entry) -> None:
        entry = replace(entry, request_id=request_id_of(request), source=source_of(request))
        async with self._db_of().connection() as conn, conn.transaction():
            await audit.record(conn, [entry])

    # -- cookies --------------------------------------------------------------------------------
    def _cookie(self, response: Response, name: str, value: str, *, max_age: int, path: str = "/",
                httponly: bool = True, samesite: str = "lax") -> None:
        response.set_cookie(name, value, max_age=max_age, path=path, secure=self._settings.cookie_secure,
                            httponly=httponly, samesite=samesite)

    @staticmethod
    def _cookie_value(request: Request, name: str) -> str | None:
        value = request.cookies.get(name)
        return value if value and len(value) <= _MAX_COOKIE else None


def _pending(taken: TakenLogin | None, record: IdentityProvider, protocol: str) -> TakenLogin | None:
    """The taken login if it is one of this protocol (the protocol layer checks it is this IdP's);
    an expired one is refused here, after its row is already gone."""
    if taken is None or taken.protocol != protocol:
        return None
    if taken.expired:
        raise LoginError(Code.LOGIN_EXPIRED, "the login took longer than allowed", protocol=protocol, idp=record.id)
    return taken


def _saml_error(idp: ConfiguredIdp, code: Code, message: str) -> LoginError:
    return LoginError(code, message, protocol="saml", idp=idp.record.id)


async def _form(request: Request) -> dict[str, str]:
    """An HTML form POST's fields (first value of each); empty for anything else. Parsed here because
    the SAML POST binding needs only this and the request body is already size-limited by the app."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return {}
    try:
        fields = parse_qs((await request.body()).decode("utf-8"), max_num_fields=16)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {name: values[0] for name, values in fields.items()}
