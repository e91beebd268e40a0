"""Input rules shared by every mutation: names, display names, tags, regions."""

from __future__ import annotations

import re

from skyloom.schema.errors import ValidationProblem, invalid
from skyloom.schema.inputs import TagInput

# Panel entities (provider, tenant, sub-tenant, backend) get DNS-label slugs: they end up in
# hostnames, stack names and role names.
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Tenancies and compartments follow the strictest common subset of the clouds' rules
# (Azure resource groups: letters, digits, . _ ( ) -, up to 90, not ending in a period).
_CLOUD_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._()-]{0,88}[A-Za-z0-9_()-])?$")
_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

MAX_DISPLAY_NAME = 200
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256


def slug(field: str, value: str) -> ValidationProblem | None:
    if not _SLUG.match(value):
        return invalid(field, "use 1-63 lower-case letters, digits and hyphens, starting and ending with a letter or digit")
    return None


def cloud_name(field: str, value: str) -> ValidationProblem | None:
    if not _CLOUD_NAME.match(value):
        return invalid(field, "use 1-90 letters, digits and . _ ( ) -, starting with a letter or digit, not ending with a period")
    return None


def display_name(field: str, value: str | None) -> ValidationProblem | None:
    if value is None:
        return None
    if not value.strip() or len(value) > MAX_DISPLAY_NAME or _CONTROL.search(value):
        return invalid(field, f"use 1-{MAX_DISPLAY_NAME} printable characters")
    return None


def region(field: str, value: str | None) -> ValidationProblem | None:
    if value is not None and not _REGION.match(value):
        return invalid(field, "a region is a lower-case cloud region code such as eu-west-1 or westeurope")
    return None


def tags(field: str, values: list[TagInput] | None) -> dict[str, str] | ValidationProblem:
    values = values or []
    if len(values) > MAX_TAGS:
        return invalid(field, f"at most {MAX_TAGS} tags")
    result: dict[str, str] = {}
    for tag in values:
        if not tag.key or len(tag.key) > MAX_TAG_KEY or _CONTROL.search(tag.key):
            return invalid(field, f"tag keys are 1-{MAX_TAG_KEY} printable characters")
        if len(tag.value) > MAX_TAG_VALUE or _CONTROL.search(tag.value):
            return invalid(field, f"tag values are at most {MAX_TAG_VALUE} printable characters")
        if tag.key in result:
            return invalid(field, f"tag {tag.key!r} is given twice")
        result[tag.key] = tag.value
    return result


def first_problem(*checks: ValidationProblem | None) -> ValidationProblem | None:
    return next((c for c in checks if c is not None), None)
