"""`skyloom plan ...`: check an architecture design, write its Pulumi program, preview what it would create."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from skyloom.terminal import console, fail, step

DESIGN_FILE = click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
AS_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout (the API's shapes) instead of a table.")


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        fail(f"{escape(str(path))} is not a JSON design document: {escape(str(exc))}")


def _show_problems(problems: list[Any]) -> None:
    table = Table("severity", "code", "component", "message", title="Design problems", title_justify="left")
    for p in problems:
        where = p.component_id or (f"connection {p.connection}" if p.connection is not None else "design")
        colour = "red" if p.severity == "error" else "yellow"
        table.add_row(Text(p.severity, style=colour), Text(p.code), Text(where), Text(p.message))
    Console(stderr=True, width=max(console.width, 140)).print(table)


def _errors(problems: list[Any]) -> int:
    return sum(1 for p in problems if p.severity == "error")


@click.group("plan")
def plan() -> None:
    """The architecture planner: check a design document, write its Pulumi program, preview it.

    \b
    A design document is the JSON the planner's canvas saves (docs/planner.md describes it;
    deploy/planner/examples/ has one per cloud). Nothing here touches a cloud or the database.
    """


@plan.command("validate")
@DESIGN_FILE
@AS_JSON
def validate_command(file: Path, as_json: bool) -> None:
    """Check a design document against the planner's rules; exit 1 when it has errors.

    Each problem names the component (or connection) it concerns, with a machine-readable code
    (CIDR_OVERLAP, NAME_INVALID, SUBNET_NEEDS_NETWORK, ...). Warnings do not fail the check.
    """
    from skyloom.deploy.planner import validate

    problems = validate(_load(file))
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in problems], indent=2))
    elif problems:
        _show_problems(problems)
    errors = _errors(problems)
    if errors:
        console.print(f"[red]✗[/] {errors} error(s), {len(problems) - errors} warning(s)")
        sys.exit(1)
    console.print(f"[green]✓[/] the design is valid ({len(problems)} warning(s))")


def _generate(document: Any, design_id: str | None) -> str:
    from skyloom.deploy.planner import InvalidDesign, generate

    try:
        return generate(document, design_id=design_id)
    except InvalidDesign as exc:
        _show_problems(exc.problems)
        fail(f"the design has {_errors(exc.problems)} error(s): fix them first (`skyloom plan validate`)")
    except ValueError as exc:
        fail(escape(str(exc)), code=2)
    raise AssertionError("unreachable")


DESIGN_ID = click.option("--design-id", default=None,
                         help="The design's id for the skyloom-design tag (default: from the tenancy's name).")


@plan.command("program")
@DESIGN_FILE
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path), default=None,
              help="Write the program to this file (a Pulumi project's __main__.py); default: stdout.")
@DESIGN_ID
def program_command(file: Path, output: Path | None, design_id: str | None) -> None:
    """Write the Pulumi program (Python) that creates a valid design, and list the config it needs.

    The program creates the sub-tenancy (account, subscription, project or compartment) and every
    component in dependency order. Secrets such as database passwords are read from the stack's
    config (`pulumi config set --secret KEY`), never written into the program.
    """
    from skyloom.deploy.planner import required_config

    document = _load(file)
    text = _generate(document, design_id)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"[green]✓[/] wrote {escape(str(output))} ({len(text.splitlines())} lines)")
    for key in required_config(document):
        flag = " --secret" if key.secret else ""
        console.print(f"  needs config: pulumi config set{flag} {escape(key.key)}   ({escape(key.help)})",
                      highlight=False)


@plan.command("preview")
@DESIGN_FILE
@click.option("--stack", default="dev", show_default=True, help="The Pulumi stack name (part of every URN).")
@click.option("--project", default=None, help="The Pulumi project name (default: skyloom-<design id>).")
@DESIGN_ID
@click.option("--timeout", type=click.FloatRange(1, 3600), default=120, show_default=True,
              help="Seconds the program may run under the mocks.")
@AS_JSON
def preview_command(file: Path, stack: str, project: str | None, design_id: str | None, timeout: float,
                    as_json: bool) -> None:
    """List the resources a design's program would create, running it under the Pulumi SDK's mocks.

    No cloud is called and the Pulumi CLI is not needed: the program runs in a child Python
    process whose engine answers with plausible ids. Config the program requires (passwords,
    SSH keys) is filled with placeholders. A real `pulumi preview` needs the CLI and credentials.
    """
    from skyloom.deploy.planner import PreviewFailed, preview
    from skyloom.deploy.planner.program import default_design_id
    from skyloom.deploy.planner.validate import check

    document = _load(file)
    text = _generate(document, design_id)
    design, _ = check(document)
    project = project or f"skyloom-{design_id or default_design_id(design)}"
    try:
        with step("running the program under the Pulumi SDK's mocks"):
            planned = preview(text, project=project, stack=stack, timeout=timeout)
    except PreviewFailed as exc:
        fail(escape(str(exc)))
    except ValueError as exc:
        fail(escape(str(exc)), code=2)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in planned], indent=2))
        return
    table = Table("#", "type", "logical name", "component", "via provider", title=f"{project}/{stack}",
                  title_justify="left")
    for n, r in enumerate(planned, 1):
        via = r.provider.rsplit("::", 1)[-1] if r.provider else "default"
        table.add_row(str(n), Text(r.type), Text(r.name), Text(r.component_id or "-"), Text(via))
    Console(width=max(console.width, 140)).print(table)
    console.print(f"{len(planned)} resources would be created")
