"""The semantic layer as one provider installation sees it: shipped defaults plus its own overrides."""

from __future__ import annotations

from dataclasses import dataclass

from skyloom.graph import semantics
from skyloom.graph.pool import Database
from skyloom.graph.reads import GraphReader
from skyloom.ingest.mapping import Mappings, shipped_rules


@dataclass(frozen=True)
class SemanticLayer:
    mappings: Mappings
    terms: dict[tuple[str, str], str]  # (kind, cloud) -> the installation's own term


async def provider_of(db: Database, uid: str) -> str | None:
    """The provider above a provider, tenant, sub-tenant or cloud backend (None if there is none)."""
    reader = GraphReader(db)
    vertex = await reader.by_uid(uid)
    for _ in range(4):  # provider -> tenant -> sub-tenant: never deeper
        if vertex is None:
            return None
        if vertex.label == "Provider":
            return vertex.uid
        vertex = await reader.by_uid(vertex.props.get("parentUid") or "")
    return None


async def layer_for(db: Database, owner_uid: str) -> SemanticLayer:
    provider = await provider_of(db, owner_uid)
    overrides = await semantics.mappings(db, provider) if provider else {}
    terms = await semantics.terms(db, provider) if provider else {}
    return SemanticLayer(Mappings(shipped_rules(), overrides), terms)
