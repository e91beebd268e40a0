"""Admission control for mutations: mutate a requested object into shape, then validate it against rules.

The seeds' model (SECA admission control): after the policy said the actor may make the change,
mutating steps fill in what the caller may leave out (default tags, normalised names) and
validating steps refuse what the platform cannot accept (names a cloud rejects, missing tags,
quotas). The rules are data (`admission.json`) so operators change them without code; this module
only knows the step types. It is pure: counts for quotas come from a callable the caller passes
(the graph layer counts in the same transaction that writes).
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

from skyloom.policy.resources import ALL_KINDS, CI_KINDS, CONFIG_KINDS, PANEL_KINDS

DEFAULT_RULES = Path(__file__).resolve().parent / "admission.json"

# (kind, per_field, scope_id) -> how many objects of that kind the scope holds now.
Counter = Callable[[str, str, str], int]
Operation = Literal["create", "update"]

_GROUPS = {"*": ALL_KINDS, "@ci": CI_KINDS, "@panel": PANEL_KINDS, "@config": CONFIG_KINDS}
_STEP_KEYS = {
    "trim": {"fields"}, "slug_name": set(), "default_tags": {"tags"},
    "required": {"fields"}, "naming": {"pattern", "hint", "cloud"}, "required_tags": {"tags"},
    "tag_values": {"tag", "values"}, "quota": {"per", "max"},
}
_MUTATING = {"trim", "slug_name", "default_tags"}


class AdmissionConfigError(ValueError):
    """The rules file names an unknown step, kind or key: refused at load, not at the first request."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason an object is refused. `code` is for machines (GraphQL ValidationProblem.code),
    `path` is the dotted field (`name`, `tags.environment`), `message` is for people."""

    code: str
    path: str
    message: str


@dataclass(frozen=True, slots=True)
class AdmissionResult:
    """Either the object to store (after mutation) and no problems, or problems and no object."""

    object: dict[str, Any] | None
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class _Step:
    step: str
    kinds: frozenset[str]
    options: Mapping[str, Any]


def _kinds(selectors: list[str], excluded: list[str], where: str) -> frozenset[str]:
    kinds: set[str] = set()
    for selector in selectors:
        if selector in _GROUPS:
            kinds.update(_GROUPS[selector])
        elif selector in ALL_KINDS:
            kinds.add(selector)
        else:
            raise AdmissionConfigError(f"{where}: unknown kind {selector!r}")
    return frozenset(kinds - set(excluded))


def _parse(rules: Mapping[str, Any], phase: str) -> tuple[_Step, ...]:
    steps = []
    for number, raw in enumerate(rules.get(phase, []), start=1):
        where = f"{phase} step {number}"
        name = raw.get("step")
        if name not in _STEP_KEYS or (name in _MUTATING) != (phase == "mutate"):
            raise AdmissionConfigError(f"{where}: {name!r} is not a {phase} step")
        options = {k: v for k, v in raw.items() if k not in ("step", "kinds", "except")}
        unknown = set(options) - _STEP_KEYS[name]
        if unknown:
            raise AdmissionConfigError(f"{where}: unknown keys {sorted(unknown)}")
        if name == "naming":
            options["pattern"] = re.compile(options["pattern"])
        steps.append(_Step(name, _kinds(raw.get("kinds", []), raw.get("except", []), where), options))
    return tuple(steps)


class Admission:
    """A loaded rule set. Build with `Admission.load()` (the default rules) or `Admission(rules)`."""

    def __init__(self, rules: Mapping[str, Any]) -> None:
        self.mutating = _parse(rules, "mutate")
        self.validating = _parse(rules, "validate")

    @classmethod
    def load(cls, path: str | Path | None = None) -> Admission:
        return cls(json.loads(Path(path or DEFAULT_RULES).read_text()))

    def admit(self, operation: Operation, kind: str, obj: Mapping[str, Any], *, count: Counter | None = None) -> AdmissionResult:
        """Mutate, then validate, the object `kind` as it would be stored (for an update: the
        stored object merged with the change). Quotas apply to creates only and need `count`.
        The input is never changed; the result carries a patched copy."""
        if kind not in ALL_KINDS:
            return AdmissionResult(None, (Problem("kind_unknown", "kind", f"unknown kind {kind!r}"),))
        patched = copy.deepcopy(dict(obj))
        for step in self.mutating:
            if kind in step.kinds:
                _MUTATORS[step.step](patched, step.options)
        problems: list[Problem] = []
        for step in self.validating:
            if kind not in step.kinds:
                continue
            if step.step == "quota":
                if operation == "create":
                    problems += _quota(kind, patched, step.options, count)
            else:
                problems += _VALIDATORS[step.step](patched, step.options)
        if problems:
            return AdmissionResult(None, tuple(problems))
        return AdmissionResult(patched)


# --- mutating steps ---------------------------------------------------------------------------

def _trim(obj: dict[str, Any], options: Mapping[str, Any]) -> None:
    for name in options["fields"]:
        if isinstance(obj.get(name), str):
            obj[name] = obj[name].strip()


def _slug_name(obj: dict[str, Any], _options: Mapping[str, Any]) -> None:
    """"Acme Corp_EU" -> "acme-corp-eu": the panel's own names are used in URLs and graph names."""
    if isinstance(obj.get("name"), str):
        obj["name"] = re.sub(r"[\s_]+", "-", obj["name"].strip().lower())


