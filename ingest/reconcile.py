"""A stack's full state, reconciled with the graph: its CIs created, updated, seen again, or retired.

One transaction per stack, under the stack's advisory lock (two replicas never ingest the same
stack at once). CIs are matched by URN; a CI the stack no longer has is soft-deleted, so history
keeps it. Placement (account / subscription / project -> Tenancy, resource group / compartment /
namespace -> Compartment) is resolved against what the graph already knows, and what it does not
know yet is created where the stack's owner says:

* owned by the provider: a root tenancy under the provider's backend for that cloud;
* owned by a tenant or sub-tenant: a client sub-tenancy under the provider's root tenancy for
  that cloud, owned by it (each client's sub-tenancy sits under one root tenancy).

A stack may hold a hundred thousand resources: they stream from the file through the translator
into a staging table a chunk at a time and are applied by set-based statements (`graph.staging`),
so the ingest's memory is bounded by the chunk and its caches by the stack's accounts and
compartments, never by its resources.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from skyloom.graph import labels
from skyloom.graph.pool import Database
from skyloom.graph.reads import GraphReader
from skyloom.graph.records import Vertex, ci_properties, now_iso
from skyloom.graph.staging import Stage
from skyloom.graph.store import GraphWriter, writing
from skyloom.ingest import semantics, translate
from skyloom.ingest.mapping import Classification
from skyloom.ingest.placement import Placer, ReconcileError
from skyloom.ingest.state import StackState
from skyloom.ingest.translate import CiRecord, Placement, RecordStream, StackTranslation

OWNER_LABELS = ("Provider", "Tenant", "SubTenant")
# Records staged per statement: what the ingest process holds at once, whatever the stack's size.
STAGE_CHUNK = 2_000
# A stack larger than this is staged in more than one chunk (tests use it to cross the boundary).
BULK_THRESHOLD = STAGE_CHUNK


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
    seconds: dict[str, float] = field(default_factory=dict, repr=False)  # per phase, for the benchmark

    def clock(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - since
        return now

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
    translation: StackTranslation | RecordStream,
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

    The records are staged a chunk at a time (`graph.staging`) and applied by set-based
    statements, so memory does not grow with the stack; compartments the stack owns (few) are
    applied first, row by row, because the other records are placed in them.
    """
    stack_name = f"{organization}/{translation.project}/{translation.stack}"
    result = ReconcileResult(stack_name)
    terms = terms or {}
    t = started = time.perf_counter()
    async with writing(db, actor, cause={"stack": stack_name, **(cause or {})}) as w:
        await w.lock(f"stack:{stack_name}")
        owner_v = await w.find_for_update(owner)
        if owner_v is None or owner_v.props.get("deleted") or owner_v.label not in OWNER_LABELS:
            raise ReconcileError(f"the stack's owner {owner} is not a live provider, tenant or sub-tenant")
        stack_v = await _stack(w, stack_name, owner_v)
        stage = Stage(w.conn, db.graph, actor, db.label_id)
        await stage.open()
        t = result.clock("begin", t)
        await _stage_records(stage, translation.records, terms)
        t = result.clock("read, translate, stage", t)
        hints = {ref: seen.most_common(1)[0][0] for ref, seen in translation.accounts.items() if seen}
        usual = await stage.seal(hints, translation.group_regions)
        placer = Placer(w, owner_v, result.new_tenancies, result.new_compartments, default_tenancy, usual)
        await stage.match(stack_v.uid)
        t = result.clock("seal stage, match existing", t)
        stamp = now_iso()
        # Resource groups, namespaces and OCI compartments first: the other records are placed in them.
        own_rows = await stage.own_compartments()
        managed = await stage.existing([row["urn"] for row in own_rows]) if own_rows else {}
        own: dict[str, Vertex] = {}
        for row in own_rows:
            record = _staged_record(row)
            own[record.urn] = await _apply(w, placer, record, stack_v, managed.get(record.urn), stamp, result, terms)
        await stage.adopt(own)
        places = []
        for cloud, tenancy, compartment, token, urn in await stage.placements():
            places.append((cloud, tenancy, compartment, *await placer.place_at(cloud, tenancy, compartment, token, urn)))
        await stage.place(places)
        t = result.clock("compartments, placement", t)
        created = await stage.create(stamp, stack_v.uid)
        t = result.clock("create", t)
        updated, unchanged = await stage.update(stamp, stack_v.uid)
        t = result.clock("update", t)
        retired = await stage.retire(stamp, full, removed)
        t = result.clock("retire", t)
        await stage.link(stack_v, full)
        t = result.clock("edges", t)
        result.created += created
        result.updated += updated
        result.unchanged += unchanged
        result.retired += retired
        if created or updated or retired:
            w.changed = True  # versions went in by set-based SQL: the writer must still audit and NOTIFY
        if checkpoint is not None:
            await w.save_checkpoint(*checkpoint)
    result.clock("audit, commit", t)
    result.seconds["total"] = time.perf_counter() - started
    return result


