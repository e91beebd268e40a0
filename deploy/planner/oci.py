"""A design as an OCI Pulumi program: the client's compartment under the tenancy and what is in it.

Identity resources (compartments, groups, dynamic groups) are made in the tenancy's home region,
so they use the default provider (the operator's configuration); regional resources go through an
explicit provider for the design's region. Every resource names its compartment's OCID
(`compartment_id`), which is how OCI scopes ownership and policy. An identity attached to instances
becomes a dynamic group matching those instances; otherwise a group. Tags are freeform tags.
"""

from __future__ import annotations

from skyloom.deploy.planner.emit import Call, Code, literal
from skyloom.deploy.planner.model import Component, Design
from skyloom.deploy.planner.program import ConfigKey, Context, database_password, secret

PROVIDER = "oci"


def config_keys(design: Design) -> list[ConfigKey]:
    return [database_password(c) for c in design.of_kind("Database")]


def write(ctx: Context) -> None:
    ctx.w.imports("import pulumi_oci as oci")
    t = ctx.design.tenancy
    p = ctx.props(t)
    tenancy = p.get("tenancyId") or p["parentCompartmentId"]
    ctx.w.block("config = pulumi.Config()", f"REGION = {literal(ctx.design.region)}",
                f"TENANCY = {literal(tenancy)}  # groups and dynamic groups live at the tenancy")
    # Dynamic groups match instances by id: identities come after the instances here.
    order = sorted(ctx.design.in_order(), key=lambda c: c.kind == "Identity")
    for c in order:
        KINDS[c.kind](ctx, c)


def _compartment_id(ctx: Context, c: Component) -> Code:
    return ctx.ref(ctx.design.compartment_of(c), "id")


def _tenancy(ctx: Context, c: Component) -> None:
    p = ctx.props(c)
    ctx.resource(c, "oci.identity.Compartment", {
        "compartment_id": p["parentCompartmentId"], "name": c.name,
        "description": p.get("description", f"Skyloom tenancy {c.id}"),
        "freeform_tags": ctx.tags(c),
    }, comment=f"{ctx.describe(c)}: the client's compartment (made in the home region, as identity resources are)")
    ctx.resource(c, "oci.Provider", {"region": Code("REGION")}, role="provider",
                 comment="Regional resources go through a provider for the design's region.")
    ctx.w.block(f"regional = pulumi.ResourceOptions(provider={ctx.var(c, 'provider')})",
                f"regional_calls = pulumi.InvokeOutputOptions(provider={ctx.var(c, 'provider')})")
    if ctx.design.of_kind("ComputeInstance"):
        ctx.w.assign("availability_domains", Call("oci.identity.get_availability_domains_output", {
            "compartment_id": ctx.ref(c, "id"), "opts": Code("regional_calls")}))
    if ctx.design.of_kind("ObjectStore"):
        ctx.w.assign("namespace", Call("oci.objectstorage.get_namespace_output", {
            "compartment_id": ctx.ref(c, "id"), "opts": Code("regional_calls")}))
    for n, shape in enumerate(_looked_up_shapes(ctx), 1):
        ctx.w.assign(f"oracle_linux_{n}", Call("oci.core.get_images_output", {
            "compartment_id": ctx.ref(c, "id"), "operating_system": "Oracle Linux", "operating_system_version": "9",
            "shape": shape, "sort_by": "TIMECREATED", "sort_order": "DESC", "opts": Code("regional_calls")}),
            comment=f"The latest Oracle Linux 9 image for {literal(shape)}")


def _looked_up_shapes(ctx: Context) -> list[str]:
    """The shapes of the instances drawn without an image: each gets the latest Oracle Linux 9 looked up."""
    return sorted({ctx.props(i)["size"] for i in ctx.design.of_kind("ComputeInstance") if "image" not in i.properties})


def _compartment(ctx: Context, c: Component) -> None:
    ctx.resource(c, "oci.identity.Compartment", {
        "compartment_id": ctx.ref(ctx.design.parent(c), "id"), "name": c.name,
        "description": ctx.props(c).get("description", f"Skyloom compartment {c.id}"),
        "freeform_tags": ctx.tags(c),
    }, comment=ctx.describe(c))


