"""List answers under a polling storm: computed once, shared, and kept current.

Hundreds of users polling squeue or qstat ask ctld for the same listing again and again.
A List of a long queue costs milliseconds of ctld's one event loop (a copy of every job,
redacted for the caller, and its encoding: ~9 µs a job here); sending an answer already
encoded costs next to nothing. So while reads wait for their turn (gate.Load), an answer
is kept as bytes and shared:

- by staff, who see every job whole;
- by users, when private_data hides no job: the listing as a caller who owns no job sees
  it (every job redacted), with the caller's own jobs put back whole;
- else by the same user's repeated calls.

A busy cluster changes jobs many times a second, and each change reaches a kept answer
(the watchers' stream says when, and Watchers.decided when a scheduling pass changes a
pending job's reason, priority or planned start in place): the job is encoded again, and
put in, replaced or taken out in place, so a listing is not made again for every submit
or every pass. An answer is made again after MAX_AGE or MAX_CHANGES. A job's encoding is kept
until its change is heard of, or what the scheduler decides of it differs from when it was
made (so an answer made again encodes only those jobs), and MAX_ENCODING_AGE at most. So
what ctld changes of a job without telling (the usage its node reports) is shown up to
MAX_AGE + MAX_ENCODING_AGE late while reads wait.

A user's answer from a shared one (their own jobs put back whole) is kept too, and kept
current in the same way: a user polling in many loops while they submit has it made
once, not once per call or per change. Only complete answers (one page) are kept. When
no read is waiting, every List is computed afresh: a user who submits and then lists
always sees the job.
"""
from __future__ import annotations

import bisect
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from hpcq.api import jobs_pb2
from hpcq.ctld import auth, listing
from hpcq.ctld import jobs as jobrules
from hpcq.ctld.auth import Caller
from hpcq.ctld.boundary import Encoded
from hpcq.ctld.watch import Watchers
from hpcq.precedence import next_turn

# Owns no job (no job's user is ""): the caller whose listing every user's is made from.
NOBODY = Caller(name="", role="user")
# Remade every 0.5 s (when it knew nothing of a pass's decisions), a listing of 4,000 jobs
# under a 200-loop storm was a third of ctld's work. What no one is told of is shown
# MAX_AGE + MAX_ENCODING_AGE late at most.
MAX_AGE = 2.0
MAX_ENCODING_AGE = 3.0
MAX_ENTRIES = 256
MAX_KEPT_BYTES = 64 * 1024 * 1024   # of kept answers' jobs: one user varying a request keeps no more
MAX_CHANGES = 256            # changes put into a kept answer before it is made again instead
MAX_ENCODED_BYTES = 64 * 1024 * 1024   # of kept encodings: past it the stale ones go, then all
MAX_OWN_BYTES = 64 * 1024 * 1024       # of users' answers kept from shared ones: past it all go
Encode = Callable[[jobs_pb2.Job], bytes]
# (the caller whose view it is, what they asked, how a job the caller may see is encoded)
Compute = Callable[[Caller, jobs_pb2.ListJobsRequest, Encode], Awaitable[listing.Page]]


@dataclass
class _Entry:
    """A kept answer: the page's jobs in id order, each with its encoding and its owner."""
    at: float                               # when it was made
    viewer: Caller
    listed: Callable[[jobs_pb2.Job], bool]  # whether a job belongs in it
    ids: list[int]
    chunks: list[bytes]
    users: list[str]
    size: int                               # bytes of the chunks
    page_size: int                          # the most jobs it may hold (the request's; 0: no count limit)
    reply: Encoded | None = None            # None: changed since it was last sent
    changes: int = 0
    own: dict[str, _Own] = field(default_factory=dict)   # user -> the answer with their jobs whole

    def own_bytes(self) -> int:
        return sum(own.bytes() for own in self.own.values())


@dataclass
class _Own:
    """A user's answer from a kept shared one: its jobs, the user's own encoded whole.
    Kept current as the shared one is, change by change (a user polling while they submit
    would otherwise have their jobs encoded again for every call)."""
    who: Caller
    chunks: list[bytes]                     # in the shared answer's order (its ids)
    size: int                               # bytes of the chunks
    reply: Encoded | None = None            # None: changed since it was last sent

    def put(self, i: int, chunk: bytes, present: bool) -> None:
        if present:
            self.size += len(chunk) - len(self.chunks[i])
            self.chunks[i] = chunk
        else:
            self.chunks.insert(i, chunk)
            self.size += len(chunk)
        self.reply = None

    def remove(self, i: int) -> None:
        self.size -= len(self.chunks.pop(i))
        self.reply = None

    def bytes(self) -> int:
        return self.size + (len(self.reply.data) if self.reply is not None else 0)


