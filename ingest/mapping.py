"""Pulumi type token -> semantic kind, from the rules in `mappings.json` (data, not code).

A token is `<package>:<module>:<Type>` (`aws:ec2/vpc:Vpc`, `azure-native:network:Subnet`). The
package picks the cloud and its ordered glob rules; the first rule that matches the lower-cased
token gives the kind. A token no rule matches keeps the fallback kind and is reported, so an
unknown resource is never dropped, only shown as "Resource" until a rule names it.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from skyloom.schema import vocabulary

DATA_FILE = Path(__file__).with_name("mappings.json")


@dataclass(frozen=True)
class Classification:
    token: str
    kind: str
    cloud: str | None
    mapped: bool  # a rule named the kind (not the fallback)
    ignored: bool  # not a configuration item at all (provider configuration, the stack)


@dataclass(frozen=True)
class _Package:
    cloud: str | None
    rules: tuple[tuple[re.Pattern[str], str], ...]


class Mappings:
    """Compiled rules; `overrides` (token glob -> kind) win over the shipped rules."""

    def __init__(self, data: dict, overrides: dict[str, str] | None = None) -> None:
        known = set(vocabulary.kinds())
        self._ignore = tuple(_compile(g) for g in data.get("ignore", ()))
        self._packages: dict[str, _Package] = {}
        for name, package in data["packages"].items():
            rules = []
            for glob, kind in package["rules"]:
                if kind not in known:
                    raise ValueError(f"mapping rule {glob!r} names unknown kind {kind!r}")
                rules.append((_compile(glob), kind))
            self._packages[name] = _Package(package.get("cloud"), tuple(rules))
        self._overrides = tuple((_compile(g), k) for g, k in (overrides or {}).items())
        for _, kind in self._overrides:
            if kind not in known:
                raise ValueError(f"override names unknown kind {kind!r}")

    def classify(self, token: str) -> Classification:
        lowered = token.lower()
        package = self._packages.get(lowered.split(":", 1)[0])
        cloud = package.cloud if package else None
        if any(p.match(lowered) for p in self._ignore):
            return Classification(token, vocabulary.FALLBACK_KIND, cloud, False, True)
        for pattern, kind in self._overrides + (package.rules if package else ()):
            if pattern.match(lowered):
                return Classification(token, kind, cloud, True, False)
        return Classification(token, vocabulary.FALLBACK_KIND, cloud, False, False)


def _compile(glob: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(glob.lower()))


@cache
def default_mappings() -> Mappings:
    return Mappings(shipped_rules())


@cache
def shipped_rules() -> dict:
    return json.loads(DATA_FILE.read_text())
