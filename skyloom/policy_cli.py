"""`skyloom policy ...`: check Polar policy files and their tests before they go live."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape

from skyloom.terminal import console


@click.group("policy")
def policy() -> None:
    """Access-control policy (Oso / Polar): check what policy authors wrote."""


@policy.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def check_command(paths: tuple[Path, ...]) -> None:
    """Compile the .polar files in PATHS and run the *.tests.toml beside them.

    PATHS are files or directories (default: the built-in policy). Exits 1 when the policy does
    not compile, has no tests, or a test fails: the same verdict a running API applies before it
    accepts a new policy.
    """
    from skyloom.policy.check import check

    report = check(list(paths) or None)
    console.print(escape(f"policy files: {', '.join(report.policy_files) or '(none)'}"), highlight=False)
    console.print(escape(f"test files:   {', '.join(report.test_files) or '(none)'}"), highlight=False)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if report.error:
        console.print(f"[red]error:[/] {escape(report.error)}", highlight=False)
    for failure in report.failures:
        console.print(f"[red]FAIL[/] {escape(failure.case)}: expected {failure.expected}, got {escape(failure.got)}", highlight=False)
    if report.ok:
        console.print(f"[green]✓[/] {report.cases_run} checks passed", highlight=False)
        return
    console.print(f"[red]✗[/] policy refused ({report.cases_run} checks, {len(report.failures)} failed)", highlight=False)
    sys.exit(1)
