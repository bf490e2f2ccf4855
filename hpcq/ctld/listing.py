"""A List answer a page at a time, each page within a byte budget: whatever the history
holds, no reply outgrows a message (the agent forwards a reply in one frame of at most
wire.MAX_FRAME bytes; gRPC's limit is larger). A page is built as bytes, each job encoded
once: shared answers (hpcq.ctld.listcache) are then sent without being parsed and
written again."""
from __future__ import annotations

import operator
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from hpcq import wire
from hpcq.api import jobs_pb2
from hpcq.ctld import jobs as jobrules
from hpcq.ctld.errors import InvalidArgument
from hpcq.precedence import next_turn

# A quarter of a frame: room for the reply's other fields, and for one job larger than
# the budget (a page always carries at least one job, or a List could never move on).
PAGE_BYTES = wire.MAX_FRAME // 4
_PER_JOB_OVERHEAD = 6   # the repeated field's tag and length prefix
SLICE = 128             # the most jobs encoded between turns of the loop
SCAN_SLICE = 1024       # the most jobs tested between turns of the loop
# The longest a listing holds the loop between turns. A job costs microseconds to encode
# when its encoding is kept and tens when it is not, so SLICE jobs alone took ~3 ms under
# a storm; a submit waits several turns of the loop before its handler runs (grpc hands a
# call over in steps), and at 3 ms a turn its p99 tripled (measured: bench/storm.py).
SLICE_SECONDS = 0.0005
_job_id = operator.attrgetter("id")
_JOBS_TAG = bytes([jobs_pb2.ListJobsResponse.DESCRIPTOR.fields_by_name["jobs"].number << 3 | 2])  # length-delimited


def resume_after(page_token: str) -> int:
    """The last job id a previous page held (0: start at the beginning)."""
    if not page_token:
        return 0
    if not (page_token.isascii() and page_token.isdigit() and len(page_token) <= 20):
        raise InvalidArgument("BAD_REQUEST", f"page_token: {page_token[:40]!r} is not a token a List answered")
    return int(page_token)


@dataclass
class Page:
    """One page of a List answer, its jobs already encoded as the reply carries them."""
    ids: list[int] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)   # each job's field element (encoded())
    users: list[str] = field(default_factory=list)      # each job's owner
    next_page_token: str = ""                            # "" after the last page

    def reply(self, cluster: str, chunks: list[bytes] | None = None) -> bytes:
        """The ListJobsResponse's bytes (with `chunks` in place of the page's own)."""
        head = jobs_pb2.ListJobsResponse(cluster=cluster, next_page_token=self.next_page_token)
        return head.SerializeToString() + b"".join(self.chunks if chunks is None else chunks)


def encoded(job: jobs_pb2.Job) -> bytes:
    """A job as one element of a ListJobsResponse's `jobs` is written: its tag, length
    and body. Concatenated after the reply's other fields, they parse as the reply."""
    body = job.SerializeToString()
    return _JOBS_TAG + _varint(len(body)) + body


class Slices:
    """When a listing's work lets the loop turn: `due(n)` after every `size`-th piece of
    work, or once SLICE_SECONDS have passed since the last turn, whichever comes first."""

    def __init__(self, between: Callable[[], Awaitable[None]], size: int) -> None:
        self.between = between
        self.size = size
        self._ends = time.perf_counter() + SLICE_SECONDS

    def due(self, n: int) -> bool:
        return bool(n) and (not n % self.size or time.perf_counter() >= self._ends)

    async def turn(self) -> None:
        await self.between()
        self._ends = time.perf_counter() + SLICE_SECONDS


async def matching(jobs: Sequence[jobs_pb2.Job], listed: Callable[[jobs_pb2.Job], bool], *,
                   between: Callable[[], Awaitable[None]] = next_turn) -> list[jobs_pb2.Job]:
    """The jobs `listed` takes, in id order, tested in slices (Slices: SCAN_SLICE jobs or
    SLICE_SECONDS) with `between()` awaited in between: ctld holds every job it keeps,
    finished ones too, and one pass over them all would hold the loop for as long as a
    listing's whole encoding."""
    found: list[jobs_pb2.Job] = []
    step = max(1, SCAN_SLICE // 8)   # tested in runs, the clock read between them
    slices = Slices(between, SCAN_SLICE)
    for start in range(0, len(jobs), step):
        if slices.due(start):
            await slices.turn()
        found.extend(filter(listed, jobs[start:start + step]))
    found.sort(key=_job_id)
    return found


async def page_for(jobs: Sequence[jobs_pb2.Job], request: jobs_pb2.ListJobsRequest,
                   visible: Callable[[jobs_pb2.Job], bool], encode: Callable[[jobs_pb2.Job], bytes], *,
                   between: Callable[[], Awaitable[None]] = next_turn) -> Page:
    """The page a List answers with: of `jobs` (all ctld holds), those the request lists
    and the caller may see (`visible`), after its page token."""
    after, request_lists = resume_after(request.page_token), jobrules.list_filter(request)
    found = await matching(jobs, lambda job: job.id > after and request_lists(job) and visible(job), between=between)
    return await page_of(found, encode, size=request.page_size, between=between)


async def page_of(jobs: Sequence[jobs_pb2.Job], encode: Callable[[jobs_pb2.Job], bytes], *, size: int = 0,
                  budget: int = PAGE_BYTES, between: Callable[[], Awaitable[None]] = next_turn) -> Page:
    """The page of `jobs` (in id order; `encode` writes one as the caller may see it) that
    fits at most `size` of them (0: no count limit) and `budget` bytes. Between slices
    (Slices: SLICE jobs or SLICE_SECONDS) it awaits `between()` (a turn of the loop, or
    more: see hpcq.precedence), while the loop runs other work: a long queue's listing must
    not hold a submit up."""
    page = Page()
    used = 0
    slices = Slices(between, SLICE)
    for i, job in enumerate(jobs):
        if slices.due(i):
            await slices.turn()
        if size and len(page.ids) == size:
            page.next_page_token = str(page.ids[-1])
            break
        chunk = encode(job)
        if used and used + len(chunk) > budget:
            page.next_page_token = str(page.ids[-1])
            break
        used += len(chunk)
        page.ids.append(job.id)
        page.chunks.append(chunk)
        page.users.append(job.user)
    return page


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def answer_get(reply: jobs_pb2.GetJobsResponse, job_ids: Sequence[int],
               view_of: Callable[[int], jobs_pb2.Job | None], *, budget: int = PAGE_BYTES) -> None:
    """Fill a Get answer with the views of `job_ids` (`view_of`: the job as the caller may
    see it, None if unknown to them) up to `budget` bytes; the ids left over go to
    more_ids, for the client to ask again."""
    used = 0
    for i, job_id in enumerate(job_ids):
        view = view_of(job_id)
        if view is None:
            reply.unknown_ids.append(job_id)
            continue
        cost = view.ByteSize() + _PER_JOB_OVERHEAD
        if used and used + cost > budget:
            reply.more_ids.extend(job_ids[i:])
            return
        used += cost
        reply.jobs.append(view)
