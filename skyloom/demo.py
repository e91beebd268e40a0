"""A small demo data set: one provider on four clouds, three clients, their tenancies and some resources.

Loaded through the same graph writer as everything else, so it has history and raises change
events like real data. Loading is idempotent: a second load finds the provider and stops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from skyloom.graph import labels
from skyloom.graph.pool import Database
from skyloom.graph.reads import GraphReader
from skyloom.graph.records import Vertex, ci_properties
from skyloom.graph.store import GraphWriter, writing

PROVIDER = "acme-cloud"
ACTOR = "system:demo"

BACKENDS = [
    # (backend name, cloud, display, root tenancy name, region)
    ("acme-aws", "aws", "Acme on AWS (organization o-acme)", "acme-aws-management", "eu-central-1"),
    ("acme-azure", "azure", "Acme on Azure (Entra tenant acme.onmicrosoft.com)", "acme-azure-platform", "westeurope"),
    ("acme-gcp", "gcp", "Acme on Google Cloud (organization acme.example)", "acme-gcp-platform", "europe-west3"),
    ("acme-oci", "oci", "Acme on Oracle Cloud (tenancy acme)", "acme-oci-root", "eu-frankfurt-1"),
]

TENANTS = [
    # (tenant, display, sub-tenants)
    ("contoso", "Contoso Ltd.", [("contoso-finance", "Contoso Finance"), ("contoso-web", "Contoso Web Shop")]),
    ("fabrikam", "Fabrikam Inc.", [("fabrikam-research", "Fabrikam Research")]),
    ("northwind", "Northwind Traders", []),
]

# Client sub-tenancies: (name, owner, backend, compartments, resources)
# compartments: (name, parent name or None); resources: (kind, name, compartment, type token, depends on)
TENANCIES: list[tuple[str, str, str, list[tuple[str, str | None]], list[tuple[str, str, str, str, list[str]]]]] = [
    (
        "contoso-prod", "contoso", "acme-aws",
        [("contoso-network", None), ("contoso-apps", None), ("contoso-apps-web", "contoso-apps")],
        [
            ("Network", "contoso-vpc", "contoso-network", "aws:ec2/vpc:Vpc", []),
            ("Subnet", "contoso-private-a", "contoso-network", "aws:ec2/subnet:Subnet", ["contoso-vpc"]),
            ("SecurityRule", "contoso-web-sg", "contoso-network", "aws:ec2/securityGroup:SecurityGroup", ["contoso-vpc"]),
            ("LoadBalancer", "contoso-alb", "contoso-apps-web", "aws:lb/loadBalancer:LoadBalancer", ["contoso-private-a", "contoso-web-sg"]),
            ("ComputeInstance", "contoso-web-1", "contoso-apps-web", "aws:ec2/instance:Instance", ["contoso-private-a", "contoso-web-sg"]),
            ("Database", "contoso-orders-db", "contoso-apps", "aws:rds/instance:Instance", ["contoso-private-a"]),
            ("ObjectStore", "contoso-assets", "contoso-apps", "aws:s3/bucket:Bucket", []),
        ],
    ),
    (
        "contoso-finance-azure", "contoso-finance", "acme-azure",
        [("rg-finance-core", None), ("rg-finance-data", None)],
        [
            ("Network", "vnet-finance", "rg-finance-core", "azure-native:network:VirtualNetwork", []),
            ("Subnet", "snet-finance-app", "rg-finance-core", "azure-native:network:Subnet", ["vnet-finance"]),
            ("KubernetesCluster", "aks-finance", "rg-finance-core", "azure-native:containerservice:ManagedCluster", ["snet-finance-app"]),
            ("Database", "sql-ledger", "rg-finance-data", "azure-native:sql:Database", ["snet-finance-app"]),
            ("Secret", "kv-finance", "rg-finance-data", "azure-native:keyvault:Vault", []),
        ],
    ),
    (
        "fabrikam-research-gcp", "fabrikam-research", "acme-gcp",
        [("research", None), ("research-ml", "research")],
        [
            ("Network", "research-vpc", "research", "gcp:compute/network:Network", []),
            ("Subnet", "research-subnet", "research", "gcp:compute/subnetwork:Subnetwork", ["research-vpc"]),
            ("ComputeInstance", "ml-trainer", "research-ml", "gcp:compute/instance:Instance", ["research-subnet"]),
            ("ObjectStore", "ml-datasets", "research-ml", "gcp:storage/bucket:Bucket", []),
            ("Messaging", "ml-jobs", "research-ml", "gcp:pubsub/topic:Topic", []),
        ],
    ),
    (
        "northwind-oci", "northwind", "acme-oci",
        [("northwind", None), ("northwind-erp", "northwind")],
        [
            ("Network", "northwind-vcn", "northwind", "oci:Core/vcn:Vcn", []),
            ("Subnet", "northwind-app-subnet", "northwind", "oci:Core/subnet:Subnet", ["northwind-vcn"]),
            ("ComputeInstance", "erp-app-1", "northwind-erp", "oci:Core/instance:Instance", ["northwind-app-subnet"]),
            ("Database", "erp-adb", "northwind-erp", "oci:Database/autonomousDatabase:AutonomousDatabase", ["northwind-app-subnet"]),
            ("Volume", "erp-app-1-boot", "northwind-erp", "oci:Core/volume:Volume", []),
        ],
    ),
]


async def load(db: Database, progress: Callable[[str], None] = lambda _m: None) -> bool:
    """Load the demo set; False when it was already there."""
    reader = GraphReader(db)
    existing = await reader.list_label("Provider", 100, None)
    if any(v.props["name"] == PROVIDER for v in existing.items):
        return False
    async with writing(db, ACTOR) as w:
        await w.lock("demo-load")
        provider = await w.create("Provider", {"name": PROVIDER, "displayName": "Acme Cloud Services", "parentUid": None})
        roots: dict[str, tuple[Vertex, str]] = {}
        for name, cloud, display, root_name, region in BACKENDS:
            progress(f"cloud backend {name}")
            backend = await _child(w, "CloudBackend", provider, {"name": name, "displayName": display, "cloud": cloud})
            root = await w.create(
                "Tenancy",
                ci_properties("Tenancy", root_name, cloud, region, isRoot=True, parentUid=backend.uid, backendUid=backend.uid, ownerUid=None),
            )
            await w.relate(labels.CONTAINS, backend, root)
            roots[name] = (root, region)
        owners: dict[str, Vertex] = {}
        for name, display, subs in TENANTS:
            progress(f"tenant {name}")
            tenant = owners[name] = await _child(w, "Tenant", provider, {"name": name, "displayName": display})
            for sub_name, sub_display in subs:
                owners[sub_name] = await _child(w, "SubTenant", tenant, {"name": sub_name, "displayName": sub_display})
        for name, owner_name, backend_name, compartments, resources in TENANCIES:
            progress(f"tenancy {name}")
            await _tenancy(w, name, owners[owner_name], *roots[backend_name], compartments, resources)
    return True


async def _child(w: GraphWriter, label: str, parent: Vertex, props: dict[str, Any]) -> Vertex:
    vertex = await w.create(label, {**props, "parentUid": parent.uid})
    await w.relate(labels.CONTAINS, parent, vertex)
    return vertex


async def _tenancy(w: GraphWriter, name: str, owner: Vertex, root: Vertex, region: str, compartments, resources) -> None:
    cloud = root.props["provider"]
    tenancy = await w.create(
        "Tenancy",
        ci_properties(
            "Tenancy", name, cloud, region,
            isRoot=False, parentUid=root.uid, backendUid=root.props["backendUid"], ownerUid=owner.uid,
            tags={"client": owner.props["name"]},
        ),
    )
    await w.relate(labels.CONTAINS, root, tenancy)
    await w.relate(labels.OWNS, owner, tenancy)
    placed: dict[str, Vertex] = {}
    for comp_name, parent_name in compartments:
        parent = placed[parent_name] if parent_name else tenancy
        comp = await w.create(
            "Compartment",
            ci_properties(
                "Compartment", comp_name, cloud, region,
                parentUid=parent.uid, tenancyUid=tenancy.uid, compartmentUid=parent.uid if parent_name else None,
            ),
        )
        await w.relate(labels.CONTAINS, parent, comp)
        placed[comp_name] = comp
    for kind, res_name, comp_name, token, depends_on in resources:
        comp = placed[comp_name]
        urn = f"urn:pulumi:prod::{name}::{token}::{res_name}"
        res = await w.create(
            kind,
            ci_properties(
                kind, res_name, cloud, region,
                nativeType=token, urn=urn, parentUid=comp.uid, tenancyUid=tenancy.uid, compartmentUid=comp.uid,
                tags={"environment": "production", "client": owner.props["name"]},
            ),
        )
        await w.relate(labels.CONTAINS, comp, res)
        placed[res_name] = res
        for dependency in depends_on:
            await w.relate(labels.DEPENDS_ON, res, placed[dependency])
