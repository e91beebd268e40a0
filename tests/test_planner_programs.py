"""Generated Pulumi programs, run under the Pulumi SDK's mocks: exactly which resources each cloud's example
creates, how they are wired and tagged, that secrets stay secret, and that what a user typed can only ever
reach a program as an inert literal.

No database and no Pulumi CLI: each example is generated and previewed once per module (the four previews
run side by side, each in its own child process).
"""

from __future__ import annotations

import ast
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from skyloom.deploy.planner import (
    InvalidDesign, PlannedResource, PreviewFailed, generate, preview, required_config, validate,
)
from skyloom.deploy.planner.emit import Call, Code, Writer, literal, render
from tests.test_planner_validate import CLOUDS, component, example

PROJECT, STACK = "skyloom-acme", "prod"
PASSWORD = "Tr0ub4dor&3-only-in-the-stack-config"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHQ7c2t5bG9vbS10ZXN0 ops@acme.example"
DESIGN_IDS = {"aws": "acme-prod", "azure": "acme-prod", "gcp": "acme-prod-4821", "oci": "acme-prod"}

EXPECTED = {
    "aws": [
        ("aws:organizations/account:Account", "tenancy-account"),
        ("pulumi:providers:aws", "tenancy-account.provider"),
        ("aws:resourcegroups/group:Group", "compartment-web"),
        ("aws:ec2/vpc:Vpc", "network-vpc"),
        ("aws:ec2/subnet:Subnet", "subnet-front"),
        ("aws:ec2/subnet:Subnet", "subnet-data"),
        ("aws:iam/role:Role", "identity-web-role"),
        ("aws:iam/instanceProfile:InstanceProfile", "identity-web-role.profile"),
        ("aws:s3/bucket:Bucket", "objectstore-assets"),
        ("aws:ec2/instance:Instance", "computeinstance-web-1"),
        ("aws:rds/subnetGroup:SubnetGroup", "database-orders-db.subnets"),
        ("aws:rds/instance:Instance", "database-orders-db"),
    ],
    "azure": [
        ("azure-native:subscription:Alias", "tenancy-subscription"),
        ("pulumi:providers:azure-native", "tenancy-subscription.provider"),
        ("azure-native:resources:ResourceGroup", "compartment-web"),
        ("azure-native:network:VirtualNetwork", "network-vnet"),
        ("azure-native:network:Subnet", "subnet-front"),
        ("azure-native:network:Subnet", "subnet-data"),
        ("azure-native:managedidentity:UserAssignedIdentity", "identity-web-identity"),
        ("azure-native:storage:StorageAccount", "objectstore-assets"),
        ("azure-native:network:NetworkInterface", "computeinstance-web-1.nic"),
        ("azure-native:compute:VirtualMachine", "computeinstance-web-1"),
        ("azure-native:sql:Server", "database-orders-db.server"),
        ("azure-native:sql:Database", "database-orders-db"),
        ("azure-native:network:PrivateEndpoint", "database-orders-db.endpoint"),
    ],
    "gcp": [
        ("gcp:organizations/project:Project", "tenancy-project"),
        ("gcp:projects/service:Service", "tenancy-project.api-compute"),
        ("gcp:projects/service:Service", "tenancy-project.api-iam"),
        ("gcp:projects/service:Service", "tenancy-project.api-servicenetworking"),
        ("gcp:projects/service:Service", "tenancy-project.api-sqladmin"),
        ("gcp:projects/service:Service", "tenancy-project.api-storage"),
        ("gcp:organizations/folder:Folder", "compartment-web"),
        ("gcp:compute/network:Network", "network-vpc"),
        ("gcp:compute/subnetwork:Subnetwork", "subnet-front"),
        ("gcp:compute/subnetwork:Subnetwork", "subnet-data"),
        ("gcp:compute/globalAddress:GlobalAddress", "network-vpc.sql-range"),
        ("gcp:servicenetworking/connection:Connection", "network-vpc.sql-peering"),
        ("gcp:serviceaccount/account:Account", "identity-web-sa"),
        ("gcp:storage/bucket:Bucket", "objectstore-assets"),
        ("gcp:compute/instance:Instance", "computeinstance-web-1"),
        ("gcp:sql/databaseInstance:DatabaseInstance", "database-orders-db"),
        ("gcp:sql/user:User", "database-orders-db.admin"),
    ],
    "oci": [
        ("oci:Identity/compartment:Compartment", "tenancy-client"),
        ("pulumi:providers:oci", "tenancy-client.provider"),
        ("oci:Identity/compartment:Compartment", "compartment-web"),
        ("oci:Core/vcn:Vcn", "network-vcn"),
        ("oci:Core/subnet:Subnet", "subnet-front"),
        ("oci:Core/subnet:Subnet", "subnet-data"),
        ("oci:ObjectStorage/bucket:Bucket", "objectstore-assets"),
        ("oci:Core/instance:Instance", "computeinstance-web-1"),
        ("oci:Database/autonomousDatabase:AutonomousDatabase", "database-orders-db"),
        ("oci:Identity/dynamicGroup:DynamicGroup", "identity-web-instances"),
    ],
}
# Resources that take no tags or labels at their provider (everything else must carry them).
UNTAGGED = {
    "aws": {"pulumi:providers:aws"},
    "azure": {"pulumi:providers:azure-native", "azure-native:network:Subnet"},
    "gcp": {"gcp:projects/service:Service", "gcp:organizations/folder:Folder", "gcp:compute/network:Network",
            "gcp:compute/subnetwork:Subnetwork", "gcp:servicenetworking/connection:Connection",
            "gcp:serviceaccount/account:Account", "gcp:sql/user:User"},
    "oci": {"pulumi:providers:oci"},
}


