"""A synthetic provider estate of N configuration items, shaped so that every benchmarked query has real work to do.

The shape, and why:
* one provider on four clouds (a root tenancy each), clients owning sub-tenancies, as the demo has;
* CIs come in blocks of about 5,000: a top-level compartment holding 4 compartments holding 4
  each, with ~311 resources per leaf. A block is the ~5k compartment subtree the subtree query
  reads, and there are N / 5,000 of them, so the subtree's cost is measured against the whole estate;
* in each leaf the resources form a 4-ary dependency tree (plus ~30% extra random dependencies),
  whose root subnet depends on the block's core network: the impact set of a core network at
  depth 3 is then 16 + 64 + 256 vertices plus the extras, a few hundred;
* kinds, regions, tags and clouds vary, so the search filter selects a real fraction.

Generation is deterministic (seeded), so two runs load the same estate.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from skyloom.graph import labels
from skyloom.graph.bulk import BulkEdge, BulkVertex
from skyloom.graph.records import ci_properties

BLOCK_MIDS = 4  # compartments under a block's top compartment
MID_LEAVES = 4  # compartments under each of those
LEAF_RESOURCES = 311  # so that a block holds 1 + 4 + 16 compartments + 1 + 16 * 311 resources = 4,998 CIs
BLOCKS_PER_TENANCY = 5

CLOUDS = [  # (cloud, regions)
    ("aws", ["eu-central-1", "us-east-1", "eu-west-1"]),
    ("azure", ["westeurope", "northeurope", "eastus"]),
    ("gcp", ["europe-west3", "us-central1", "europe-west1"]),
    ("oci", ["eu-frankfurt-1", "us-ashburn-1", "uk-london-1"]),
]
# Resource kinds and their weights in a leaf (roughly what a real estate holds).
KIND_WEIGHTS = {
    "ComputeInstance": 30, "Volume": 15, "SecurityRule": 10, "Database": 6, "ObjectStore": 6, "Function": 6,
    "Secret": 5, "Identity": 5, "LoadBalancer": 4, "Messaging": 4, "Dns": 3, "KubernetesCluster": 2,
    "Network": 1, "Subnet": 2, "Resource": 1,
}
ENVIRONMENTS = ["production", "staging", "development"]
STAMP = "2024-05-01T10:00:00.000000+00:00"


@dataclass
class Estate:
    vertices: list[BulkVertex] = field(default_factory=list)
    edges: list[BulkEdge] = field(default_factory=list)
    ci_count: int = 0
    tenancies: list[str] = field(default_factory=list)  # client tenancy uids
    blocks: list[str] = field(default_factory=list)  # uids of complete ~5k-CI block compartments
    cores: list[str] = field(default_factory=list)  # core network of each complete block (impact roots)
    resources: list[str] = field(default_factory=list)  # a sample of resource uids (node lookups)
    tenants: list[str] = field(default_factory=list)  # client tenant uids
    owners: dict[str, str] = field(default_factory=dict)  # client tenancy uid -> owning tenant uid


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.estate = Estate()
        self._kinds = list(KIND_WEIGHTS)
        self._weights = list(KIND_WEIGHTS.values())

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def vertex(self, label: str, props: dict[str, Any]) -> str:
        v = BulkVertex(label, props, uid=self.uid())
        self.estate.vertices.append(v)
        if label in labels.ci_labels():
            self.estate.ci_count += 1
        return v.uid

    def edge(self, relation: str, start: str, end: str) -> None:
        self.estate.edges.append(BulkEdge(relation, start, end))

    def ci(self, kind: str, name: str, cloud: str, region: str, tags: dict[str, str], **extra: Any) -> dict[str, Any]:
        """A CI's properties as the API stores them (firstSeen / lastSeen fixed for determinism)."""
        return {**ci_properties(kind, name, cloud, region, tags, **extra), "firstSeen": STAMP, "lastSeen": STAMP}


