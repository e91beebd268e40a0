"""What authorization costs: the same GraphQL query by the same tenant admin, against a server with
the default policy (the answer narrowed to the tenant in SQL) and a server whose policy lets
everyone see everything (no narrowing), timed alternately in one run."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from skyloom.policy.adapter import DEFAULT_POLICY_DIR
from tests.conftest import Server, make_token

PAGE = 100
PAGE_QUERY = "query($t: ID!) { cis(filter: {tenancyId: $t}, first: %d) { edges { node { id name kind } } } }" % PAGE
SEARCH_QUERY = "query { cis(filter: {kinds: [ComputeInstance, Database, Volume]}, first: %d) { edges { node { id name } } } }" % PAGE

_OPEN_TESTS = """\
[personas.anyone]
bindings = []
auth_strength = "PASSWORD"

[resources.anything]
kind = "ComputeInstance"
provider = "p1"
tenant = "t1"
subtenant = "s1"

[[cases]]
name = "the benchmark's baseline policy: nothing is narrowed"
persona = "anyone"
actions = ["read"]
resource = "anything"
expect = "allow"
"""


def open_policy(into: Path) -> Path:
    """The default policy with one change: every actor is unrestricted (the baseline, never served
    anywhere but in this benchmark's own server)."""
    for source in Path(DEFAULT_POLICY_DIR).glob("*.polar"):
        text = source.read_text()
        if source.name == "conditions.polar":
            text = text.replace('unrestricted(actor) if actor.kind = "system";', "unrestricted(_actor);")
        (into / source.name).write_text(text)
    (into / "open.tests.toml").write_text(_OPEN_TESTS)
    return into


def _time(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def bench_authorization(db_url: str, estate: Any, iterations: int, workers: int,
                        say: Callable[[str], None], percentile: Callable[[list[float], float], float]) -> list[tuple[str, float, float]]:
    """(figure, authorised p50 ms, without-policy p50 ms) for a page of 100 and a search over all CIs."""
    tenant = estate.tenants[0]
    mine = [t for t in estate.tenancies if estate.owners[t] == tenant]
    token, _ = make_token(db_url, "bench-tenant-admin", [("tenant-admin", "tenant", tenant)])
    folder = Path(tempfile.mkdtemp(prefix="skyloom-open-policy-"))
    scoped = baseline = None
    try:
        scoped = Server(db_url, args=("--workers", str(workers)), token=token)
        baseline = Server(db_url, {"SKYLOOM_POLICY": str(open_policy(folder))}, args=("--workers", str(workers)), token=token)
        results = []
        for figure, query, variables in (
            (f"page of {PAGE} CIs in the caller's tenancy", PAGE_QUERY, lambda i: {"t": mine[i % len(mine)]}),
            (f"search over every CI, first {PAGE}", SEARCH_QUERY, lambda i: {}),
        ):
            a = scoped.gql(query, variables(0))["cis"]["edges"]
            b = baseline.gql(query, variables(0))["cis"]["edges"]
            if len(a) != PAGE or len(b) != PAGE:
                raise SystemExit(f"authorization bench: {figure}: expected full pages, got {len(a)} and {len(b)}")
            say(f"authorization: {figure}: {iterations} runs each way")
            with_policy, without = [], []
            for i in range(20 + iterations):
                ta = _time(lambda: scoped.gql(query, variables(i)))
                tb = _time(lambda: baseline.gql(query, variables(i)))
                if i >= 20:
                    with_policy.append(ta)
                    without.append(tb)
            results.append((figure, percentile(with_policy, 50), percentile(without, 50)))
        return results
    finally:
        for server in (scoped, baseline):
            if server is not None:
                server.stop()
        shutil.rmtree(folder, ignore_errors=True)
