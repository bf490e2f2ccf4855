"""Job event subscribers: each Watch stream gets its own bounded queue."""
from __future__ import annotations

import asyncio
from collections.abc import Callable

from hpcq.api import jobs_pb2

QUEUE_LIMIT = 100_000


class Subscription:
    def __init__(self, wants: Callable[[jobs_pb2.Job], bool]) -> None:
        self.wants = wants
        self.queue: asyncio.Queue[jobs_pb2.Job] = asyncio.Queue(QUEUE_LIMIT)
        self.overflowed = False


class Watchers:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def subscribe(self, wants: Callable[[jobs_pb2.Job], bool]) -> Subscription:
        sub = Subscription(wants)
        self._subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.discard(sub)

    def publish(self, job: jobs_pb2.Job) -> None:
        """Send a copy of the job's current record to every subscriber that wants it.

        A subscriber that falls QUEUE_LIMIT events behind is cut off (its stream ends
        with RESOURCE_EXHAUSTED once it has read what it holds) rather than letting
        ctld's memory grow without bound.
        """
        if not self._subscriptions:
            return
        copy = None
        for sub in list(self._subscriptions):
            if sub.overflowed or not sub.wants(job):
                continue
            if copy is None:
                copy = jobs_pb2.Job()
                copy.CopyFrom(job)
            try:
                sub.queue.put_nowait(copy)
            except asyncio.QueueFull:
                sub.overflowed = True
                self._subscriptions.discard(sub)
