"""List answers under a polling storm: computed once and shared while reads queue up.

Hundreds of users polling squeue or qstat ask ctld for the same listing again and again.
A List of a long queue costs milliseconds of ctld's one event loop (a copy of every job,
redacted for the caller: ~9 µs a job here); reading a serialized answer back costs a
twentieth of that. So while reads wait for their turn (gate.Load), an answer is kept as
bytes and shared:

- by staff, who see every job whole;
- by users, when private_data hides no job: the listing as a caller who owns no job sees
  it (every job redacted), with the caller's own jobs put back whole;
- else by the same user's repeated calls.

An answer lasts until a job changes (the watchers' stream says when) or MAX_AGE has passed
(the scheduler's pending reasons change without an event). Only complete answers (one
page) are kept. When no read is waiting, every List is computed afresh: a user who
submits and then lists always sees the job.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hpcq.api import jobs_pb2
from hpcq.ctld import auth, listing
from hpcq.ctld.auth import Caller
from hpcq.ctld.watch import Watchers

# Owns no job (no job's user is ""): the caller whose listing every user's is made from.
NOBODY = Caller(name="", role="user")
MAX_AGE = 0.5
MAX_ENTRIES = 256
Compute = Callable[[Caller, jobs_pb2.ListJobsRequest], jobs_pb2.ListJobsResponse]


@dataclass
class _Entry:
    at: float
    version: int
    reply: bytes
    owners: dict[str, list[int]] = field(default_factory=dict)   # user -> their jobs' places in reply


class Listings:
    def __init__(self, watchers: Watchers, reads: auth.ReadRules, compute: Compute,
                 job: Callable[[int], jobs_pb2.Job | None], clock: Callable[[], float] = time.monotonic) -> None:
        self.reads = reads
        self.compute = compute
        self.job = job
        self.clock = clock
        self.version = 0
        self.hits = 0
        self._entries: dict[tuple[str, bytes], _Entry] = {}
        # Told of every job change as the Watch streams are; wants none of the events.
        self._changes = watchers.subscribe(self._changed)

    def _changed(self, job: jobs_pb2.Job) -> auth.View:
        self.version += 1
        return auth.View.HIDDEN

    def answer(self, who: Caller, request: jobs_pb2.ListJobsRequest, *, busy: bool) -> jobs_pb2.ListJobsResponse:
        """`who`'s answer: computed afresh, or (when `busy`) from a shared recent one."""
        if not busy or request.page_token:
            return self.compute(who, request)
        shared = not who.is_staff and not self.reads.private & {"jobs", "accounting"}
        viewer = NOBODY if shared else who
        key = ("staff" if who.is_staff else f"user {viewer.name}", request.SerializeToString(deterministic=True))
        entry = self._entries.get(key)
        now = self.clock()
        if entry is None or entry.version != self.version or now - entry.at > MAX_AGE:
            fresh = self.compute(viewer, request)
            if fresh.next_page_token:
                return fresh if viewer is who else self.compute(who, request)
            entry = self._keep(key, fresh, now)
            if viewer is who:
                return fresh
        else:
            self.hits += 1
        reply = jobs_pb2.ListJobsResponse.FromString(entry.reply)
        return self._own_jobs_whole(reply, entry, who, request) if shared else reply

    def _keep(self, key: tuple[str, bytes], reply: jobs_pb2.ListJobsResponse, now: float) -> _Entry:
        owners: dict[str, list[int]] = {}
        for i, job in enumerate(reply.jobs):
            owners.setdefault(job.user, []).append(i)
        entry = _Entry(now, self.version, reply.SerializeToString(), owners)
        self._entries.pop(key, None)
        if len(self._entries) >= MAX_ENTRIES:
            del self._entries[next(iter(self._entries))]   # the oldest
        self._entries[key] = entry
        return entry

    def _own_jobs_whole(self, reply: jobs_pb2.ListJobsResponse, entry: _Entry, who: Caller,
                        request: jobs_pb2.ListJobsRequest) -> jobs_pb2.ListJobsResponse:
        """The shared listing with the caller's own jobs as they are, whole: afresh if that
        no longer fits one page."""
        size = len(entry.reply)
        for i in entry.owners.get(who.name, ()):
            job = self.job(reply.jobs[i].id)
            if job is not None:
                size += job.ByteSize() - reply.jobs[i].ByteSize()
                reply.jobs[i].CopyFrom(job)
        if size > listing.PAGE_BYTES:
            return self.compute(who, request)
        return reply
