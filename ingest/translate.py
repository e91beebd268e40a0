"""Raw Pulumi resources -> semantic CI records: kind, cloud term, placement and relationships.

Pure: a stack's resources in, records out, no database. Placement is read from what the clouds
themselves write into ids and outputs (FORMATS.md):

* Azure: `/subscriptions/<subscription>/resourceGroups/<group>/...` -> tenancy and compartment;
* AWS: `arn:<partition>:<service>:<region>:<account>:...` -> tenancy (account) and region;
* Google Cloud: `projects/<project>/(regions|zones)/<where>/...` -> tenancy (project) and region;
* OCI: `compartmentId` -> compartment, the provider's `tenancyOcid` -> tenancy;
* Kubernetes: `metadata.namespace` -> compartment, the provider (cluster) -> tenancy;

with the provider resource's configuration (`region`, `location`, `project`) as the fallback.
Relationships come from `parent`, `dependencies`, `propertyDependencies`, `deletedWith`, and from
input values that are another resource's cloud id (a subnet's `vpcId`, a NIC's subnet, ...).
Secrets never leave here in clear: only a few identifying outputs are kept as attributes, and a
value in Pulumi's secret envelope is replaced by a marker.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from skyloom.ingest.mapping import Classification, Mappings, default_mappings
from skyloom.ingest.state import StackState
from skyloom.schema import vocabulary

SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker key of a secret value
SECRET_MARKER = "[secret]"

_AZURE_ID = re.compile(r"^/subscriptions/(?P<sub>[^/]+)(?:/resourcegroups/(?P<rg>[^/]+))?", re.IGNORECASE)
_ARN = re.compile(r"^arn:(?P<partition>[^:]+):(?P<service>[^:]*):(?P<region>[^:]*):(?P<account>\d*):")
_GCP_PATH = re.compile(r"(?:^|/)projects/(?P<project>[^/]+)(?:/(?P<scope>regions|zones|locations)/(?P<where>[^/]+))?")
_ZONE = re.compile(r"^(?P<region>[a-z]+-[a-z]+\d)-[a-z]$")
_KEPT_OUTPUTS = ("arn", "name", "selfLink", "location", "region", "zone")


@dataclass(frozen=True)
class Placement:
    """Where a CI sits, in the cloud's own identifiers (resolved to graph vertices by the writer)."""

    tenancy: str | None = None  # AWS account, Azure subscription, GCP project, OCI tenancy, k8s cluster
    compartment: str | None = None  # Azure resource group (lower-case), OCI compartment OCID, k8s namespace
    region: str | None = None


@dataclass
class CiRecord:
    urn: str
    name: str
    token: str
    classification: Classification
    native_id: str | None
    placement: Placement
    tags: dict[str, str]
    attributes: dict[str, Any]
    parent: str | None = None
    # URNs this record needs. Straight from a stream, these are what the state says (any URN) and
    # `refs` are its string inputs that may be another resource's cloud id; `_link` (or the graph
    # writer, over a whole stack it has staged) resolves both against the stack's own records.
    depends_on: set[str] = field(default_factory=set)
    refs: tuple[str, ...] = ()
    provider_ref: str | None = None
    external: bool = False
    pending_delete: bool = False
    # For a record that *is* a compartment (resource group, namespace, OCI compartment): the key it
    # is known by in placements, and a readable name for it.
    own_compartment: str | None = None
    own_compartment_name: str | None = None

    @property
    def kind(self) -> str:
        return self.classification.kind

    @property
    def cloud(self) -> str | None:
        return self.classification.cloud

    @property
    def provider_term(self) -> str | None:
        return vocabulary.kinds()[self.kind].provider_term(self.cloud)


