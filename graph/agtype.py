"""Apache AGE's ``agtype`` for psycopg 3: a fast loader and a dumper, registered per connection.

agtype's text form is JSON plus a few annotations (``::vertex``, ``::edge``, ``::path``,
``::numeric``). Plain property maps, by far the most common value we read, are pure JSON, so
the loader hands them to orjson directly and only falls back to an annotation-aware parse when
orjson refuses the text. (The ``apache-age-python`` driver is psycopg2-based and parses with
ANTLR, which is both stale and an order of magnitude slower.)
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import orjson
from psycopg import AsyncConnection, Connection
from psycopg.adapt import Dumper, Loader
from psycopg.types import TypeInfo

# A JSON string (kept whole, so annotations inside strings survive), a number tagged ::numeric,
# or a bare entity annotation.
_ANNOTATION = re.compile(
    r'("(?:[^"\\]|\\.)*")'
    r"|(-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)::numeric"
    r"|::(?:vertex|edge|path)"
)
_NUMERIC_KEY = "\x00agtype-numeric"


def _strip(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        return match.group(1)
    if match.group(2) is not None:
        return '{"' + "\\u0000agtype-numeric" + '":"' + match.group(2) + '"}'
    return ""


def _numeric_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and _NUMERIC_KEY in obj:
        return Decimal(obj[_NUMERIC_KEY])
    return obj


def loads(text: str | bytes | memoryview) -> Any:
    """Parse agtype text: vertices and edges become dicts, paths lists, numerics Decimals."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    if not isinstance(text, str):
        text = bytes(text).decode()
    # json (not orjson) because agtype may print NaN / Infinity, which orjson rejects.
    return json.loads(_ANNOTATION.sub(_strip, text), object_hook=_numeric_hook)


def dumps(value: Any) -> bytes:
    """agtype input accepts JSON; Decimals travel as their exact text."""
    return orjson.dumps(value, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot send {type(value).__name__} as agtype")


class Agtype:
    """Wraps a Python value to be sent as an agtype parameter (e.g. ``cypher()``'s third argument)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _AgtypeLoader(Loader):
    def load(self, data: bytes | bytearray | memoryview) -> Any:
        return loads(bytes(data) if isinstance(data, memoryview) else data)


async def register_async(conn: AsyncConnection) -> None:
    info = await TypeInfo.fetch(conn, "ag_catalog.agtype")
    _register(conn, info)


def register_sync(conn: Connection) -> None:
    info = TypeInfo.fetch(conn, "ag_catalog.agtype")
    _register(conn, info)


def _register(conn: AsyncConnection | Connection, info: TypeInfo | None) -> None:
    if info is None:
        raise RuntimeError(
            "the database has no ag_catalog.agtype: Apache AGE is not installed in it "
            "(CREATE EXTENSION age, with age in shared_preload_libraries)"
        )

    class AgtypeDumper(Dumper):
        oid = info.oid

        def dump(self, obj: Agtype) -> bytes:
            return dumps(obj.value)

    conn.adapters.register_loader(info.oid, _AgtypeLoader)
    conn.adapters.register_dumper(Agtype, AgtypeDumper)
