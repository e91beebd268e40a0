"""Each cloud's own rules for names and regions, per kind: what the canvas checks before anything is generated.

The rules follow the providers' documented naming constraints (AWS API references, Azure's
"naming rules and restrictions for Azure resources", Google Cloud's resource-name and project-id
rules, OCI's per-service limits). Where a provider only stores a display name (EC2 `Name` tags,
OCI display names) the rule is the generic one: 1 to 255 characters and no control characters.
A name that is globally unique at the provider (S3 buckets, storage accounts, SQL servers) can
still be taken by someone else: only the provider knows that.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

Check = Callable[[str], str | None]


@dataclass(frozen=True)
class NameRule:
    pattern: re.Pattern[str]
    describe: str
    extra: tuple[Check, ...] = ()

    def problem(self, name: str) -> str | None:
        if not self.pattern.fullmatch(name):
            return self.describe
        return next((msg for check in self.extra if (msg := check(name))), None)


def rule(pattern: str, describe: str, *extra: Check) -> NameRule:
    return NameRule(re.compile(pattern), describe, extra)


def _not_prefixed(*prefixes: str) -> Check:
    return lambda name: next((f"must not start with {p!r}" for p in prefixes if name.casefold().startswith(p)), None)


def _not_containing(*words: str) -> Check:
    return lambda name: next((f"must not contain {w!r}" for w in words if w in name.casefold()), None)


def _not_suffixed(*suffixes: str) -> Check:
    return lambda name: next((f"must not end with {s!r}" for s in suffixes if name.endswith(s)), None)


def _not_ip_address(name: str) -> str | None:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return None
    return "must not look like an IP address"


def _no_double_dot(name: str) -> str | None:
    return "must not contain two periods in a row" if ".." in name else None


DISPLAY = rule(r"[^\x00-\x1f\x7f-\x9f\u2028\u2029]{1,255}",
               "1 to 255 characters, no control characters or line breaks")
RFC1035 = rule(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?",
               "1 to 63 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen")

NAMES: dict[str, dict[str, NameRule]] = {
    "aws": {
        "Tenancy": rule(r"[\x20-\x7e]{1,50}", "an AWS account name is 1 to 50 printable ASCII characters"),
        "Compartment": rule(r"[A-Za-z0-9_.-]{1,300}", "a resource group name is 1 to 300 letters, digits, '.', '_' "
                                                      "or '-'", _not_prefixed("aws")),
        "Network": DISPLAY, "Subnet": DISPLAY, "ComputeInstance": DISPLAY,
        "Database": rule(r"[a-z](?!.*--)[a-z0-9-]{0,62}(?<!-)",
                         "an RDS identifier is 1 to 63 lowercase letters, digits and hyphens, starting with a letter, "
                         "without '--' and not ending with a hyphen"),
        "ObjectStore": rule(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]",
                            "an S3 bucket name is 3 to 63 lowercase letters, digits, '.' and '-', starting and ending "
                            "with a letter or digit", _no_double_dot, _not_ip_address,
                            _not_prefixed("xn--", "sthree-", "amzn-s3-demo-"),
                            _not_suffixed("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")),
        "Identity": rule(r"[A-Za-z0-9_+=,.@-]{1,64}", "an IAM role name is 1 to 64 letters, digits or '+=,.@_-'"),
    },
    "azure": {
        "Tenancy": rule(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}",
                        "a subscription alias is 1 to 63 letters, digits, '.', '_' or '-', starting with a letter "
                        "or digit"),
        "Compartment": rule(r"[-\w.()]{0,89}[-\w()]", "a resource group name is 1 to 90 letters, digits, '_', '-', "
                                                      "'.', '(' or ')' and does not end with '.'"),
        "Network": rule(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}[A-Za-z0-9_]",
                        "a virtual network name is 2 to 64 letters, digits, '_', '.' or '-', starting with a letter "
                        "or digit and ending with a letter, digit or '_'"),
        "Subnet": rule(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?",
                       "a subnet name is 1 to 80 letters, digits, '_', '.' or '-', starting with a letter or digit "
                       "and ending with a letter, digit or '_'"),
        "ComputeInstance": rule(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?",
                                "a Linux virtual machine name is 1 to 64 letters, digits or hyphens, not starting "
                                "or ending with a hyphen"),
        "Database": rule(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?",
                         "a SQL server name is 1 to 63 lowercase letters, digits or hyphens, not starting or ending "
                         "with a hyphen"),
        "ObjectStore": rule(r"[a-z0-9]{3,24}", "a storage account name is 3 to 24 lowercase letters and digits"),
        "Identity": rule(r"[A-Za-z0-9][A-Za-z0-9_-]{2,127}",
                         "a managed identity name is 3 to 128 letters, digits, '_' or '-', starting with a letter "
                         "or digit"),
    },
    "gcp": {
        "Tenancy": rule(r"[a-z][a-z0-9-]{4,28}[a-z0-9]",
                        "a project id is 6 to 30 lowercase letters, digits and hyphens, starting with a letter and "
                        "not ending with a hyphen", _not_containing("google", "ssl")),
        "Compartment": rule(r"[A-Za-z0-9](?:[A-Za-z0-9 _-]{0,28}[A-Za-z0-9])?",
                            "a folder name is 1 to 30 letters, digits, spaces, '_' or '-', starting and ending with "
                            "a letter or digit"),
        "Network": RFC1035, "Subnet": RFC1035, "ComputeInstance": RFC1035,
        "Database": rule(RFC1035.pattern.pattern, "a Cloud SQL instance id is " + RFC1035.describe),
        "ObjectStore": rule(r"[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]",
                            "a bucket name is 3 to 63 lowercase letters, digits, '-', '_' or '.', starting and ending "
                            "with a letter or digit", _no_double_dot, _not_ip_address, _not_prefixed("goog"),
                            _not_containing("google")),
        "Identity": rule(r"[a-z][a-z0-9-]{4,28}[a-z0-9]",
                         "a service account id is 6 to 30 lowercase letters, digits and hyphens, starting with a "
                         "letter and not ending with a hyphen"),
    },
    "oci": {
        "Tenancy": rule(r"[A-Za-z0-9._-]{1,100}", "a compartment name is 1 to 100 letters, digits, '.', '_' or '-'"),
        "Compartment": rule(r"[A-Za-z0-9._-]{1,100}", "a compartment name is 1 to 100 letters, digits, '.', '_' or '-'"),
        "Network": DISPLAY, "Subnet": DISPLAY, "ComputeInstance": DISPLAY,
        "Database": rule(r"[A-Za-z][A-Za-z0-9]{0,29}",
                         "an Autonomous Database name is 1 to 30 letters and digits, starting with a letter"),
        "ObjectStore": rule(r"[A-Za-z0-9._-]{1,256}", "a bucket name is 1 to 256 letters, digits, '.', '_' or '-'"),
        "Identity": rule(r"[A-Za-z0-9._-]{1,100}", "a group name is 1 to 100 letters, digits, '.', '_' or '-'"),
    },
}

REGIONS: dict[str, NameRule] = {
    "aws": rule(r"[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}", "an AWS region looks like 'eu-west-1'"),
    "azure": rule(r"[a-z][a-z0-9]{2,39}", "an Azure location looks like 'westeurope'"),
    "gcp": rule(r"[a-z]+-[a-z]+\d{1,2}", "a Google Cloud region looks like 'europe-west1'"),
    "oci": rule(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}", "an OCI region looks like 'eu-frankfurt-1'"),
}


def name_problem(provider: str, kind: str, name: str) -> str | None:
    """Why `name` is not a valid name for `kind` at `provider`, or None."""
    return NAMES[provider][kind].problem(name)


def region_problem(provider: str, region: str) -> str | None:
    return REGIONS[provider].problem(region)