async def _stage_records(stage: Stage, records: Iterable[CiRecord], terms: dict[tuple[str, str], str]) -> None:
    """Stream records into the stage, STAGE_CHUNK at a time.

    Reading and translating (this process's CPU) run in a worker thread one chunk ahead of the
    database inserting the previous chunk (the server's CPU), so the two overlap; at most two
    chunks are held at once, whatever the size of the stack.
    """
    loop = asyncio.get_running_loop()
    take = functools.partial(_encoded_chunk, _rows(records, terms))
    ahead = loop.run_in_executor(None, take)
    try:
        while (chunk := await ahead) is not None:
            ahead = loop.run_in_executor(None, take)
            await stage.add(chunk)
    except BaseException:
        await asyncio.wait([ahead])  # the worker may be mid-chunk: let it finish before the file closes
        if not ahead.cancelled():
            ahead.exception()  # retrieved: the first failure is the one raised
        raise


def _encoded_chunk(rows: Iterator[dict[str, Any]]) -> str | None:
    chunk = list(itertools.islice(rows, STAGE_CHUNK))
    return orjson.dumps(chunk).decode() if chunk else None


def _rows(records: Iterable[CiRecord], terms: dict[tuple[str, str], str]) -> Iterator[dict[str, Any]]:
    """Each record as `graph.staging` stages it, with its kind's term in its cloud (the installation's own first)."""
    term_of: dict[tuple[str, str | None], str | None] = {}
    for seq, r in enumerate(records):
        key = (r.kind, r.cloud)
        if key not in term_of:
            term_of[key] = terms.get((r.kind, r.cloud or "")) or r.provider_term
        placement = r.placement
        yield {
            "seq": seq, "urn": r.urn, "kind": r.kind, "token": r.token, "cloud": r.cloud, "name": r.name,
            "native_id": r.native_id, "tenancy": placement.tenancy or None, "compartment": placement.compartment or None,
            "region": placement.region, "provider_ref": r.provider_ref, "parent": r.parent,
            "deps": list(r.depends_on), "refs": r.refs, "pending_delete": r.pending_delete,
            "own_compartment": r.own_compartment, "own_compartment_name": r.own_compartment_name,
            "mapped": r.classification.mapped,
            # The CI's properties that this record alone decides (see `_properties`).
            "static": {
                "kind": r.kind, "name": r.name, "provider": r.cloud or "", "providerTerm": term_of[key], "tags": r.tags,
                "nativeType": r.token, "nativeId": r.own_compartment or r.native_id, "urn": r.urn,
                "attributes": r.attributes, "external": r.external,
            },
        }


def _staged_record(row: dict[str, Any]) -> CiRecord:
    """A staged row back as the record it was (for the few applied row by row)."""
    return CiRecord(
        urn=row["urn"], name=row["name"], token=row["token"],
        classification=Classification(row["token"], row["kind"], row["cloud"], bool(row["mapped"]), False),
        native_id=row["native_id"], placement=Placement(row["tenancy"], row["compartment"], row["region"]),
        tags=row["static"]["tags"], attributes=row["static"]["attributes"], parent=row["parent"],
        provider_ref=row["provider_ref"], external=row["static"]["external"], pending_delete=bool(row["pending_delete"]),
        own_compartment=row["own_compartment"], own_compartment_name=row["own_compartment_name"],
    )


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

    Without an `owner`, the stack's default owner (`default_owner`) is used. The state's
    resources are translated as they stream into the reconcile, never all held at once.
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
    stream = translate.RecordStream(stack_state, layer.mappings, config=config)
    return await reconcile(db, stream, owner=owner, terms=layer.terms, **options)


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