@dataclass
class StackTranslation:
    project: str | None
    stack: str | None
    records: list[CiRecord]
    skipped: list[Classification]  # provider configurations, the stack, local utility resources
    # Placement hints gathered over the whole stack (see `RecordStream`); already applied here.
    accounts: dict[str | None, Counter[str]] = field(default_factory=dict)
    group_regions: dict[tuple[str | None, str], str] = field(default_factory=dict)

    @property
    def unmapped(self) -> list[CiRecord]:
        return [r for r in self.records if not r.classification.mapped]

    @property
    def coverage(self) -> float:
        return 1.0 if not self.records else 1 - len(self.unmapped) / len(self.records)


class RecordStream:
    """A stack's records, translated one resource at a time as `records` is iterated (once).

    Nothing here needs the whole stack in memory: what a record cannot know alone (a dependency
    given as another resource's cloud id, an account or region only its neighbours name) is
    left for whoever sees the whole stack, with the hints gathered on the way (`accounts`: the
    accounts each provider's resources name; `group_regions`: each resource group's region),
    both bounded by the number of providers and groups, not of resources.
    """

    def __init__(
        self, state: StackState, mappings: Mappings | None = None, config: dict[str, str] | None = None,
        *, keep_skipped: bool = False,
    ) -> None:
        self.project = state.project
        self.stack = state.stack
        self.skipped_count = 0
        self.skipped: list[Classification] = []  # only with `keep_skipped`: a report lists them, an ingest need not
        self.accounts: dict[str | None, Counter[str]] = defaultdict(Counter)
        self.group_regions: dict[tuple[str | None, str], str] = {}
        self._state = state
        self._mappings = mappings or default_mappings()
        self._config = config or {}
        self._keep_skipped = keep_skipped

    @property
    def records(self) -> Iterator[CiRecord]:
        providers = {_provider_ref(r): r for r in self._state.providers}
        defaults = _default_providers(self._config)
        classified: dict[str, Classification] = {}  # per type token: a stack has few distinct ones
        for resource in self._state.resources:
            if not resource.get("custom"):
                continue  # components and the root stack: logical grouping, not cloud objects
            token = resource["type"]
            classification = classified.get(token)
            if classification is None:
                classification = classified[token] = self._mappings.classify(token)
            if classification.ignored:
                self.skipped_count += 1
                if self._keep_skipped:
                    self.skipped.append(classification)
                continue
            provider = providers.get(resource.get("provider") or "") or defaults.get(token.split(":", 1)[0])
            record = _record(resource, classification, provider)
            if record.placement.tenancy:
                self.accounts[record.provider_ref][record.placement.tenancy] += 1
            if record.own_compartment and record.placement.region:
                self.group_regions[(record.placement.tenancy, record.own_compartment)] = record.placement.region
            yield record


def translate(state: StackState, mappings: Mappings | None = None, config: dict[str, str] | None = None) -> StackTranslation:
    """The whole stack in memory, linked and placed (for reports and small stacks; ingest streams).

    `config` is the stack configuration (`aws:region`, `gcp:project`, ...), the default providers' settings.
    """
    stream = RecordStream(state, mappings, config, keep_skipped=True)
    records = list(stream.records)
    _link(records)
    _inherit_placement(records)
    return StackTranslation(state.project, state.stack, records, stream.skipped)


def _inherit_placement(records: list[CiRecord]) -> None:
    """Fill what a resource does not say about itself from what its neighbours in the stack say.

    A resource without an account in its own outputs (an AWS EIP, a route) lives in the account
    its provider configuration deploys to, which its siblings under the same provider name; an
    Azure child resource without a location (a subnet) is in its resource group's region.
    """
    accounts: dict[str | None, Counter[str]] = defaultdict(Counter)
    group_regions: dict[tuple[str | None, str], str] = {}
    for r in records:
        if r.placement.tenancy:
            accounts[r.provider_ref][r.placement.tenancy] += 1
        if r.own_compartment and r.placement.region:
            group_regions[(r.placement.tenancy, r.own_compartment)] = r.placement.region
    for r in records:
        tenancy, region = r.placement.tenancy, r.placement.region
        if tenancy is None and accounts[r.provider_ref]:
            tenancy = accounts[r.provider_ref].most_common(1)[0][0]
        if region is None and r.placement.compartment:
            region = group_regions.get((tenancy, r.placement.compartment))
        if (tenancy, region) != (r.placement.tenancy, r.placement.region):
            r.placement = replace(r.placement, tenancy=tenancy, region=region)


