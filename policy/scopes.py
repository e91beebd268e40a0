"""ScopeFilter: which objects of one kind an actor may see, in a form the graph layer turns into SQL.

Oso cannot filter lists here (it cannot follow nested compartments, and one check per row costs
~0.36 ms), so the adapter derives a `ScopeFilter` from the actor's bindings and the policy's
conditions, and the graph query narrows to it. `ScopeFilter.matches` is the reference meaning
of a filter: the graph layer's SQL must admit exactly the rows `matches` admits, and tests
cross-check both against single-object `allowed()` decisions.

Semantics of `matches(r)` for a filter F:

    F.everything
    or ( r.provider_id    in F.provider_ids      -- '*' among them: any provider (ALL_PROVIDERS)
         or r.tenant_id    in F.tenant_ids
         or r.subtenant_id in F.subtenant_ids
         or F.compartment_ids & set(r.ancestry) )       -- a compartment covers its subtree
       and every predicate p in F.predicates holds on r
    or any(alt.matches(r) for alt in F.alternatives)

`ancestry` is the compartment path of the object plus, for a Compartment, its own id; in SQL a
stored ancestry array and an overlap test (`ancestry && $ids`) match it. A `None` id never
matches. Alternatives appear only when bindings carry different predicates (for example an editor
binding restricted to non-production CIs beside a tenant-admin binding that is not); they never
nest.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

# Fields a predicate may name, and the column each stands for in the graph (same name).
FILTER_FIELDS = frozenset({"region", "cloud", "created_by", "tenant_id", "subtenant_id"})


def _field(resource: Any, name: str) -> Any:
    if name not in FILTER_FIELDS:
        raise ValueError(f"predicates may not test {name!r}; allowed: {sorted(FILTER_FIELDS)}")
    return getattr(resource, name, None)


def _tags(resource: Any) -> Mapping[str, str]:
    return getattr(resource, "tags", None) or {}


@dataclass(frozen=True, slots=True)
class TagEquals:
    """The object has tag `key` with exactly `value`. SQL: `tags ->> key = value`."""

    key: str
    value: str

    def matches(self, resource: Any) -> bool:
        return _tags(resource).get(self.key) == self.value


@dataclass(frozen=True, slots=True)
class TagNotEquals:
    """The object lacks tag `key` or has another value. SQL: `(tags ->> key) IS DISTINCT FROM value`."""

    key: str
    value: str

    def matches(self, resource: Any) -> bool:
        return _tags(resource).get(self.key) != self.value


@dataclass(frozen=True, slots=True)
class FieldIn:
    """The field's value is one of `values` (a missing value is in no set). SQL: `field = ANY($values)`."""

    field: str
    values: frozenset[str]

    def __post_init__(self) -> None:
        _field(None, self.field)
        object.__setattr__(self, "values", frozenset(self.values))

    @classmethod
    def from_csv(cls, field: str, text: str) -> FieldIn:
        """From an actor attribute such as `regions = "eu-west-1, eu-central-1"`."""
        return cls(field, frozenset(part.strip() for part in text.split(",") if part.strip()))

    def matches(self, resource: Any) -> bool:
        return _field(resource, self.field) in self.values


@dataclass(frozen=True, slots=True)
class FieldNotEquals:
    """The field differs from `value` (a missing value differs). SQL: `field IS DISTINCT FROM value`."""

    field: str
    value: str

    def __post_init__(self) -> None:
        _field(None, self.field)

    def matches(self, resource: Any) -> bool:
        return _field(resource, self.field) != self.value


@dataclass(frozen=True, slots=True)
class FieldIsSet:
    """The field has a value. SQL: `field IS NOT NULL`. Used to keep provider-level objects
    (those without a tenant) out of reach of a change made without a fresh proof."""

    field: str

    def __post_init__(self) -> None:
        _field(None, self.field)

    def matches(self, resource: Any) -> bool:
        return _field(resource, self.field) is not None


Predicate = TagEquals | TagNotEquals | FieldIn | FieldNotEquals | FieldIsSet


# An installation-scope binding covers every provider: the root group's operators, who also create
# providers (a binding at one provider cannot reach a provider that does not exist yet). In a
# filter it shows as this id among `provider_ids`.
ALL_PROVIDERS = "*"


