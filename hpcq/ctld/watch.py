"""Job event subscribers: each Watch stream gets its own bounded queue; and the records a
watch of every job starts with."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from hpcq import states
from hpcq.api import jobs_pb2
from hpcq.ctld import auth, listing
from hpcq.precedence import next_turn

QUEUE_LIMIT = 100_000
# Events are whole job records, a script of up to 4 MiB among them: a count alone would let
# a watcher that never reads hold 100,000 of them (one user's hold/release loop on a job
# with a large script grew ctld by 8 MiB a request).
QUEUE_BYTES = 256 * 1024 * 1024


class Subscription:
    def __init__(self, view: Callable[[jobs_pb2.Job], auth.View]) -> None:
        self.view = view   # how much of a job this subscriber may see; HIDDEN: not wanted either
        # Bounded by offer(), by count and by bytes; None after the last event: overflowed.
        self.queue: asyncio.Queue[tuple[jobs_pb2.Job, int] | None] = asyncio.Queue()
        self.bytes = 0
        self.overflowed = False

    def offer(self, event: jobs_pb2.Job, size: int) -> bool:
        """Queue an event of `size` bytes, or (over either bound) drop everything queued and
        mark the subscription overflowed: kept, those events would stay in ctld's memory for
        as long as a client that never reads keeps its stream open."""
        if self.queue.qsize() < QUEUE_LIMIT and self.bytes + size <= QUEUE_BYTES:
            self.queue.put_nowait((event, size))
            self.bytes += size
            return True
        self.overflowed = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.bytes = 0
        self.queue.put_nowait(None)
        return False

    async def next(self) -> jobs_pb2.Job | None:
        """The next event; None once the subscription has overflowed."""
        item = await self.queue.get()
        if item is None:
            return None
        event, size = item
        self.bytes -= size
        return event


class Watchers:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._of_decisions: set[Callable[[jobs_pb2.Job], object]] = set()

    def subscribe(self, view: Callable[[jobs_pb2.Job], auth.View]) -> Subscription:
        sub = Subscription(view)
        self._subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.discard(sub)

    def follow_decisions(self, told: Callable[[jobs_pb2.Job], object]) -> None:
        """Have `told(job)` called for every change a scheduling pass makes in place (see
        decided())."""
        self._of_decisions.add(told)

    def decided(self, job: jobs_pb2.Job) -> None:
        """A pass changed what it decides of a queued job (its reason, priority, planned
        start, an array's pending tasks, its begin time come): no event for Watch streams,
        as Slurm sends none (a pass can change most of a long queue's reasons at once), but
        kept List answers (hpcq.ctld.listcache) are told, and so show it at once."""
        for told in self._of_decisions:
            told(job)

    def publish(self, job: jobs_pb2.Job) -> None:
        """Send the job's current record, as each subscriber may see it, to every subscriber
        that wants it. One full copy and one redacted copy at most, however many subscribers.

        A subscriber that falls QUEUE_LIMIT events or QUEUE_BYTES behind is cut off (its
        stream ends with RESOURCE_EXHAUSTED, the events it had not read dropped) rather
        than letting ctld's memory grow without bound.
        """
        if not self._subscriptions:
            return
        copies: dict[auth.View, tuple[jobs_pb2.Job, int]] = {}
        for sub in list(self._subscriptions):
            if sub.overflowed:
                continue
            view = sub.view(job)
            if view is auth.View.HIDDEN:
                continue
            copy = copies.get(view)
            if copy is None:
                event = _copy(job) if view is auth.View.FULL else auth.redacted(job)
                copy = copies[view] = (event, event.ByteSize())
            if not sub.offer(*copy):
                self._subscriptions.discard(sub)


def _copy(job: jobs_pb2.Job) -> jobs_pb2.Job:
    """The record as it is now: ctld changes its own in place."""
    copy = jobs_pb2.Job()
    copy.CopyFrom(job)
    return copy


def sent_first(job: jobs_pb2.Job, finished_after: float) -> bool:
    """Whether a watch of every job starts with this job's record: when it is unfinished, or
    finished after `finished_after` (0: none of the finished)."""
    if not states.is_finished(job.state):
        return True
    return finished_after > 0 and job.end_time > finished_after


async def first_records(jobs: Sequence[jobs_pb2.Job], visible: Callable[[jobs_pb2.Job], bool],
                        finished_after: float, *,
                        between: Callable[[], Awaitable[None]] = next_turn) -> list[jobs_pb2.Job]:
    """The jobs a watch of every job starts with (sent_first), of `jobs` (all ctld holds)
    those the caller may see (`visible`), in id order: scanned in slices, `between()` awaited
    in between, as a listing's scan is (finished jobs included, ctld holds many)."""
    return await listing.matching(jobs, lambda job: visible(job) and sent_first(job, finished_after),
                                  between=between)
