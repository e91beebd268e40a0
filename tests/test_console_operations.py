"""The console's GraphQL operations against the committed SDL, and the console's static safety rules.

Every operation the console sends is defined in console/app/operations/*.js (`Name: \\`...\\``);
here each is assembled as the browser assembles it (the operation plus the fragments it spreads)
and validated with graphql-core against schema/schema.graphql. No database, no server.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import OperationDefinitionNode, build_schema, parse, validate

REPO = Path(__file__).resolve().parent.parent
CONSOLE = REPO / "console"
APP = CONSOLE / "app"
DEFINITION = re.compile(r"(\b[A-Za-z_]\w*):\s*`([^`]*)`", re.S)
SPREAD = re.compile(r"\.\.\.\s*([A-Za-z_]\w*)")
HEAD = re.compile(r"^\s*(query|mutation|subscription|fragment)\s+([A-Za-z_]\w*)")
USE = re.compile(r"graphql(?:\(\))?\.(query|mutate|subscribe)\(\s*'([A-Za-z_]\w*)'")
USE_KIND = {"query": "query", "mutate": "mutation", "subscribe": "subscription"}


def definitions() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted((APP / "operations").glob("*.js")):
        for name, text in DEFINITION.findall(path.read_text()):
            assert name not in found, f"{name} is defined twice"
            found[name] = text
    return found


DOCUMENTS = definitions()
OPERATIONS = sorted(name for name, text in DOCUMENTS.items() if not text.lstrip().startswith("fragment"))


def assembled(name: str) -> str:
    """What operations.js's `document(name)` sends: the text plus every fragment it spreads, once."""
    parts, seen, queue = [DOCUMENTS[name]], set(), [DOCUMENTS[name]]
    while queue:
        for spread in SPREAD.findall(queue.pop()):
            text = DOCUMENTS.get(spread)
            if text is not None and text.lstrip().startswith("fragment") and spread not in seen:
                seen.add(spread)
                parts.append(text)
                queue.append(text)
    return "\n".join(parts)


@pytest.fixture(scope="module")
def schema():
    return build_schema((REPO / "schema" / "schema.graphql").read_text())


def test_the_console_defines_operations_and_names_each_like_its_key() -> None:
    assert {"Viewer", "ExplorerTenancies", "ExplorerTree", "ExplorerCis", "ExplorerGraph", "CiDetail",
            "CiHistory", "ExplorerChanges"} <= set(OPERATIONS)
    for name, text in DOCUMENTS.items():
        head = HEAD.match(text)
        assert head and head.group(2) == name, f"{name}: the document must be named {name}"
        assert "${" not in text, f"{name}: documents are constant text, values go in variables"


@pytest.mark.parametrize("name", OPERATIONS)
def test_each_operation_is_valid_against_the_committed_schema(schema, name: str) -> None:
    document = parse(assembled(name))
    errors = validate(schema, document)
    assert errors == [], f"{name}: {[e.message for e in errors]}"
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    assert [op.name.value for op in ops] == [name]


def test_every_operation_the_pages_use_exists_with_the_right_kind() -> None:
    used = []
    for path in APP.rglob("*.js"):
        for verb, name in USE.findall(path.read_text()):
            used.append(name)
            assert name in OPERATIONS, f"{path.name} uses unknown operation {name}"
            assert HEAD.match(DOCUMENTS[name]).group(1) == USE_KIND[verb], f"{path.name}: {verb} {name}"
    assert {"Viewer", "ExplorerChanges", "CiDetail"} <= set(used)


# -- what keeps an end-of-life AngularJS safe here (docs/console.md) ------------------------------
ANY, HTML = (".js", ".html", ".css"), (".html",)
FORBIDDEN = [
    (ANY, re.compile(r"ng-bind-html|\$sce\.trustAs|trustAsHtml|ngSanitize"), "HTML binding"),
    (ANY, re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write"), "raw HTML"),
    (ANY, re.compile(r"\beval\(|new Function\(|setTimeout\(\s*['\"]"), "eval"),
    (ANY, re.compile(r"\sstyle\s*=|ng-style|ng-attr-style"), "inline style"),
    (ANY, re.compile(r"srcset"), "srcset (AngularJS ReDoS and content-spoofing advisories)"),
    (ANY, re.compile(r"type=\"url\""), "input[type=url] (AngularJS ReDoS advisory)"),
    (ANY, re.compile(r"\$resource|angular\.copy|\|\s*currency"), "APIs with AngularJS ReDoS advisories"),
    (ANY, re.compile(r"localStorage"), "a credential outliving the tab (tokens stay in sessionStorage)"),
    (HTML, re.compile(r"<script(?![^>]*\ssrc=)[^>]*>"), "inline script"),
    (HTML, re.compile(r"\son[a-z]+\s*="), "inline event handler"),
    (HTML, re.compile(r"<(?:image|svg)\b"), "SVG images (AngularJS content-spoofing advisory)"),
]


def console_sources() -> list[Path]:
    return [p for p in CONSOLE.rglob("*") if p.suffix in ANY and "vendor" not in p.parts]


@pytest.mark.parametrize("suffixes, rule, what", FORBIDDEN, ids=[w for _, _, w in FORBIDDEN])
def test_the_console_source_avoids(suffixes: tuple[str, ...], rule: re.Pattern, what: str) -> None:
    offenders = [f"{p.relative_to(REPO)}: {m.group(0)!r}" for p in console_sources() if p.suffix in suffixes
                 for m in rule.finditer(p.read_text())]
    assert offenders == [], f"{what}: {offenders}"


def test_index_html_loads_every_app_script_and_nothing_from_elsewhere() -> None:
    index = (CONSOLE / "index.html").read_text()
    scripts = re.findall(r'<script src="([^"]+)"></script>', index)
    assert all(not re.match(r"[a-z]+:|//", s) for s in scripts), scripts
    on_disk = sorted(str(p.relative_to(CONSOLE)) for p in APP.rglob("*.js"))
    assert sorted(s for s in scripts if s.startswith("app/")) == on_disk
    assert 'ng-strict-di' in index and 'ng-csp' in index