def binding_covers(scope_kind: str, scope_id: str, resource: Any) -> bool:
    """Whether a binding at (scope_kind, scope_id) reaches the object: the one place that says
    what a scope contains, used by the Polar rules and by `ScopeFilter.matches` alike."""
    if scope_kind == "installation":
        return resource.provider_id is not None
    if scope_kind == "provider":
        return resource.provider_id == scope_id
    if scope_kind == "tenant":
        return resource.tenant_id == scope_id
    if scope_kind == "subtenant":
        return resource.subtenant_id == scope_id
    if scope_kind == "compartment":
        return scope_id in resource.ancestry
    return False


class Scopes:
    """Registered with Polar as `Scopes`, so rules call `Scopes.covers(binding, resource)`."""

    @staticmethod
    def covers(binding: Any, resource: Any) -> bool:
        return binding_covers(binding.scope_kind, binding.scope_id, resource)


@dataclass(frozen=True, slots=True)
class ScopeFilter:
    """See the module docstring for the exact meaning. Build with `ScopeFilter.nothing()`,
    `ScopeFilter.unrestricted()` or `ScopeFilter.from_grants(...)`."""

    everything: bool = False
    provider_ids: frozenset[str] = frozenset()
    tenant_ids: frozenset[str] = frozenset()
    subtenant_ids: frozenset[str] = frozenset()
    compartment_ids: frozenset[str] = frozenset()
    predicates: tuple[Predicate, ...] = ()
    alternatives: tuple[ScopeFilter, ...] = ()

    @classmethod
    def nothing(cls) -> ScopeFilter:
        return cls()

    @classmethod
    def unrestricted(cls) -> ScopeFilter:
        return cls(everything=True)

    @property
    def is_nothing(self) -> bool:
        """True when no object can match: the caller may skip the query altogether."""
        return not self.everything and not self._has_scope() and not self.alternatives

    def _has_scope(self) -> bool:
        return bool(self.provider_ids or self.tenant_ids or self.subtenant_ids or self.compartment_ids)

    def _in_scope(self, resource: Any) -> bool:
        return (
            (resource.provider_id is not None
             and (resource.provider_id in self.provider_ids or ALL_PROVIDERS in self.provider_ids))
            or (resource.tenant_id is not None and resource.tenant_id in self.tenant_ids)
            or (resource.subtenant_id is not None and resource.subtenant_id in self.subtenant_ids)
            or not self.compartment_ids.isdisjoint(resource.ancestry)
        )

    def matches(self, resource: Any) -> bool:
        if self.everything:
            return True
        if self._in_scope(resource) and all(p.matches(resource) for p in self.predicates):
            return True
        return any(alt.matches(resource) for alt in self.alternatives)

    @classmethod
    def from_grants(cls, grants: Iterable[tuple[str, str, Iterable[Predicate]]]) -> ScopeFilter:
        """One filter from (scope_kind, scope_id, predicates) triples, one per granting binding.

        Bindings with the same predicates share one part; the part with the fewest predicates
        (then the most scopes) is the top level, the others become alternatives. The order is
        fixed so equal inputs give equal filters (tests compare them with ==)."""
        parts: dict[tuple[Predicate, ...], dict[str, set[str]]] = {}
        for scope_kind, scope_id, predicates in grants:
            key = tuple(sorted(set(predicates), key=repr))
            parts.setdefault(key, {}).setdefault(scope_kind, set()).add(scope_id)
        built = [cls._part(key, ids) for key, ids in parts.items()]
        if not built:
            return cls.nothing()
        built.sort(key=lambda f: (len(f.predicates), -f._size(), repr(f.predicates)))
        top, *rest = built
        return cls(top.everything, top.provider_ids, top.tenant_ids, top.subtenant_ids,
                   top.compartment_ids, top.predicates, tuple(rest))

    @classmethod
    def _part(cls, predicates: tuple[Predicate, ...], ids: dict[str, set[str]]) -> ScopeFilter:
        return cls(
            provider_ids=frozenset(ids.get("provider", ())) | (frozenset({ALL_PROVIDERS}) if "installation" in ids else frozenset()),
            tenant_ids=frozenset(ids.get("tenant", ())),
            subtenant_ids=frozenset(ids.get("subtenant", ())),
            compartment_ids=frozenset(ids.get("compartment", ())),
            predicates=predicates,
        )

    def _size(self) -> int:
        return len(self.provider_ids) + len(self.tenant_ids) + len(self.subtenant_ids) + len(self.compartment_ids)
