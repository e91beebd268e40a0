"""The schema, assembled once: roots, limits and error masking configured in one place."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import AddValidationRules, MaskErrors, MaxAliasesLimiter, MaxTokensLimiter, ParserCache, QueryDepthLimiter, ValidationCache
from strawberry.schema.config import StrawberryConfig

from skyloom.graph.pool import DatabaseUnavailable
from skyloom.resolvers.audit_calls import AuditCalls, note_problems
from skyloom.resolvers.mutations.root import Mutation
from skyloom.resolvers.queries import Query
from skyloom.resolvers.subscriptions import Subscription
from skyloom.schema.cmdb import Compartment, Resource, Tenancy
from skyloom.schema.errors import PublicError
from skyloom.schema.panel import CloudBackend, Provider, Stack, SubTenant, Tenant
from skyloom.settings import Limits


def _must_mask(error: GraphQLError) -> bool:
    """Mask unexpected errors; keep syntax / validation errors and our typed public ones."""
    original = error.original_error
    # No original error, or a GraphQL error underneath (e.g. a variable that does not coerce):
    # the client's mistake, described by graphql-core in words safe to show.
    if original is None or isinstance(original, (GraphQLError, PublicError)):
        return False
    if isinstance(original, DatabaseUnavailable):
        error.extensions = {**(error.extensions or {}), "code": "DATABASE_UNAVAILABLE"}
        error.message = "the database is unavailable; try again shortly"
        return False
    return True


def _code_public_errors(error: GraphQLError) -> None:
    if isinstance(error.original_error, PublicError):
        error.extensions = {**(error.extensions or {}), **error.original_error.extensions}


class _Masking(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=self._should_mask, error_message="internal error")

    @staticmethod
    def _should_mask(error: GraphQLError) -> bool:
        _code_public_errors(error)
        return _must_mask(error)


def build_schema(limits: Limits) -> strawberry.Schema:
    # The limit rules are classes built once here: the validation cache keys on the rule
    # classes, so rules rebuilt per request would never hit it.
    limit_rules = [
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
    ]
    note_problems(Mutation)
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Provider, CloudBackend, Tenant, SubTenant, Stack, Tenancy, Compartment, Resource],
        extensions=[
            AuditCalls,
            lambda: AddValidationRules(limit_rules),
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
            _Masking,
        ],
        config=StrawberryConfig(batching_config={"max_operations": limits.max_batch}),
    )
