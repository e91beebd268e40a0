"""Policy check: compile a set of Polar files and run the policy tests written beside them as TOML.

A policy test file (`*.tests.toml`) is data a policy author edits along with the rules:

    [personas.tenant_admin]                 # an actor
    bindings = ["tenant-admin@tenant:t1"]   # role@scope_kind:scope_id
    auth_strength = "MULTI_FACTOR"          # AuthStrength name; default PASSWORD
    proof = true                            # holds a fresh hardware-key proof
    attributes = { regions = "eu-west-1" }  # ABAC attributes (strings)
    kind = "user"                           # user | service | anonymous | system

    [resources.vm]                          # an object; the key is its id unless `id` is given
    kind = "ComputeInstance"
    provider = "p1"
    tenant = "t1"
    subtenant = "s1"
    compartments = ["c1", "c2"]             # outermost first
    tags = { environment = "production" }

    [[cases]]
    persona = "tenant_admin"
    actions = ["read", "update"]            # or action = "read"
    resource = "vm"
    expect = "allow"                        # allow | deny | needs_proof
    at = 2026-01-05T12:00:00Z               # optional; default DEFAULT_AT

Besides the expectation, every case also checks that the list filter agrees with the single
decision (`read_filter(...).matches(resource) == allowed(...)`), so a rule that lists could not
honour is caught here rather than in production.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

from skyloom.policy.actor import Actor, AuthStrength, Binding
from skyloom.policy.adapter import DEFAULT_POLICY_DIR, Policy, PolicyError
from skyloom.policy.resources import AnyResource, make_resource

DEFAULT_AT = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)   # a Monday, midday UTC
EXPECTATIONS = ("allow", "deny", "needs_proof")
_PERSONA_KEYS = {"kind", "id", "bindings", "auth_strength", "proof", "attributes", "groups",
                 "home_provider", "home_tenant", "home_subtenant"}
_RESOURCE_FIELDS = {"provider": "provider_id", "tenant": "tenant_id", "subtenant": "subtenant_id",
                    "compartments": "compartment_path", "tags": "tags", "region": "region",
                    "cloud": "cloud", "created_by": "created_by", "attributes": "attributes"}


class PolicyTestError(ValueError):
    """A policy test file that cannot be read as written."""


@dataclass(frozen=True, slots=True)
class CaseFailure:
    case: str          # "<file>: <persona> <action> <resource>" or the case's name
    expected: str
    got: str


@dataclass(frozen=True)
class CheckReport:
    """The outcome of one check. `ok` only when the policy compiled, at least one test case ran
    and none failed: a policy without tests is never accepted."""

    policy_files: tuple[str, ...]
    test_files: tuple[str, ...]
    error: str | None = None
    cases_run: int = 0
    failures: tuple[CaseFailure, ...] = ()
    warnings: tuple[str, ...] = ()
    policy: Policy | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failures and self.cases_run > 0

    def render(self) -> str:
        lines = [f"policy files: {', '.join(self.policy_files) or '(none)'}",
                 f"test files:   {', '.join(self.test_files) or '(none)'}"]
        if self.error:
            lines.append(f"error: {self.error}")
        for failure in self.failures:
            lines.append(f"FAIL {failure.case}: expected {failure.expected}, got {failure.got}")
        lines.append(f"{self.cases_run} checks, {len(self.failures)} failed" + ("" if self.ok else " - policy refused"))
        return "\n".join(lines)


def collect(paths: Iterable[str | Path] | None) -> tuple[list[Path], list[Path]]:
    """Polar files and test files from files and directories (directories: their *.polar and
    *.tests.toml, not recursive)."""
    polar: list[Path] = []
    tests: list[Path] = []
    for path in (Path(p) for p in (paths if paths is not None else [DEFAULT_POLICY_DIR])):
        members = sorted(path.iterdir()) if path.is_dir() else [path]
        polar += [m for m in members if m.suffix == ".polar"]
        tests += [m for m in members if m.name.endswith(".tests.toml")]
    return polar, tests


def _actor(name: str, spec: dict[str, Any], at: datetime) -> Actor:
    unknown = set(spec) - _PERSONA_KEYS
    if unknown:
        raise PolicyTestError(f"persona {name!r}: unknown keys {sorted(unknown)}")
    bindings = []
    for text in spec.get("bindings", []):
        role, _, scope = text.partition("@")
        scope_kind, _, scope_id = scope.partition(":")
        if not (role and scope_kind and scope_id):
            raise PolicyTestError(f"persona {name!r}: binding {text!r} is not role@scope_kind:scope_id")
        bindings.append(Binding(role, scope_kind, scope_id))   # type: ignore[arg-type]
    try:
        strength = AuthStrength[spec.get("auth_strength", "PASSWORD")]
    except KeyError:
        raise PolicyTestError(f"persona {name!r}: unknown auth_strength {spec['auth_strength']!r}") from None
    kind = spec.get("kind", "user")
    return Actor(
        id=spec.get("id", f"{kind}:{name}"), kind=kind, name=name,
        home_provider=spec.get("home_provider"), home_tenant=spec.get("home_tenant"),
        home_subtenant=spec.get("home_subtenant"), groups=frozenset(spec.get("groups", [])),
        bindings=tuple(bindings), attributes=dict(spec.get("attributes", {})),
        auth_strength=strength if kind != "anonymous" else AuthStrength.NONE,
        proof_until=at + timedelta(minutes=5) if spec.get("proof") else None,
    )


def _resource(name: str, spec: dict[str, Any]) -> AnyResource:
    fields = {"id": spec.get("id", name), "provider_id": None}
    for key, value in spec.items():
        if key in ("kind", "id"):
            continue
        if key not in _RESOURCE_FIELDS:
            raise PolicyTestError(f"resource {name!r}: unknown key {key!r}")
        fields[_RESOURCE_FIELDS[key]] = tuple(value) if key == "compartments" else value
    try:
        return make_resource(spec.get("kind", ""), **fields)
    except (TypeError, ValueError) as exc:
        raise PolicyTestError(f"resource {name!r}: {exc}") from None


def _at(value: Any) -> datetime:
    if value is None:
        return DEFAULT_AT
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def run_tests(policy: Policy, test_file: Path) -> tuple[int, list[CaseFailure]]:
    """Run one test file; raises PolicyTestError when the file itself is wrong."""
    try:
        data = tomllib.loads(test_file.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PolicyTestError(f"{test_file.name}: {exc}") from None
    personas, resources = data.get("personas", {}), data.get("resources", {})
    runs, failures = 0, []
    for number, case in enumerate(data.get("cases", []), start=1):
        where = f"{test_file.name} case {number}"
        persona, target, expect = case.get("persona"), case.get("resource"), case.get("expect")
        if persona not in personas or target not in resources or expect not in EXPECTATIONS:
            raise PolicyTestError(f"{where}: needs a known persona, a known resource and expect in {EXPECTATIONS}")
        at = _at(case.get("at"))
        actor, resource = _actor(persona, personas[persona], at), _resource(target, resources[target])
        actions = case.get("actions") or [case.get("action")]
        for action in actions:
            if not isinstance(action, str):
                raise PolicyTestError(f"{where}: needs action = \"...\" or actions = [...]")
            label = case.get("name") or f"{where}: {persona} {action} {target}"
            decision = policy.decide(actor, action, resource, now=at)
            got = "allow" if decision.allowed else "needs_proof" if decision.needs_proof else "deny"
            runs += 1
            if got != expect:
                failures.append(CaseFailure(label, expect, f"{got} ({decision.reason})"))
            listed = policy.read_filter(actor, action, resource.kind, now=at).matches(resource)
            if listed != decision.allowed:
                failures.append(CaseFailure(f"{label} [list filter]", f"listed={decision.allowed}", f"listed={listed}"))
    return runs, failures


def check(paths: Iterable[str | Path] | None = None) -> CheckReport:
    """Compile the Polar files among `paths` and run the test files among them."""
    polar, tests = collect(paths)
    names = (tuple(str(p) for p in polar), tuple(str(p) for p in tests))
    if not polar:
        return CheckReport(*names, error="no .polar files found")
    try:
        policy = Policy.load(polar)
    except PolicyError as exc:
        return CheckReport(*names, error=f"policy does not compile: {exc}")
    if not tests:
        return CheckReport(*names, error="no policy tests (*.tests.toml) found", warnings=policy.warnings, policy=policy)
    runs, failures = 0, []
    try:
        for test_file in tests:
            count, failed = run_tests(policy, test_file)
            runs += count
            failures += failed
    except PolicyTestError as exc:
        return CheckReport(*names, error=f"test file: {exc}", warnings=policy.warnings, policy=policy)
    if runs == 0:
        return CheckReport(*names, error="the test files hold no cases", warnings=policy.warnings, policy=policy)
    return CheckReport(*names, cases_run=runs, failures=tuple(failures), warnings=policy.warnings, policy=policy)
