"""What every command prints through: one stderr console, step spinners, and errors that say what to do."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console

from skyloom.deploy.local.errors import ProvisionError
from skyloom.graph.admin import DatabaseSetupError
from skyloom.graph.pool import DatabaseUnavailable

console = Console(stderr=True, soft_wrap=True)  # whole lines: logs and tests read them as written


@contextmanager
def step(title: str) -> Iterator[Callable[[str], None]]:
    """A spinner with the current sub-step, or plain lines when not on a terminal (CI logs)."""
    if console.is_terminal:
        with console.status(title) as status:
            yield lambda msg: status.update(f"{title}: {msg}")
    else:
        console.print(f"{title} ...")
        yield lambda msg: console.print(f"  {msg}")
    console.print(f"[green]✓[/] {title}")


def fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/] {message}")
    sys.exit(code)


@contextmanager
def friendly_errors() -> Iterator[None]:
    try:
        yield
    except (ProvisionError, DatabaseSetupError) as exc:
        fail(str(exc))
    except DatabaseUnavailable as exc:
        fail(f"{exc}\n  Start the local database with `skyloom db up`, or point SKYLOOM_DATABASE_URL at a running PostgreSQL + AGE.")
