"""A design as an Azure Pulumi program: a new subscription (an alias under a billing scope) and what is in it.

The subscription is created with the operator's credentials (the default provider); everything
inside goes through an explicit `azure_native.Provider` bound to the new subscription's id, so
nothing lands in the operator's own subscription. Compartments are resource groups, which do not
nest: a nested compartment becomes a resource group beside its parent, tagged with it. Only the
submodules a design uses are imported (`pulumi_azure_native` has hundreds).
"""

from __future__ import annotations

from skyloom.deploy.planner.emit import Call, Code, literal
from skyloom.deploy.planner.model import Component, Design
from skyloom.deploy.planner.program import ConfigKey, Context, database_password, secret

PROVIDER = "azure"
ADMIN = "skyloom"
SSH_KEY = ConfigKey("sshPublicKey", False, "the SSH public key of the virtual machines' admin user")
MODULES = {"Tenancy": ("subscription",), "Compartment": ("resources",), "Network": ("network",),
           "Subnet": ("network",), "ComputeInstance": ("network", "compute"), "Database": ("network", "sql"),
           "ObjectStore": ("storage",), "Identity": ("managedidentity",)}


def config_keys(design: Design) -> list[ConfigKey]:
    keys = [SSH_KEY] if design.of_kind("ComputeInstance") else []
    return keys + [database_password(c) for c in design.of_kind("Database")]


def write(ctx: Context) -> None:
    modules = sorted({m for c in ctx.design.components for m in MODULES[c.kind]})
    ctx.w.imports("import pulumi_azure_native as azure_native", f"from pulumi_azure_native import {', '.join(modules)}")
    lines = ["config = pulumi.Config()", f"LOCATION = {literal(ctx.design.region)}"]
    if ctx.design.of_kind("ComputeInstance"):
        lines.append(f"ssh_public_key = config.require({literal(SSH_KEY.key)})")
    ctx.w.block(*lines)
    for c in ctx.design.in_order():
        KINDS[c.kind](ctx, c)


def _group(ctx: Context, c: Component) -> Code:
    """The name of the resource group a resource goes in (its compartment's)."""
    return ctx.ref(ctx.design.compartment_of(c), "name")


def _tenancy(ctx: Context, c: Component) -> None:
    p = ctx.props(c)
    extra = {"tags": ctx.tags(c)}
    if "managementGroupId" in p:
        extra = {"management_group_id": p["managementGroupId"], **extra}
    alias = ctx.resource(c, "subscription.Alias", {
        "alias_name": c.name,
        "properties": Call("subscription.PutAliasRequestPropertiesArgs", {
            "display_name": c.name, "billing_scope": p["billingScope"], "workload": p["workload"],
            "additional_properties": Call("subscription.PutAliasRequestAdditionalPropertiesArgs", extra)}),
    }, comment=f"{ctx.describe(c)}: a new subscription, billed to the billing scope.")
    ctx.resource(c, "azure_native.Provider", {"subscription_id": Code(f"{alias}.properties.subscription_id")},
                 role="provider", comment="Everything inside goes to the new subscription through this provider.")
    ctx.w.block(f"inside = pulumi.ResourceOptions(provider={ctx.var(c, 'provider')})")


def _compartment(ctx: Context, c: Component) -> None:
    ctx.resource(c, "resources.ResourceGroup", {
        "resource_group_name": c.name, "location": Code("LOCATION"), "tags": ctx.tags(c),
    }, opts=Code("inside"), comment=ctx.describe(c))


def _network(ctx: Context, c: Component) -> None:
    ctx.resource(c, "network.VirtualNetwork", {
        "virtual_network_name": c.name, "resource_group_name": _group(ctx, c), "location": Code("LOCATION"),
        "address_space": Call("network.AddressSpaceArgs", {"address_prefixes": [c.properties["cidr"]]}),
        "tags": ctx.tags(c),
    }, opts=Code("inside"), comment=ctx.describe(c))


def _subnet(ctx: Context, c: Component) -> None:
    vnet = ctx.design.parent(c)
    ctx.resource(c, "network.Subnet", {
        "subnet_name": c.name, "resource_group_name": _group(ctx, vnet),
        "virtual_network_name": ctx.ref(vnet, "name"), "address_prefix": c.properties["cidr"],
    }, opts=Code("inside"), comment=f"{ctx.describe(c)} (subnets take no tags)")


def _identity(ctx: Context, c: Component) -> None:
    ctx.resource(c, "managedidentity.UserAssignedIdentity", {
        "resource_name_": c.name, "resource_group_name": _group(ctx, c), "location": Code("LOCATION"),
        "tags": ctx.tags(c),
    }, opts=Code("inside"), comment=f"{ctx.describe(c)}: a user-assigned managed identity")


