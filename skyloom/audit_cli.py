"""`skyloom audit ...`: check the hash chains, export, forward to syslog, seal, keep partitions, expire."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from skyloom import runtime
from skyloom.graph import audit, audit_reads
from skyloom.graph.audit import PRIORITIES
from skyloom.graph.pool import Database
from skyloom.settings import Settings
from skyloom.terminal import console, fail, friendly_errors, step

T = TypeVar("T")


def _run(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database(runtime.app_url(settings), settings.graph_name, min_size=1, max_size=3)
        await db.open()
        try:
            return await work(db)
        finally:
            await db.close()

    with friendly_errors():
        return asyncio.run(run())


@click.group()
def audit_group() -> None:
    """The tamper-evident audit trail."""


@audit_group.command("verify")
@click.option("--seal/--no-seal", default=True, show_default=True, help="Chain committed entries first.")
@click.pass_obj
def audit_verify(settings: Settings, seal: bool) -> None:
    """Check every hash chain from its anchor to its head; exit 1 at a broken link."""

    async def work(db: Database) -> audit_reads.Verification:
        with step("checking the audit trail") as say:
            if seal:
                say(f"sealed {await audit.seal_all(db)} new entries")
            return await audit_reads.verify(db, progress=lambda n: say(f"{n:,} entries checked"))

    result = _run(settings, work)
    console.print(f"{result.checked:,} entries checked, {result.unsealed:,} not sealed yet")
    if result.ok:
        console.print("[green]✓[/] every chain is intact")
        return
    for b in result.broken_chains:
        entry = f" (entry {b.entry_id})" if b.entry_id is not None else ""
        console.print(f"[red]broken:[/] {b.priority} chain at position {b.position}{entry}: {b.reason}")
    first = result.first_broken
    assert first is not None
    fail(f"the first broken link is in the {first.priority} chain at position {first.position}")


def _filters(priority: tuple[str, ...], types: tuple[str, ...], since: datetime | None, until: datetime | None,
             tenant: str | None) -> audit_reads.AuditFilter:
    return audit_reads.AuditFilter(priorities=priority, types=types, since=since, until=until, tenant=tenant)


@audit_group.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default: stdout).")
@click.option("--priority", multiple=True, type=click.Choice(PRIORITIES), help="Only these priorities (repeatable).")
@click.option("--type", "types", multiple=True, help="Only these types, or families such as 'login.*' (repeatable).")
@click.option("--since", type=click.DateTime(), help="From this time (UTC unless an offset is given).")
@click.option("--until", type=click.DateTime(), help="Before this time.")
@click.option("--tenant", help="Only one tenant's entries (its id).")
@click.pass_obj
def audit_export(settings: Settings, output: Path | None, priority: tuple[str, ...], types: tuple[str, ...],
                 since: datetime | None, until: datetime | None, tenant: str | None) -> None:
    """Entries as JSON lines, oldest first, with their chain positions and hashes."""
    filters = _filters(priority, types, since, until, tenant)

    async def work(db: Database) -> int:
        count = 0
        sink: Any = output.open("wb") if output else sys.stdout.buffer
        try:
            async for row in audit_reads.stream(db, filters, audit_reads.AuditScope(everything=True)):
                sink.write(export_line(row))
                count += 1
        finally:
            if output:
                sink.close()
            else:
                sink.flush()
        return count

    count = _run(settings, work)
    console.print(f"[green]✓[/] {count:,} entries exported" + (f" to {output}" if output else ""))


def export_line(row: dict[str, Any]) -> bytes:
    record = {k: v for k, v in row.items() if k not in ("detail", "prev_hash", "hash")}
    record["detail"] = audit_reads.detail_of(row)
    record["prevHash"] = bytes(row["prev_hash"]).hex() if row["prev_hash"] is not None else None
    record["hash"] = bytes(row["hash"]).hex() if row["hash"] is not None else None
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_UTC_Z)


@audit_group.command("forward")
@click.option("--to", "url", required=True, envvar="SKYLOOM_SYSLOG_URL", help="tcp://host:port or tls://host:port.")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), envvar="SKYLOOM_SYSLOG_CA_FILE",
              help="CA bundle that signs the collector's certificate (tls://).")
@click.option("--follow", is_flag=True, help="Keep forwarding new entries (Ctrl-C to stop).")
@click.pass_obj
def audit_forward(settings: Settings, url: str, ca_file: str | None, follow: bool) -> None:
    """Send sealed entries to a syslog collector (RFC 5424), resuming where the last run stopped."""
    from skyloom.syslog import Destination, Forwarder, SyslogError

    try:
        destination = Destination.parse(url, ca_file)
    except SyslogError as exc:
        fail(str(exc))

    async def work(db: Database) -> int:
        forwarder = Forwarder(db, destination)
        await audit.seal_all(db)
        with step(f"forwarding to {destination.name}") as say:
            sent = await forwarder.forward_once(lambda n: say(f"{n:,} entries sent"))
        if follow:
            await forwarder.run()
        return sent

    try:
        sent = _run(settings, work)
    except SyslogError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        return
    console.print(f"{sent:,} entries sent")


@audit_group.command("seal")
@click.pass_obj
def audit_seal(settings: Settings) -> None:
    """Chain every committed entry now (the API does this continuously)."""
    count = _run(settings, audit.seal_all)
    console.print(f"[green]✓[/] {count:,} entries sealed")


@audit_group.command("maintain")
@click.option("--months-ahead", type=click.IntRange(0, 24), default=3, show_default=True)
@click.pass_obj
def audit_maintain(settings: Settings, months_ahead: int) -> None:
    """Create the coming months' partitions (the API does this at start)."""
    count = _run(settings, lambda db: audit.maintain(db, months_ahead))
    console.print(f"[green]✓[/] {count} partitions created")


@audit_group.command("expire")
@click.pass_obj
def audit_expire(settings: Settings) -> None:
    """Drop months older than each priority's retention; each drop is itself audited."""
    count = _run(settings, lambda db: audit.expire(db, "system:cli"))
    console.print(f"[green]✓[/] {count} month partitions expired")


@audit_group.command("retention")
@click.pass_obj
def audit_retention(settings: Settings) -> None:
    """How long each priority is kept (change it through the API's `auditRetentionSet`)."""
    for priority, days in _run(settings, audit_reads.retention):
        console.print(f"  {priority:<9} {days} days")
