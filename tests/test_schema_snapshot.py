"""The committed SDL (`schema/schema.graphql`) must match the schema the code builds."""

from __future__ import annotations

from pathlib import Path

from skyloom.resolvers.root import build_schema
from skyloom.settings import Limits

SNAPSHOT = Path(__file__).resolve().parent.parent / "schema" / "schema.graphql"


def test_committed_sdl_matches_the_code() -> None:
    built = build_schema(Limits()).as_str().strip()
    committed = SNAPSHOT.read_text().strip()
    assert built == committed, "schema drift: run `skyloom schema > schema/schema.graphql` and review the diff"


def test_every_semantic_kind_is_in_the_sdl() -> None:
    from skyloom.schema import vocabulary

    sdl = SNAPSHOT.read_text()
    enum_block = sdl[sdl.index("enum SemanticKind"):].split("}", 1)[0]
    assert sorted(line.strip() for line in enum_block.splitlines()[1:] if line.strip()) == sorted(vocabulary.kinds())