@dataclass
class Run:
    document: dict[str, Any]
    program: str
    resources: list[PlannedResource]

    def one(self, name: str) -> PlannedResource:
        [r] = [r for r in self.resources if r.name == name]
        return r


def _run(cloud: str) -> Run:
    document = example(cloud)
    program = generate(document)
    config = {"database-orders-db-password": {"value": PASSWORD, "secret": True}, "sshPublicKey": SSH_KEY}
    return Run(document, program, preview(program, project=PROJECT, stack=STACK, config=config))


@pytest.fixture(scope="module")
def runs() -> dict[str, Run]:
    with ThreadPoolExecutor(len(CLOUDS)) as pool:
        return dict(zip(CLOUDS, pool.map(_run, CLOUDS)))


def tags_of(r: PlannedResource) -> dict[str, str] | None:
    i = r.inputs
    for candidate in (i.get("tags"), i.get("labels"), i.get("freeformTags"),
                      (i.get("settings") or {}).get("userLabels"),
                      ((i.get("properties") or {}).get("additionalProperties") or {}).get("tags")):
        if isinstance(candidate, dict):
            return candidate
    return None


# --- what every program does -----------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", CLOUDS)
def test_each_example_creates_exactly_these_resources_in_program_order(runs: dict[str, Run], cloud: str) -> None:
    assert [(r.type, r.name) for r in runs[cloud].resources] == EXPECTED[cloud]


@pytest.mark.parametrize("cloud", CLOUDS)
def test_every_component_is_planned_under_a_name_derived_from_it(runs: dict[str, Run], cloud: str) -> None:
    run = runs[cloud]
    kinds = {c["id"]: c["kind"] for c in run.document["components"]}
    assert {r.component_id for r in run.resources} == set(kinds)
    for r in run.resources:
        assert re.fullmatch(rf"{kinds[r.component_id].lower()}-{re.escape(r.component_id)}(\.[a-z0-9-]+)?", r.name)


@pytest.mark.parametrize("cloud", CLOUDS)
def test_urns_are_the_ones_the_engine_gives_top_level_resources(runs: dict[str, Run], cloud: str) -> None:
    for r in runs[cloud].resources:
        assert r.urn == f"urn:pulumi:{STACK}::{PROJECT}::{r.type}::{r.name}"
        assert r.parent is None


