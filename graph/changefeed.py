"""The change feed: one LISTEN connection per process, fanning committed changes out to local subscribers.

Every writing transaction ends with one NOTIFY naming itself (graph and transaction id), and
PostgreSQL delivers it to every listening replica only once the transaction has committed. The
listener then reads exactly that transaction's rows from the change log, so a change is never
seen before it is durable and every replica sees every change. When the LISTEN connection drops
(database restart, network), the listener reconnects with backoff and replays what was written
meanwhile from the change log, so subscribers lose nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable

import psycopg
from psycopg import AsyncConnection

from skyloom.graph.pool import Database
from skyloom.graph.records import CHANGE_COLUMNS, Change, change_from_row
from skyloom.graph.store import CHANNEL
from skyloom.graph.tasks import stop_task

log = logging.getLogger(__name__)

_PAGE = 5000


class SubscriberOverflow(Exception):
    """A subscriber fell too far behind; it must reconnect and resume from its last event id."""


class Subscription:
    """A local subscriber: a bounded queue of changes on some topics."""

    def __init__(self, topics: Iterable[str], maxsize: int) -> None:
        self.topics = frozenset(topics)
        self.queue: asyncio.Queue[Change] = asyncio.Queue(maxsize)
        self.overflowed = False

    def offer(self, change: Change) -> None:
        if self.overflowed or change.topic not in self.topics:
            return
        try:
            self.queue.put_nowait(change)
        except asyncio.QueueFull:
            self.overflowed = True
            # Wake the consumer so that it notices and ends the stream.
            self.queue.get_nowait()
            self.queue.put_nowait(change)

    async def next(self) -> Change:
        change = await self.queue.get()
        if self.overflowed:
            raise SubscriberOverflow("subscriber fell behind; resubscribe with the last event id")
        return change


class ChangeFeed:
    def __init__(self, db: Database, *, retry_max: float = 5.0) -> None:
        self.db = db
        self.retry_max = retry_max
        self.subscribers: set[Subscription] = set()
        self.connected = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._recent: deque[int] = deque(maxlen=50_000)
        self._recent_set: set[int] = set()
        self._high_water = 0

    async def start(self) -> None:
        await self._load_high_water()
        self._task = asyncio.create_task(self._run(), name="skyloom-changefeed")

    async def stop(self) -> None:
        await stop_task(self._task)

    def subscribe(self, topics: Iterable[str], maxsize: int = 1000) -> Subscription:
        sub = Subscription(topics, maxsize)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)

    async def _load_high_water(self) -> None:
        async with self.db.connection() as conn:
            cur = await conn.execute("SELECT coalesce(max(id), 0) FROM skyloom.change_log")
            (self._high_water,) = await cur.fetchone()

    async def _run(self) -> None:
        delay = 0.2
        while True:
            try:
                async with await AsyncConnection.connect(self.db.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.connected.set()
                    delay = 0.2
                    await self._catch_up()
                    async for note in conn.notifies():
                        graph, _, xid = note.payload.partition(":")
                        if graph == self.db.graph:
                            await self._deliver_tx(xid)
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as exc:
                self.connected.clear()
                log.warning("change feed lost its connection (%s); retrying in %.1fs", exc, delay)
            except Exception:  # noqa: BLE001 - the feed must outlive any single bad event
                self.connected.clear()
                log.exception("change feed failed; restarting")
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max)

    async def _deliver_tx(self, xid: str) -> None:
        """Deliver one committed transaction's changes, a page at a time (a bulk load can be huge)."""
        after = 0
        while True:
            async with self.db.connection() as conn:
                cur = await conn.execute(
                    f"SELECT {CHANGE_COLUMNS} FROM skyloom.change_log"
                    " WHERE tx = %s::xid8 AND graph = %s AND id > %s ORDER BY id LIMIT %s",
                    (xid, self.db.graph, after, _PAGE),
                )
                rows = await cur.fetchall()
            self._dispatch(change_from_row(r) for r in rows)
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]
            await asyncio.sleep(0)  # let subscribers drain between pages

    async def _catch_up(self) -> None:
        """Deliver what was committed while we were not listening."""
        while True:
            async with self.db.connection() as conn:
                cur = await conn.execute(
                    f"SELECT {CHANGE_COLUMNS} FROM skyloom.change_log WHERE id > %s AND graph = %s ORDER BY id LIMIT %s",
                    (self._high_water, self.db.graph, _PAGE),
                )
                rows = await cur.fetchall()
            self._dispatch(change_from_row(r) for r in rows)
            if len(rows) < _PAGE:
                return

    def _dispatch(self, changes: Iterable[Change]) -> None:
        for change in changes:
            if change.event_id in self._recent_set:
                continue
            if len(self._recent) == self._recent.maxlen:
                self._recent_set.discard(self._recent[0])
            self._recent.append(change.event_id)
            self._recent_set.add(change.event_id)
            self._high_water = max(self._high_water, change.event_id)
            for sub in tuple(self.subscribers):
                sub.offer(change)
