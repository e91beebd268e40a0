"""Forwarding the audit trail to a SIEM: RFC 5424 messages over TCP or TLS (RFC 5425 framing).

Each sealed entry goes out once per destination, in chain order; the destination's position per
priority is saved after the collector took a batch, so a restart resumes where it stopped
(a crash between send and save may repeat a batch: at-least-once, like every syslog relay).
Only one replica forwards to a destination at a time (an advisory lock on its name).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timezone
from typing import Any
from urllib.parse import urlsplit

import orjson

from skyloom.graph import audit_reads
from skyloom.graph.audit import PRIORITIES
from skyloom.graph.locks import try_lock
from skyloom.graph.pool import Database

log = logging.getLogger(__name__)

# RFC 5424 severities, and facility 13 ("log audit").
SEVERITY = {"debug": 7, "info": 6, "notice": 5, "warn": 4, "error": 3, "critical": 2}
FACILITY = 13
# Structured-data ids need an enterprise number; 32473 is the one RFC 5612 reserves for examples.
SD_ID = "skyloom@32473"


class SyslogError(Exception):
    pass


@dataclass(frozen=True)
class Destination:
    scheme: str          # "tcp" or "tls"
    host: str
    port: int
    ca_file: str | None = None

    @classmethod
    def parse(cls, url: str, ca_file: str | None = None) -> Destination:
        parts = urlsplit(url)
        if parts.scheme not in ("tcp", "tls") or not parts.hostname:
            raise SyslogError(f"syslog destination must look like tcp://host:port or tls://host:port, not {url!r}")
        try:
            port = parts.port or (6514 if parts.scheme == "tls" else 514)
        except ValueError as exc:
            raise SyslogError(f"bad port in {url!r}") from exc
        return cls(parts.scheme, parts.hostname, port, ca_file)

    @property
    def name(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def _sd_value(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _token(value: str | None, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, or the nil value."""
    if not value:
        return "-"
    cleaned = "".join(c if 33 <= ord(c) <= 126 else "_" for c in value)[:limit]
    return cleaned or "-"


def format_entry(row: dict[str, Any], hostname: str, app: str = "skyloom") -> bytes:
    """One entry as an RFC 5424 message; the chain position and hash go along so a SIEM can check them."""
    pri = FACILITY * 8 + SEVERITY[row["priority"]]
    stamp = row["at"].astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
    params = {
        "id": row["id"], "priority": row["priority"], "actor": row["actor"], "impersonator": row["impersonator"],
        "tenant": row["tenant"], "subtenant": row["subtenant"], "target": row["target"], "request": row["request_id"],
        "source": row["source"], "outcome": row["outcome"], "position": row["position"],
        "hash": bytes(row["hash"]).hex() if row["hash"] is not None else None,
    }
    sd = "[" + SD_ID + "".join(f' {k}="{_sd_value(v)}"' for k, v in params.items() if v is not None) + "]"
    header = f"<{pri}>1 {stamp} {_token(hostname, 255)} {_token(app, 48)} - {_token(row['type'], 32)} {sd}"
    # The free-form message is the detail as JSON, marked UTF-8 with a BOM as RFC 5424 asks.
    return header.encode() + b" \xef\xbb\xbf" + row["detail"].encode()


def frame(message: bytes) -> bytes:
    """Octet counting (RFC 5425 / 6587): the length, a space, the message."""
    return str(len(message)).encode() + b" " + message


class Forwarder:
    def __init__(self, db: Database, destination: Destination, batch: int = 500, hostname: str | None = None) -> None:
        self.db = db
        self.destination = destination
        self.batch = batch
        self.hostname = hostname or socket.gethostname()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        context = None
        if self.destination.scheme == "tls":
            context = ssl.create_default_context(cafile=self.destination.ca_file)
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(self.destination.host, self.destination.port, ssl=context), timeout=10
            )
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
            raise SyslogError(f"cannot reach {self.destination.name}: {exc}") from exc

    async def forward_once(self, progress: Callable[[int], None] | None = None) -> int:
        """Send everything sealed since the last run; returns how many entries went out."""
        async with try_lock(self.db, f"skyloom.syslog:{self.destination.name}") as mine:
            if not mine:
                return 0  # another replica is forwarding to this destination
            return await self._send_all(progress)

    async def _send_all(self, progress: Callable[[int], None] | None) -> int:
        sent = 0
        _, writer = await self._connect()
        try:
            done = await audit_reads.forwarded(self.db, self.destination.name)
            for priority in PRIORITIES:
                position = done.get(priority, 0)
                while rows := await audit_reads.sealed_after(self.db, priority, position, self.batch):
                    writer.write(b"".join(frame(format_entry(r, self.hostname)) for r in rows))
                    try:
                        await writer.drain()
                    except (OSError, ssl.SSLError) as exc:
                        raise SyslogError(f"{self.destination.name} closed the connection: {exc}") from exc
                    position = rows[-1]["position"]
                    await audit_reads.mark_forwarded(self.db, self.destination.name, priority, position)
                    sent += len(rows)
                    if progress is not None:
                        progress(sent)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ssl.SSLError):
                pass
        return sent

    async def run(self, interval: float = 2.0) -> None:
        """Forward forever; an unreachable collector is retried with backoff, nothing is skipped."""
        delay = interval
        while True:
            try:
                await self.forward_once()
                delay = interval
            except SyslogError as exc:
                log.warning("audit forwarding paused: %s (retrying in %.0fs)", exc, delay)
                delay = min(delay * 2, 60)
            await asyncio.sleep(delay)
