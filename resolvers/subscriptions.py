"""The Subscription root: live CI and tenancy changes, resumable from the last event id a client saw.

A stream first registers with the process's change feed (so nothing committed from now on can
slip past), then replays from the change log what came after the client's `after` event id, then
follows the live feed, skipping what the replay already sent.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

import strawberry

from skyloom.graph.changefeed import SubscriberOverflow
from skyloom.graph.records import Change
from skyloom.schema import cursors
from skyloom.schema.cmdb import CiChange, ci_from_props
from skyloom.schema.enums import ChangeOperation, SemanticKind
from skyloom.schema.errors import PublicError
from skyloom.schema.inputs import CiChangeFilter

REPLAY_BATCH = 1000
MAX_URNS = 5000   # a plan of 500 components, with room
MAX_URN = 1024


def _event_id(after: strawberry.ID | None) -> int | None:
    if after is None:
        return None
    try:
        value = int(after)
    except ValueError:
        raise PublicError("after must be an event id from an earlier event", "INVALID_EVENT_ID") from None
    if value < 0:
        raise PublicError("after must be an event id from an earlier event", "INVALID_EVENT_ID")
    return value


def to_event(change: Change) -> CiChange:
    event = change.memo.get("event")
    if event is None:
        event = change.memo["event"] = _build_event(change)
    return event


def _build_event(change: Change) -> CiChange:
    return CiChange(
        event_id=strawberry.ID(str(change.event_id)),
        at=change.at,
        operation=ChangeOperation(change.operation),
        kind=SemanticKind[change.label],
        id=strawberry.ID(change.uid),
        version=change.version,
        actor=change.actor,
        tenancy_id=strawberry.ID(change.tenancy_uid) if change.tenancy_uid else None,
        before=ci_from_props(change.label, change.before) if change.before else None,
        after=ci_from_props(change.label, change.after) if change.after else None,
    )


async def _stream(
    info: strawberry.Info, topics: tuple[str, ...], after: int | None, accept: Callable[[Change], bool]
) -> AsyncGenerator[CiChange, None]:
    ctx = info.context
    feed = ctx.services.feed
    if feed is None:
        raise PublicError("subscriptions are not available on this server", "UNAVAILABLE")
    sub = feed.subscribe(topics, ctx.limits.subscriber_queue)
    access = ctx.access
    try:
        replayed: set[int] = set()
        while after is not None:
            batch = await ctx.reader.changes_after(after, topics, REPLAY_BATCH)
            for change in batch:
                replayed.add(change.event_id)
                if accept(change) and await access.sees_change(change):
                    yield to_event(change)
            after = batch[-1].event_id if len(batch) == REPLAY_BATCH else None
        while True:
            try:
                change = await sub.next()
            except SubscriberOverflow:
                raise PublicError("too far behind: resubscribe with the last eventId you received", "SUBSCRIBER_OVERFLOW") from None
            if change.event_id not in replayed and accept(change) and await access.sees_change(change):
                yield to_event(change)
    finally:
        feed.unsubscribe(sub)


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Changes to configuration items (tenancies included); pass `after` to resume.")
    async def ci_changes(
        self, info: strawberry.Info, after: strawberry.ID | None = None, filter: CiChangeFilter | None = None
    ) -> AsyncGenerator[CiChange, None]:
        f = filter or CiChangeFilter()
        tenancy = cursors.parse_id(f.tenancy_id, "tenancyId") if f.tenancy_id else None
        kinds = {k.value for k in f.kinds} if f.kinds else None
        ids = {cursors.parse_id(i, "ids") for i in f.ids} if f.ids else None
        if f.urns is not None and (len(f.urns) > MAX_URNS or any(len(u) > MAX_URN for u in f.urns)):
            raise PublicError(f"filter.urns takes at most {MAX_URNS} URNs of at most {MAX_URN} characters", "INVALID_INPUT")
        urns = frozenset(f.urns) if f.urns else None

        def accept(change: Change) -> bool:
            return (
                (tenancy is None or change.tenancy_uid == tenancy)
                and (kinds is None or change.label in kinds)
                and (ids is None or change.uid in ids)
                and (urns is None or (change.after or change.before or {}).get("urn") in urns)
            )

        async for event in _stream(info, ("ci", "tenancy"), _event_id(after), accept):
            yield event

    @strawberry.subscription(description="Changes to tenancies only; pass `after` to resume.")
    async def tenancy_changes(
        self, info: strawberry.Info, after: strawberry.ID | None = None
    ) -> AsyncGenerator[CiChange, None]:
        async for event in _stream(info, ("tenancy",), _event_id(after), lambda _c: True):
            yield event
