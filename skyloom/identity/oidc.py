"""OpenID Connect login: authorization code with PKCE, against one configured identity provider.

Two steps, with the caller's storage in between (this module keeps no per-login state):

    rp = OidcRelyingParty(config)                   # one per provider, made in the app's lifespan
    start = await rp.begin_login(return_to="/ci")   # -> redirect the browser to start.url
    store(start.pending)                            # server side, bound to the browser (cookie)
    ...
    pending = take(...)                             # read AND delete: a second take returns None
    claims = await rp.finish_login(request.query_params, pending)

`finish_login` checks that the callback belongs to this browser's login (state, constant-time),
that the login is fresh, exchanges the code (authlib, with the PKCE verifier), validates the ID
token signature against the provider's JWKS and its iss / aud / azp / exp / iat / nonce / at_hash
(authlib's `CodeIDToken` claims over joserfc, with an algorithm allow-list), optionally reads
userinfo, and maps the result to `LoginClaims`. Every refusal is a `LoginError` with a code.

Why the store must delete on read: the pending login is the only thing that makes a callback
single-use on our side. If it is gone, the callback is refused as `replayed_state`; the provider
independently refuses a second exchange of the same code (`code_rejected`).
"""
from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
)
from joserfc.jwk import KeySet

from skyloom.identity.claims import OIDC_DEFAULT_MAPPING, ClaimMapping, LoginClaims, from_oidc
from skyloom.identity.errors import LoginError, LoginErrorCode as Code

# Asymmetric only: an HS256 ID token would be signed with our own client secret, and "none" is
# never acceptable. A provider that signs with something else must be configured explicitly.
DEFAULT_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
_JWKS_REFRESH_MIN_SECONDS = 60   # an unknown `kid` refetches the JWKS at most this often


@dataclass(frozen=True, slots=True)
class OidcProviderConfig:
    """One identity provider as the panel is registered with it. `client_secret` None makes a
    public client (token endpoint auth `none`, PKCE alone binds the code to us)."""

    idp: str                                   # our id for this provider
    issuer: str                                # exactly as the provider's discovery says
    client_id: str
    redirect_uri: str
    client_secret: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    use_userinfo: bool = True                  # providers that conform keep scope claims there
    mapping: ClaimMapping = OIDC_DEFAULT_MAPPING
    leeway_seconds: int = 60                   # clock skew allowed on exp / iat / nbf
    login_ttl_seconds: int = 600               # how long a started login may take
    discovery_ttl_seconds: int = 3600
    timeout_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class PendingOidcLogin:
    """What the caller stores server side between redirect and callback. It holds the PKCE
    verifier, so it must not go to the browser (not even in a signed cookie)."""

    idp: str
    state: str
    nonce: str
    code_verifier: str = field(repr=False)
    redirect_uri: str
    created_at: float
    return_to: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingOidcLogin:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class OidcRedirect:
    url: str
    pending: PendingOidcLogin


_CLAIM_CODES = {
    "iss": Code.WRONG_ISSUER,
    "aud": Code.WRONG_AUDIENCE,
    "azp": Code.WRONG_AUDIENCE,
    "nonce": Code.NONCE_MISMATCH,
    "iat": Code.NOT_YET_VALID,
    "nbf": Code.NOT_YET_VALID,
}


