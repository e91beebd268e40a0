"""Placement: the Tenancy and Compartment vertices a CI's cloud identifiers name, found or created.

Accounts and groups are looked up only among the owner's provider's backends, so two providers
that happen to share an account id never share its vertex. What the graph does not know yet is
created where the stack's owner says (see `reconcile`).
"""

from __future__ import annotations

from skyloom.graph import labels
from skyloom.graph.records import Vertex, ci_properties
from skyloom.graph.store import GraphWriter
from skyloom.ingest.translate import CiRecord


class ReconcileError(ValueError):
    """The stack cannot be placed as configured; nothing was written. The message says what to change."""


class Placer:
    """Finds (or creates) the Tenancy and Compartment vertices a record's placement names."""

    def __init__(
        self,
        w: GraphWriter,
        owner: Vertex,
        new_tenancies: list[str],
        new_compartments: list[str],
        default_tenancy: str | None,
        usual: dict[str | None, str],
    ) -> None:
        self.w = w
        self.owner = owner
        self.new_tenancies = new_tenancies  # appended to: what this placement had to create
        self.new_compartments = new_compartments
        self.default_tenancy = default_tenancy
        self._tenancies: dict[tuple[str, str], Vertex] = {}
        self._compartments: dict[tuple[str, str], Vertex] = {}
        self._provider_v: Vertex | None = None
        self._backends_of: dict[str, list[Vertex]] = {}
        # A record that says nothing about its account lives where most of its stack lives
        # (`usual`: cloud -> the account most of the stack's records of that cloud name).
        self._usual = usual

    async def place(self, record: CiRecord) -> tuple[Vertex, Vertex | None]:
        return await self.place_at(record.cloud, record.placement.tenancy, record.placement.compartment, record.token, record.urn)

    async def place_at(
        self, cloud: str | None, tenancy_id: str | None, compartment_id: str | None, token: str, urn: str
    ) -> tuple[Vertex, Vertex | None]:
        """Where a record with these cloud identifiers goes; `token` and `urn` only name it in errors."""
        if cloud is None:
            raise ReconcileError(f"{token}: no cloud is known for this type token, so it has no tenancy")
        native = tenancy_id or self._usual.get(cloud)
        tenancy = await self._tenancy(cloud, native, urn)
        if not compartment_id:
            return tenancy, None
        return tenancy, await self.compartment(tenancy, compartment_id)

    async def _tenancy(self, cloud: str, native: str | None, urn: str) -> Vertex:
        if native is None and self.default_tenancy is None:
            # The sensible default: the one tenancy the owner has in that cloud, if it has exactly one.
            owned = await self._owned_tenancies(cloud)
            if len(owned) != 1:
                raise ReconcileError(
                    f"{urn}: the state does not say which {cloud} account holds it, and the owner has "
                    f"{len(owned)} {cloud} tenancies; name a default tenancy"
                )
            return owned[0]
        if native is None:
            vertex = await self.w.find_for_update(self.default_tenancy)
            if vertex is None or vertex.label != "Tenancy" or vertex.props.get("deleted"):
                raise ReconcileError(f"default tenancy {self.default_tenancy} is not a live tenancy")
            return vertex
        key = (cloud, native)
        if key not in self._tenancies:
            backends = await self._backends(cloud, native)
            found = [
                t for b in backends for t in await self.w.find("Tenancy", {"backendUid": b.uid, "nativeId": native})
            ]
            self._tenancies[key] = found[0] if found else await self._new_tenancy(cloud, native, backends[0])
        return self._tenancies[key]

    async def _owned_tenancies(self, cloud: str) -> list[Vertex]:
        if self.owner.label != "Provider":
            return await self.w.find("Tenancy", {"ownerUid": self.owner.uid, "provider": cloud})
        return [root for backend in await self._cloud_backends(cloud) for root in await self._roots(backend)]

    async def _cloud_backends(self, cloud: str) -> list[Vertex]:
        """The owner's provider's backends for `cloud`: accounts are looked up (and made) only there."""
        if cloud not in self._backends_of:
            provider = await self._provider()
            self._backends_of[cloud] = await self.w.find("CloudBackend", {"parentUid": provider.uid, "cloud": cloud})
        return self._backends_of[cloud]

    async def _backends(self, cloud: str, native: str) -> list[Vertex]:
        backends = await self._cloud_backends(cloud)
        if not backends:
            provider = await self._provider()
            raise ReconcileError(f"provider {provider.props['name']} has no {cloud} cloud backend to hold {cloud} account {native}")
        return backends

    async def _roots(self, backend: Vertex) -> list[Vertex]:
        return await self.w.find("Tenancy", {"parentUid": backend.uid, "isRoot": True})

    async def _new_tenancy(self, cloud: str, native: str, backend: Vertex) -> Vertex:
        if self.owner.label == "Provider":
            parent, owner = backend, None
        else:
            roots = await self._roots(backend)
            if not roots:
                raise ReconcileError(f"cloud backend {backend.props['name']} has no root tenancy for client sub-tenancies")
            parent, owner = roots[0], self.owner
        props = ci_properties(
            "Tenancy", native, cloud, None, None,
            nativeId=native, isRoot=parent is backend, parentUid=parent.uid, backendUid=backend.uid,
            ownerUid=owner.uid if owner else None,
        )
        tenancy = await self.w.create("Tenancy", props)
        await self.w.relate(labels.CONTAINS, parent, tenancy)
        if owner:
            await self.w.relate(labels.OWNS, owner, tenancy)
        self.new_tenancies.append(native)
        return tenancy

    async def existing_compartment(self, tenancy: Vertex, native: str) -> Vertex | None:
        """The compartment known by `native` in `tenancy`, if the graph has it."""
        key = (tenancy.uid, native)
        if key not in self._compartments:
            found = await self.w.find("Compartment", {"tenancyUid": tenancy.uid, "nativeId": native})
            if not found:
                return None
            self._compartments[key] = found[0]
        return self._compartments[key]

    def remember(self, tenancy: Vertex, native: str, compartment: Vertex) -> None:
        """A compartment the reconcile wrote itself: later placements find this version."""
        self._compartments[(tenancy.uid, native)] = compartment

    async def compartment(self, tenancy: Vertex, native: str) -> Vertex:
        """The compartment known by `native` in `tenancy`; made directly in the tenancy if new.

        Such a compartment knows only its native key; when its own resource (the resource group,
        namespace) is ingested, that record fills it in.
        """
        found = await self.existing_compartment(tenancy, native)
        if found is not None:
            return found
        props = ci_properties(
            "Compartment", native, tenancy.props["provider"], tenancy.props.get("region"), None,
            nativeId=native, parentUid=tenancy.uid, tenancyUid=tenancy.uid, compartmentUid=None,
        )
        compartment = await self.w.create("Compartment", props)
        await self.w.relate(labels.CONTAINS, tenancy, compartment)
        self.new_compartments.append(native)
        self.remember(tenancy, native, compartment)
        return compartment

    async def _provider(self) -> Vertex:
        if self._provider_v is None:
            vertex = self.owner
            while vertex.label != "Provider":
                parent = await self.w.find_for_update(vertex.props["parentUid"])
                if parent is None:
                    raise ReconcileError(f"{vertex.label} {vertex.props['name']} has lost its parent")
                vertex = parent
            self._provider_v = vertex
        return self._provider_v
