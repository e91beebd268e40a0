"""The semantic vocabulary (kinds and each cloud's term for them), loaded from data, importing nothing of ours.

It is the one shared leaf of the code base: `graph` creates a vertex label per kind from it,
`schema` exposes the kinds as a GraphQL enum, `ingest` maps provider type tokens onto it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_DATA = Path(__file__).with_name("vocabulary.json")


@dataclass(frozen=True)
class Kind:
    name: str
    term: str
    container: bool
    terms: dict[str, str]

    def provider_term(self, provider: str | None) -> str | None:
        return self.terms.get(provider or "")


@cache
def kinds() -> dict[str, Kind]:
    raw = json.loads(_DATA.read_text())
    return {
        k["kind"]: Kind(k["kind"], k["term"], bool(k.get("container", False)), dict(k["terms"]))
        for k in raw["kinds"]
    }


FALLBACK_KIND = "Resource"


@cache
def container_kinds() -> tuple[str, ...]:
    """Kinds that hold other CIs (tenancies and compartments), as the data marks them."""
    return tuple(name for name, kind in kinds().items() if kind.container)
