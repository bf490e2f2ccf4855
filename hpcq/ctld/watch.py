"""Job event subscribers: each Watch stream gets its own bounded queue."""
from __future__ import annotations

import asyncio
from collections.abc import Callable

from hpcq.api import jobs_pb2
from hpcq.ctld import auth

QUEUE_LIMIT = 100_000


class Subscription:
    def __init__(self, view: Callable[[jobs_pb2.Job], auth.View]) -> None:
        self.view = view   # how much of a job this subscriber may see; HIDDEN: not wanted either
        self.queue: asyncio.Queue[jobs_pb2.Job] = asyncio.Queue(QUEUE_LIMIT)
        self.overflowed = False


class Watchers:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def subscribe(self, view: Callable[[jobs_pb2.Job], auth.View]) -> Subscription:
        sub = Subscription(view)
        self._subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.discard(sub)

    def publish(self, job: jobs_pb2.Job) -> None:
        """Send the job's current record, as each subscriber may see it, to every subscriber
        that wants it. One full copy and one redacted copy at most, however many subscribers.

        A subscriber that falls QUEUE_LIMIT events behind is cut off (its stream ends
        with RESOURCE_EXHAUSTED once it has read what it holds) rather than letting
        ctld's memory grow without bound.
        """
        if not self._subscriptions:
            return
        copies: dict[auth.View, jobs_pb2.Job] = {}
        for sub in list(self._subscriptions):
            if sub.overflowed:
                continue
            view = sub.view(job)
            if view is auth.View.HIDDEN:
                continue
            event = copies.get(view)
            if event is None:
                event = copies[view] = _copy(job) if view is auth.View.FULL else auth.redacted(job)
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.overflowed = True
                self._subscriptions.discard(sub)


def _copy(job: jobs_pb2.Job) -> jobs_pb2.Job:
    """The record as it is now: ctld changes its own in place."""
    copy = jobs_pb2.Job()
    copy.CopyFrom(job)
    return copy