@pytest.mark.parametrize("cloud", CLOUDS)
def test_everything_that_takes_tags_is_tagged_with_its_design_component_and_compartment(
        runs: dict[str, Run], cloud: str) -> None:
    lower = cloud == "gcp"   # label values are lower case
    untagged = set()
    for r in runs[cloud].resources:
        tags = tags_of(r)
        if tags is None:
            untagged.add(r.type)
            continue
        assert tags["skyloom-design"] == DESIGN_IDS[cloud]
        assert tags["skyloom-component"] == (r.component_id.lower() if lower else r.component_id)
        inside = r.component_id not in ("web", runs[cloud].document["components"][0]["id"])
        assert tags.get("skyloom-compartment") == ("web" if inside else None), r.name
    assert untagged == UNTAGGED[cloud]


@pytest.mark.parametrize("cloud", CLOUDS)
def test_the_database_password_is_a_secret_from_config_and_nowhere_in_the_program(
        runs: dict[str, Run], cloud: str) -> None:
    run = runs[cloud]
    assert PASSWORD not in run.program and PASSWORD not in json.dumps([r.to_dict() for r in run.resources])
    assert 'config.require_secret("database-orders-db-password")' in run.program
    field = {"aws": "password", "azure": "administratorLoginPassword", "gcp": "password", "oci": "adminPassword"}
    holders = [r for r in run.resources if field[cloud] in r.inputs and r.component_id == "orders-db"]
    assert len(holders) == 1 and holders[0].inputs[field[cloud]] == "[secret]"
    keys = [(k.key, k.secret) for k in required_config(run.document)]
    assert ("database-orders-db-password", True) in keys


def test_generation_is_deterministic() -> None:
    for cloud in CLOUDS:
        assert generate(example(cloud)) == generate(example(cloud))
    assert generate(example("aws"), design_id="3f2a-design").count('"skyloom-design": "3f2a-design"') == 11


# --- wiring, per cloud -----------------------------------------------------------------------------------


def test_aws_resources_live_in_the_new_account_through_the_assumed_role(runs: dict[str, Run]) -> None:
    run = runs["aws"]
    account, provider = run.one("tenancy-account"), run.one("tenancy-account.provider")
    assert re.fullmatch(r"\d{12}", account.id) and account.outputs["arn"].endswith(f"/{account.id}")
    roles = json.loads(provider.inputs["assumeRoles"])
    assert roles == [{"roleArn": f"arn:aws:iam::{account.id}:role/OrganizationAccountAccessRole", "sessionName": "skyloom"}]
    assert provider.inputs["region"] == "eu-west-1"
    assert {r.name for r in run.resources if r.provider == provider.urn} == \
        {name for _, name in EXPECTED["aws"]} - {"tenancy-account", "tenancy-account.provider"}
    assert account.provider is None   # made from the management account


def test_aws_wiring_follows_the_drawing(runs: dict[str, Run]) -> None:
    run = runs["aws"]
    vpc, front, data = run.one("network-vpc"), run.one("subnet-front"), run.one("subnet-data")
    assert front.inputs["vpcId"] == data.inputs["vpcId"] == vpc.id and vpc.id.startswith("vpc-")
    assert (front.inputs["availabilityZone"], data.inputs["availabilityZone"]) == ("eu-west-1a", "eu-west-1b")
    instance = run.one("computeinstance-web-1")
    assert instance.inputs["subnetId"] == front.id
    assert instance.inputs["iamInstanceProfile"] == run.one("identity-web-role.profile").inputs["name"]
    assert instance.inputs["ami"].startswith("ami-") and instance.inputs["instanceType"] == "t3.small"
    assert run.one("database-orders-db.subnets").inputs["subnetIds"] == [data.id, front.id]
    assert run.one("database-orders-db").inputs["dbSubnetGroupName"] == "acme-orders-subnets"
    query = json.loads(run.one("compartment-web").inputs["resourceQuery"]["query"])
    assert query["TagFilters"] == [{"Key": "skyloom-compartment", "Values": ["web"]}]
    assert run.one("identity-web-role.profile").inputs["role"] == "acme-web-role"


