"""Identity store values: the records it returns, its typed errors, and how secrets are minted and digested.

The store keeps no secret in clear. Session, CSRF and API tokens are random values handed to the
caller once; the database holds their SHA-256 digests, which is enough because the values carry
256 bits of randomness (no dictionary to try, so no slow hash or pepper is needed).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from skyloom.policy.actor import AuthStrength, ScopeKind, SubjectKind

IdpKind = Literal["oidc", "saml"]
UserKind = Literal["user", "service"]
# "installation": every provider of the installation (the root group's operators); its scope id is "*".
SCOPE_KINDS: tuple[str, ...] = ("installation", "provider", "tenant", "subtenant", "compartment")
SUBJECT_KINDS: tuple[str, ...] = ("user", "group", "service")


# -- errors ---------------------------------------------------------------------------------------
class IdentityError(Exception):
    """An expected refusal; `code` is machine-readable, for the API's problem types."""

    code = "identity_error"


class UnknownIdentityProvider(IdentityError):
    code = "unknown_identity_provider"


class IdentityProviderDisabled(IdentityError):
    code = "identity_provider_disabled"


class ProvisioningRefused(IdentityError):
    """The subject has no user yet and its identity provider does not create users on login."""

    code = "provisioning_refused"


class UserDisabled(IdentityError):
    code = "user_disabled"


class UnknownUser(IdentityError):
    """No such user or service account, or it is disabled."""

    code = "unknown_user"


class SecretInSettings(IdentityError):
    """Settings must name where a secret lives (`*_env`), never hold it."""

    code = "secret_in_settings"


class InvalidBinding(IdentityError):
    """Unknown role or subject, or a role that cannot be bound at that kind of scope."""

    code = "invalid_binding"


class AlreadyExists(IdentityError):
    code = "already_exists"


# -- inputs and records ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProvisionRequest:
    """A login as the OIDC / SAML layer normalises it, before anything is stored."""

    idp_id: str
    subject: str
    email: str | None = None
    display_name: str = ""
    groups: tuple[str, ...] = ()
    auth_strength: AuthStrength = AuthStrength.PASSWORD
    home_subtenant: str | None = None   # when the IdP's claims place the user in a sub-tenant


@dataclass(frozen=True, slots=True)
class IdentityProvider:
    id: str
    kind: IdpKind
    name: str
    provider_id: str
    tenant_id: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    auto_create_users: bool = False
    auto_create_groups: bool = False
    enabled: bool = True

    @property
    def scope(self) -> tuple[ScopeKind, str]:
        return ("tenant", self.tenant_id) if self.tenant_id else ("provider", self.provider_id)


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    kind: UserKind
    idp_id: str | None
    subject: str | None
    email: str | None
    display_name: str
    home_provider: str | None
    home_tenant: str | None
    home_subtenant: str | None
    created_at: datetime
    last_login_at: datetime | None
    disabled_at: datetime | None

    @property
    def actor_id(self) -> str:
        return f"{self.kind}:{self.id}"


USER_COLUMNS = (
    "id, kind, idp_id, subject, email, display_name, home_provider, home_tenant, home_subtenant, "
    "created_at, last_login_at, disabled_at"
)


@dataclass(frozen=True, slots=True)
class GroupMapping:
    id: UUID
    idp_id: str
    group_name: str
    role: str
    scope_kind: ScopeKind
    scope_id: str


@dataclass(frozen=True, slots=True)
class RoleBindingRecord:
    id: UUID
    subject_kind: SubjectKind
    subject_id: UUID
    role: str
    scope_kind: ScopeKind
    scope_id: str
    created_by: str
    created_at: datetime
    mapping_id: UUID | None = None


BINDING_COLUMNS = "id, subject_kind, subject_id, role, scope_kind, scope_id, created_by, created_at, mapping_id"


@dataclass(frozen=True, slots=True)
class ApiTokenInfo:
    """What may be shown about a token: everything but the secret, which is not stored."""

    id: UUID
    name: str
    user_id: UUID
    scopes: tuple[str, ...]
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


TOKEN_COLUMNS = "id, name, user_id, scopes, created_by, created_at, expires_at, last_used_at, revoked_at"


def token_info(row: tuple) -> ApiTokenInfo:
    values = list(row)
    values[3] = tuple(values[3])
    return ApiTokenInfo(*values)


# -- secrets --------------------------------------------------------------------------------------
_ALNUM = string.ascii_letters + string.digits
_BODY_LENGTH = 40           # 40 base62 characters: about 238 random bits
_CHECK_LENGTH = 6
API_TOKEN_PREFIX = "sky_"   # lets secret scanners (GitHub, gitleaks) recognise a leaked token
_API_TOKEN_SHAPE = re.compile(rf"^{API_TOKEN_PREFIX}[A-Za-z0-9]{{{_BODY_LENGTH + _CHECK_LENGTH}}}$")


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def same_secret(presented: str, stored_digest: bytes) -> bool:
    """Compare a presented secret with a stored digest in constant time."""
    return hmac.compare_digest(digest(presented), stored_digest)


def new_opaque_token() -> str:
    """A session or CSRF token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        chars.append(_ALNUM[rest])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECK_LENGTH)


def new_api_token() -> str:
    """`sky_` + 40 random base62 characters + a 6-character CRC32: a mistyped or truncated token
    is refused without a database round trip, and scanners can verify a candidate offline."""
    body = "".join(secrets.choice(_ALNUM) for _ in range(_BODY_LENGTH))
    return f"{API_TOKEN_PREFIX}{body}{_checksum(body)}"


def well_formed_api_token(token: str) -> bool:
    if not isinstance(token, str) or not _API_TOKEN_SHAPE.match(token):
        return False
    body = token[len(API_TOKEN_PREFIX):-_CHECK_LENGTH]
    return hmac.compare_digest(_checksum(body), token[-_CHECK_LENGTH:])
