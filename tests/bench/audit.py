"""What the audit trail costs: API throughput with every call audited against the same server
configuration with call auditing off, on one database, measured alternately in one run.

    python -m tests.bench.audit [--calls 4000] [--concurrency 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
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

        await asyncio.gather(*(call() for _ in range(concurrency)))   # warm connections
        started = time.perf_counter()
        await asyncio.gather(*(call() for _ in range(calls)))
        return calls / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=4000, help="calls per measurement (default 4000)")
    parser.add_argument("--concurrency", type=int, default=64, help="calls in flight (default 64)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurements per side (default 3)")
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
        audited = Server(url, token=token)
        servers.append(audited)
        plain = Server(url, {"SKYLOOM_AUDIT_API_CALLS": "false"}, token=token)
        servers.append(plain)
        on, off = [], []
        for r in range(args.rounds):
            on.append(asyncio.run(throughput(audited, token, args.calls, args.concurrency)))
            off.append(asyncio.run(throughput(plain, token, args.calls, args.concurrency)))
            print(f"round {r + 1}: audited {on[-1]:,.0f} calls/s, unaudited {off[-1]:,.0f} calls/s", flush=True)
        best_on, best_off = max(on), max(off)
        ratio = best_off / best_on
        print(f"\n== audit trail cost: {args.calls:,} calls x {args.rounds} rounds, {args.concurrency} in flight ==")
        print(f"throughput with every call audited: {best_on:,.0f} calls/s")
        print(f"throughput with call auditing off:  {best_off:,.0f} calls/s")
        print(f"slowdown (off / on): {ratio:.2f}x   goal <= 1.2x: {'met' if ratio <= 1.2 else 'NOT MET'}")
        return 0
    finally:
        for server in servers:
            server.stop()
        drop_database(cluster.admin_url(), name)


if __name__ == "__main__":
    sys.exit(main())
