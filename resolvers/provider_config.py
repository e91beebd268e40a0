"""Installation-wide provider configuration: HSM settings, the serving policy (check, reload), the role catalogue.

HsmSettings and PolicyFile are installation-level configuration objects (provider id `*`): only
installation bindings reach them, and changing them needs a fresh hardware-key proof. A policy
check compiles and tests the given files in a scratch directory and changes nothing; a reload
goes through `PolicyHolder.reload`, which never swaps in a policy that fails to compile or to pass
its tests, and is audited as `policy.change` either way. A reload replaces the policy of the
replica that answers; other replicas keep theirs until they reload (or restart).
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path
from typing import Any

import strawberry
from psycopg import AsyncConnection

from skyloom.graph import audit, hsm_settings, identity_lists
from skyloom.policy.check import CheckReport, check
from skyloom.resolvers.access_views import config_view, entry, guard_config, in_transaction, readable
from skyloom.resolvers.mutations.kit import Refused
from skyloom.schema.access import (
    HsmSettings,
    HsmSettingsInput,
    HsmSettingsResult,
    PolicyCaseFailure,
    PolicyFileInput,
    PolicyReport,
    PolicyReportResult,
    Role,
    ScopeKind,
    Tier,
)
from skyloom.schema.errors import PublicError, invalid

_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
MAX_FILES = 40
MAX_TOTAL = 200_000
_MODULE = re.compile(r"/[^\x00-\x1f\x7f]{1,4095}")


def _hsm(row: hsm_settings.HsmSettings) -> HsmSettings:
    return HsmSettings(module_path=row.module_path, token_label=row.token_label,
                       challenge_ttl_seconds=row.challenge_ttl_seconds, proof_validity_seconds=row.proof_validity_seconds,
                       updated_by=row.updated_by, updated_at=row.updated_at)


def report_of(report: CheckReport, applied: bool) -> PolicyReport:
    """File names only: the server's directories are nobody's business."""
    return PolicyReport(
        ok=report.ok, applied=applied, error=report.error, cases_run=report.cases_run,
        failures=[PolicyCaseFailure(case=f.case, expected=f.expected, got=f.got) for f in report.failures],
        warnings=list(report.warnings), policy_files=[Path(p).name for p in report.policy_files],
        test_files=[Path(p).name for p in report.test_files],
    )


def _check_hsm_input(value: HsmSettingsInput) -> None:
    if value.module_path is not None and not _MODULE.fullmatch(value.module_path):
        raise Refused(invalid("modulePath", "modulePath must be an absolute path without control characters"))
    if value.token_label is not None and not 1 <= len(value.token_label.encode()) <= 32:
        raise Refused(invalid("tokenLabel", "a PKCS#11 token label is 1 to 32 bytes"))
    if not 10 <= value.challenge_ttl_seconds <= 600:
        raise Refused(invalid("challengeTtlSeconds", "challengeTtlSeconds must be between 10 and 600"))
    if not 30 <= value.proof_validity_seconds <= 3600:
        raise Refused(invalid("proofValiditySeconds", "proofValiditySeconds must be between 30 and 3600"))


async def update_hsm(ctx: Any, value: HsmSettingsInput) -> Any:
    async def work(conn: AsyncConnection) -> HsmSettings:
        _check_hsm_input(value)
        await guard_config(ctx, "update", config_view("HsmSettings", "hsm", None), "hsm", "HSM settings")
        before = await hsm_settings.read_on(conn, lock=True)
        after = await hsm_settings.write_on(conn, value.module_path, value.token_label, value.challenge_ttl_seconds,
                                            value.proof_validity_seconds, ctx.actor.id)
        fields = ("module_path", "token_label", "challenge_ttl_seconds", "proof_validity_seconds")
        changed = {f: {"from": getattr(before, f), "to": getattr(after, f)} for f in fields if getattr(before, f) != getattr(after, f)}
        await audit.record(conn, [entry(ctx, "hsm.settings_changed", target="hsm-settings", priority="warn",
                                        detail={"changed": changed})])
        return _hsm(after)

    return await in_transaction(ctx, work)


def _scratch_check(files: list[PolicyFileInput]) -> CheckReport:
    """Compile and test uploaded files in a directory of their own, deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="skyloom-policy-") as scratch:
        for f in files:
            (Path(scratch) / f.name).write_text(f.text)
        return check([scratch])