def _network(ctx: Context, c: Component) -> None:
    ctx.resource(c, "oci.core.Vcn", {
        "compartment_id": _compartment_id(ctx, c), "cidr_blocks": [c.properties["cidr"]], "display_name": c.name,
        "freeform_tags": ctx.tags(c),
    }, opts=Code("regional"), comment=f"{ctx.describe(c)}: a VCN")


def _subnet(ctx: Context, c: Component) -> None:
    ctx.resource(c, "oci.core.Subnet", {
        "compartment_id": _compartment_id(ctx, c), "vcn_id": ctx.ref(ctx.design.parent(c), "id"),
        "cidr_block": c.properties["cidr"], "display_name": c.name, "prohibit_public_ip_on_vnic": True,
        "freeform_tags": ctx.tags(c),
    }, opts=Code("regional"), comment=f"{ctx.describe(c)}: a private regional subnet")


def _object_store(ctx: Context, c: Component) -> None:
    ctx.resource(c, "oci.objectstorage.Bucket", {
        "compartment_id": _compartment_id(ctx, c), "name": c.name, "namespace": Code("namespace.namespace"),
        "access_type": "NoPublicAccess", "freeform_tags": ctx.tags(c),
    }, opts=Code("regional"), comment=ctx.describe(c))


def _instance(ctx: Context, c: Component) -> None:
    p = ctx.props(c)
    if "image" in p:
        image = p["image"]
    else:
        image = Code(f"oracle_linux_{_looked_up_shapes(ctx).index(p['size']) + 1}.images[0].id")
    flexible = p["size"].endswith(".Flex")
    ctx.resource(c, "oci.core.Instance", {
        "compartment_id": _compartment_id(ctx, c), "display_name": c.name,
        "availability_domain": Code("availability_domains.availability_domains[0].name"), "shape": p["size"],
        "shape_config": Call("oci.core.InstanceShapeConfigArgs", {"ocpus": 1, "memory_in_gbs": 8}) if flexible else None,
        "source_details": Call("oci.core.InstanceSourceDetailsArgs", {"source_type": "image", "source_id": image}),
        "create_vnic_details": Call("oci.core.InstanceCreateVnicDetailsArgs", {
            "subnet_id": ctx.ref(ctx.design.parent(c), "id"), "assign_public_ip": "false"}),
        "freeform_tags": ctx.tags(c),
    }, opts=Code("regional"), comment=ctx.describe(c))


def _database(ctx: Context, c: Component) -> None:
    p = ctx.props(c)
    ctx.resource(c, "oci.database.AutonomousDatabase", {
        "compartment_id": _compartment_id(ctx, c), "db_name": c.name, "display_name": c.name,
        "admin_password": secret(database_password(c)), "db_workload": "OLTP", "compute_model": "ECPU",
        "compute_count": p["size"], "data_storage_size_in_gb": p["storageGb"],
        "subnet_id": ctx.ref(ctx.design.parent(c), "id"), "freeform_tags": ctx.tags(c),
    }, opts=Code("regional"), comment=f"{ctx.describe(c)}: an Autonomous Database on a private endpoint in the subnet")


def _identity(ctx: Context, c: Component) -> None:
    instances = ctx.design.instances_of(c)
    common = {"compartment_id": Code("TENANCY"), "name": c.name, "description": f"Skyloom identity {c.id}"}
    if not instances:
        ctx.resource(c, "oci.identity.Group", {**common, "freeform_tags": ctx.tags(c)},
                     comment=f"{ctx.describe(c)}: a group (at the tenancy)")
        return
    ids = ", ".join(f"{ctx.var(i)}.id" for i in instances)
    rule = Code(f'pulumi.Output.all({ids}).apply(lambda ids: "Any {{" + ", ".join(f"instance.id = \'{{i}}\'" '
                'for i in ids) + "}")')
    ctx.resource(c, "oci.identity.DynamicGroup", {**common, "matching_rule": rule, "freeform_tags": ctx.tags(c)},
                 comment=f"{ctx.describe(c)}: a dynamic group of the instances that run as it (at the tenancy)")


KINDS = {"Tenancy": _tenancy, "Compartment": _compartment, "Network": _network, "Subnet": _subnet,
         "Identity": _identity, "ObjectStore": _object_store, "ComputeInstance": _instance, "Database": _database}