def _default_tags(obj: dict[str, Any], options: Mapping[str, Any]) -> None:
    tags = dict(obj.get("tags") or {})
    for key, value in options["tags"].items():
        tags.setdefault(key, value)
    obj["tags"] = tags


_MUTATORS = {"trim": _trim, "slug_name": _slug_name, "default_tags": _default_tags}


# --- validating steps -------------------------------------------------------------------------

def _required(obj: Mapping[str, Any], options: Mapping[str, Any]) -> list[Problem]:
    return [Problem("required", name, f"{name} is required")
            for name in options["fields"] if obj.get(name) in (None, "")]


def _naming(obj: Mapping[str, Any], options: Mapping[str, Any]) -> list[Problem]:
    cloud, name = options.get("cloud"), obj.get("name")
    if (cloud is not None and obj.get("cloud") != cloud) or not isinstance(name, str) or not name:
        return []   # another cloud's rule, or `required` already reports the missing name
    if options["pattern"].fullmatch(name):
        return []
    return [Problem("name_invalid", "name", f"{name!r} is not a valid name: {options.get('hint', options['pattern'].pattern)}")]


def _required_tags(obj: Mapping[str, Any], options: Mapping[str, Any]) -> list[Problem]:
    tags = obj.get("tags") or {}
    return [Problem("tag_required", f"tags.{key}", f"tag {key!r} is required")
            for key in options["tags"] if not tags.get(key)]


def _tag_values(obj: Mapping[str, Any], options: Mapping[str, Any]) -> list[Problem]:
    key, value = options["tag"], (obj.get("tags") or {}).get(options["tag"])
    if value is None or value in options["values"]:
        return []
    return [Problem("tag_value_invalid", f"tags.{key}", f"tag {key!r} must be one of {', '.join(options['values'])}")]


def _quota(kind: str, obj: Mapping[str, Any], options: Mapping[str, Any], count: Counter | None) -> list[Problem]:
    per, limit = options["per"], options["max"]
    scope_id = obj.get(per)
    if not scope_id:
        return [Problem("required", per, f"{per} is required to create a {kind}")]
    if count is None:
        raise TypeError(f"creating a {kind} is under a quota: pass count=")
    if count(kind, per, scope_id) + 1 > limit:
        return [Problem("quota_exceeded", per, f"at most {limit} {kind} objects per {per.removesuffix('_id')}")]
    return []


_VALIDATORS = {"required": _required, "naming": _naming, "required_tags": _required_tags, "tag_values": _tag_values}
