"""A design as an AWS Pulumi program: a member account of the organization and everything inside it.

The account is created with the operator's credentials (the organization's management account,
the default provider). Everything else goes through an explicit provider that assumes
`OrganizationAccountAccessRole`, the role Organizations creates in every new member account, so
the program never touches the management account's own resources. A compartment becomes a
tag-based resource group: its members are the resources tagged with it or with a compartment
nested in it.
"""

from __future__ import annotations

import re

from skyloom.deploy.planner.emit import Call, Code, literal
from skyloom.deploy.planner.model import Component, Design
from skyloom.deploy.planner.program import ConfigKey, Context, database_password, secret

PROVIDER = "aws"
ROLE = "OrganizationAccountAccessRole"
ADMIN = "skyloom"
EC2_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
GRAVITON = re.compile(r"[a-z]+\d+[a-z-]*g[a-z-]*\.")  # t4g.micro, m7gd.large: arm64 instance families


def config_keys(design: Design) -> list[ConfigKey]:
    return [database_password(c) for c in design.of_kind("Database")]


def write(ctx: Context) -> None:
    ctx.w.imports("import json", "import pulumi_aws as aws")
    ctx.w.block("config = pulumi.Config()", f"REGION = {literal(ctx.design.region)}")
    for c in ctx.design.in_order():
        KINDS[c.kind](ctx, c)


def _tenancy(ctx: Context, c: Component) -> None:
    p = ctx.props(c)
    account = ctx.resource(c, "aws.organizations.Account", {
        "name": c.name, "email": p["email"], "parent_id": p["parentId"], "role_name": ROLE,
        "iam_user_access_to_billing": "DENY", "close_on_deletion": False, "tags": ctx.tags(c),
    }, comment=f"{ctx.describe(c)}: a member account of the organization, made from the management account.")
    ctx.resource(c, "aws.Provider", {
        "region": Code("REGION"),
        "assume_roles": [Call("aws.ProviderAssumeRoleArgs", {
            "role_arn": Code(f'{account}.id.apply(lambda account: f"arn:aws:iam::{{account}}:role/{ROLE}")'),
            "session_name": "skyloom"})],
    }, role="provider", comment=f"Everything inside the new account goes through {ROLE}, which the organization "
                                "made there.")
    ctx.w.block(f"inside = pulumi.ResourceOptions(provider={ctx.var(c, 'provider')})",
                f"inside_calls = pulumi.InvokeOutputOptions(provider={ctx.var(c, 'provider')})")
    if ctx.design.of_kind("Subnet"):
        ctx.w.assign("zones", Call("aws.get_availability_zones_output", {"state": "available",
                                                                          "opts": Code("inside_calls")}))
    archs = sorted({_arch(ctx.props(i)["size"]) for i in ctx.design.of_kind("ComputeInstance")
                    if "image" not in i.properties})
    for arch in archs:
        ctx.w.assign(f"amazon_linux_{arch}", Call("aws.ec2.get_ami_output", {
            "most_recent": True, "owners": ["amazon"],
            "filters": [Call("aws.ec2.GetAmiFilterArgs", {"name": "name", "values": [f"al2023-ami-2023.*-{arch}"]})],
            "opts": Code("inside_calls")}), comment=f"The latest Amazon Linux 2023 for {arch} instances.")


def _arch(size: str) -> str:
    return "arm64" if GRAVITON.match(size) else "x86_64"


def _compartment(ctx: Context, c: Component) -> None:
    members = [c.id] + [d.id for d in ctx.design.of_kind("Compartment") if _below(ctx.design, d, c)]
    query = {"ResourceTypeFilters": ["AWS::AllSupported"],
             "TagFilters": [{"Key": "skyloom-compartment", "Values": members}]}
    ctx.resource(c, "aws.resourcegroups.Group", {
        "name": c.name, "description": f"Skyloom compartment {c.id}",
        "resource_query": Call("aws.resourcegroups.GroupResourceQueryArgs", {"query": Call("json.dumps", {}, (query,))}),
        "tags": ctx.tags(c),
    }, opts=Code("inside"), comment=f"{ctx.describe(c)}: the resources tagged with it (or a compartment inside it).")