def test_azure_resources_go_to_the_new_subscription(runs: dict[str, Run]) -> None:
    run = runs["azure"]
    provider = run.one("tenancy-subscription.provider")
    subscription = provider.inputs["subscriptionId"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", subscription)
    assert run.one("tenancy-subscription").outputs["properties"]["subscriptionId"] == subscription
    inside = {r.name for r in run.resources if r.provider == provider.urn}
    assert inside == {name for _, name in EXPECTED["azure"]} - {"tenancy-subscription", "tenancy-subscription.provider"}
    group = f"/subscriptions/{subscription}/resourceGroups/acme-web-rg/providers/"
    nic, front = run.one("computeinstance-web-1.nic"), run.one("subnet-front")
    assert nic.inputs["ipConfigurations"][0]["subnet"]["id"] == front.id
    assert front.id == group + "Microsoft.Network/virtualNetworks/acme-main-vnet/subnets/front"
    vm = run.one("computeinstance-web-1")
    assert vm.inputs["networkProfile"]["networkInterfaces"] == [{"id": nic.id, "primary": True}]
    assert vm.inputs["identity"] == {"type": "UserAssigned",
                                     "userAssignedIdentities": [run.one("identity-web-identity").id]}
    assert vm.inputs["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"][0]["keyData"] == SSH_KEY
    endpoint = run.one("database-orders-db.endpoint")
    assert endpoint.inputs["subnet"]["id"] == run.one("subnet-data").id
    assert endpoint.inputs["privateLinkServiceConnections"][0]["privateLinkServiceId"] == \
        run.one("database-orders-db.server").id
    assert {r.inputs.get("resourceGroupName") for r in run.resources if r.provider == provider.urn} == {"acme-web-rg"}


def test_gcp_resources_name_the_new_project_and_wait_for_their_apis(runs: dict[str, Run]) -> None:
    run = runs["gcp"]
    projects = {r.inputs["project"] for r in run.resources if "project" in r.inputs}
    assert projects == {"acme-prod-4821"}
    network = run.one("network-vpc")
    assert network.id == "projects/acme-prod-4821/global/networks/acme-main"
    assert run.one("subnet-front").inputs["network"] == run.one("subnet-data").inputs["network"] == network.id
    api_compute = run.one("tenancy-project.api-compute").urn
    assert api_compute in network.dependencies and api_compute in run.one("subnet-front").dependencies
    instance = run.one("computeinstance-web-1")
    assert instance.inputs["zone"] == "europe-west1-b"
    assert instance.inputs["serviceAccount"]["email"] == "acme-web-sa@acme-prod-4821.iam.gserviceaccount.com"
    assert instance.inputs["networkInterfaces"][0]["subnetwork"] == run.one("subnet-front").id
    database = run.one("database-orders-db")
    assert database.inputs["settings"]["ipConfiguration"]["privateNetwork"] == network.id
    assert run.one("network-vpc.sql-peering").urn in database.dependencies
    assert run.one("database-orders-db.admin").inputs["instance"] == "acme-orders"
    assert run.one("compartment-web").inputs["parent"] == "folders/734512098812"


def test_oci_resources_sit_in_their_compartments(runs: dict[str, Run]) -> None:
    run = runs["oci"]
    provider = run.one("tenancy-client.provider")
    home_region = {"tenancy-client", "compartment-web", "identity-web-instances", "tenancy-client.provider"}
    assert {r.name for r in run.resources if r.provider is None} == home_region
    assert provider.inputs["region"] == "eu-frankfurt-1"
    web = run.one("compartment-web")
    assert web.inputs["compartmentId"] == run.one("tenancy-client").id
    for name in ("network-vcn", "subnet-front", "objectstore-assets", "computeinstance-web-1", "database-orders-db"):
        assert run.one(name).inputs["compartmentId"] == web.id, name
    assert run.one("subnet-front").inputs["vcnId"] == run.one("network-vcn").id
    instance = run.one("computeinstance-web-1")
    assert instance.inputs["createVnicDetails"]["subnetId"] == run.one("subnet-front").id
    assert instance.inputs["sourceDetails"]["sourceId"].startswith("ocid1.image.oc1.eu-frankfurt-1.")
    assert run.one("identity-web-instances").inputs["matchingRule"] == f"Any {{instance.id = '{instance.id}'}}"
    assert run.one("database-orders-db").inputs["subnetId"] == run.one("subnet-data").id
    assert run.one("objectstore-assets").inputs["namespace"].startswith("ax")


# --- what a user typed stays data ------------------------------------------------------------------------

NASTY = [
    '"""; __import__("os").system("id") #',
    "'; import os; os.system('id'); x='",
    "{__import__('os').getcwd()} \\ \\n trailing backslash \\",
    "a\"b'c\"\"\"d'''e",
    "café ☁ 😀 ٢",
    ")]} , opts=None) ; exec('1')",
]


def _only_literals(program: str) -> ast.Module:
    tree = ast.parse(program)
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert not called & {"__import__", "eval", "exec", "compile", "open", "getattr"}
    imported = {alias.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                for alias in n.names}
    assert imported <= {"json", "pulumi", "pulumi_aws", "pulumi_oci", "pulumi_gcp", "pulumi_azure_native",
                        "compute", "managedidentity", "network", "resources", "sql", "storage", "subscription"}
    return tree


def _call(tree: ast.Module, logical_name: str) -> ast.Call:
    return next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and n.args
                and isinstance(n.args[0], ast.Constant) and n.args[0].value == logical_name)


