"""Settings read once from the environment; every tunable of the process lives here."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SystemExit(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class Limits:
    """GraphQL abuse limits, on by default (CONVENTIONS: configured in one place)."""

    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 3000
    max_batch: int = 10
    max_page_size: int = 100
    default_page_size: int = 50
    max_impact_depth: int = 5
    max_body_bytes: int = 256 * 1024
    max_subscriptions_per_connection: int = 20
    subscriber_queue: int = 1000


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    admin_database_url: str | None
    database_name: str = "skyloom"
    graph_name: str = "cmdb"
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "skyloom")
    local_port: int = 54329
    host: str = "127.0.0.1"
    port: int = 8000
    pool_min: int = 2
    pool_max: int = 20
    pool_timeout: float = 5.0
    # Pulumi Cloud: read from the environment only, never stored or logged.
    pulumi_webhook_secret: str | None = field(default=None, repr=False)
    pulumi_api_url: str | None = None
    pulumi_access_token: str | None = field(default=None, repr=False)
    # Organizations the API itself polls (exports of changed stacks, the audit log), and how often.
    pulumi_poll_organizations: tuple[str, ...] = ()
    pulumi_poll_seconds: int = 300
    limits: Limits = field(default_factory=Limits)
    # Browser login: the URL browsers and identity providers reach us at (redirect URIs, SAML ACS
    # and entity id; None: http://{host}:{port}), whether cookies are Secure, session lifetime.
    public_url: str | None = None
    cookie_secure: bool = True
    session_hours: int = 8
    # Polar policy files or directories (SKYLOOM_POLICY, colon-separated); None: the built-in policy.
    policy_paths: tuple[str, ...] | None = None
    # Admission rules for mutations (SKYLOOM_ADMISSION, a JSON file); None: policy/admission.json.
    admission_path: str | None = None
    # Audit every API call (SKYLOOM_AUDIT_API_CALLS). Only the audit benchmark turns it off, to
    # measure its cost; changes, logins and refusals are audited either way.
    audit_api_calls: bool = True
    # `serve --debug`: accept a FIDO2 security key (WebAuthn) as the provider tier's hardware proof.
    debug: bool = False

    @property
    def uses_local_database(self) -> bool:
        return self.database_url is None

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        cache = os.environ.get("SKYLOOM_CACHE_DIR")
        values = dict(
            database_url=os.environ.get("SKYLOOM_DATABASE_URL") or None,
            admin_database_url=os.environ.get("SKYLOOM_ADMIN_DATABASE_URL") or None,
            database_name=os.environ.get("SKYLOOM_DATABASE_NAME", "skyloom"),
            cache_dir=Path(cache) if cache else Path.home() / ".cache" / "skyloom",
            local_port=_int("SKYLOOM_LOCAL_DB_PORT", 54329),
            host=os.environ.get("SKYLOOM_HOST", "127.0.0.1"),
            port=_int("SKYLOOM_PORT", 8000),
            pool_min=_int("SKYLOOM_POOL_MIN", 2),
            pool_max=_int("SKYLOOM_POOL_MAX", 20),
            pool_timeout=_int("SKYLOOM_POOL_TIMEOUT_MS", 5000) / 1000,
            pulumi_webhook_secret=os.environ.get("SKYLOOM_PULUMI_WEBHOOK_SECRET") or None,
            pulumi_api_url=os.environ.get("SKYLOOM_PULUMI_API_URL") or None,
            pulumi_access_token=os.environ.get("SKYLOOM_PULUMI_ACCESS_TOKEN") or None,
            pulumi_poll_organizations=tuple(
                o.strip() for o in os.environ.get("SKYLOOM_PULUMI_POLL_ORGANIZATIONS", "").split(",") if o.strip()
            ),
            pulumi_poll_seconds=_int("SKYLOOM_PULUMI_POLL_SECONDS", 300),
            public_url=os.environ.get("SKYLOOM_PUBLIC_URL") or None,
            cookie_secure=_bool("SKYLOOM_COOKIE_SECURE", True),
            session_hours=_int("SKYLOOM_SESSION_HOURS", 8),
            policy_paths=tuple(p for p in os.environ.get("SKYLOOM_POLICY", "").split(":") if p) or None,
            admission_path=os.environ.get("SKYLOOM_ADMISSION") or None,
            audit_api_calls=_bool("SKYLOOM_AUDIT_API_CALLS", True),
            debug=_bool("SKYLOOM_DEBUG", False),
        )
        values.update(overrides)
        return cls(**values)
