"""A design as a Google Cloud Pulumi program: a project under the client's folder and what is in it.

The project is created with the operator's credentials and every resource inside names it
explicitly (`project=`), with the APIs it needs enabled first. Google Cloud keeps resources in
projects, not folders: a compartment becomes a folder under the client's folder (beside the
project, ready for the client's next projects), and the resources drawn in it are labelled with
it. Label values are lower case, as Google requires. A database gets a private IP in its
network through private services access (one peering range per network).
"""

from __future__ import annotations

from skyloom.deploy.planner.emit import Call, Code, literal
from skyloom.deploy.planner.model import Component, Design
from skyloom.deploy.planner.program import ConfigKey, Context, database_password, secret

PROVIDER = "gcp"
ADMIN = "skyloom"
VERSIONS = {"postgres": "POSTGRES_16", "mysql": "MYSQL_8_0"}
APIS = {"Network": ("compute",), "Subnet": ("compute",), "ComputeInstance": ("compute",),
        "Database": ("compute", "servicenetworking", "sqladmin"), "ObjectStore": ("storage",), "Identity": ("iam",)}


def config_keys(design: Design) -> list[ConfigKey]:
    return [database_password(c) for c in design.of_kind("Database")]


def write(ctx: Context) -> None:
    ctx.w.imports("import pulumi_gcp as gcp")
    ctx.w.block("config = pulumi.Config()", f"REGION = {literal(ctx.design.region)}")
    networks_done = False
    for c in ctx.design.in_order():
        if not networks_done and c.kind not in ("Tenancy", "Compartment", "Network", "Subnet"):
            _private_services(ctx)
            networks_done = True
        KINDS[c.kind](ctx, c)


def _labels(ctx: Context, c: Component) -> dict[str, str]:
    return ctx.tags(c, lower=True)


def _after(*apis: str) -> Code:
    return Code(f"pulumi.ResourceOptions(depends_on=[{', '.join(f'api_{a}' for a in apis)}])")


def _tenancy(ctx: Context, c: Component) -> None:
    p = ctx.props(c)
    ctx.resource(c, "gcp.organizations.Project", {
        "project_id": c.name, "name": c.name, "folder_id": p["folderId"], "billing_account": p["billingAccount"],
        "auto_create_network": False, "labels": _labels(ctx, c),
    }, comment=f"{ctx.describe(c)}: a project in the client's folder, billed to the billing account.")
    ctx.w.block(f"project = {ctx.var(c)}.project_id")
    for api in sorted({a for x in ctx.design.components for a in APIS.get(x.kind, ())}):
        ctx.resource(c, "gcp.projects.Service", {
            "project": Code("project"), "service": f"{api}.googleapis.com", "disable_on_destroy": False,
        }, role=f"api-{api}", var=f"api_{api}", comment=f"The {api} API, which the project's resources need.")
    if ctx.design.of_kind("ComputeInstance"):
        ctx.w.assign("zones", Call("gcp.compute.get_zones_output", {
            "project": Code("project"), "region": Code("REGION"),
            "opts": Code("pulumi.InvokeOutputOptions(depends_on=[api_compute])")}))


def _compartment(ctx: Context, c: Component) -> None:
    parent = ctx.design.parent(c)
    where = ctx.ref(parent, "name") if parent.kind == "Compartment" else f"folders/{ctx.props(parent)['folderId']}"
    ctx.resource(c, "gcp.organizations.Folder", {"display_name": c.name, "parent": where},
                 comment=f"{ctx.describe(c)}: a folder (folders take no labels; what is drawn in it is labelled)")


def _network(ctx: Context, c: Component) -> None:
    ctx.resource(c, "gcp.compute.Network", {
        "name": c.name, "project": Code("project"), "auto_create_subnetworks": False,
        "description": f"Skyloom network {c.id} ({c.properties['cidr']})",
    }, opts=_after("compute"), comment=f"{ctx.describe(c)} (networks take no labels)")


def _subnet(ctx: Context, c: Component) -> None:
    ctx.resource(c, "gcp.compute.Subnetwork", {
        "name": c.name, "project": Code("project"), "region": Code("REGION"),
        "network": ctx.ref(ctx.design.parent(c), "id"), "ip_cidr_range": c.properties["cidr"],
        "private_ip_google_access": True, "description": f"Skyloom subnet {c.id}",
    }, opts=_after("compute"), comment=ctx.describe(c))