def _check_files(files: list[PolicyFileInput]) -> None:
    if not files or len(files) > MAX_FILES:
        raise Refused(invalid("files", f"give 1 to {MAX_FILES} files"))
    if sum(len(f.text) for f in files) > MAX_TOTAL:
        raise Refused(invalid("files", f"at most {MAX_TOTAL} characters in all"))
    names = [f.name for f in files]
    for name in names:
        if not _FILE_NAME.fullmatch(name) or not (name.endswith(".polar") or name.endswith(".tests.toml")):
            raise Refused(invalid("files", f"{name!r}: a file is <name>.polar or <name>.tests.toml"))
    if len(set(names)) != len(names):
        raise Refused(invalid("files", "file names must be distinct"))


async def reload_policy(ctx: Any) -> Any:
    try:
        await guard_config(ctx, "update", config_view("PolicyFile", "policy", None), "policy", "policy")
    except Refused as refused:
        return refused.problem
    holder = ctx.services.policy
    report = await asyncio.to_thread(holder.reload)
    applied = report.ok
    async with ctx.services.db.connection() as conn, conn.transaction():
        await audit.record(conn, [entry(
            ctx, "policy.change", target="policy", priority="warn", outcome="success" if applied else "failure",
            detail={"applied": applied, "casesRun": report.cases_run, "failures": len(report.failures),
                    "error": (report.error or "")[:300] or None, "files": [Path(p).name for p in report.policy_files]},
        )])
    return report_of(report, applied)


async def roles(ctx: Any) -> list[Role]:
    policy = ctx.access.policy
    return [
        Role(name=name, description=description, tier=Tier(int(t)) if (t := policy.role_tier(name)) is not None else None,
             scope_kinds=[ScopeKind(k) for k in kinds])
        for name, description, kinds in await identity_lists.roles(ctx.services.db)
    ]


@strawberry.type
class ProviderConfigQuery:
    @strawberry.field(description="The installation's HSM settings; null for callers who may not read them.")
    async def hsm_settings(self, info: strawberry.Info) -> HsmSettings | None:
        if not readable(info.context, config_view("HsmSettings", "hsm", None)):
            return None
        return _hsm(await hsm_settings.read(info.context.services.db))

    @strawberry.field(description="The check report of the policy this replica serves.")
    def policy_status(self, info: strawberry.Info) -> PolicyReport | None:
        if not readable(info.context, config_view("PolicyFile", "policy", None)):
            return None
        return report_of(info.context.services.policy.report, True)

    @strawberry.field(description="Compile and test policy files without serving them (Polar files and *.tests.toml).")
    async def policy_check(self, info: strawberry.Info, files: list[PolicyFileInput]) -> PolicyReport:
        if not readable(info.context, config_view("PolicyFile", "policy", None)):
            info.context.denied = True
            raise PublicError("only readers of the installation's policy may check policies", "FORBIDDEN")
        try:
            _check_files(files)
        except Refused as refused:
            raise PublicError(refused.problem.message, "INVALID_INPUT") from None
        return report_of(await asyncio.to_thread(_scratch_check, files), False)

    @strawberry.field(description="The roles that may be bound, their tiers and where each may be bound.")
    async def roles(self, info: strawberry.Info) -> list[Role]:
        return await roles(info.context) if info.context.actor.is_authenticated else []


@strawberry.type
class ProviderConfigMutation:
    @strawberry.mutation(description="Change the HSM settings (provider tier, needs a step-up).")
    async def hsm_settings_update(self, info: strawberry.Info, input: HsmSettingsInput) -> HsmSettingsResult:
        return await update_hsm(info.context, input)

    @strawberry.mutation(description="Reload the serving policy from its files; a policy that does not compile or "
                                     "fails its tests is refused and the old one keeps serving (needs a step-up).")
    async def policy_reload(self, info: strawberry.Info) -> PolicyReportResult:
        return await reload_policy(info.context)
