"""A List answer a page at a time, each page within a byte budget: whatever the history
holds, no reply outgrows a message (the agent forwards a reply in one frame of at most
wire.MAX_FRAME bytes; gRPC's limit is larger)."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from hpcq import wire
from hpcq.ctld.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

    from hpcq.api import jobs_pb2

    RepeatedJobs = RepeatedCompositeFieldContainer[jobs_pb2.Job]

# A quarter of a frame: room for the reply's other fields, and for one job larger than
# the budget (a page always carries at least one job, or a List could never move on).
PAGE_BYTES = wire.MAX_FRAME // 4
_PER_JOB_OVERHEAD = 6   # the repeated field's tag and length prefix


def resume_after(page_token: str) -> int:
    """The last job id a previous page held (0: start at the beginning)."""
    if not page_token:
        return 0
    if not (page_token.isascii() and page_token.isdigit() and len(page_token) <= 20):
        raise InvalidArgument("BAD_REQUEST", f"page_token: {page_token[:40]!r} is not a token a List answered")
    return int(page_token)


def fill(page: RepeatedJobs, jobs: Iterable[jobs_pb2.Job], copy_view: Callable[[jobs_pb2.Job, jobs_pb2.Job], None],
         *, size: int = 0, budget: int = PAGE_BYTES) -> str:
    """Add to `page` (a reply's jobs) the views of `jobs`, in id order, that fit one page: at
    most `size` of them (0: no count limit) and `budget` bytes. Returns the token of the next
    page, "" after the last. `copy_view(job, into)` writes a job as the caller may see it."""
    used = 0
    for job in jobs:
        if size and len(page) == size:
            return str(page[-1].id)
        shown = page.add()
        copy_view(job, shown)
        cost = shown.ByteSize() + _PER_JOB_OVERHEAD
        if used and used + cost > budget:
            del page[-1]
            return str(page[-1].id)
        used += cost
    return ""


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