def _private_services(ctx: Context) -> None:
    """One private services range and peering per network that holds a database (Cloud SQL's private IP)."""
    for network in ctx.design.of_kind("Network"):
        if not any(ctx.design.children(s, "Database") for s in ctx.design.children(network, "Subnet")):
            continue
        address = ctx.resource(network, "gcp.compute.GlobalAddress", {
            "name": f"{network.name[:50]}-sql-range", "project": Code("project"), "network": ctx.ref(network, "id"),
            "purpose": "VPC_PEERING", "address_type": "INTERNAL", "prefix_length": 20, "labels": _labels(ctx, network),
        }, role="sql-range", opts=_after("compute"),
            comment=f"Private services access for the databases in {ctx.describe(network)}")
        ctx.resource(network, "gcp.servicenetworking.Connection", {
            "network": ctx.ref(network, "id"), "service": "servicenetworking.googleapis.com",
            "reserved_peering_ranges": [Code(f"{address}.name")],
        }, role="sql-peering", opts=_after("servicenetworking"))


def _identity(ctx: Context, c: Component) -> None:
    ctx.resource(c, "gcp.serviceaccount.Account", {
        "account_id": c.name, "project": Code("project"), "display_name": c.name,
        "description": f"Skyloom identity {c.id}",
    }, opts=_after("iam"), comment=f"{ctx.describe(c)}: a service account (service accounts take no labels)")


def _object_store(ctx: Context, c: Component) -> None:
    ctx.resource(c, "gcp.storage.Bucket", {
        "name": c.name, "project": Code("project"), "location": Code("REGION.upper()"),
        "uniform_bucket_level_access": True, "public_access_prevention": "enforced", "labels": _labels(ctx, c),
    }, opts=_after("storage"), comment=ctx.describe(c))


def _instance(ctx: Context, c: Component) -> None:
    p, identity = ctx.props(c), ctx.design.identity_of(c)
    ctx.resource(c, "gcp.compute.Instance", {
        "name": c.name, "project": Code("project"), "zone": Code("zones.names[0]"), "machine_type": p["size"],
        "boot_disk": Call("gcp.compute.InstanceBootDiskArgs", {"initialize_params": Call(
            "gcp.compute.InstanceBootDiskInitializeParamsArgs", {"image": p["image"]})}),
        "network_interfaces": [Call("gcp.compute.InstanceNetworkInterfaceArgs", {
            "subnetwork": ctx.ref(ctx.design.parent(c), "id")})],
        "service_account": Call("gcp.compute.InstanceServiceAccountArgs", {
            "email": ctx.ref(identity, "email"), "scopes": ["cloud-platform"]}) if identity else None,
        "shielded_instance_config": Call("gcp.compute.InstanceShieldedInstanceConfigArgs", {"enable_secure_boot": True}),
        "allow_stopping_for_update": True, "labels": _labels(ctx, c),
    }, opts=_after("compute"), comment=ctx.describe(c))


def _database(ctx: Context, c: Component) -> None:
    p, network = ctx.props(c), ctx.design.ancestor(c, "Network")
    instance = ctx.resource(c, "gcp.sql.DatabaseInstance", {
        "name": c.name, "project": Code("project"), "region": Code("REGION"),
        "database_version": VERSIONS[p["engine"]], "deletion_protection": True,
        "settings": Call("gcp.sql.DatabaseInstanceSettingsArgs", {
            "tier": p["size"], "edition": "ENTERPRISE", "disk_size": p["storageGb"],
            "ip_configuration": Call("gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs", {
                "ipv4_enabled": False, "private_network": ctx.ref(network, "id"), "ssl_mode": "ENCRYPTED_ONLY"}),
            "user_labels": _labels(ctx, c)}),
    }, opts=Code(f"pulumi.ResourceOptions(depends_on=[api_sqladmin, {ctx.var(network, 'sql_peering')}])"),
        comment=f"{ctx.describe(c)}: a Cloud SQL instance with a private IP in its network, and its admin user")
    ctx.resource(c, "gcp.sql.User", {
        "name": ADMIN, "project": Code("project"), "instance": Code(f"{instance}.name"),
        "password": secret(database_password(c)),
    }, role="admin")


KINDS = {"Tenancy": _tenancy, "Compartment": _compartment, "Network": _network, "Subnet": _subnet,
         "Identity": _identity, "ObjectStore": _object_store, "ComputeInstance": _instance, "Database": _database}