def _keyword(call: ast.Call, name: str) -> Any:
    return ast.literal_eval(next(k.value for k in call.keywords if k.arg == name))


@pytest.mark.parametrize("name", NASTY)
def test_a_name_with_code_in_it_is_an_inert_literal_in_the_program(name: str) -> None:
    document = example("aws")
    component(document, "vpc")["name"] = name      # EC2 Name tags take almost anything
    assert validate(document) == []
    tree = _only_literals(generate(document))
    assert _keyword(_call(tree, "network-vpc"), "tags")["Name"] == name


def test_oci_descriptions_and_display_names_round_trip_as_literals() -> None:
    document = example("oci")
    component(document, "web")["properties"]["description"] = NASTY[0]
    component(document, "vcn")["name"] = NASTY[1]
    tree = _only_literals(generate(document))
    assert _keyword(_call(tree, "compartment-web"), "description") == NASTY[0]
    assert _keyword(_call(tree, "network-vcn"), "display_name") == NASTY[1]


def test_injected_names_run_as_data_under_the_mocks(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = f"'); __import__('pathlib').Path({str(marker)!r}).touch() #"
    document = example("aws")
    component(document, "vpc")["name"] = payload
    component(document, "web-1")["name"] = '"""' + payload
    planned = preview(generate(document), project=PROJECT, stack=STACK)
    by_name = {r.name: r for r in planned}
    assert by_name["network-vpc"].inputs["tags"]["Name"] == payload
    assert by_name["computeinstance-web-1"].inputs["tags"]["Name"] == '"""' + payload
    assert not marker.exists()


@pytest.mark.parametrize("cid, field, value, code", [
    ("vpc", "name", "line\nbreak", "NAME_INVALID"),
    ("vpc", "name", "carriage\rreturn", "NAME_INVALID"),
    ("vpc", "name", "separator\u2028line", "NAME_INVALID"),
    ("vpc", "name", "nul\x00byte", "NAME_INVALID"),
    ("assets", "name", "x'); import os #", "NAME_INVALID"),
    ("web-1", "image", "ami-0abcdef1'); import os #", "PROPERTY_INVALID"),
    ("web-1", "size", "t3.micro\nimport os", "PROPERTY_INVALID"),
    ("account", "email", "a@b.c\"; import os", "PROPERTY_INVALID"),
])
def test_values_that_could_break_out_are_refused_and_nothing_is_generated(cid: str, field: str, value: str,
                                                                          code: str) -> None:
    document = example("aws")
    if field == "name":
        component(document, cid)["name"] = value
    else:
        component(document, cid)["properties"][field] = value
    with pytest.raises(InvalidDesign) as refused:
        generate(document)
    assert {(p.code, p.component_id) for p in refused.value.problems} == {(code, cid)}


def test_ids_and_design_ids_cannot_carry_code() -> None:
    document = example("aws")
    component(document, "vpc")["id"] = "vpc'); import os #"
    with pytest.raises(InvalidDesign) as refused:
        generate(document)
    assert "ID_INVALID" in {p.code for p in refused.value.problems}
    with pytest.raises(ValueError, match="design id"):
        generate(example("aws"), design_id='x"; import os; "')


def test_the_writer_renders_plain_values_only_as_literals() -> None:
    for value in NASTY + ["\ud800", "\x85", "\u2028", "", "\\"]:
        text = literal(value)
        assert ast.literal_eval(text) == value and "\n" not in text and "\u2028" not in text
    assert render({"k": ["a", 1, True, None]}) == '{"k": ["a", 1, True, None]}'
    assert render(Call("f", {"x": Code("y.id")}, ("n",))) == 'f("n", x=y.id)'
    with pytest.raises(TypeError):
        literal(object())
    with pytest.raises(ValueError):
        Call("f", {"x) or (y": 1})
    with pytest.raises(ValueError):
        Call("f(); g", {})
    with pytest.raises(ValueError):
        Writer("doc").comment("two\nlines")


# --- the preview itself ----------------------------------------------------------------------------------


def test_a_failing_program_reports_its_traceback_tail_without_the_secret() -> None:
    program = "import pulumi\nvalue = pulumi.Config().require('token')\nraise RuntimeError('refused: ' + value)\n"
    with pytest.raises(PreviewFailed) as failed:
        preview(program, project=PROJECT, stack=STACK, config={"token": {"value": "s3cr3t-token-value", "secret": True}})
    message = str(failed.value)
    assert "RuntimeError: refused: [secret]" in message and 'File "<program>", line 3' in message
    assert "s3cr3t-token-value" not in message


def test_a_program_that_does_not_finish_is_stopped() -> None:
    with pytest.raises(PreviewFailed, match="within 2 seconds"):
        preview("import time\ntime.sleep(30)\n", project=PROJECT, stack=STACK, timeout=2)


def test_the_program_gets_none_of_the_callers_credentials_and_its_prints_do_not_garble_the_answer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "caller-credential")
    program = ("import os\nimport pulumi_aws as aws\nprint('chatter on stdout')\n"
               "aws.s3.Bucket('objectstore-b1', bucket=os.environ.get('AWS_SECRET_ACCESS_KEY', 'absent'))\n")
    [bucket] = preview(program, project=PROJECT, stack=STACK)
    assert (bucket.type, bucket.component_id, bucket.inputs["bucket"]) == ("aws:s3/bucket:Bucket", "b1", "absent")


