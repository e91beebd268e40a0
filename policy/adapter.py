"""The Oso adapter: the only module that imports oso; it turns Polar files into decisions and filters.

A `Policy` is one compiled set of Polar files. It is immutable once built, so one instance can
serve every request of every replica thread; replacing the policy at runtime means building a new
`Policy` and swapping the reference (see `holder.PolicyHolder`).

Three questions are answered:
- `allowed` / `decide`: may this actor do this to this object (one Oso query; about 1-2 ms with
  the default policy here, so never one per row of a list)?
- `read_filter`: which objects of a kind may this actor act on, as a `ScopeFilter` for the graph
  query. It never enumerates objects: it asks Polar which of the actor's bindings grant the
  action on the kind (`grants`), and which predicates the policy attaches to each binding
  (`condition`). Cost grows with the number of bindings, not with the data. It is pure; caching
  per actor per request is the caller's business.
- `tier`: the actor's highest tier, for the UI and the audit trail.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable

from oso import Oso
from polar import Variable
from polar.exceptions import OsoError

from skyloom.policy import scopes
from skyloom.policy.actor import Actor, AuthStrength, Binding, Tier
from skyloom.policy.resources import ACTIONS, AnyResource, Ci, ConfigObject, Env, PanelObject
from skyloom.policy.scopes import ScopeFilter

DEFAULT_POLICY_DIR = Path(__file__).resolve().parent / "polar"

# Rules the adapter queries by name; a policy lacking one is refused at load time.
REQUIRED_RULES = ("allow_at", "unrestricted", "actor_ok", "grants", "condition", "role_tier")

_PREDICATES = (scopes.TagEquals, scopes.TagNotEquals, scopes.FieldIn, scopes.FieldNotEquals, scopes.FieldIsSet)


class PolicyError(Exception):
    """The Polar files do not compile, or lack a rule the adapter needs. The message is Oso's own,
    with file and line, so a policy author can act on it."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one request. `needs_proof` is True when the same actor would be allowed with
    a fresh hardware-key proof: the caller should ask for step-up instead of saying "forbidden".
    `reason` is one of "allowed", "anonymous", "needs_proof", "denied"."""

    allowed: bool
    reason: str
    needs_proof: bool = False


def _warnings(printed: str) -> tuple[str, ...]:
    """Oso's load-time warnings, one string each, minus the one about a missing `allow/3`: this
    policy's entry point is `allow_at/4` on purpose (the decision time is an argument)."""
    chunks = [c.strip() for c in printed.split("[warning]") if c.strip()]
    return tuple(c for c in chunks if not c.startswith("Your policy does not contain an allow rule"))


def default_policy_files() -> list[Path]:
    return sorted(DEFAULT_POLICY_DIR.glob("*.polar"))