class OidcRelyingParty:
    """The panel as a relying party of one provider. Holds only the provider's public metadata
    and keys (cached); make one per configured provider and close it at shutdown."""

    def __init__(
        self,
        config: OidcProviderConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._clock = clock
        self._oauth = AsyncOAuth2Client(
            client_id=config.client_id,
            client_secret=config.client_secret,
            token_endpoint_auth_method="client_secret_basic" if config.client_secret else "none",
            scope=" ".join(config.scopes),
            redirect_uri=config.redirect_uri,
            code_challenge_method="S256",
            transport=transport,
            timeout=config.timeout_seconds,
            follow_redirects=False,
        )
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._oauth.aclose()

    def _fail(self, code: Code, message: str) -> LoginError:
        return LoginError(code, message, protocol="oidc", idp=self.config.idp)

    async def _get_json(self, url: str, **kwargs: Any) -> Any:
        try:
            response = await self._oauth.request("GET", url, withhold_token=True, **kwargs)
        except httpx.HTTPError as exc:
            raise self._fail(Code.IDP_UNAVAILABLE, f"GET {url} failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise self._fail(Code.IDP_UNAVAILABLE, f"GET {url} returned {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise self._fail(Code.IDP_UNAVAILABLE, f"GET {url} did not return JSON") from None

    async def metadata(self, *, force: bool = False) -> Mapping[str, Any]:
        """The provider's discovery document, cached for `discovery_ttl_seconds`. Its `issuer`
        must be the configured one, or a spoofed document could point us at foreign keys."""
        async with self._lock:
            fresh = self._clock() - self._metadata_at < self.config.discovery_ttl_seconds
            if self._metadata is not None and fresh and not force:
                return self._metadata
            url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = await self._get_json(url)
            if not isinstance(document, dict) or document.get("issuer") != self.config.issuer:
                raise self._fail(Code.WRONG_ISSUER, "discovery document names another issuer")
            for needed in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(document.get(needed), str):
                    raise self._fail(Code.IDP_UNAVAILABLE, f"discovery document lacks {needed}")
            self._metadata, self._metadata_at = document, self._clock()
            self._keys = None
            return document

    async def _key_set(self, *, refresh: bool = False) -> KeySet:
        metadata = await self.metadata()
        async with self._lock:
            stale = self._clock() - self._keys_at >= _JWKS_REFRESH_MIN_SECONDS
            if self._keys is None or (refresh and stale):
                document = await self._get_json(metadata["jwks_uri"])
                try:
                    self._keys = KeySet.import_key_set(document)
                except (JoseError, ValueError, TypeError, KeyError):
                    raise self._fail(Code.IDP_UNAVAILABLE, "the provider's JWKS cannot be read") from None
                self._keys_at = self._clock()
            return self._keys

    async def begin_login(self, return_to: str | None = None, **extra: str) -> OidcRedirect:
        """The authorization redirect and the pending login to store. `extra` passes further
        authorization parameters (`prompt`, `login_hint`, `acr_values`)."""
        metadata = await self.metadata()
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)   # 86 characters, inside RFC 7636's 43..128
        url, _ = self._oauth.create_authorization_url(
            metadata["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce, **extra
        )
        pending = PendingOidcLogin(
            idp=self.config.idp,
            state=state,
            nonce=nonce,
            code_verifier=verifier,
            redirect_uri=self.config.redirect_uri,
            created_at=self._clock(),
            return_to=return_to,
        )
        return OidcRedirect(url=url, pending=pending)

    def _check_callback(self, params: Mapping[str, str], pending: PendingOidcLogin | None) -> str:
        if pending is None:
            raise self._fail(Code.REPLAYED_STATE, "no outstanding login for this callback (unknown or already used)")
        state = params.get("state")
        if not state:
            raise self._fail(Code.STATE_MISSING, "the callback carries no state")
        if not hmac.compare_digest(state.encode(), pending.state.encode()) or pending.idp != self.config.idp:
            raise self._fail(Code.STATE_MISMATCH, "the callback's state is not this login's")
        if self._clock() - pending.created_at > self.config.login_ttl_seconds:
            raise self._fail(Code.LOGIN_EXPIRED, "the login took longer than allowed")
        if params.get("error"):
            raise self._fail(Code.IDP_ERROR, f"the provider answered {params['error'][:64]!r}")
        # RFC 9207: a provider that sends `iss` lets us detect a mix-up between providers
        if "iss" in params and params["iss"] != self.config.issuer:
            raise self._fail(Code.WRONG_ISSUER, "the callback came from another issuer")
        code = params.get("code")
        if not code:
            raise self._fail(Code.BAD_RESPONSE, "the callback carries no code")
        return code

    async def finish_login(self, params: Mapping[str, str], pending: PendingOidcLogin | None) -> LoginClaims:
        """Complete a login from the callback's query parameters and the pending login the caller
        took (and deleted) from its store; `None` when it had none."""
        code = self._check_callback(params, pending)
        assert pending is not None
        metadata = await self.metadata()
        try:
            token = await self._oauth.fetch_token(
                metadata["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=pending.code_verifier,
                redirect_uri=pending.redirect_uri,
            )
        except OAuthError as exc:
            raise self._fail(Code.CODE_REJECTED, f"the token endpoint refused the code: {exc.error}") from None
        except httpx.HTTPError as exc:
            raise self._fail(Code.IDP_UNAVAILABLE, f"token endpoint unreachable: {type(exc).__name__}") from None
        except ValueError:
            raise self._fail(Code.BAD_RESPONSE, "the token endpoint did not answer JSON") from None
        finally:
            self._oauth.token = None   # authlib keeps the last token on the client; we do not want it
        if not isinstance(token.get("id_token"), str):
            raise self._fail(Code.BAD_TOKEN, "the token response has no ID token")
        claims = await self.validate_id_token(token["id_token"], nonce=pending.nonce, access_token=token.get("access_token"))
        if self.config.use_userinfo and metadata.get("userinfo_endpoint") and token.get("access_token"):
            claims = {**await self._userinfo(metadata["userinfo_endpoint"], token["access_token"], claims["sub"]), **claims}
        return from_oidc(self.config.idp, claims, self.config.mapping)

    async def validate_id_token(self, id_token: str, *, nonce: str, access_token: str | None = None) -> dict[str, Any]:
        """The verified claims of an ID token meant for us, or a LoginError. Public so the lead
        can re-check a stored token and so tests can hand it tokens made for someone else."""
        keys = await self._key_set()
        try:
            try:
                decoded = jwt.decode(id_token, keys, algorithms=list(self.config.algorithms))
            except InvalidKeyIdError:
                decoded = jwt.decode(id_token, await self._key_set(refresh=True), algorithms=list(self.config.algorithms))
        except BadSignatureError:
            raise self._fail(Code.BAD_SIGNATURE, "the ID token signature does not verify") from None
        except (JoseError, ValueError, TypeError):
            raise self._fail(Code.BAD_TOKEN, "the ID token is not a JWS we accept") from None
        options = {
            "iss": {"essential": True, "value": self.config.issuer},
            "aud": {"essential": True, "value": self.config.client_id},
            "sub": {"essential": True},
            "exp": {"essential": True},
            "iat": {"essential": True},
            "nonce": {"essential": True, "value": nonce},
        }
        params = {"nonce": nonce, "client_id": self.config.client_id}
        if access_token:
            params["access_token"] = access_token
        claims = CodeIDToken(decoded.claims, decoded.header, options, params)
        try:
            claims.validate(now=int(self._clock()), leeway=self.config.leeway_seconds)
        except ExpiredTokenError:
            raise self._fail(Code.EXPIRED, "the ID token has expired") from None
        except ClaimError as exc:
            code = _CLAIM_CODES.get(exc.claim, Code.BAD_TOKEN)
            raise self._fail(code, f"ID token claim {exc.claim!r} is not acceptable") from None
        return dict(claims)

    async def _userinfo(self, url: str, access_token: str, subject: str) -> dict[str, Any]:
        info = await self._get_json(url, headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"})
        if not isinstance(info, dict) or info.get("sub") != subject:
            # OIDC Core 5.3.2: a userinfo response for another subject must not be used
            raise self._fail(Code.USERINFO_MISMATCH, "userinfo describes another subject")
        return info
