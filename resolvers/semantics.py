"""Queries and mutations of the semantic layer: read the vocabulary, set an installation's overrides.

Overrides apply to what is ingested from then on: a CI keeps the kind and term it was stored
with until its stack is ingested again.
"""

from __future__ import annotations

import re

import strawberry

from skyloom.graph import semantics
from skyloom.ingest.mapping import Mappings, shipped_rules
from skyloom.schema import vocabulary
from skyloom.schema.cursors import parse_id
from skyloom.schema.enums import Cloud, SemanticKind
from skyloom.schema.errors import Forbidden, PublicError, ValidationProblem, forbidden, invalid, not_found
from skyloom.schema.semantics import (
    CloudTerm,
    CloudTermResult,
    Removed,
    RemovedResult,
    SemanticClassification,
    SemanticKindInfo,
    SemanticMapping,
    SemanticMappingInput,
    SemanticMappingResult,
    SemanticTermInput,
)

_PATTERN = re.compile(r"^[A-Za-z0-9:/_.*?\[\]-]{1,300}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_TOKENS = 100


async def _provider(info: strawberry.Info, provider_id: strawberry.ID) -> str | ValidationProblem | None:
    try:
        uid = parse_id(provider_id, "providerId")
    except PublicError:
        return invalid("providerId", "providerId is not a valid id")
    vertex = await info.context.loaders.vertex.load(uid)
    return uid if vertex is not None and vertex.label == "Provider" and not vertex.props.get("deleted") else None


async def _configured(info: strawberry.Info, provider_id: strawberry.ID) -> str | ValidationProblem | Forbidden | None:
    """The provider whose semantic layer a mutation changes, if the caller may configure it."""
    uid = await _provider(info, provider_id)
    if not isinstance(uid, str):
        return uid
    ctx = info.context
    vertex = await ctx.loaders.vertex.load(uid)
    decision = await ctx.access.decide("configure", await ctx.access.view(vertex))
    if not decision.allowed:
        ctx.denied = True
        return forbidden("configure", "Provider", decision.needs_proof)
    return uid


async def _provider_or_raise(info: strawberry.Info, provider_id: strawberry.ID) -> str:
    uid = await _provider(info, provider_id)
    if not isinstance(uid, str):
        raise PublicError("no such provider", "NOT_FOUND")
    return uid


def _cloud(value: str | None) -> Cloud | None:
    return Cloud(value) if value in {c.value for c in Cloud} else None


@strawberry.type
class SemanticQuery:
    @strawberry.field(description="Every kind with its default term and each cloud's term (the installation's where it set one).")
    async def semantic_vocabulary(self, info: strawberry.Info, provider_id: strawberry.ID) -> list[SemanticKindInfo]:
        db = info.context.services.db
        own = await semantics.terms(db, await _provider_or_raise(info, provider_id))
        return [
            SemanticKindInfo(
                kind=SemanticKind[name],
                term=kind.term,
                container=kind.container,
                cloud_terms=[
                    CloudTerm(
                        cloud=cloud,
                        term=own.get((name, cloud.value), kind.provider_term(cloud.value)),
                        default_term=kind.provider_term(cloud.value),
                        overridden=(name, cloud.value) in own,
                    )
                    for cloud in Cloud
                ],
            )
            for name, kind in vocabulary.kinds().items()
        ]

    @strawberry.field(description="The installation's own type-token rules, tried before the shipped ones.")
    async def semantic_mappings(self, info: strawberry.Info, provider_id: strawberry.ID) -> list[SemanticMapping]:
        rules = await semantics.mappings(info.context.services.db, await _provider_or_raise(info, provider_id))
        return [SemanticMapping(token_pattern=p, kind=SemanticKind[k]) for p, k in rules.items()]

    @strawberry.field(description=f"How type tokens map for this installation (at most {MAX_TOKENS}).")
    async def semantic_classify(
        self, info: strawberry.Info, provider_id: strawberry.ID, tokens: list[str]
    ) -> list[SemanticClassification]:
        if len(tokens) > MAX_TOKENS or any(len(t) > 300 for t in tokens):
            raise PublicError(f"at most {MAX_TOKENS} tokens of at most 300 characters", "TOO_MANY_TOKENS")
        rules = await semantics.mappings(info.context.services.db, await _provider_or_raise(info, provider_id))
        mappings = Mappings(shipped_rules(), rules)
        return [
            SemanticClassification(
                token=c.token, kind=SemanticKind[c.kind], cloud=_cloud(c.cloud), mapped=c.mapped, ignored=c.ignored
            )
            for c in (mappings.classify(t) for t in tokens)
        ]


@strawberry.type
class SemanticMutation:
    @strawberry.mutation
    async def semantic_mapping_set(self, info: strawberry.Info, input: SemanticMappingInput) -> SemanticMappingResult:
        if not _PATTERN.match(input.token_pattern):
            return invalid("tokenPattern", "a glob of at most 300 letters, digits and : / _ . - * ? [ ]")
        provider = await _configured(info, input.provider_id)
        if not isinstance(provider, str):
            return provider or not_found(str(input.provider_id), "provider")
        await semantics.set_mapping(info.context.services.db, provider, input.token_pattern, input.kind.value)
        return SemanticMapping(token_pattern=input.token_pattern, kind=input.kind)

    @strawberry.mutation
    async def semantic_mapping_delete(
        self, info: strawberry.Info, provider_id: strawberry.ID, token_pattern: str
    ) -> RemovedResult:
        provider = await _configured(info, provider_id)
        if not isinstance(provider, str):
            return provider or not_found(str(provider_id), "provider")
        return Removed(removed=await semantics.delete_mapping(info.context.services.db, provider, token_pattern))

    @strawberry.mutation
    async def semantic_term_set(self, info: strawberry.Info, input: SemanticTermInput) -> CloudTermResult:
        term = input.term.strip()
        if not term or len(term) > 100 or _CONTROL.search(term):
            return invalid("term", "a term is 1-100 printable characters")
        provider = await _configured(info, input.provider_id)
        if not isinstance(provider, str):
            return provider or not_found(str(input.provider_id), "provider")
        await semantics.set_term(info.context.services.db, provider, input.kind.value, input.cloud.value, term)
        default = vocabulary.kinds()[input.kind.value].provider_term(input.cloud.value)
        return CloudTerm(cloud=input.cloud, term=term, default_term=default, overridden=True)

    @strawberry.mutation
    async def semantic_term_delete(
        self, info: strawberry.Info, provider_id: strawberry.ID, kind: SemanticKind, cloud: Cloud
    ) -> RemovedResult:
        provider = await _configured(info, provider_id)
        if not isinstance(provider, str):
            return provider or not_found(str(provider_id), "provider")
        return Removed(removed=await semantics.delete_term(info.context.services.db, provider, kind.value, cloud.value))
