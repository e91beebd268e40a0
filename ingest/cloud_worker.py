"""Pulumi Cloud polled from inside the API: changed stacks' exports and the audit log, per organization.

The same work as `skyloom ingest cloud` and `skyloom ingest audit-logs`, on a timer in every API
replica; a cluster-wide lock per organization lets one replica poll it at a time, and the
checkpoints make whichever replica comes next resume where the last one stopped.
"""

from __future__ import annotations

import asyncio
import logging

from skyloom.graph.locks import try_lock
from skyloom.graph.pool import Database, DatabaseUnavailable
from skyloom.graph.tasks import stop_task
from skyloom.ingest import audit_logs, cloud_poll, reconcile
from skyloom.ingest.pulumi_cloud import CloudError, CloudSettings, PulumiCloud

log = logging.getLogger(__name__)


class CloudPoller:
    def __init__(self, db: Database, cloud: CloudSettings, organizations: tuple[str, ...], interval: float) -> None:
        self.db = db
        self.cloud = cloud
        self.organizations = organizations
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="skyloom-cloud-poll")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def poll_once(self) -> None:
        cloud = PulumiCloud(self.cloud)
        for org in self.organizations:
            async with try_lock(self.db, f"pulumi-poll:{org}") as mine:
                if not mine:
                    continue   # another replica is polling this organization right now
                result = await cloud_poll.poll(self.db, cloud, org, owner=None, progress=log.info)
                for failure in result.failed:
                    log.warning("Pulumi Cloud stack not applied: %s", failure)
                owner = await reconcile.default_owner(self.db, org, None, None)
                await audit_logs.poll(self.db, lambda since, org=org: cloud.audit_events(org, since), org, owner, log.info)

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except (CloudError, DatabaseUnavailable) as exc:
                log.warning("Pulumi Cloud polling paused: %s", exc)
            except Exception:  # noqa: BLE001 - the poller must outlive one bad round
                log.exception("Pulumi Cloud polling failed; trying again next round")
            await asyncio.sleep(self.interval)