class Listings:
    def __init__(self, watchers: Watchers, reads: auth.ReadRules, compute: Compute,
                 job: Callable[[int], jobs_pb2.Job | None], cluster: str,
                 clock: Callable[[], float] = time.monotonic,
                 between: Callable[[], Awaitable[None]] = next_turn) -> None:
        self.reads = reads
        self.between = between   # awaited between slices of a user's answer (hpcq.precedence)
        self.compute = compute
        self.job = job
        self.cluster = cluster
        self.clock = clock
        self.version = 0   # job changes heard of
        self.hits = 0
        self._entries: dict[tuple[str, bytes], _Entry] = {}
        # (job, view) -> (when, what the scheduler had decided of it then, its encoding)
        self._encoded: dict[tuple[int, auth.View], tuple[float, tuple[object, ...], bytes]] = {}
        self._encoded_bytes = 0
        self._making: list[set[int]] = []   # for each answer being made, the jobs changed meanwhile
        # Told of every job change as the Watch streams are; wants none of the events.
        self._changes = watchers.subscribe(self._changed)
        watchers.follow_decisions(self._changed)

    # --- answers ----------------------------------------------------------------------

    async def answer(self, who: Caller, request: jobs_pb2.ListJobsRequest, *, busy: bool) -> Encoded:
        """`who`'s answer: computed afresh, or (when `busy`) from a shared recent one."""
        if not busy or request.page_token:
            return self._reply(await self.compute(who, request, functools.partial(self.reads.encoded_view, who)))
        shared = not who.is_staff and not self.reads.private & {"jobs", "accounting"}
        viewer = NOBODY if shared else who
        key = ("staff" if who.is_staff else f"user {viewer.name}", request.SerializeToString(deterministic=True))
        entry = self._entries.get(key)
        now = self.clock()
        if entry is None or now - entry.at > MAX_AGE:
            changed: set[int] = set()
            self._making.append(changed)
            try:
                fresh = await self._compute(viewer, request)
            finally:
                self._making = [making for making in self._making if making is not changed]   # not an equal one
            if fresh.next_page_token:
                return self._reply(fresh if viewer is who else await self._compute(who, request))
            entry = self._entry(viewer, request, fresh, now)
            # The jobs that changed while it was made (it pauses between slices) are put in
            # as later changes are: under a storm some job changes during nearly every one.
            if not all(self._catch_up(entry, job_id) for job_id in sorted(changed)):
                return self._reply(await self._compute(who, request))
            self._keep(key, entry)
        else:
            self.hits += 1
        if entry.reply is None:
            entry.reply = Encoded(listing.Page(entry.ids, entry.chunks).reply(self.cluster))
        return await self._own_jobs_whole(entry, who, request) if shared else entry.reply

    def _compute(self, who: Caller, request: jobs_pb2.ListJobsRequest) -> Awaitable[listing.Page]:
        """A listing made from recent encodings."""
        return self.compute(who, request, functools.partial(self._encode, who))

    def _reply(self, page: listing.Page) -> Encoded:
        return Encoded(page.reply(self.cluster))

    def _entry(self, viewer: Caller, request: jobs_pb2.ListJobsRequest, page: listing.Page, now: float) -> _Entry:
        request_lists, visible = jobrules.list_filter(request), self.reads.visible(viewer)
        return _Entry(now, viewer, lambda job: request_lists(job) and visible(job), page.ids, page.chunks, page.users,
                      sum(map(len, page.chunks)), request.page_size)

    def _keep(self, key: tuple[str, bytes], entry: _Entry) -> None:
        """Keep an answer, the oldest going first past MAX_ENTRIES of them or MAX_KEPT_BYTES:
        any caller can vary a request (page_size=1000, 1001, ...) for as many answers of up
        to PAGE_BYTES as they like, each kept with a reply of its own."""
        self._entries.pop(key, None)
        kept = sum(e.size for e in self._entries.values())
        while self._entries and (len(self._entries) >= MAX_ENTRIES or kept + entry.size > MAX_KEPT_BYTES):
            kept -= self._entries.pop(next(iter(self._entries))).size   # the oldest
        self._entries[key] = entry

    async def _own_jobs_whole(self, entry: _Entry, who: Caller, request: jobs_pb2.ListJobsRequest) -> Encoded:
        """The shared listing with the caller's own jobs as they are, whole: afresh if that
        no longer fits one page. Made once, then kept current with the shared listing."""
        assert entry.reply is not None
        own = entry.own.get(who.name)
        if own is None:
            # A copy: the entry may change while this awaits between slices.
            ids, chunks, users, version = list(entry.ids), list(entry.chunks), list(entry.users), self.version
            places = [i for i, user in enumerate(users) if user == who.name]
            if not places:
                return entry.reply
            slices = listing.Slices(self.between, listing.SLICE)
            for n, i in enumerate(places):
                if slices.due(n):
                    await slices.turn()
                job = self.job(ids[i])
                if job is not None:
                    chunks[i] = self._encode(who, job)
            own = _Own(who, chunks, sum(map(len, chunks)))
            if self.version != version:   # a change came meanwhile, which it missed: this once only
                if own.size > listing.PAGE_BYTES:
                    return self._reply(await self._compute(who, request))
                return self._reply(listing.Page(ids, chunks))
            self._keep_own(entry, who.name, own)
        if own.size > listing.PAGE_BYTES:
            entry.own.pop(who.name, None)
            return self._reply(await self._compute(who, request))
        if own.reply is None:
            own.reply = self._reply(listing.Page(entry.ids, own.chunks))
        return own.reply

    def _keep_own(self, entry: _Entry, user: str, own: _Own) -> None:
        # Twice its size: its chunks, and the reply to be made of them.
        if sum(e.own_bytes() for e in self._entries.values()) + 2 * own.size > MAX_OWN_BYTES:
            for e in self._entries.values():
                e.own.clear()
        entry.own[user] = own

    # --- encodings and changes --------------------------------------------------------

    def _encode(self, who: Caller, job: jobs_pb2.Job) -> bytes:
        """The job as `who` may see it, encoded: a kept encoding if it is still the job's."""
        view = self.reads.view(who, job)
        now, decided = self.clock(), _decided(job)
        kept = self._encoded.get((job.id, view))
        if kept is not None and kept[1] == decided and now - kept[0] <= MAX_ENCODING_AGE:
            return kept[2]
        chunk = listing.encoded(job if view is auth.View.FULL else auth.redacted(job))
        if self._encoded_bytes + len(chunk) > MAX_ENCODED_BYTES:
            self._encoded = {k: v for k, v in self._encoded.items() if now - v[0] <= MAX_AGE}
            self._encoded_bytes = sum(len(v[2]) for v in self._encoded.values())
            if self._encoded_bytes + len(chunk) > MAX_ENCODED_BYTES:
                self._encoded.clear()
                self._encoded_bytes = 0
        self._forget_encoding((job.id, view))
        self._encoded[(job.id, view)] = (now, decided, chunk)
        self._encoded_bytes += len(chunk)
        return chunk

    def _forget_encoding(self, key: tuple[int, auth.View]) -> None:
        gone = self._encoded.pop(key, None)
        if gone is not None:
            self._encoded_bytes -= len(gone[2])

    def _changed(self, job: jobs_pb2.Job) -> auth.View:
        self.version += 1
        for changed in self._making:
            changed.add(job.id)
        self._forget_encoding((job.id, auth.View.FULL))
        self._forget_encoding((job.id, auth.View.PUBLIC))
        now = self.clock()
        for key, entry in list(self._entries.items()):
            # One that will be made again anyway goes now, instead of being kept current.
            if now - entry.at > MAX_AGE or entry.changes >= MAX_CHANGES or not self._put(entry, job.id, job):
                del self._entries[key]
        return auth.View.HIDDEN

    def _catch_up(self, entry: _Entry, job_id: int) -> bool:
        """_put of a job as it is now (taken out if ctld no longer holds it)."""
        return self._put(entry, job_id, self.job(job_id))

    def _put(self, entry: _Entry, job_id: int, job: jobs_pb2.Job | None) -> bool:
        """Put a job's change into a kept answer; False when it no longer fits one page (of
        page_size jobs, or PAGE_BYTES): the answer made afresh would go on to a next page."""
        i = bisect.bisect_left(entry.ids, job_id)
        present = i < len(entry.ids) and entry.ids[i] == job_id
        if job is not None and entry.listed(job):
            chunk = self._encode(entry.viewer, job)
            if present:
                entry.size += len(chunk) - len(entry.chunks[i])
                entry.chunks[i], entry.users[i] = chunk, job.user
            else:
                entry.ids.insert(i, job.id)
                entry.chunks.insert(i, chunk)
                entry.users.insert(i, job.user)
                entry.size += len(chunk)
            for own in entry.own.values():
                own.put(i, self._encode(own.who, job) if job.user == own.who.name else chunk, present)
        elif present:
            entry.size -= len(entry.chunks[i])
            del entry.ids[i], entry.chunks[i], entry.users[i]
            for own in entry.own.values():
                own.remove(i)
        else:
            return True
        entry.reply = None
        entry.changes += 1
        return entry.size <= listing.PAGE_BYTES and not (entry.page_size and len(entry.ids) > entry.page_size)


def _decided(job: jobs_pb2.Job) -> tuple[object, ...]:
    """What a scheduling pass changes of a job in place, without an event."""
    return job.state, job.reason, job.priority, job.planned_start_time, job.array_tasks_pending
