"""Policy replacement at runtime and `skyloom policy check`: a broken or untested policy never replaces a working one."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from skyloom.policy.adapter import DEFAULT_POLICY_DIR, Policy, PolicyError
from skyloom.policy.check import CaseFailure, check
from skyloom.policy.holder import PolicyHolder, PolicyRejected
from skyloom.policy.resources import PanelObject
from skyloom.policy_cli import policy as policy_group
from tests.test_policy_grid import NOW, PERSONAS

STACK = PanelObject("Stack", "st1", "p1", "t1", "s1")
STACK_CASE = '''
[[cases]]
persona = "viewer"
action = "read"
resource = "stack"
expect = "{expect}"

[personas.viewer]
bindings = ["viewer@subtenant:s1"]

[resources.stack]
kind = "Stack"
provider = "p1"
tenant = "t1"
subtenant = "s1"
'''


def policy_copy(tmp_path: Path) -> Path:
    """The default policy and its tests, copied where a test may edit them."""
    target = tmp_path / "policy"
    shutil.copytree(DEFAULT_POLICY_DIR, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new))


def viewers_read_no_stacks(directory: Path) -> None:
    edit(directory / "roles.polar", 'kind in ["Tenant", "SubTenant", "Stack"]', 'kind in ["Tenant", "SubTenant"]')


def default_checks() -> int:
    """How many checks the default policy's test file holds (a case checks each of its actions)."""
    cases = tomllib.loads((Path(DEFAULT_POLICY_DIR) / "default.tests.toml").read_text())["cases"]
    return sum(len(case.get("actions", [case.get("action")])) for case in cases)


def test_the_default_policy_passes_its_own_tests():
    report = check()
    assert report.ok is True
    assert (report.error, report.failures, report.warnings) == (None, (), ())
    assert report.cases_run == default_checks() > 90


def test_a_good_new_policy_replaces_the_old_one(tmp_path: Path):
    # given a holder serving the default policy, where viewers read stacks
    holder = PolicyHolder()
    old = holder.current
    assert old.allowed(PERSONAS["viewer"], "read", STACK, now=NOW) is True
    # when a policy without that grant, with a test saying so, is loaded
    directory = policy_copy(tmp_path)
    viewers_read_no_stacks(directory)
    (directory / "stack.tests.toml").write_text(STACK_CASE.format(expect="deny"))
    report = holder.reload([directory])
    # then it is served, and the old object still answers as before for requests that hold it
    assert report.ok is True
    assert report.cases_run == default_checks() + 1
    assert holder.current is not old and holder.current is report.policy
    assert holder.current.allowed(PERSONAS["viewer"], "read", STACK, now=NOW) is False
    assert old.allowed(PERSONAS["viewer"], "read", STACK, now=NOW) is True


def test_a_policy_that_does_not_compile_is_refused(tmp_path: Path):
    holder = PolicyHolder()
    serving = holder.current
    directory = policy_copy(tmp_path)
    edit(directory / "roles.polar", 'role_tier("editor", 2);', 'role_tier("editor", 2')
    report = holder.reload([directory])
    assert report.ok is False
    assert report.error.startswith("policy does not compile: ")
    assert "roles.polar" in report.error
    assert holder.current is serving
    assert holder.current.allowed(PERSONAS["user"], "read", STACK, now=NOW) is True
    with pytest.raises(PolicyRejected) as refused:
        holder.reload_or_raise([directory])
    assert refused.value.report.error == report.error
    assert holder.current is serving


def test_a_policy_whose_tests_fail_is_refused(tmp_path: Path):
    # given a policy change that contradicts a test written beside it
    holder = PolicyHolder()
    serving = holder.current
    directory = policy_copy(tmp_path)
    viewers_read_no_stacks(directory)
    (directory / "stack.tests.toml").write_text(STACK_CASE.format(expect="allow"))
    # when it is loaded
    report = holder.reload([directory])
    # then it is refused with the failing case named, and the old policy keeps serving
    assert report.ok is False and report.error is None
    assert report.failures == (CaseFailure("stack.tests.toml case 1: viewer read stack", "allow", "deny (denied)"),)
    assert holder.current is serving
    assert holder.current.allowed(PERSONAS["viewer"], "read", STACK, now=NOW) is True


def test_a_policy_without_tests_is_refused(tmp_path: Path):
    holder = PolicyHolder()
    directory = policy_copy(tmp_path)
    (directory / "default.tests.toml").unlink()
    report = holder.reload([directory])
    assert (report.ok, report.error) == (False, "no policy tests (*.tests.toml) found")


def test_a_rule_that_lists_could_not_honour_is_caught(tmp_path: Path):
    # given an allow_at rule that bypasses grants (viewers may delete stacks)
    directory = policy_copy(tmp_path)
    with (directory / "main.polar").open("a") as out:
        out.write('\nallow_at(actor: Principal, "read", resource: PanelObject, _env: Env) if resource.kind = "Stack" and actor.kind = "user";\n')
    (directory / "stack.tests.toml").write_text(STACK_CASE.format(expect="allow").replace("viewer@subtenant:s1", "viewer@subtenant:s9"))
    # when checked, the expectation holds but the list filter disagrees
    report = check([directory])
    assert report.failures == (CaseFailure("stack.tests.toml case 1: viewer read stack [list filter]", "listed=True", "listed=False"),)


def test_a_policy_missing_a_rule_the_adapter_needs_is_refused(tmp_path: Path):
    # given a policy that compiles but answers only single decisions
    only_allow = tmp_path / "only_allow.polar"
    only_allow.write_text('allow_at(actor: Principal, "read", _resource, _env: Env) if actor.kind = "user";\n')
    # then loading it names every rule the adapter cannot ask
    with pytest.raises(PolicyError) as refused:
        Policy.load([only_allow])
    lines = str(refused.value).splitlines()
    assert lines[0] == "the policy cannot answer the adapter's questions:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["unrestricted", "actor_ok", "grants", "condition", "role_tier"]


def test_the_holder_refuses_to_start_without_a_working_policy(tmp_path: Path):
    directory = policy_copy(tmp_path)
    viewers_read_no_stacks(directory)
    (directory / "stack.tests.toml").write_text(STACK_CASE.format(expect="allow"))
    with pytest.raises(PolicyRejected, match="1 failed - policy refused"):
        PolicyHolder([directory])


def test_cli_check_on_a_good_policy():
    result = CliRunner().invoke(policy_group, ["check", str(DEFAULT_POLICY_DIR)])
    assert result.exit_code == 0
    assert f"✓ {default_checks()} checks passed" in result.output


def test_cli_check_on_a_broken_file(tmp_path: Path):
    directory = policy_copy(tmp_path)
    edit(directory / "conditions.polar", "actor.is_authenticated and", "actor.is_authenticated and and")
    result = CliRunner().invoke(policy_group, ["check", str(directory)])
    assert result.exit_code == 1
    assert "error: policy does not compile:" in result.output
    assert "conditions.polar" in result.output
    assert "policy refused" in result.output


def test_cli_check_on_failing_tests(tmp_path: Path):
    directory = policy_copy(tmp_path)
    viewers_read_no_stacks(directory)
    (directory / "stack.tests.toml").write_text(STACK_CASE.format(expect="allow"))
    result = CliRunner().invoke(policy_group, ["check", str(directory / "roles.polar"), str(directory / "kinds.polar"),
                                                str(directory / "conditions.polar"), str(directory / "main.polar"),
                                                str(directory / "stack.tests.toml")])
    assert result.exit_code == 1
    assert "FAIL stack.tests.toml case 1: viewer read stack: expected allow, got deny (denied)" in result.output