def generate(ci_target: int, seed: int = 7, blocks_per_tenancy: int = BLOCKS_PER_TENANCY) -> Estate:
    """An estate of exactly `ci_target` CIs (tenancies, compartments and resources), plus the panel above them."""
    b = _Builder(seed)
    provider = b.vertex("Provider", {"name": "bench-provider", "displayName": "Bench Provider", "parentUid": None})
    roots = []
    for cloud, regions in CLOUDS:
        backend = b.vertex("CloudBackend", {"name": f"bench-{cloud}", "displayName": f"Bench on {cloud}", "cloud": cloud, "parentUid": provider})
        b.edge(labels.CONTAINS, provider, backend)
        root = b.vertex(
            "Tenancy",
            b.ci("Tenancy", f"bench-{cloud}-root", cloud, regions[0], {}, isRoot=True, parentUid=backend,
                 backendUid=backend, ownerUid=None),
        )
        b.edge(labels.CONTAINS, backend, root)
        roots.append((root, backend, cloud, regions))
    blocks = max(1, -(-ci_target // (1 + BLOCK_MIDS + BLOCK_MIDS * MID_LEAVES + 1 + BLOCK_MIDS * MID_LEAVES * LEAF_RESOURCES)))
    tenancy_count = max(2, -(-blocks // blocks_per_tenancy))
    tenants = []
    for i in range(max(2, tenancy_count // 2)):
        tenant = b.vertex("Tenant", {"name": f"client-{i}", "displayName": f"Client {i}", "parentUid": provider})
        b.edge(labels.CONTAINS, provider, tenant)
        tenants.append(tenant)
    b.estate.tenants = tenants
    tenancies = []
    for i in range(tenancy_count):
        root, backend, cloud, regions = roots[i % len(roots)]
        owner = tenants[i % len(tenants)]
        region = regions[i % len(regions)]
        tenancy = b.vertex(
            "Tenancy",
            b.ci("Tenancy", f"client-{i}-{cloud}", cloud, region, {"client": f"client-{i % len(tenants)}"},
                 isRoot=False, parentUid=root, backendUid=backend, ownerUid=owner),
        )
        b.edge(labels.CONTAINS, root, tenancy)
        b.edge(labels.OWNS, owner, tenancy)
        tenancies.append((tenancy, cloud, region))
        b.estate.tenancies.append(tenancy)
        b.estate.owners[tenancy] = owner
    block = 0
    while b.estate.ci_count < ci_target:
        _block(b, block, *tenancies[block % len(tenancies)], ci_target)
        block += 1
    return b.estate


def _block(b: _Builder, n: int, tenancy: str, cloud: str, region: str, ci_target: int) -> None:
    room = lambda: b.estate.ci_count < ci_target  # noqa: E731 - the last block stops where the target is met

    def compartment(name: str, parent: str, parent_is_tenancy: bool) -> str:
        uid = b.vertex(
            "Compartment",
            b.ci("Compartment", name, cloud, region, {"block": str(n)}, parentUid=parent, tenancyUid=tenancy,
                 compartmentUid=None if parent_is_tenancy else parent),
        )
        b.edge(labels.CONTAINS, parent, uid)
        return uid

    def resource(kind: str, name: str, comp: str, tags: dict[str, str]) -> str:
        token = f"{cloud}:bench/{kind[0].lower()}{kind[1:]}:{kind}"
        uid = b.vertex(
            kind,
            b.ci(kind, name, cloud, region, tags, nativeType=token, urn=f"urn:pulumi:{tags['environment']}::block-{n}::{token}::{name}",
                 parentUid=comp, tenancyUid=tenancy, compartmentUid=comp),
        )
        b.edge(labels.CONTAINS, comp, uid)
        return uid

    top = compartment(f"block-{n}", tenancy, True)
    complete = b.estate.ci_count + 4997 <= ci_target
    core = resource("Network", f"core-net-{n}", top, {"environment": "production", "team": "network"})
    leaves = []
    for m in range(BLOCK_MIDS):
        if not room():
            break
        mid = compartment(f"block-{n}-{m}", top, False)
        for leaf in range(MID_LEAVES):
            if not room():
                break
            leaves.append((m, leaf, compartment(f"block-{n}-{m}-{leaf}", mid, False)))
    for m, leaf, comp in leaves:
        env = ENVIRONMENTS[(m + leaf) % len(ENVIRONMENTS)]
        made: list[str] = []
        for j in range(LEAF_RESOURCES):
            if not room():
                break
            kind = "Subnet" if j == 0 else b.rng.choices(b._kinds, b._weights)[0]
            tags = {"environment": env, "team": f"team-{b.rng.randrange(12)}", "costCenter": f"cc-{b.rng.randrange(40)}"}
            uid = resource(kind, f"{kind.lower()}-{n}-{m}-{leaf}-{j}", comp, tags)
            if j == 0:
                b.edge(labels.DEPENDS_ON, uid, core)
            else:
                parent = (j - 1) // 4
                b.edge(labels.DEPENDS_ON, uid, made[parent])
                if j >= 8 and b.rng.random() < 0.3:
                    extra = b.rng.randrange(j)
                    if extra != parent:
                        b.edge(labels.DEPENDS_ON, uid, made[extra])
            made.append(uid)
            if j % 97 == 5 and len(b.estate.resources) < 5000:
                b.estate.resources.append(uid)
    if complete:
        b.estate.blocks.append(top)
        b.estate.cores.append(core)
