"""The Automation API hook, fed the real recorded events as the Pulumi SDK itself parses them."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from pulumi.automation.events import EngineEvent

from skyloom.graph.pool import Database
from skyloom.graph.reads import GraphReader
from skyloom.ingest.automation import EventSink, to_json
from tests.conftest import Pg, Server, unique
from tests.test_ingest_events import EKS
from tests.test_mutations import backend, provider, tenancy, tenant


def sdk_events() -> list[EngineEvent]:
    return [EngineEvent.from_json(json.loads(line)) for line in EKS.read_text().splitlines()]


def test_sdk_events_convert_back_to_log_lines() -> None:
    lines = [json.loads(line) for line in EKS.read_text().splitlines()]
    converted = [to_json(e) for e in sdk_events()]
    originals = {l["sequence"]: l for l in lines}
    for line in converted:
        original = originals[line["sequence"]]
        if "resOutputsEvent" in line:
            meta, raw = line["resOutputsEvent"]["metadata"], original["resOutputsEvent"]["metadata"]
            assert (meta["op"], meta["urn"], meta["type"]) == (raw["op"], raw["urn"], raw["type"])
            assert meta["new"]["outputs"] == raw["new"]["outputs"] and meta["new"]["id"] == raw["new"]["id"]
        elif "preludeEvent" in line:
            assert line["preludeEvent"] == original["preludeEvent"]


@pytest.fixture
def owner(server: Server) -> str:
    p = provider(server)
    tenancy(server, backend(server, p["id"], "AWS")["id"])
    return tenant(server, p["id"])["id"]


async def test_events_from_another_thread_fill_the_cmdb(pg: Pg, owner: str) -> None:
    db = Database(pg.app_url, "cmdb", min_size=1, max_size=2)
    await db.open()
    try:
        org = unique("auto")
        sink = EventSink(db, asyncio.get_running_loop(), owner=owner, organization=org)

        def automation_api() -> None:  # what `stack.up(on_event=sink)` does, from its own thread
            for event in sdk_events():
                sink(event)
            sink.close()

        thread = threading.Thread(target=automation_api)
        thread.start()
        batches = await asyncio.wait_for(sink.drain(), 60)
        thread.join()
        assert batches >= 1
        reader = GraphReader(db)
        stacks = await reader.find("Stack", {"name": f"{org}/eks/dev"})
        assert len(stacks) == 1
        mine = await reader.find(None, {"stackUid": stacks[0].uid})
        assert sorted(v.label for v in mine) == ["Identity", "Identity", "Identity", "KubernetesCluster", "SecurityRule"]
    finally:
        await db.close()
