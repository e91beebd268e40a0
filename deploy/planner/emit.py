"""Writing Python source safely: user data only ever enters a program as a literal, code only as `Code`.

A generated program is source code built from what someone drew, so the two are kept apart by
type: every plain value (str, int, bool, None, list, dict) handed to the writer is rendered with
`repr()` (a Python literal that evaluates back to exactly that value, whatever quotes, newlines or
`__import__` it contains), and only `Code` and `Call` objects, which the generators build from
their own constant text and identifiers, are pasted as they are.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

WIDTH = 110
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
STANDARD = frozenset({"json"})  # standard-library imports, listed first as isort would


@dataclass(frozen=True)
class Code:
    """Source text written by a generator (an expression), never text taken from a design."""

    text: str


@dataclass(frozen=True)
class Call:
    """`func(*args, **kwargs)`: `func` is generator text, the arguments are rendered like any value."""

    func: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    args: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if not DOTTED.fullmatch(self.func) or not all(IDENTIFIER.fullmatch(k) for k in self.kwargs):
            raise ValueError(f"not a call a generator writes: {self.func}({', '.join(self.kwargs)})")


def literal(value: Any) -> str:
    """A one-line Python literal for a plain value (strings prefer double quotes, as the rest of the program)."""
    if isinstance(value, str):
        text = repr(value)
        return '"' + text[1:-1] + '"' if text[0] == "'" and '"' not in value else text
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    raise TypeError(f"not a plain value: {type(value).__name__}")


def render(value: Any, level: int = 0, *, split: bool = False) -> str:
    """`value` as source, on one line when it fits (and `split` is false), else one item per line under `level`."""
    flat = _flat(value)
    fits = len(flat) + 4 * level <= WIDTH and not split
    if fits or not isinstance(value, (Call, list, tuple, dict)) or not _items(value):
        return flat
    pad, inner = "    " * level, "    " * (level + 1)
    lines = [f"{inner}{item}," for item in _items(value, level + 1)]
    opening, closing = _brackets(value)
    return opening + "\n" + "\n".join(lines) + "\n" + pad + closing


def _brackets(value: Any) -> tuple[str, str]:
    if isinstance(value, Call):
        return value.func + "(", ")"
    return ("{", "}") if isinstance(value, dict) else ("[", "]")


def _items(value: Any, level: int = 0) -> list[str]:
    if isinstance(value, Call):
        return [render(a, level) for a in value.args] + [f"{k}={render(v, level)}" for k, v in value.kwargs.items()]
    if isinstance(value, dict):
        return [f"{literal(k)}: {render(v, level)}" for k, v in value.items()]
    return [render(v, level) for v in value]


def _flat(value: Any) -> str:
    if isinstance(value, Code):
        return value.text
    if isinstance(value, (Call, list, tuple, dict)):
        opening, closing = _brackets(value)
        return opening + ", ".join(_flat_items(value)) + closing
    return literal(value)


def _flat_items(value: Any) -> list[str]:
    if isinstance(value, Call):
        return [_flat(a) for a in value.args] + [f"{k}={_flat(v)}" for k, v in value.kwargs.items()]
    if isinstance(value, dict):
        return [f"{literal(k)}: {_flat(v)}" for k, v in value.items()]
    return [_flat(v) for v in value]


class Writer:
    """A program being written: imports, then blocks of statements separated by blank lines."""

    def __init__(self, docstring: str) -> None:
        self._doc = docstring
        self._imports: list[str] = []
        self._blocks: list[list[str]] = []
        self._names: set[str] = set()

    def imports(self, *lines: str) -> None:
        self._imports.extend(line for line in lines if line not in self._imports)

    def block(self, *lines: str) -> None:
        self._blocks.append(list(lines))

    def comment(self, text: str) -> str:
        """A comment line: generator text with values already passed through `literal()`; one line, no breaks."""
        if "\n" in text or "\r" in text:
            raise ValueError("a comment is one line")
        return f"# {text}"

    def assign(self, var: str, value: Any, *, comment: str | None = None, split: bool = False) -> None:
        if not IDENTIFIER.fullmatch(var):
            raise ValueError(f"not a variable name: {var!r}")
        lines = [self.comment(comment)] if comment else []
        lines.append(f"{var} = {render(value, split=split)}")
        self.block(*lines)

    def unique(self, base: str) -> str:
        """A variable name not used yet, from `base` (ids may differ only in '-' versus '_')."""
        name, n = base, 2
        while name in self._names:
            name, n = f"{base}_{n}", n + 1
        self._names.add(name)
        return name

    def text(self) -> str:
        standard = [line for line in self._imports if line.split()[1] in STANDARD]
        imports = "\n".join(standard) + ("\n\n" if standard else "")
        imports += "\n".join(line for line in self._imports if line not in standard)
        head = f'"""{self._doc}"""\n\n' + imports + "\n"
        return head + "".join("\n" + "\n".join(b) + "\n" for b in self._blocks)