def _object_store(ctx: Context, c: Component) -> None:
    ctx.resource(c, "storage.StorageAccount", {
        "account_name": c.name, "resource_group_name": _group(ctx, c), "location": Code("LOCATION"),
        "kind": "StorageV2", "sku": Call("storage.SkuArgs", {"name": "Standard_LRS"}),
        "minimum_tls_version": "TLS1_2", "allow_blob_public_access": False, "enable_https_traffic_only": True,
        "tags": ctx.tags(c),
    }, opts=Code("inside"), comment=f"{ctx.describe(c)}: a storage account")


def _instance(ctx: Context, c: Component) -> None:
    p, identity = ctx.props(c), ctx.design.identity_of(c)
    publisher, offer, sku, version = p["image"].split(":")
    nic = ctx.resource(c, "network.NetworkInterface", {
        "network_interface_name": f"{c.name}-nic", "resource_group_name": _group(ctx, c), "location": Code("LOCATION"),
        "ip_configurations": [Call("network.NetworkInterfaceIPConfigurationArgs", {
            "name": "primary", "private_ip_allocation_method": "Dynamic",
            "subnet": Call("network.SubnetArgs", {"id": ctx.ref(ctx.design.parent(c), "id")})})],
        "tags": ctx.tags(c),
    }, role="nic", opts=Code("inside"), comment=f"{ctx.describe(c)}: its network interface, then the machine")
    ctx.resource(c, "compute.VirtualMachine", {
        "vm_name": c.name, "resource_group_name": _group(ctx, c), "location": Code("LOCATION"),
        "hardware_profile": Call("compute.HardwareProfileArgs", {"vm_size": p["size"]}),
        "storage_profile": Call("compute.StorageProfileArgs", {
            "image_reference": Call("compute.ImageReferenceArgs", {
                "publisher": publisher, "offer": offer, "sku": sku, "version": version}),
            "os_disk": Call("compute.OSDiskArgs", {
                "create_option": "FromImage", "delete_option": "Delete",
                "managed_disk": Call("compute.ManagedDiskParametersArgs", {"storage_account_type": "StandardSSD_LRS"})}),
        }),
        "os_profile": Call("compute.OSProfileArgs", {
            "computer_name": c.name, "admin_username": ADMIN,
            "linux_configuration": Call("compute.LinuxConfigurationArgs", {
                "disable_password_authentication": True,
                "ssh": Call("compute.SshConfigurationArgs", {"public_keys": [Call("compute.SshPublicKeyArgs", {
                    "path": f"/home/{ADMIN}/.ssh/authorized_keys", "key_data": Code("ssh_public_key")})]})}),
        }),
        "network_profile": Call("compute.NetworkProfileArgs", {"network_interfaces": [
            Call("compute.NetworkInterfaceReferenceArgs", {"id": Code(f"{nic}.id"), "primary": True})]}),
        "identity": Call("compute.VirtualMachineIdentityArgs", {
            "type": "UserAssigned", "user_assigned_identities": [ctx.ref(identity, "id")]}) if identity else None,
        "tags": ctx.tags(c),
    }, opts=Code("inside"))


def _database(ctx: Context, c: Component) -> None:
    p, group = ctx.props(c), _group(ctx, c)
    server = ctx.resource(c, "sql.Server", {
        "server_name": c.name, "resource_group_name": group, "location": Code("LOCATION"),
        "administrator_login": ADMIN, "administrator_login_password": secret(database_password(c)),
        "version": "12.0", "minimal_tls_version": "1.2", "public_network_access": "Disabled", "tags": ctx.tags(c),
    }, role="server", opts=Code("inside"),
        comment=f"{ctx.describe(c)}: a SQL server, its database, and a private endpoint in the subnet")
    ctx.resource(c, "sql.Database", {
        "database_name": c.name, "server_name": Code(f"{server}.name"), "resource_group_name": group,
        "location": Code("LOCATION"), "sku": Call("sql.SkuArgs", {"name": p["size"]}), "tags": ctx.tags(c),
    }, opts=Code("inside"))
    ctx.resource(c, "network.PrivateEndpoint", {
        "private_endpoint_name": f"{c.name}-endpoint", "resource_group_name": group, "location": Code("LOCATION"),
        "subnet": Call("network.SubnetArgs", {"id": ctx.ref(ctx.design.parent(c), "id")}),
        "private_link_service_connections": [Call("network.PrivateLinkServiceConnectionArgs", {
            "name": f"{c.name}-sql", "private_link_service_id": Code(f"{server}.id"), "group_ids": ["sqlServer"]})],
        "tags": ctx.tags(c),
    }, role="endpoint", opts=Code("inside"))


KINDS = {"Tenancy": _tenancy, "Compartment": _compartment, "Network": _network, "Subnet": _subnet,
         "Identity": _identity, "ObjectStore": _object_store, "ComputeInstance": _instance, "Database": _database}