def test_required_config_not_given_is_filled_with_placeholders_and_stays_secret() -> None:
    planned = preview(generate(example("azure")), project=PROJECT, stack=STACK)
    vm = next(r for r in planned if r.name == "computeinstance-web-1")
    assert vm.inputs["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"][0]["keyData"] == "preview-placeholder"
    server = next(r for r in planned if r.name == "database-orders-db.server")
    assert server.inputs["administratorLoginPassword"] == "[secret]"
    with pytest.raises(ValueError, match="stack name"):
        preview("", project=PROJECT, stack="a::b")


# --- the command line ------------------------------------------------------------------------------------


def test_the_command_line_validates_writes_and_previews(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from skyloom.plan_cli import plan

    runner = CliRunner()
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(example("aws")))
    broken = example("aws")
    component(broken, "front")["properties"]["cidr"] = "10.99.1.0/24"
    bad.write_text(json.dumps(broken))

    assert runner.invoke(plan, ["validate", str(good)]).exit_code == 0
    refused = runner.invoke(plan, ["validate", "--json", str(bad)])
    assert refused.exit_code == 1
    assert [(p["code"], p["componentId"]) for p in json.loads(refused.stdout)] == [("CIDR_OUTSIDE_NETWORK", "front")]
    assert runner.invoke(plan, ["program", str(bad)]).exit_code == 1

    out = tmp_path / "__main__.py"
    written = runner.invoke(plan, ["program", str(good), "-o", str(out)])
    assert written.exit_code == 0 and out.read_text() == generate(example("aws"))
    assert "pulumi config set --secret database-orders-db-password" in written.output

    previewed = runner.invoke(plan, ["preview", str(good), "--stack", "qa", "--json"])
    assert previewed.exit_code == 0, previewed.output
    planned = json.loads(previewed.stdout)
    assert [(r["type"], r["name"]) for r in planned] == EXPECTED["aws"]
    assert planned[0]["urn"] == "urn:pulumi:qa::skyloom-acme-prod::aws:organizations/account:Account::tenancy-account"
