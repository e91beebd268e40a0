"""What the audit trail costs: API throughput with every call audited against the same server
configuration with call auditing off, on one database, measured alternately in one run.

    python -m tests.bench.audit [--calls 4000] [--concurrency 64] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time

import httpx

from skyloom import runtime
from skyloom.deploy.local.cluster import APP_ROLE
from skyloom.graph.admin import drop_database, ensure_database, with_dbname
from skyloom.graph.migrate import migrate
from skyloom.settings import Settings
from tests.conftest import Server, make_token

QUERY = {"query": "query Probe { __typename providers { id } }"}


async def throughput(server: Server, token: str, calls: int, concurrency: int) -> float:
    """Completed calls per second, every answer checked."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=120,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        gate = asyncio.Semaphore(concurrency)

        async def call() -> None:
            async with gate:
                r = await client.post("/graphql", json=QUERY)
                if r.status_code != 200 or r.json().get("errors"):
                    raise SystemExit(f"a benchmark call failed: {r.status_code} {r.text[:200]}")

        # Warm up: connections, the pool, and the first requests' caches of a fresh process.
        await asyncio.gather(*(call() for _ in range(max(concurrency, calls // 4))))
        started = time.perf_counter()
        await asyncio.gather(*(call() for _ in range(calls)))
        return calls / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=4000, help="calls per measurement (default 4000)")
    parser.add_argument("--concurrency", type=int, default=64, help="calls in flight (default 64)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating measurements per side (default 5)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    cluster = runtime.local_cluster(settings)
    cluster.up()
    name = f"skyloom_bench_audit_{secrets.token_hex(3)}"
    ensure_database(cluster.admin_url(), name, APP_ROLE)
    servers: list[Server] = []
    try:
        migrate(with_dbname(cluster.admin_url(), name), settings.graph_name, APP_ROLE)
        url = cluster.app_url(name)
        token, _ = make_token(url, "bench-audit", [("provider-operator", "installation", "*")])
        sides = {"audited": {}, "unaudited": {"SKYLOOM_AUDIT_API_CALLS": "false"}}
        measured: dict[str, list[float]] = {side: [] for side in sides}
        for r in range(args.rounds):
            # One server at a time, alternating: on two cores, an idle second server's background
            # work (and the order of warm-ups) moved the ratio by more than the goal's margin.
            for side, env in sides.items():
                server = Server(url, env, token=token)
                servers.append(server)
                try:
                    measured[side].append(asyncio.run(throughput(server, token, args.calls, args.concurrency)))
                finally:
                    server.stop()
                    servers.remove(server)
            print(f"round {r + 1}: audited {measured['audited'][-1]:,.0f} calls/s,"
                  f" unaudited {measured['unaudited'][-1]:,.0f} calls/s", flush=True)
        on, off = statistics.median(measured["audited"]), statistics.median(measured["unaudited"])
        ratio = off / on
        per_round = sorted(u / a for a, u in zip(measured["audited"], measured["unaudited"]))
        print(f"\n== audit trail cost: {args.calls:,} calls x {args.rounds} rounds, {args.concurrency} in flight ==")
        print(f"throughput with every call audited: {on:,.0f} calls/s (median)")
        print(f"throughput with call auditing off:  {off:,.0f} calls/s (median)")
        print(f"slowdown (off / on), medians: {ratio:.2f}x   per round: {per_round[0]:.2f}x .. {per_round[-1]:.2f}x"
              f"   goal <= 1.2x: {'met' if ratio <= 1.2 else 'NOT MET'}")
        return 0
    finally:
        for server in servers:
            server.stop()
        drop_database(cluster.admin_url(), name)


if __name__ == "__main__":
    sys.exit(main())