class Policy:
    """One compiled policy. Build with `Policy.load(paths)`."""

    def __init__(self, oso: Oso, files: tuple[Path, ...], warnings: tuple[str, ...]) -> None:
        self._oso = oso
        self.files = files
        self.warnings = warnings          # what Oso printed while loading (e.g. unused rules)
        self._grants: dict[tuple[str, str, str, str], bool] = {}

    @classmethod
    def load(cls, paths: Iterable[str | Path] | None = None) -> Policy:
        files = tuple(Path(p) for p in (default_policy_files() if paths is None else paths))
        if not files:
            raise PolicyError("no .polar files given")
        oso = Oso()
        oso.register_class(Actor, name="Principal")   # "Actor" is a Polar built-in name
        for cls_ in (Binding, Env, Ci, PanelObject, ConfigObject, scopes.Scopes, *_PREDICATES):
            oso.register_class(cls_)
        # Enums as Polar dictionaries: `Tier.TENANT_ADMIN` is then a lookup inside Polar, not a
        # round trip to Python on every decision.
        for enum in (Tier, AuthStrength):
            oso.register_constant({member.name: int(member) for member in enum}, enum.__name__)
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                oso.load_files([str(f) for f in files])
        except OsoError as exc:
            raise PolicyError(str(exc).split("\n\tGet help with Oso")[0]) from None
        except OSError as exc:
            raise PolicyError(f"cannot read policy file: {exc}") from None
        policy = cls(oso, files, _warnings(printed.getvalue()))
        policy._check_required_rules()
        return policy

    def _check_required_rules(self) -> None:
        """Oso reports an undefined rule only when it is queried; query each once with harmless
        arguments so a missing rule stops the load instead of the first request."""
        env = Env.at(datetime(2000, 1, 1, tzinfo=timezone.utc))
        probe = Actor(id="probe", kind="anonymous")
        binding = Binding("probe", "tenant", "probe")
        resource = PanelObject("Tenant", "probe", "probe", "probe")
        probes = {
            "allow_at": (probe, "read", resource, env),
            "unrestricted": (probe,),
            "actor_ok": (probe, "read", "Tenant", env),
            "grants": ("probe", "read", "Tenant", "tenant"),
            "condition": (probe, binding, "read", "Tenant", env, Variable("predicate")),
            "role_tier": ("probe", Variable("tier")),
        }
        missing = []
        for rule in REQUIRED_RULES:
            try:
                list(self._oso.query_rule(rule, *probes[rule]))
            except OsoError as exc:
                missing.append(f"{rule}: {str(exc).splitlines()[0]}")
        if missing:
            raise PolicyError("the policy cannot answer the adapter's questions:\n  " + "\n  ".join(missing))

    # --- single decisions ---------------------------------------------------------------------

    def _allow(self, actor: Actor, action: str, resource: AnyResource, env: Env) -> bool:
        return self._oso.query_rule_once("allow_at", actor, action, resource, env)

    def allowed(self, actor: Actor, action: str, resource: AnyResource, *, now: datetime | None = None) -> bool:
        return self._allow(actor, action, resource, Env.at(now))

    def decide(self, actor: Actor, action: str, resource: AnyResource, *, now: datetime | None = None) -> Decision:
        """Like `allowed`, and on a denial says whether a fresh proof would change the answer
        (asked by re-running the query with a proven copy of the actor: one more query, only
        on denials)."""
        env = Env.at(now)
        if self._allow(actor, action, resource, env):
            return Decision(True, "allowed")
        if not actor.is_authenticated:
            return Decision(False, "anonymous")
        if not actor.has_fresh_proof(env.now):
            proven = replace(actor, proof_until=env.now + timedelta(minutes=5))
            if self._allow(proven, action, resource, env):
                return Decision(False, "needs_proof", needs_proof=True)
        return Decision(False, "denied")

    def allowed_actions(self, actor: Actor, resource: AnyResource, *, now: datetime | None = None) -> frozenset[str]:
        """The built-in actions allowed on one object (what buttons the console shows)."""
        env = Env.at(now)
        return frozenset(a for a in ACTIONS if self._allow(actor, a, resource, env))

    # --- list filters -------------------------------------------------------------------------

    def _granted(self, role: str, action: str, kind: str, scope_kind: str) -> bool:
        key = (role, action, kind, scope_kind)
        hit = self._grants.get(key)
        if hit is None:   # grants is a function of four strings: safe to memoise per policy
            hit = self._grants[key] = self._oso.query_rule_once("grants", *key)
        return hit

    def read_filter(self, actor: Actor, action: str, kind: str, *, now: datetime | None = None) -> ScopeFilter:
        """Which objects of `kind` the actor may `action` (usually "read"), as a `ScopeFilter`.

        For every object o of that kind, `read_filter(a, act, o.kind).matches(o)` equals
        `allowed(a, act, o)` as long as the policy keeps `allow` in the shape main.polar
        documents; `skyloom policy check` verifies it for every test case."""
        env = Env.at(now)
        if self._oso.query_rule_once("unrestricted", actor):
            return ScopeFilter.unrestricted()
        if not self._oso.query_rule_once("actor_ok", actor, action, kind, env):
            return ScopeFilter.nothing()
        granted = []
        for binding in actor.bindings:
            if not self._granted(binding.role, action, kind, binding.scope_kind):
                continue
            results = self._oso.query_rule("condition", actor, binding, action, kind, env, Variable("p"))
            granted.append((binding.scope_kind, binding.scope_id, [r["bindings"]["p"] for r in results]))
        return ScopeFilter.from_grants(granted)

    # --- tiers --------------------------------------------------------------------------------

    def role_tier(self, role: str) -> Tier | None:
        """The tier of one role, or None when the policy gives it none (an unknown role)."""
        tiers = [int(r["bindings"]["t"]) for r in self._oso.query_rule("role_tier", role, Variable("t"))]
        return Tier(min(max(tiers), Tier.PROVIDER_OPERATOR)) if tiers else None

    def unrestricted(self, actor: Actor) -> bool:
        """Whether no role limits the actor (the system actor of the default policy)."""
        return bool(self._oso.query_rule_once("unrestricted", actor))

    def tier(self, actor: Actor) -> Tier:
        """The highest tier among the actor's bindings (bindings of unknown roles count as none)."""
        if self._oso.query_rule_once("unrestricted", actor):
            return Tier.PROVIDER_OPERATOR
        best = Tier.NONE
        for binding in actor.bindings:
            for result in self._oso.query_rule("role_tier", binding.role, Variable("t")):
                best = max(best, Tier(min(int(result["bindings"]["t"]), Tier.PROVIDER_OPERATOR)))
        return best if actor.is_authenticated else Tier.NONE

