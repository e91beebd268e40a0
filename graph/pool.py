"""The async connection pool and what every connection needs: the agtype codec and AGE's search path.

`Database` is made once in the app's lifespan and handed to whoever needs it; it also knows
which table (by oid) holds which label, so a row read from a parent table tells its label.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from time import monotonic
from weakref import WeakKeyDictionary

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from skyloom.graph import agtype, labels

log = logging.getLogger(__name__)


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached right now; callers report it and retry later."""


# A connection back from a request less than this long ago is handed out again unchecked; one
# that sat idle longer is pinged first (after an outage, idle connections are the broken ones).
_FRESH_SECONDS = 2.0


async def _configure(conn: AsyncConnection) -> None:
    await agtype.register_async(conn)
    # The role's default search_path should already say this; an externally managed role may not.
    # The API asks small questions: starting parallel workers costs 5-8 ms here, more than most
    # answers take, and a scope predicate was enough to tip the planner into it (a ~5k-CI subtree
    # page went from 6 to 15 ms). Only plans that expensive are worth workers.
    await conn.execute('SET search_path = ag_catalog, "$user", public; SET parallel_setup_cost = 10000')


class Database:
    def __init__(self, url: str, graph: str, *, min_size: int = 2, max_size: int = 20, timeout: float = 5.0) -> None:
        self.url = url
        self.graph = labels.check_graph_name(graph)
        # Autocommit: a read is one statement and needs no COMMIT round trip when the
        # connection goes back; writes open explicit transactions (`conn.transaction()`).
        self._returned: WeakKeyDictionary[AsyncConnection, float] = WeakKeyDictionary()
        self.pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": True},
            configure=_configure,
            check=self._check,
            reset=self._mark_returned,
            timeout=timeout,
            name="skyloom",
        )
        self._label_by_id: dict[int, str] = {}

    async def open(self, wait_timeout: float = 10.0) -> None:
        """Open the pool; raises DatabaseUnavailable with the reason when it cannot connect.

        One direct connection first: a refused or misconfigured connection then fails at once
        with the server's own reason, instead of after the pool's timeout with none.
        """
        reason = await self._probe()
        if reason:
            raise DatabaseUnavailable(f"cannot connect to the database: {reason}")
        try:
            await self.pool.open(wait=True, timeout=wait_timeout)
        except PoolTimeout:
            await self.pool.close()
            raise DatabaseUnavailable("cannot connect to the database: connections time out") from None
        await self.load_labels()

    async def _probe(self) -> str | None:
        try:
            conn = await AsyncConnection.connect(self.url, connect_timeout=5)
        except psycopg.Error as exc:
            return _first_line(exc)
        try:
            await agtype.register_async(conn)
        except Exception as exc:  # noqa: BLE001 - reported, not hidden
            return str(exc)
        finally:
            await conn.close()
        return None

    async def _check(self, conn: AsyncConnection) -> None:
        returned = self._returned.get(conn)
        if returned is None or monotonic() - returned > _FRESH_SECONDS:
            await AsyncConnectionPool.check_connection(conn)

    async def _mark_returned(self, conn: AsyncConnection) -> None:
        self._returned[conn] = monotonic()

    async def close(self) -> None:
        await self.pool.close()

    async def load_labels(self) -> None:
        async with self.connection() as conn:
            cur = await conn.execute(
                "SELECT l.id, l.name FROM ag_catalog.ag_label l "
                "JOIN ag_catalog.ag_graph g ON g.graphid = l.graph WHERE g.name = %s",
                (self.graph,),
            )
            rows = await cur.fetchall()
        if not rows:
            raise DatabaseUnavailable(f"graph {self.graph!r} does not exist: run `skyloom db migrate`")
        self._label_by_id = {int(label_id): name for label_id, name in rows}
        missing = set(labels.vertex_labels()) - set(self._label_by_id.values())
        if missing:
            raise DatabaseUnavailable(f"graph {self.graph!r} lacks labels {sorted(missing)}: run `skyloom db migrate`")

    def label_of(self, graphid: int) -> str:
        """A graphid carries its label's id in its top 16 bits."""
        return self._label_by_id[graphid >> 48]

    def label_id(self, label: str) -> int:
        for label_id, name in self._label_by_id.items():
            if name == label:
                return label_id
        raise KeyError(label)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection; database outages surface as DatabaseUnavailable."""
        try:
            async with self.pool.connection() as conn:
                conn.row_factory = tuple_row
                yield conn
        except PoolTimeout as exc:
            raise DatabaseUnavailable("the database is not answering") from exc
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"lost the database connection: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(exc).__name__
