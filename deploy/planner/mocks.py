"""Plausible clouds for a preview: ids and outputs shaped like the real ones, and answers to lookups.

Used only in the preview's child process (it imports the Pulumi SDK). Ids are derived from the
resource's type and logical name (and the stack's name), so two previews of one stack give the same ids: an AWS account
id is 12 digits, an Azure resource id is the ARM path under the new subscription's GUID, a GCP
subnetwork id is `projects/<p>/regions/<r>/subnetworks/<name>`, an OCI id is an OCID.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from typing import Any

from pulumi.runtime import Mocks, MockCallArgs, MockResourceArgs


def _hash(seed: str) -> bytes:
    return hashlib.sha256(seed.encode()).digest()


def hexid(seed: str, n: int) -> str:
    return _hash(seed).hex()[:n]


def digits(seed: str, n: int) -> str:
    return str(int.from_bytes(_hash(seed), "big"))[-n:].rjust(n, "1")


def guid(seed: str) -> str:
    return str(uuid.UUID(bytes=_hash(seed)[:16], version=4))


AZURE_PATHS = {  # type -> (ARM path under the resource group, the inputs naming each path segment)
    "azure-native:network:VirtualNetwork": ("Microsoft.Network/virtualNetworks/{}", ("virtualNetworkName",)),
    "azure-native:network:Subnet": ("Microsoft.Network/virtualNetworks/{}/subnets/{}",
                                    ("virtualNetworkName", "subnetName")),
    "azure-native:network:NetworkInterface": ("Microsoft.Network/networkInterfaces/{}", ("networkInterfaceName",)),
    "azure-native:network:PrivateEndpoint": ("Microsoft.Network/privateEndpoints/{}", ("privateEndpointName",)),
    "azure-native:compute:VirtualMachine": ("Microsoft.Compute/virtualMachines/{}", ("vmName",)),
    "azure-native:sql:Server": ("Microsoft.Sql/servers/{}", ("serverName",)),
    "azure-native:sql:Database": ("Microsoft.Sql/servers/{}/databases/{}", ("serverName", "databaseName")),
    "azure-native:storage:StorageAccount": ("Microsoft.Storage/storageAccounts/{}", ("accountName",)),
    "azure-native:managedidentity:UserAssignedIdentity": (
        "Microsoft.ManagedIdentity/userAssignedIdentities/{}", ("resourceName",)),
}
OCI_KINDS = {
    "oci:Identity/compartment:Compartment": ("compartment", False), "oci:Identity/group:Group": ("group", False),
    "oci:Identity/dynamicGroup:DynamicGroup": ("dynamicgroup", False), "oci:Core/vcn:Vcn": ("vcn", True),
    "oci:Core/subnet:Subnet": ("subnet", True), "oci:Core/instance:Instance": ("instance", True),
    "oci:Database/autonomousDatabase:AutonomousDatabase": ("autonomousdatabase", True),
}


class CloudMocks(Mocks):
    """Answers `new_resource` and `call` for the four clouds, remembering what providers were configured with."""

    def __init__(self, salt: str = "") -> None:
        # The stack's name: two stacks' programs create two accounts, VPCs, ... with their own ids.
        self.salt = salt
        self._lock = threading.Lock()
        self.providers: dict[str, dict[str, Any]] = {}  # provider logical name -> its inputs
        self.account = "123456789012"
        self.calls: list[str] = []

    def _provider(self, ref: str | None) -> dict[str, Any]:
        name = (ref or "").rsplit("::", 1)[0].rsplit("::", 1)[-1]
        return self.providers.get(name, {})

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        seed, inputs = f"{args.typ}::{args.name}" + (f"@{self.salt}" if self.salt else ""), dict(args.inputs)
        if args.typ.startswith("pulumi:providers:"):
            with self._lock:
                self.providers[args.name] = inputs
            return guid(seed), inputs
        package = args.typ.split(":", 1)[0]
        maker = {"aws": self._aws, "azure-native": self._azure, "gcp": self._gcp, "oci": self._oci}.get(package)
        rid, extra = maker(args, seed, inputs) if maker else (f"{args.name}-{hexid(seed, 8)}", {})
        return rid, {**inputs, **extra}

    def _aws(self, args: MockResourceArgs, seed: str, i: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        region = self._provider(args.provider).get("region", "us-east-1")
        t = args.typ
        if t == "aws:organizations/account:Account":
            rid = digits(seed, 12)
            with self._lock:
                self.account = rid
            return rid, {"arn": f"arn:aws:organizations::{digits('management', 12)}:account/o-{hexid('org', 10)}/{rid}",
                         "status": "ACTIVE"}
        prefixes = {"aws:ec2/vpc:Vpc": "vpc", "aws:ec2/subnet:Subnet": "subnet", "aws:ec2/instance:Instance": "i"}
        if t in prefixes:
            rid = f"{prefixes[t]}-{hexid(seed, 17)}"
            return rid, {"arn": f"arn:aws:ec2:{region}:{self.account}:{t.rsplit(':', 1)[1].lower()}/{rid}"}
        named = {"aws:iam/role:Role": ("name", "role/{}"), "aws:iam/instanceProfile:InstanceProfile":
                 ("name", "instance-profile/{}"), "aws:s3/bucket:Bucket": ("bucket", "{}"),
                 "aws:rds/subnetGroup:SubnetGroup": ("name", "subgrp:{}"), "aws:resourcegroups/group:Group":
                 ("name", "group/{}"), "aws:rds/instance:Instance": ("identifier", "db:{}")}
        key, arn = named.get(t, ("name", "{}"))
        name = i.get(key) or args.name
        service = t.split(":")[1].split("/")[0]
        scope = "" if service in ("iam", "s3") else region
        account = "" if service == "s3" else self.account
        extra = {"arn": f"arn:aws:{service}:{scope}:{account}:{arn.format(name)}", "name": name}
        if t == "aws:rds/instance:Instance":
            extra["address"] = f"{name}.{hexid(seed, 12)}.{region}.rds.amazonaws.com"
        return name, extra

    def _azure(self, args: MockResourceArgs, seed: str, i: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if args.typ == "azure-native:subscription:Alias":
            rid = f"/providers/Microsoft.Subscription/aliases/{i.get('aliasName')}"
            return rid, {"name": i.get("aliasName"), "properties": {"subscriptionId": guid(seed),
                                                                    "provisioningState": "Succeeded"}}
        sub = self._provider(args.provider).get("subscriptionId") or guid("default-subscription")
        group = f"/subscriptions/{sub}/resourceGroups/{i.get('resourceGroupName')}"
        if args.typ == "azure-native:resources:ResourceGroup":
            return group, {"name": i.get("resourceGroupName")}
        path, keys = AZURE_PATHS.get(args.typ, ("Unknown/{}", ("name",)))
        parts = [str(i.get(k) or args.name) for k in keys]
        extra: dict[str, Any] = {"name": parts[-1]}
        if args.typ.endswith("UserAssignedIdentity"):
            extra.update(principalId=guid(seed + "p"), clientId=guid(seed + "c"), tenantId=guid("tenant"))
        identity = i.get("identity")
        if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
            # an input list of identity ids comes back as a map of id -> that identity's principal
            extra["identity"] = {**identity, "userAssignedIdentities": {
                str(uid): {"principalId": guid(f"{uid}p"), "clientId": guid(f"{uid}c")}
                for uid in identity["userAssignedIdentities"]}}
        if args.typ == "azure-native:sql:Server":
            extra["fullyQualifiedDomainName"] = f"{parts[0]}.database.windows.net"
        return f"{group}/providers/{path.format(*parts)}", extra

    def _gcp(self, args: MockResourceArgs, seed: str, i: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        t, project, name = args.typ, i.get("project", ""), i.get("name") or args.name
        if t == "gcp:organizations/project:Project":
            return f"projects/{i.get('projectId')}", {"number": digits(seed, 12)}
        if t == "gcp:organizations/folder:Folder":
            number = digits(seed, 12)
            return f"folders/{number}", {"name": f"folders/{number}", "folderId": number}
        if t == "gcp:serviceaccount/account:Account":
            email = f"{i.get('accountId')}@{project}.iam.gserviceaccount.com"
            return f"projects/{project}/serviceAccounts/{email}", {"email": email, "uniqueId": digits(seed, 21),
                                                                   "member": f"serviceAccount:{email}"}
        paths = {"gcp:compute/network:Network": "global/networks", "gcp:compute/globalAddress:GlobalAddress":
                 "global/addresses", "gcp:compute/subnetwork:Subnetwork": f"regions/{i.get('region')}/subnetworks",
                 "gcp:compute/instance:Instance": f"zones/{i.get('zone')}/instances"}
        if t in paths:
            rid = f"projects/{project}/{paths[t]}/{name}"
            return rid, {"name": name, "selfLink": f"https://www.googleapis.com/compute/v1/{rid}"}
        if t == "gcp:sql/databaseInstance:DatabaseInstance":
            return name, {"name": name, "connectionName": f"{project}:{i.get('region')}:{name}",
                          "privateIpAddress": "10.200.0.3"}
        if t == "gcp:projects/service:Service":
            return f"{project}/{i.get('service')}", {}
        return name, {"name": name}

    def _oci(self, args: MockResourceArgs, seed: str, i: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        region = self._provider(args.provider).get("region", "")
        if args.typ == "oci:ObjectStorage/bucket:Bucket":
            return f"n/{i.get('namespace')}/b/{i.get('name')}", {"bucketId": self.ocid("bucket", region, seed)}
        kind, regional = OCI_KINDS.get(args.typ, (args.typ.rsplit(":", 1)[-1].lower(), True))
        return self.ocid(kind, region if regional else "", seed), {"state": "ACTIVE"}

    @staticmethod
    def ocid(kind: str, region: str, seed: str) -> str:
        return f"ocid1.{kind}.oc1.{region}.aaaaaaaa{hexid(seed, 52)}"

    def call(self, args: MockCallArgs) -> dict[str, Any]:  # a bare dict: no check failures
        with self._lock:
            self.calls.append(args.token)
        region = self._provider(args.provider).get("region") or args.args.get("region") or "us-east-1"
        token, a = args.token, args.args
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"id": region, "names": [f"{region}{z}" for z in "abc"],
                    "zoneIds": [f"{region[:3]}{z}-az{n}" for n, z in enumerate("abc", 1)]}
        if token == "aws:ec2/getAmi:getAmi":
            name = a.get("filters", [{}])[0].get("values", ["al2023-ami"])[0].replace("*", "6.20250101.0-kernel-6.1")
            return {"id": f"ami-{hexid(name + region, 17)}", "imageId": f"ami-{hexid(name + region, 17)}",
                    "name": name}
        if token == "gcp:compute/getZones:getZones":
            return {"id": f"projects/{a.get('project')}/regions/{region}", "names": [f"{region}-{z}" for z in "bcd"],
                    "project": a.get("project"), "region": region}
        if token == "oci:Identity/getAvailabilityDomains:getAvailabilityDomains":
            ads = [{"id": self.ocid("availabilitydomain", region, str(n)), "name": f"Uocm:{region.upper()}-AD-{n}",
                    "compartmentId": a.get("compartmentId")} for n in (1, 2, 3)]
            return {"availabilityDomains": ads, "compartmentId": a.get("compartmentId"), "id": "ads"}
        if token == "oci:Core/getImages:getImages":
            image = {"id": self.ocid("image", region, f"{a.get('operatingSystem')}{a.get('shape')}"),
                     "displayName": "Oracle-Linux-9.5-2025.01.31-0", "operatingSystem": a.get("operatingSystem"),
                     "operatingSystemVersion": a.get("operatingSystemVersion")}
            return {"images": [image], "compartmentId": a.get("compartmentId"), "id": "images"}
        if token == "oci:ObjectStorage/getNamespace:getNamespace":
            return {"namespace": f"ax{hexid('namespace', 10)}", "id": "namespace"}
        return {}
