"""List answers under a polling storm: computed once and shared while reads queue up.

Hundreds of users polling squeue or qstat ask ctld for the same listing again and again.
A List of a long queue costs milliseconds of ctld's one event loop (a copy of every job,
redacted for the caller, and its encoding: ~9 µs a job here); sending an answer already
encoded costs next to nothing. So while reads wait for their turn (gate.Load), an answer
is kept as bytes and shared:

- by staff, who see every job whole;
- by users, when private_data hides no job: the listing as a caller who owns no job sees
  it (every job redacted), with the caller's own jobs put back whole;
- else by the same user's repeated calls.

An answer lasts until a job changes (the watchers' stream says when) or MAX_AGE has passed
(the scheduler's pending reasons change without an event). Only complete answers (one
page) are kept. When no read is waiting, every List is computed afresh: a user who
submits and then lists always sees the job.

A storm's listings are made again whenever a job changes, which a busy cluster does many
times a second; so each job's encoding (whole and redacted) is kept too, on the same terms,
and a listing made again encodes only the jobs that changed. A job's pending reason may
thus be shown up to twice MAX_AGE late while reads wait.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from hpcq.api import jobs_pb2
from hpcq.ctld import auth, listing
from hpcq.ctld.auth import Caller
from hpcq.ctld.boundary import Encoded
from hpcq.ctld.watch import Watchers

# Owns no job (no job's user is ""): the caller whose listing every user's is made from.
NOBODY = Caller(name="", role="user")
MAX_AGE = 0.5
MAX_ENTRIES = 256
MAX_ENCODED_JOBS = 200_000   # beyond this many kept encodings, they are all dropped (finished jobs' among them)
Encode = Callable[[jobs_pb2.Job], bytes]
# (the caller whose view it is, what they asked, how a job the caller may see is encoded)
Compute = Callable[[Caller, jobs_pb2.ListJobsRequest, Encode], Awaitable[listing.Page]]


@dataclass
class _Entry:
    at: float
    version: int
    page: listing.Page
    reply: Encoded
    owners: dict[str, list[int]] = field(default_factory=dict)   # user -> their jobs' places in the page


class Listings:
    def __init__(self, watchers: Watchers, reads: auth.ReadRules, compute: Compute,
                 job: Callable[[int], jobs_pb2.Job | None], cluster: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.reads = reads
        self.compute = compute
        self.job = job
        self.cluster = cluster
        self.clock = clock
        self.version = 0
        self.hits = 0
        self._entries: dict[tuple[str, bytes], _Entry] = {}
        self._encoded: dict[tuple[int, auth.View], tuple[float, bytes]] = {}   # (job, view) -> (when, encoding)
        # Told of every job change as the Watch streams are; wants none of the events.
        self._changes = watchers.subscribe(self._changed)

    def _changed(self, job: jobs_pb2.Job) -> auth.View:
        self.version += 1
        self._encoded.pop((job.id, auth.View.FULL), None)
        self._encoded.pop((job.id, auth.View.PUBLIC), None)
        return auth.View.HIDDEN

    def encoder(self, who: Caller) -> Encode:
        """How a job is encoded for `who` while reads wait: from a recent encoding."""
        view_of, now = self.reads.view, self.clock()

        def encode(job: jobs_pb2.Job) -> bytes:
            key = (job.id, view_of(who, job))
            kept = self._encoded.get(key)
            if kept is not None and now - kept[0] <= MAX_AGE:
                return kept[1]
            chunk = listing.encoded(job if key[1] is auth.View.FULL else auth.redacted(job))
            self._encoded[key] = (now, chunk)
            return chunk
        if len(self._encoded) > MAX_ENCODED_JOBS:
            self._encoded.clear()
        return encode

    def _compute(self, who: Caller, request: jobs_pb2.ListJobsRequest) -> Awaitable[listing.Page]:
        """A listing made again from recent encodings."""
        return self.compute(who, request, self.encoder(who))

    async def answer(self, who: Caller, request: jobs_pb2.ListJobsRequest, *, busy: bool) -> Encoded:
        """`who`'s answer: computed afresh, or (when `busy`) from a shared recent one."""
        if not busy or request.page_token:
            return self._reply(await self.compute(who, request, functools.partial(self.reads.encoded_view, who)))
        shared = not who.is_staff and not self.reads.private & {"jobs", "accounting"}
        viewer = NOBODY if shared else who
        key = ("staff" if who.is_staff else f"user {viewer.name}", request.SerializeToString(deterministic=True))
        entry = self._entries.get(key)
        now = self.clock()
        if entry is None or entry.version != self.version or now - entry.at > MAX_AGE:
            version = self.version   # a job that changes while the page is made makes it stale at once
            fresh = await self._compute(viewer, request)
            if fresh.next_page_token:
                return self._reply(fresh if viewer is who else await self._compute(who, request))
            entry = self._keep(key, fresh, now, version)
            if viewer is who:
                return entry.reply
        else:
            self.hits += 1
        return await self._own_jobs_whole(entry, who, request) if shared else entry.reply

    def _reply(self, page: listing.Page, chunks: list[bytes] | None = None) -> Encoded:
        return Encoded(page.reply(self.cluster, chunks))

    def _keep(self, key: tuple[str, bytes], page: listing.Page, now: float, version: int) -> _Entry:
        owners: dict[str, list[int]] = {}
        for i, job_id in enumerate(page.ids):
            job = self.job(job_id)
            if job is not None:
                owners.setdefault(job.user, []).append(i)
        entry = _Entry(now, version, page, self._reply(page), owners)
        self._entries.pop(key, None)
        if len(self._entries) >= MAX_ENTRIES:
            del self._entries[next(iter(self._entries))]   # the oldest
        self._entries[key] = entry
        return entry

    async def _own_jobs_whole(self, entry: _Entry, who: Caller, request: jobs_pb2.ListJobsRequest) -> Encoded:
        """The shared listing with the caller's own jobs as they are, whole: afresh if that
        no longer fits one page."""
        places = entry.owners.get(who.name)
        if not places:
            return entry.reply
        chunks = list(entry.page.chunks)
        for i in places:
            job = self.job(entry.page.ids[i])
            if job is not None:
                chunks[i] = listing.encoded(job)
        if sum(map(len, chunks)) > listing.PAGE_BYTES:
            return self._reply(await self._compute(who, request))
        return self._reply(entry.page, chunks)
