"""From a valid design to a Pulumi program: the entry point, and what every provider's generator shares.

Logical names are `<kind in lower case>-<component id>` for the resource a component becomes and
`<kind>-<id>.<role>` for its helpers (`database-db1.subnets`, `tenancy-t1.provider`): ids cannot
contain '.', so a name always tells its component, and a resource's URN can be computed from the
design alone. Every resource that takes tags or labels carries `skyloom-design`,
`skyloom-component` and (inside a compartment) `skyloom-compartment`.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

from skyloom.deploy.planner import properties
from skyloom.deploy.planner.emit import Call, Code, Writer, literal
from skyloom.deploy.planner.model import Component, Design, Problem, has_errors
from skyloom.deploy.planner.validate import check

DESIGN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class InvalidDesign(ValueError):
    """The design has errors, so no program was generated; `problems` says where."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        super().__init__(f"the design has {len(errors)} error(s): " + "; ".join(p.message for p in errors[:3]))


@dataclass(frozen=True)
class ConfigKey:
    """A stack configuration value the program reads (`pulumi config set [--secret] KEY VALUE`)."""

    key: str
    secret: bool
    help: str


class Context:
    """One program being generated: the design, the writer, and each component's variable."""

    def __init__(self, design: Design, design_id: str, docstring: str) -> None:
        self.design, self.design_id = design, design_id
        self.w = Writer(docstring)
        self._vars: dict[str, str] = {}

    def var(self, c: Component, suffix: str = "") -> str:
        """The variable holding a component's (or its helper's) resource: `subnet_c4`, `database_c6_server`."""
        key = f"{c.id}.{suffix}"
        if key not in self._vars:
            base = f"{c.kind.lower()}_{c.id.replace('-', '_')}" + (f"_{suffix}" if suffix else "")
            self._vars[key] = self.w.unique(base)
        return self._vars[key]

    def ref(self, c: Component, attribute: str, suffix: str = "") -> Code:
        return Code(f"{self.var(c, suffix)}.{attribute}")

    @staticmethod
    def logical(c: Component, role: str = "") -> str:
        return f"{c.kind.lower()}-{c.id}" + (f".{role}" if role else "")

    def props(self, c: Component) -> dict[str, Any]:
        return properties.resolved(self.design.provider, c.kind, c.properties)

    def tags(self, c: Component, *, lower: bool = False, **extra: str) -> dict[str, str]:
        compartment = self.design.compartment_of(c) if c.kind != "Tenancy" else None
        tags = {"skyloom-design": self.design_id, "skyloom-component": c.id}
        if compartment is not None and compartment is not c:
            tags["skyloom-compartment"] = compartment.id
        if lower:
            tags = {k: v.lower() for k, v in tags.items()}
        return {**tags, **extra}

    def resource(self, c: Component, cls: str, kwargs: dict[str, Any], *, role: str = "", opts: Any = None,
                 comment: str | None = None, var: str | None = None) -> str:
        """`var = cls("<logical name>", **kwargs, opts=opts)`, one argument per line; returns the variable."""
        var = self.w.unique(var) if var else self.var(c, role.replace("-", "_"))
        if opts is not None:
            kwargs = {**kwargs, "opts": opts}
        self.w.assign(var, Call(cls, {k: v for k, v in kwargs.items() if v is not None}, (self.logical(c, role),)),
                      comment=comment, split=True)
        return var

    def describe(self, c: Component) -> str:
        """`Network 'main' (n1)` for a comment: the name as a literal, so it is inert whatever it contains."""
        return f"{c.kind} {literal(c.name)} ({c.id})"


def _generator(provider: str) -> Any:
    """The provider's generator module (aws, azure, gcp, oci): `write(ctx)` and `config_keys(design)`."""
    return importlib.import_module(f"skyloom.deploy.planner.{provider}")


def _valid(document: Any) -> Design:
    design, problems = check(document)
    if design is None or has_errors(problems):
        raise InvalidDesign(problems)
    return design


def default_design_id(design: Design) -> str:
    """When the caller names no design: the tenancy's name, as a tag/label-safe value."""
    return re.sub(r"[^a-z0-9_-]+", "-", design.tenancy.name.lower()).strip("-")[:40] or "design"


def generate(document: Any, *, design_id: str | None = None) -> str:
    """The Pulumi program (Python source) for a design; raises `InvalidDesign` unless it validates without errors."""
    design = _valid(document)
    if design_id is not None and not DESIGN_ID.fullmatch(design_id):
        raise ValueError("a design id is 1 to 64 letters, digits, '_' or '-'")
    design_id = design_id or default_design_id(design)
    ctx = Context(design, design_id, f"Pulumi program for design {design_id} ({design.provider}), generated by "
                                     "Skyloom's architecture planner.\n\nGenerated: edit the design, not this file.\n")
    ctx.w.imports("import pulumi")
    _generator(design.provider).write(ctx)
    return ctx.w.text()


def required_config(document: Any) -> list[ConfigKey]:
    """The stack configuration a design's program reads (database passwords, SSH keys), in program order."""
    design = _valid(document)
    return _generator(design.provider).config_keys(design)


def database_password(c: Component) -> ConfigKey:
    return ConfigKey(f"{Context.logical(c)}-password", True, f"the admin password of the database {c.name!r}")


def secret(key: ConfigKey) -> Code:
    return Code(f"config.require_secret({literal(key.key)})" if key.secret else f"config.require({literal(key.key)})")
