"""A stack's full state, reconciled with the graph: its CIs created, updated, seen again, or retired.

One transaction per stack, under the stack's advisory lock (two replicas never ingest the same
stack at once). CIs are matched by URN; a CI the stack no longer has is soft-deleted, so history
keeps it. Placement (account / subscription / project -> Tenancy, resource group / compartment /
namespace -> Compartment) is resolved against what the graph already knows, and what it does not
know yet is created where the stack's owner says:

* owned by the provider: a root tenancy under the provider's backend for that cloud;
* owned by a tenant or sub-tenant: a client sub-tenancy under the provider's root tenancy for
  that cloud, owned by it (each client's sub-tenancy sits under one root tenancy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from skyloom.graph import bulk, labels
from skyloom.graph.bulk import BulkEdge, BulkVertex
from skyloom.graph.pool import Database
from skyloom.graph.reads import GraphReader
from skyloom.graph.records import Vertex, ci_properties, now_iso
from skyloom.graph.store import GraphWriter, writing
from skyloom.ingest import semantics, translate
from skyloom.ingest.placement import Placer, ReconcileError
from skyloom.ingest.state import StackState
from skyloom.ingest.translate import CiRecord, StackTranslation

OWNER_LABELS = ("Provider", "Tenant", "SubTenant")
# From this many new CIs in one stack on, they are created by COPY (bulk) rather than row by row.
BULK_THRESHOLD = 200
VERTEX_CHUNK = 5_000
EDGE_CHUNK = 20_000


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass
class ReconcileResult:
    stack: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    retired: int = 0
    new_tenancies: list[str] = field(default_factory=list)
    new_compartments: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.stack}: {self.created} created, {self.updated} updated, {self.unchanged} unchanged, {self.retired} retired"
        if self.new_tenancies:
            text += f"; new tenancies {', '.join(self.new_tenancies)}"
        if self.new_compartments:
            text += f"; new compartments {', '.join(self.new_compartments)}"
        return text


async def resolve_owner(db: Database, reference: str) -> str:
    """The uid of the provider, tenant or sub-tenant named by `reference` (a uid or a unique name)."""
    reader = GraphReader(db)
    if _UUID.match(reference):
        vertex = await reader.by_uid(reference)
        if vertex is not None and vertex.label in OWNER_LABELS and not vertex.props.get("deleted"):
            return vertex.uid
    matches = [v for label in OWNER_LABELS for v in await reader.find(label, {"name": reference})]
    if len(matches) != 1:
        what = "no" if not matches else f"{len(matches)}"
        raise ReconcileError(f"{what} provider, tenant or sub-tenant is named {reference!r}; give its id instead")
    return matches[0].uid


async def reconcile(
    db: Database,
    translation: StackTranslation,
    *,
    owner: str,
    actor: str,
    organization: str = "organization",
    default_tenancy: str | None = None,
    full: bool = True,
    removed: set[str] | frozenset[str] = frozenset(),
    checkpoint: tuple[str, Any] | None = None,
    terms: dict[tuple[str, str], str] | None = None,
    cause: dict[str, Any] | None = None,
) -> ReconcileResult:
    """Apply one stack's resources; `owner` is the uid of the provider, tenant or sub-tenant that owns the stack.

    `full`: the translation is the whole stack (an export), so a CI it no longer has is retired and
    dependencies are replaced. Otherwise (engine events) only the given resources change, the
    URNs in `removed` are retired, and dependencies are only added (events carry none of their
    own). `checkpoint` (source, position) is saved in the same transaction as the changes.
    `cause` (source, update, user, ...) goes with the stack's name into every change's audit entry.
    """
    stack_name = f"{organization}/{translation.project}/{translation.stack}"
    result = ReconcileResult(stack_name)
    async with writing(db, actor, cause={"stack": stack_name, **(cause or {})}) as w:
        await w.lock(f"stack:{stack_name}")
        owner_v = await w.find_for_update(owner)
        if owner_v is None or owner_v.props.get("deleted") or owner_v.label not in OWNER_LABELS:
            raise ReconcileError(f"the stack's owner {owner} is not a live provider, tenant or sub-tenant")
        placer = Placer(w, owner_v, result.new_tenancies, result.new_compartments, default_tenancy, translation.records)
        stack_v = await _stack(w, stack_name, owner_v)
        managed = {v.props["urn"]: v for v in await w.find(None, {"stackUid": stack_v.uid})}
        stamp = now_iso()
        effective = _effective(translation.records)
        current: dict[str, Vertex] = {}
        # Resource groups, namespaces and OCI compartments first: the other records are placed in them.
        for record in effective:
            if record.own_compartment is not None:
                current[record.urn] = await _apply(w, placer, record, stack_v, managed.get(record.urn), stamp, result, terms or {})
        fresh = [r for r in effective if r.urn not in managed and r.urn not in current]
        bulk_made: set[str] = set()
        if len(fresh) >= BULK_THRESHOLD:
            made = await _create_in_bulk(db, w, placer, fresh, stack_v, terms or {}, actor)
            current.update(made)
            bulk_made = set(made)
            result.created += len(made)
        for record in effective:
            if record.urn not in current:
                current[record.urn] = await _apply(w, placer, record, stack_v, managed.get(record.urn), stamp, result, terms or {})
        known = {**managed, **current}
        gids = {v.uid: v.id for v in known.values()} | {stack_v.uid: stack_v.id}
        new_edges: list[BulkEdge] = []
        for record in effective:
            vertex = current[record.urn]
            targets = [known[u] for u in sorted(record.depends_on) if u in known]
            parent = known.get(record.parent) if record.parent else None
            if record.urn in bulk_made:  # brand new: its edges are new too, and go by COPY
                new_edges += [
                    BulkEdge(labels.CONTAINS, vertex.props["parentUid"], vertex.uid),
                    BulkEdge(labels.MANAGED_BY, vertex.uid, stack_v.uid),
                    *(BulkEdge(labels.DEPENDS_ON, vertex.uid, t.uid) for t in targets),
                    *([BulkEdge(labels.PARENT_OF, parent.uid, vertex.uid)] if parent else []),
                ]
                if len(new_edges) >= EDGE_CHUNK:
                    await bulk.write(db, w.conn, actor, [], new_edges, known=gids)
                    new_edges = []
                continue
            if full:
                await w.set_out_edges(labels.DEPENDS_ON, vertex, targets)
            else:
                for target in targets:
                    await w.relate(labels.DEPENDS_ON, vertex, target)
            if parent is not None:
                await w.relate(labels.PARENT_OF, parent, vertex)
        if new_edges:
            await bulk.write(db, w.conn, actor, [], new_edges, known=gids)
        retire = set(managed) - set(current) if full else set(removed) & set(managed)
        for urn in sorted(retire):
            await w.soft_delete(managed[urn].label, managed[urn].uid)
            result.retired += 1
        if checkpoint is not None:
            await w.save_checkpoint(*checkpoint)
    return result


async def default_owner(db: Database, organization: str, project: str | None, stack: str | None) -> str | None:
    """Who owns a stack nobody named an owner for: whoever it was ingested for before, else the one
    tenant or sub-tenant named like the Pulumi organization; None if neither rule answers."""
    reader = GraphReader(db)
    known = await reader.find("Stack", {"name": f"{organization}/{project}/{stack}"})
    if len(known) == 1:
        return known[0].props["parentUid"]
    named = [v for label in ("Tenant", "SubTenant") for v in await reader.find(label, {"name": organization.lower()})]
    return named[0].uid if len(named) == 1 else None


async def apply_state(
    db: Database,
    stack_state: StackState,
    *,
    owner: str | None,
    config: dict[str, str] | None = None,
    **options: Any,
) -> ReconcileResult:
    """Translate with the owner's provider's semantic layer (its overrides included), then reconcile.

    Without an `owner`, the stack's default owner (`default_owner`) is used. The state is
    consumed: its resources are dropped once translated, so that a large stack does not hold both
    its raw resources and its records through the whole reconcile.
    """
    if owner is None:
        organization = options.get("organization", "organization")
        owner = await default_owner(db, organization, stack_state.project, stack_state.stack)
        if owner is None:
            raise ReconcileError(
                f"no owner for stack {organization}/{stack_state.project}/{stack_state.stack}: "
                f"name one with --owner, or name a tenant {organization.lower()!r}"
            )
    layer = await semantics.layer_for(db, owner)
    translation = translate.translate(stack_state, layer.mappings, config=config)
    stack_state.resources.clear()
    return await reconcile(db, translation, owner=owner, terms=layer.terms, **options)


def _effective(records: list[CiRecord]) -> list[CiRecord]:
    """One record per URN: an old copy awaiting deletion (`delete: true`) yields to its replacement."""
    chosen: dict[str, CiRecord] = {}
    for record in records:
        if record.urn not in chosen or chosen[record.urn].pending_delete:
            chosen[record.urn] = record
    return list(chosen.values())


async def _stack(w: GraphWriter, name: str, owner: Vertex) -> Vertex:
    found = await w.find("Stack", {"name": name, "parentUid": owner.uid})
    if found:
        return found[0]
    stack = await w.create("Stack", {"name": name, "displayName": name, "parentUid": owner.uid})
    await w.relate(labels.OWNS, owner, stack)
    return stack


async def _apply(
    w: GraphWriter,
    placer: Placer,
    record: CiRecord,
    stack: Vertex,
    existing: Vertex | None,
    stamp: str,
    result: ReconcileResult,
    terms: dict[tuple[str, str], str],
) -> Vertex:
    tenancy, compartment = await placer.place(record)
    container = compartment or tenancy
    name = record.name
    if record.own_compartment is not None:
        # A resource group / namespace / OCI compartment: other stacks' placements may have made
        # its vertex already (knowing only its native key); this record is that vertex.
        existing = existing or await placer.existing_compartment(tenancy, record.own_compartment)
        name = record.own_compartment_name or record.name
    props = _properties(record, name, stack, tenancy, compartment, container, terms)
    if existing is not None and existing.label != record.kind:
        await w.soft_delete(existing.label, existing.uid)  # the mapping changed its kind: a new CI
        existing = None
    if existing is None:
        vertex = await w.create(record.kind, props)
        result.created += 1
    else:
        changes = {k: v for k, v in props.items() if k not in ("firstSeen", "lastSeen") and existing.props.get(k) != v}
        if changes:
            vertex = await w.update(existing.label, existing.uid, {**changes, "lastSeen": stamp})
            result.updated += 1
        else:
            vertex = await w.touch(existing, {"lastSeen": stamp})
            result.unchanged += 1
    await w.relate(labels.CONTAINS, container, vertex)
    await w.relate(labels.MANAGED_BY, vertex, stack)
    if record.own_compartment is not None:
        placer.remember(tenancy, record.own_compartment, vertex)
    return vertex


def _properties(
    record: CiRecord,
    name: str,
    stack: Vertex,
    tenancy: Vertex,
    compartment: Vertex | None,
    container: Vertex,
    terms: dict[tuple[str, str], str],
) -> dict[str, Any]:
    return ci_properties(
        record.kind,
        name,
        record.cloud or "",
        record.placement.region,
        record.tags,
        nativeType=record.token,
        nativeId=record.own_compartment or record.native_id,
        urn=record.urn,
        attributes=record.attributes,
        external=record.external,
        stackUid=stack.uid,
        providerTerm=terms.get((record.kind, record.cloud or "")) or record.provider_term,
        parentUid=container.uid,
        tenancyUid=tenancy.uid,
        compartmentUid=compartment.uid if compartment else None,
    )


async def _create_in_bulk(
    db: Database,
    w: GraphWriter,
    placer: Placer,
    records: list[CiRecord],
    stack: Vertex,
    terms: dict[tuple[str, str], str],
    actor: str,
) -> dict[str, Vertex]:
    """New CIs of a large stack by COPY, in the reconcile's own transaction: same rows, same history.

    A chunk at a time, keeping of each new CI only what its edges need (uid, container), so the
    memory this takes does not grow with the size of the stack beyond that.
    """
    made: dict[str, Vertex] = {}
    for start in range(0, len(records), VERTEX_CHUNK):
        prepared: list[tuple[CiRecord, BulkVertex]] = []
        for record in records[start : start + VERTEX_CHUNK]:
            tenancy, compartment = await placer.place(record)
            props = _properties(record, record.name, stack, tenancy, compartment, compartment or tenancy, terms)
            prepared.append((record, BulkVertex(record.kind, props)))
        loaded = await bulk.write(db, w.conn, actor, [v for _, v in prepared], [])
        for record, v in prepared:
            made[record.urn] = Vertex(loaded.graphids[v.uid], v.label, {"uid": v.uid, "parentUid": v.props["parentUid"]})
    w.changed = True  # the change-log rows went in by COPY: the writer must still NOTIFY at commit
    return made
