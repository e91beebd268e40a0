"""The semantic layer's translator, on the real stack states in ../shared/data/pulumi and on edge cases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from skyloom.ingest import state, translate
from skyloom.ingest.mapping import Mappings, default_mappings
from tests.conftest import REPO

DATA = REPO.parent / "shared" / "data" / "pulumi"
STATES = sorted((DATA / "stack-state").glob("*/*.json"))


def load(name: str) -> translate.StackTranslation:
    [path] = [p for p in STATES if p.name == name]
    return translate.translate(state.load(path))


def by_name(result: translate.StackTranslation) -> dict[str, translate.CiRecord]:
    return {r.name: r for r in result.records}


def test_every_real_state_file_is_there() -> None:
    assert len(STATES) == 11
    assert {p.parent.name for p in STATES} == {"aws", "aws-native", "azure", "azure-native", "gcp"}


@pytest.mark.parametrize("path", STATES, ids=lambda p: p.name)
def test_real_state_maps_at_least_95_percent(path: Path) -> None:
    result = translate.translate(state.load(path))
    assert result.records, "every recorded stack holds cloud resources"
    assert result.coverage >= 0.95, [r.token for r in result.unmapped]
    assert all(r.cloud in ("aws", "azure", "gcp") for r in result.records)


def test_azure_resource_group_is_a_compartment_in_its_subscription() -> None:
    records = by_name(load("azure-native-networked-vm.json"))
    rg = records["rg"]
    assert (rg.kind, rg.provider_term) == ("Compartment", "Resource Group")
    # The group is itself the compartment others are placed in, not inside one.
    assert rg.placement == translate.Placement("0282681f-7a9e-424b-80b2-96babd57a8a1", None, "westus2")
    assert (rg.own_compartment, rg.own_compartment_name) == ("rg8baa4592", "rg8baa4592")
    vm = records["vm"]
    assert (vm.kind, vm.provider_term) == ("ComputeInstance", "Virtual Machine")
    assert vm.placement.compartment == "rg8baa4592"
    assert vm.depends_on == {rg.urn, records["networkInterface"].urn}
    assert records["networkInterface"].depends_on == {rg.urn, records["subnet"].urn}


def test_azure_child_without_location_takes_its_groups_region() -> None:
    records = by_name(load("azure-classic-network.json"))
    assert records["exampleSubnet"].placement.region == "eastus"
    assert records["examplePublicIp"].tags == {"environment": "Production"}


def test_aws_account_and_region_from_arns_and_siblings() -> None:
    records = by_name(load("aws-ec2-networking.json"))
    assert records["MyVPC"].kind == "Network" and records["MyVPC"].provider_term == "VPC"
    assert records["MyVPC"].placement == translate.Placement("616138583583", None, "us-west-2")
    # An EIP has no ARN: its account comes from its siblings under the same provider.
    assert records["MyEIP"].placement == translate.Placement("616138583583", None, "us-west-2")
    assert records["MyNatGateway"].depends_on == {records["MyEIP"].urn, records["MySubnet"].urn}
    assert records["MyNatGateway"].kind == "Gateway"


def test_gcp_project_and_region_from_resource_paths() -> None:
    records = by_name(load("gcp-network-subnet-router.json"))
    subnet = records["exampleSubnetwork"]
    assert (subnet.kind, subnet.provider_term) == ("Subnet", "Subnetwork")
    assert subnet.placement == translate.Placement("pulumi-development", None, "us-central1")
    assert subnet.depends_on == {records["exampleNetwork"].urn}


def test_provider_configurations_and_the_stack_are_not_cis() -> None:
    result = load("azure-native-sql-database.json")
    assert {c.token for c in result.skipped} <= {"pulumi:providers:azure-native", "pulumi:providers:random", "random:index/randomPassword:RandomPassword", "random:index/randomPet:RandomPet"}
    assert not any(r.token.startswith(("pulumi:", "random:")) for r in result.records)


def test_secrets_never_leave_the_translator_in_clear() -> None:
    records = load("aws-rds-instance-secret.json").records
    dumped = json.dumps([[r.attributes, r.tags] for r in records])
    raw = (DATA / "stack-state" / "aws" / "aws-rds-instance-secret.json").read_text()
    assert "ciphertext" in raw  # the state does carry a secret
    assert "ciphertext" not in dumped


def synthetic(resources: list[dict]) -> translate.StackTranslation:
    return translate.translate(state.parse({"version": 3, "deployment": {"resources": resources}}))


def test_unknown_tokens_are_kept_as_the_fallback_and_reported() -> None:
    result = synthetic([{"urn": "urn:pulumi:dev::p::acme:widget/thing:Thing::w", "type": "acme:widget/thing:Thing", "custom": True, "id": "w-1"}])
    [record] = result.records
    assert (record.kind, record.classification.mapped, record.cloud) == ("Resource", False, None)
    assert result.coverage == 0.0 and result.unmapped == [record]


def test_oci_and_kubernetes_placement() -> None:
    provider = {"urn": "urn:pulumi:dev::p::pulumi:providers:oci::tokyo", "type": "pulumi:providers:oci", "custom": True, "id": "x",
                "inputs": {"region": "ap-tokyo-1", "tenancyOcid": "ocid1.tenancy.oc1..aaa"}}
    vcn = {"urn": "urn:pulumi:dev::p::oci:Core/vcn:Vcn::net", "type": "oci:Core/vcn:Vcn", "custom": True, "id": "ocid1.vcn.oc1..v",
           "provider": "urn:pulumi:dev::p::pulumi:providers:oci::tokyo::x", "inputs": {"compartmentId": "ocid1.compartment.oc1..c"},
           "outputs": {"freeformTags": {"team": "erp"}}}
    k8s_provider = {"urn": "urn:pulumi:dev::p::pulumi:providers:kubernetes::prod-cluster", "type": "pulumi:providers:kubernetes", "custom": True, "id": "k"}
    deploy = {"urn": "urn:pulumi:dev::p::kubernetes:apps/v1:Deployment::web", "type": "kubernetes:apps/v1:Deployment", "custom": True,
              "id": "shop/web", "provider": "urn:pulumi:dev::p::pulumi:providers:kubernetes::prod-cluster::k",
              "outputs": {"metadata": {"namespace": "shop", "labels": {"app": "web"}}}}
    records = by_name(synthetic([provider, vcn, k8s_provider, deploy]))
    assert records["net"].kind == "Network" and records["net"].provider_term == "VCN"
    assert records["net"].placement == translate.Placement("ocid1.tenancy.oc1..aaa", "ocid1.compartment.oc1..c", "ap-tokyo-1")
    assert records["net"].tags == {"team": "erp"}
    assert records["web"].kind == "ComputeInstance"
    assert records["web"].placement == translate.Placement("prod-cluster", "shop", None)


def test_id_references_become_dependencies() -> None:
    vpc = {"urn": "urn:pulumi:dev::p::aws:ec2/vpc:Vpc::v", "type": "aws:ec2/vpc:Vpc", "custom": True, "id": "vpc-1"}
    sg = {"urn": "urn:pulumi:dev::p::aws:ec2/securityGroup:SecurityGroup::sg", "type": "aws:ec2/securityGroup:SecurityGroup",
          "custom": True, "id": "sg-1", "inputs": {"vpcId": "vpc-1"}}
    inst = {"urn": "urn:pulumi:dev::p::aws:ec2/instance:Instance::i", "type": "aws:ec2/instance:Instance", "custom": True,
            "id": "i-1", "inputs": {"vpcSecurityGroupIds": ["sg-1"]}}
    records = by_name(synthetic([vpc, sg, inst]))
    assert records["sg"].depends_on == {vpc["urn"]} and records["i"].depends_on == {sg["urn"]}


def test_secret_envelopes_in_tags_stay_opaque() -> None:
    res = {"urn": "urn:pulumi:dev::p::aws:s3/bucket:Bucket::b", "type": "aws:s3/bucket:Bucket", "custom": True, "id": "b",
           "outputs": {"tags": {"owner": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "abc"}}}}
    [record] = synthetic([res]).records
    assert record.tags == {"owner": "[secret]"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "a stack state is a JSON object"),
        ({"version": 9, "deployment": {}}, "unsupported state version 9"),
        ({"version": 3}, "neither a 'deployment'"),
        ({"version": 3, "deployment": {"resources": [{"type": "x"}]}}, "'resources' must be a list"),
    ],
)
def test_malformed_states_are_refused_with_the_reason(raw, message: str) -> None:
    with pytest.raises(state.StateError, match=message):
        state.parse(raw)


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    whole = (DATA / "stack-state" / "gcp" / "gcp-network-subnet-router.json").read_text()
    cut = tmp_path / "cut.json"
    cut.write_text(whole[: len(whole) // 2])
    with pytest.raises(state.StateError, match="not JSON"):
        state.load(cut)


def test_overrides_win_and_unknown_kinds_are_refused() -> None:
    data = json.loads((REPO / "ingest" / "mappings.json").read_text())
    custom = Mappings(data, overrides={"aws:ec2/eip:*": "NetworkInterface"})
    assert custom.classify("aws:ec2/eip:Eip").kind == "NetworkInterface"
    assert default_mappings().classify("aws:ec2/eip:Eip").kind == "IpAddress"
    with pytest.raises(ValueError, match="unknown kind"):
        Mappings(data, overrides={"aws:*": "Spaceship"})


def test_report_command_lists_coverage_and_fails_below_the_threshold(tmp_path: Path) -> None:
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"version": 3, "deployment": {"resources": [
        {"urn": "urn:pulumi:dev::p::acme:widget/thing:Thing::w", "type": "acme:widget/thing:Thing", "custom": True, "id": "w"}]}}))
    good = [str(p) for p in STATES]
    ok = subprocess.run([sys.executable, "-m", "skyloom.cli", "ingest", "report", *good, "--min-coverage", "95"], capture_output=True, text=True, cwd=REPO)
    assert ok.returncode == 0 and ok.stdout.count("100.0%") == len(STATES)
    bad = subprocess.run([sys.executable, "-m", "skyloom.cli", "ingest", "report", str(odd), "--min-coverage", "95"], capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 1 and "acme:widget/thing:Thing" in bad.stdout
