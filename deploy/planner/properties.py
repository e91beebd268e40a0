"""The properties each kind takes at each cloud: which are required, their formats and their defaults.

Anything not listed here is refused (`PROPERTY_UNKNOWN`): a property the generator would silently
ignore is a promise the program would not keep. `resolved()` gives a component's properties with
the defaults filled in, which is what the generators read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Prop:
    name: str
    help: str
    required: bool = False
    default: Any = None
    pattern: str | None = None  # for text: a full-match regular expression
    choices: tuple[str, ...] = ()
    type: str = "text"  # text | int | cidr
    minimum: int = 0
    maximum: int = 2**31 - 1

    def problem(self, value: Any) -> str | None:
        """Why `value` does not fit, or None. Sizes are checked before any pattern runs."""
        if self.type == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                return f"{self.name} is a whole number"
            if not self.minimum <= value <= self.maximum:
                return f"{self.name} is between {self.minimum} and {self.maximum}"
            return None
        if not isinstance(value, str):
            return f"{self.name} is text"
        if not value or len(value) > 512:
            return f"{self.name} is 1 to 512 characters"
        if self.choices and value not in self.choices:
            return f"{self.name} is one of {', '.join(self.choices)}"
        if self.pattern and not re.fullmatch(self.pattern, value):
            return f"{self.name}: {self.help}"
        return None




def ocid(*types: str) -> str:
    """An Oracle Cloud id of one of `types`: ocid1.<type>.<realm>.[region][.future].<unique id>."""
    return rf"ocid1\.(?:{'|'.join(types)})\.[a-z0-9-]+\.[a-z0-9-]*(?:\.[a-z0-9-]*)?\.[a-z0-9]{{8,255}}"


PLAIN_TEXT = r"[^\x00-\x1f\x7f-\x9f\u2028\u2029]{1,400}"  # one line of text, no control characters
CIDR = Prop("cidr", "an IPv4 CIDR block such as 10.0.0.0/16", required=True, type="cidr")

PROPERTIES: dict[str, dict[str, tuple[Prop, ...]]] = {
    "aws": {
        "Tenancy": (
            Prop("email", "the account's root e-mail address", required=True,
                 pattern=r"(?=.{6,64}$)[^\s@]+@[^\s@]+\.[^\s@]+"),
            Prop("parentId", "the organization root ('r-...') or unit ('ou-...-...') the account goes in",
                 required=True, pattern=r"r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}"),
        ),
        "ComputeInstance": (
            Prop("size", "an EC2 instance type such as t3.micro", default="t3.micro",
                 pattern=r"[a-z][a-z0-9-]*\.[a-z0-9]+"),
            Prop("image", "an AMI id such as ami-0abcdef1234567890 (default: the latest Amazon Linux 2023)",
                 pattern=r"ami-[0-9a-f]{8,17}"),
        ),
        "Database": (
            Prop("engine", "the RDS engine", default="postgres", choices=("postgres", "mysql", "mariadb")),
            Prop("size", "an RDS instance class such as db.t4g.micro", default="db.t4g.micro",
                 pattern=r"db\.[a-z0-9-]+\.[a-z0-9]+"),
            Prop("storageGb", "allocated storage in GB", default=20, type="int", minimum=20, maximum=65536),
        ),
    },
    "azure": {
        "Tenancy": (
            Prop("billingScope", "the billing scope the subscription is billed to "
                 "('/providers/Microsoft.Billing/billingAccounts/...')", required=True,
                 pattern=r"(?i)/providers/Microsoft\.Billing/billingAccounts/[A-Za-z0-9:_.@-]+(?:/[A-Za-z]+/[A-Za-z0-9:_.@-]+)*"),
            Prop("workload", "the subscription's workload", default="Production", choices=("Production", "DevTest")),
            Prop("managementGroupId", "the management group the subscription goes in",
                 pattern=r"[A-Za-z0-9._()-]{1,90}"),
        ),
        "ComputeInstance": (
            Prop("size", "a VM size such as Standard_B2s", default="Standard_B2s", pattern=r"Standard_[A-Za-z0-9_]{1,60}"),
            Prop("image", "a marketplace image 'publisher:offer:sku:version'",
                 default="Canonical:ubuntu-24_04-lts:server:latest",
                 pattern=r"[A-Za-z0-9._-]{1,64}:[A-Za-z0-9._-]{1,64}:[A-Za-z0-9._-]{1,64}:[A-Za-z0-9._-]{1,64}"),
        ),
        "Database": (
            Prop("engine", "the database engine", default="sqlserver", choices=("sqlserver",)),
            Prop("size", "an Azure SQL database SKU such as Basic, S0 or GP_S_Gen5_1", default="Basic",
                 pattern=r"[A-Za-z0-9_]{1,40}"),
        ),
    },
    "gcp": {
        "Tenancy": (
            Prop("billingAccount", "a billing account id XXXXXX-XXXXXX-XXXXXX", required=True,
                 pattern=r"[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}"),
            Prop("folderId", "the numeric id of the folder the project goes in", required=True, pattern=r"[0-9]{1,20}"),
        ),
        "ComputeInstance": (
            Prop("size", "a machine type such as e2-small", default="e2-small", pattern=r"[a-z][a-z0-9-]{1,62}"),
            Prop("image", "an image or image family such as debian-cloud/debian-12", default="debian-cloud/debian-12",
                 pattern=r"[a-z0-9][a-z0-9-]{0,62}(?:/[a-z0-9][a-z0-9-]{0,62}){0,5}"),
        ),
        "Database": (
            Prop("engine", "the Cloud SQL engine", default="postgres", choices=("postgres", "mysql")),
            Prop("size", "a Cloud SQL tier such as db-f1-micro", default="db-f1-micro", pattern=r"db-[a-z0-9-]{1,60}"),
            Prop("storageGb", "disk size in GB", default=10, type="int", minimum=10, maximum=65536),
        ),
    },
    "oci": {
        "Tenancy": (
            Prop("parentCompartmentId", "the OCID of the tenancy or compartment the client's compartment goes in",
                 required=True, pattern=ocid("tenancy", "compartment")),
            Prop("tenancyId", "the tenancy's OCID (needed when parentCompartmentId is not the tenancy)",
                 pattern=ocid("tenancy")),
            Prop("description", "the compartment's description", pattern=PLAIN_TEXT),
        ),
        "Compartment": (
            Prop("description", "the compartment's description", pattern=PLAIN_TEXT),
        ),
        "ComputeInstance": (
            Prop("size", "a shape such as VM.Standard.E5.Flex", default="VM.Standard.E5.Flex",
                 pattern=r"(?:VM|BM)\.[A-Za-z0-9.]{1,60}"),
            Prop("image", "an image OCID (default: the latest Oracle Linux 9 for the shape)",
                 pattern=ocid("image")),
        ),
        "Database": (
            Prop("size", "ECPUs of the Autonomous Database", default=2, type="int", minimum=2, maximum=512),
            Prop("storageGb", "data storage in GB", default=20, type="int", minimum=20, maximum=393216),
        ),
    },
}

for _provider in PROPERTIES.values():
    for _kind in ("Network", "Subnet"):
        _provider.setdefault(_kind, (CIDR,))


def specs(provider: str, kind: str) -> tuple[Prop, ...]:
    return PROPERTIES[provider].get(kind, ())


def resolved(provider: str, kind: str, given: dict[str, Any]) -> dict[str, Any]:
    """The properties with defaults filled in (optional ones without a default stay absent)."""
    out = {p.name: p.default for p in specs(provider, kind) if p.default is not None}
    out.update(given)
    return out