def _default_providers(config: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Stack configuration keys `<package>:<setting>` as the inputs of that package's default provider."""
    by_package: dict[str, dict[str, Any]] = defaultdict(dict)
    for key, value in config.items():
        package, _, setting = key.partition(":")
        if setting and isinstance(value, str):
            by_package[package][setting] = value
    return {
        package: {"urn": f"urn:pulumi:config::config::pulumi:providers:{package}::default", "inputs": inputs}
        for package, inputs in by_package.items()
    }


def _provider_ref(resource: dict[str, Any]) -> str:
    """How resources point at a provider: `<provider urn>::<provider id>`."""
    return f"{resource['urn']}::{resource.get('id', '')}"


def _name(urn: str, classification: Classification, native_id: Any) -> str:
    """A CI's name: the resource's logical name, except for a tenancy (an account, subscription or
    project a stack creates), which is named by its cloud id as the tenancies placement finds are:
    tenancies of one parent need distinct names, and two stacks may both call theirs `account`."""
    if classification.kind == "Tenancy" and isinstance(native_id, str) and native_id:
        return native_id
    return urn.rsplit("::", 1)[-1]


def _record(resource: dict[str, Any], classification: Classification, provider: dict[str, Any] | None) -> CiRecord:
    inputs = _mapping(resource.get("inputs"))
    outputs = _mapping(resource.get("outputs"))
    native_id = resource.get("id") or outputs.get("id")
    config = _mapping((provider or {}).get("inputs"))
    own_key, own_name = _own_compartment(classification, native_id, outputs, inputs, resource["urn"])
    placement = _placement(classification.cloud, native_id, inputs, outputs, config, provider)
    if own_key is not None and placement.compartment == own_key:
        placement = replace(placement, compartment=None)  # a resource group is not inside itself
    return CiRecord(
        own_compartment=own_key,
        own_compartment_name=own_name,
        urn=resource["urn"],
        name=_name(resource["urn"], classification, native_id),
        token=resource["type"],
        classification=classification,
        native_id=native_id if isinstance(native_id, str) else None,
        placement=placement,
        tags=_tags(outputs) or _tags(inputs),
        attributes=_attributes(native_id, outputs),
        parent=resource.get("parent"),
        depends_on=_named_dependencies(resource),
        refs=tuple(_strings(inputs)),
        provider_ref=resource.get("provider"),
        external=bool(resource.get("external")),
        pending_delete=bool(resource.get("delete")),
    )


def _named_dependencies(resource: dict[str, Any]) -> set[str]:
    """The URNs a state resource says it needs: `dependencies`, `propertyDependencies`, `deletedWith`."""
    targets = set(resource.get("dependencies") or ())
    for urns in (resource.get("propertyDependencies") or {}).values():
        targets.update(urns or ())
    if resource.get("deletedWith"):
        targets.add(resource["deletedWith"])
    return {t for t in targets if isinstance(t, str)}  # a URN is a string; anything else names nothing


def _placement(cloud, native_id, inputs, outputs, config, provider) -> Placement:
    tenancy = compartment = region = None
    candidates = [v for v in (native_id, outputs.get("id"), outputs.get("selfLink")) if isinstance(v, str)]
    if cloud == "azure":
        for value in candidates:
            if m := _AZURE_ID.match(value):
                tenancy = m["sub"]
                compartment = (m["rg"] or "").lower() or None
                break
        region = _first_str(outputs, inputs, config, keys=("location",))
    elif cloud == "aws":
        arn = outputs.get("arn") if isinstance(outputs.get("arn"), str) else None
        if arn and (m := _ARN.match(arn)):
            tenancy = m["account"] or None
            region = m["region"] or None
        tenancy = tenancy or _first_str(outputs, keys=("ownerId", "accountId"))
        region = region or _first_str(outputs, inputs, config, keys=("region",))
    elif cloud == "gcp":
        for value in candidates:
            if m := _GCP_PATH.search(value):
                tenancy = m["project"]
                if m["scope"] in ("regions", "locations") and m["where"] != "global":
                    region = m["where"]
                elif m["scope"] == "zones" and (z := _ZONE.match(m["where"])):
                    region = z["region"]
                break
        tenancy = tenancy or _first_str(outputs, inputs, config, keys=("project",))
        region = region or _first_str(outputs, inputs, config, keys=("region",))
    elif cloud == "oci":
        compartment = _first_str(outputs, inputs, keys=("compartmentId",))
        tenancy = _first_str(config, keys=("tenancyOcid",))
        region = _first_str(config, keys=("region",))
    elif cloud == "kubernetes":
        metadata = _mapping(outputs.get("metadata")) or _mapping(inputs.get("metadata"))
        compartment = _first_str(metadata, keys=("namespace",))
        tenancy = provider["urn"].rsplit("::", 1)[-1] if provider else None
    return Placement(tenancy, compartment, region)


def _own_compartment(classification, native_id, outputs, inputs, urn) -> tuple[str | None, str | None]:
    if classification.kind != "Compartment" or not isinstance(native_id, str):
        return None, None
    if classification.cloud == "azure" and (m := _AZURE_ID.match(native_id)) and m["rg"]:
        return m["rg"].lower(), m["rg"]
    if classification.cloud == "kubernetes":
        name = _first_str(_mapping(outputs.get("metadata")), _mapping(inputs.get("metadata")), keys=("name",)) or native_id
        return name, name
    readable = _first_str(outputs, inputs, keys=("name", "displayName")) or urn.rsplit("::", 1)[-1]
    return native_id, readable


def _link(records: list[CiRecord]) -> None:
    """Dependencies between the CIs of this stack, from the state's edges and from id references."""
    by_urn = {r.urn for r in records}
    by_native_id = {r.native_id: r.urn for r in records if r.native_id}
    for record in records:
        targets = set(record.depends_on)
        targets.update(by_native_id[value] for value in record.refs if value in by_native_id)
        record.depends_on = {t for t in targets if t in by_urn and t != record.urn}
        record.refs = ()


def _strings(inputs: dict[str, Any]) -> Iterable[str]:
    """String input values, one level into lists (`subnetIds`, `securityGroups`, ...)."""
    for value in inputs.values():
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            yield from (v for v in value if isinstance(v, str))


def _mapping(value: Any) -> dict[str, Any]:
    """A property map; recorded test states sometimes hold maps as JSON strings."""
    if isinstance(value, dict):
        return {} if SECRET_SIG in value else value
    if isinstance(value, str) and value.startswith("{"):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) and SECRET_SIG not in parsed else {}
    return {}


def _tags(props: dict[str, Any]) -> dict[str, str]:
    for key in ("tags", "labels", "freeformTags"):
        tags = _mapping(props.get(key))
        if tags:
            return {str(k): _opaque(v) for k, v in tags.items() if isinstance(v, (str, int, float, bool, dict))}
    return {}


def _attributes(native_id: Any, outputs: dict[str, Any]) -> dict[str, Any]:
    kept = {k: _opaque(outputs[k]) for k in _KEPT_OUTPUTS if isinstance(outputs.get(k), (str, dict))}
    if isinstance(native_id, str):
        kept["nativeId"] = native_id
    return kept


def _opaque(value: Any) -> str:
    if isinstance(value, dict):
        return SECRET_MARKER if SECRET_SIG in value else json.dumps(value, sort_keys=True)
    return str(value)


def _first_str(*maps: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for m in maps:
        for key in keys:
            value = m.get(key)
            if isinstance(value, str) and value:
                return value
    return None
