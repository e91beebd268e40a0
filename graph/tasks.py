"""Stopping the background tasks the graph's workers run (change feed, audit writer and sealer, ingest workers)."""

from __future__ import annotations

import asyncio


async def stop_task(task: asyncio.Task | None) -> None:
    """Cancel `task` and wait until it has finished, so nothing it holds outlives the caller's stop."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