def _below(design: Design, c: Component, ancestor: Component) -> bool:
    parent = design.parent(c)
    while parent is not None and parent is not ancestor:
        parent = design.parent(parent)
    return parent is ancestor


def _network(ctx: Context, c: Component) -> None:
    ctx.resource(c, "aws.ec2.Vpc", {
        "cidr_block": c.properties["cidr"], "enable_dns_support": True, "enable_dns_hostnames": True,
        "tags": ctx.tags(c, Name=c.name),
    }, opts=Code("inside"), comment=ctx.describe(c))


def _subnet(ctx: Context, c: Component) -> None:
    network = ctx.design.parent(c)
    index = ctx.design.children(network, "Subnet").index(c)
    ctx.resource(c, "aws.ec2.Subnet", {
        "vpc_id": ctx.ref(network, "id"), "cidr_block": c.properties["cidr"],
        "availability_zone": Code(f"zones.names.apply(lambda names: names[{index} % len(names)])"),
        "tags": ctx.tags(c, Name=c.name),
    }, opts=Code("inside"), comment=f"{ctx.describe(c)}, in availability zone {index + 1} of the region")


def _identity(ctx: Context, c: Component) -> None:
    role = ctx.resource(c, "aws.iam.Role", {
        "name": c.name, "assume_role_policy": Call("json.dumps", {}, (EC2_TRUST,)), "tags": ctx.tags(c),
    }, opts=Code("inside"), comment=f"{ctx.describe(c)}: a role for EC2 instances")
    if ctx.design.instances_of(c):
        ctx.resource(c, "aws.iam.InstanceProfile", {"name": c.name, "role": Code(f"{role}.name"), "tags": ctx.tags(c)},
                     role="profile", opts=Code("inside"), comment="How instances run as the role")


def _object_store(ctx: Context, c: Component) -> None:
    ctx.resource(c, "aws.s3.Bucket", {"bucket": c.name, "tags": ctx.tags(c)}, opts=Code("inside"),
                 comment=ctx.describe(c))


def _instance(ctx: Context, c: Component) -> None:
    p, identity = ctx.props(c), ctx.design.identity_of(c)
    image = p["image"] if "image" in p else Code(f"amazon_linux_{_arch(p['size'])}.id")
    ctx.resource(c, "aws.ec2.Instance", {
        "ami": image, "instance_type": p["size"], "subnet_id": ctx.ref(ctx.design.parent(c), "id"),
        "iam_instance_profile": ctx.ref(identity, "name", "profile") if identity else None,
        "metadata_options": Call("aws.ec2.InstanceMetadataOptionsArgs", {"http_tokens": "required"}),
        "tags": ctx.tags(c, Name=c.name),
    }, opts=Code("inside"), comment=ctx.describe(c))


def _database(ctx: Context, c: Component) -> None:
    p, subnet = ctx.props(c), ctx.design.parent(c)
    subnets = [subnet] + [s for s in ctx.design.children(ctx.design.parent(subnet), "Subnet") if s is not subnet]
    group = ctx.resource(c, "aws.rds.SubnetGroup", {
        "name": f"{c.name}-subnets", "subnet_ids": [ctx.ref(s, "id") for s in subnets], "tags": ctx.tags(c),
    }, role="subnets", opts=Code("inside"), comment=f"{ctx.describe(c)}: its subnets (every subnet of its network)")
    ctx.resource(c, "aws.rds.Instance", {
        "identifier": c.name, "engine": p["engine"], "instance_class": p["size"], "allocated_storage": p["storageGb"],
        "username": ADMIN, "password": secret(database_password(c)), "db_subnet_group_name": Code(f"{group}.name"),
        "storage_encrypted": True, "publicly_accessible": False, "final_snapshot_identifier": f"{c.name}-final",
        "tags": ctx.tags(c),
    }, opts=Code("inside"))


KINDS = {"Tenancy": _tenancy, "Compartment": _compartment, "Network": _network, "Subnet": _subnet,
         "Identity": _identity, "ObjectStore": _object_store, "ComputeInstance": _instance, "Database": _database}
