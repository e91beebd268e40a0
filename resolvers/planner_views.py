"""Stored designs and the planner engine's findings as GraphQL objects."""

from __future__ import annotations

from typing import Any

import strawberry

from skyloom.deploy import planner as engine
from skyloom.deploy.planner.model import ATTACHES, CONTAINS
from skyloom.deploy.planner.properties import specs
from skyloom.graph import design_runs as runs
from skyloom.graph import designs as store
from skyloom.schema.enums import Cloud
from skyloom.schema.planner import (
    ComponentChange,
    ComponentSummary,
    ConnectionSummary,
    Design,
    DesignComparison,
    DesignProblem,
    DesignRun,
    DesignRunStatus,
    DesignVersion,
    DesignVersionInfo,
    FieldChange,
    Palette,
    PaletteConnection,
    PaletteKind,
    PaletteProperty,
    ProblemSeverity,
)
from skyloom.schema import vocabulary


def provider_mismatch(cloud: str) -> engine.Problem:
    """A document drawn for another cloud than its design's (the engine cannot know which is meant)."""
    return engine.Problem("PROVIDER_MISMATCH", f"this design is drawn for {cloud}: the document's provider must be {cloud!r}")


def palette(cloud: str) -> Palette:
    kinds = vocabulary.kinds()
    entries = []
    for kind in engine.KINDS:
        term, own = kinds[kind].term, kinds[kind].provider_term(cloud)
        entries.append(PaletteKind(
            kind=kind, term=term, provider_term=own, display=f"{term} ({own})" if own != term else term,
            properties=[PaletteProperty(
                name=p.name, help=p.help, required=p.required, type=p.type, default=p.default, choices=list(p.choices),
                pattern=p.pattern, minimum=p.minimum if p.type == "int" else None,
                maximum=p.maximum if p.type == "int" else None,
            ) for p in specs(cloud, kind)],
        ))
    links = [PaletteConnection(source=a, target=b, meaning="contains") for a, b in sorted(CONTAINS)]
    links += [PaletteConnection(source=a, target=b, meaning="attaches") for a, b in sorted(ATTACHES)]
    return Palette(cloud=Cloud(cloud), default_region=engine.DEFAULT_REGIONS[cloud], kinds=entries, connections=links,
                   max_components=engine.MAX_COMPONENTS, max_connections=engine.MAX_CONNECTIONS)


def problems_of(document: Any, cloud: str) -> list[engine.Problem]:
    """What is wrong with a design's document, under today's rules and for the design's cloud."""
    problems = engine.validate(document)
    if not isinstance(document, dict) or document.get("provider") != cloud:
        problems.append(provider_mismatch(cloud))
    return problems


def problem_type(p: Any) -> DesignProblem:
    return DesignProblem(code=p.code, message=p.message, severity=ProblemSeverity(p.severity),
                         component_id=p.component_id, connection=p.connection)


def version_type(v: store.Version | None, cloud: str) -> DesignVersion | None:
    if v is None:
        return None
    return DesignVersion(number=v.version, document=v.document, problems=[problem_type(p) for p in problems_of(v.document, cloud)],
                         comment=v.comment, created_by=v.created_by, created_at=v.created_at)


def run_type(r: runs.Run) -> DesignRun:
    return DesignRun(
        id=strawberry.ID(str(r.id)), design_id=strawberry.ID(str(r.design_id)), version=r.version, project=r.project,
        stack=r.stack, plan_digest=r.plan_digest, engine=r.engine, status=DesignRunStatus(r.status), resources=r.resources,
        error=r.error, requested_by=r.requested_by, started_at=r.started_at, finished_at=r.finished_at,
    )


def _count(known: int | None, history: list[store.Version], field: str) -> int:
    """The latest version's count: read with the design (lists), else the newest of its history."""
    if known is not None:
        return known
    return getattr(history[0], field) if history else 0


def design_type(d: store.Design, history: list[store.Version], current: DesignVersion | None,
                applies: list[runs.Run] | None = None) -> Design:
    return Design(
        id=strawberry.ID(str(d.id)), name=d.name, cloud=Cloud(d.cloud), tenant_id=strawberry.ID(d.tenant_id),
        latest_version=d.latest, error_count=_count(d.errors, history, "errors"),
        warning_count=_count(d.warnings, history, "warnings"), copied_from=strawberry.ID(str(d.copied_from)) if d.copied_from else None,
        copied_version=d.copied_version, archived=d.archived_at is not None, created_by=d.created_by,
        created_at=d.created_at, updated_by=d.updated_by, updated_at=d.updated_at,
        history=[DesignVersionInfo(number=v.version, error_count=v.errors, warning_count=v.warnings, comment=v.comment,
                                   created_by=v.created_by, created_at=v.created_at) for v in history],
        current=current, runs=[run_type(r) for r in applies or ()],
    )


def comparison(diff: Any) -> DesignComparison:
    def summary(c: Any) -> ComponentSummary:
        return ComponentSummary(id=c.id, kind=c.kind, name=c.name)

    def fields(changes: Any) -> list[FieldChange]:
        return [FieldChange(field=f.field, before=f.before, after=f.after) for f in changes]

    return DesignComparison(
        added=[summary(c) for c in diff.added], removed=[summary(c) for c in diff.removed],
        changed=[ComponentChange(id=c.id, kind=c.kind, name=c.name, changes=fields(c.changes)) for c in diff.changed],
        connections_added=[ConnectionSummary(source=a, target=b) for a, b in diff.connections_added],
        connections_removed=[ConnectionSummary(source=a, target=b) for a, b in diff.connections_removed],
        settings_changed=fields(diff.settings),
    )
