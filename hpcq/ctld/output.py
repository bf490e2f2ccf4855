"""Jobs.Output: a running job's stdout or stderr, read where it is written.

The file is on the job's node, which may share no file system with the caller. ctld asks
the node for the next chunk (ReadOutput on its session stream, answered by OutputData
with the same request id) and passes it on. A follower asks again as soon as a full chunk
came, and POLL_INTERVAL after a short one: a line a job prints reaches the caller within
that interval and two message trips, and an idle follower costs its node four small
messages a second. Each stream has one read outstanding and holds one chunk at most.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

from hpcq import states
from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.ctld.comm import NodeComm, head_node
from hpcq.ctld.errors import DomainError, FailedPrecondition, NotFound, ResourceExhausted

CHUNK_BYTES = 256 * 1024
POLL_INTERVAL = 0.25
# A node that has not answered by then is gone or stuck; the caller may ask again.
ANSWER_TIMEOUT = 30.0
LINK_CHECK = 1.0          # how often a read waiting for its answer looks whether the stream still stands
# Each open stream costs its node a read every POLL_INTERVAL: one person may hold this many.
MAX_STREAMS_PER_USER = 32

S = jobs_pb2.JobState
JobOf = Callable[[int], "jobs_pb2.Job | None"]
Sleep = Callable[[float], Awaitable[None]]


class NodeUnavailable(DomainError):
    status = "UNAVAILABLE"


class OutputReads:
    """Reads in flight, by request id: sent down a node's stream, answered by that node."""

    def __init__(self, comm: NodeComm) -> None:
        self._comm = comm
        self._ids = itertools.count(1)
        self._waiting: dict[int, tuple[str, asyncio.Future[nodes_pb2.OutputData]]] = {}
        self._streams: dict[str, int] = {}    # open streams by user (people only: the table is bounded)

    @contextlib.contextmanager
    def stream_of(self, user: str) -> Iterator[None]:
        """One more open stream of `user`, or RESOURCE_EXHAUSTED past MAX_STREAMS_PER_USER."""
        if self._streams.get(user, 0) >= MAX_STREAMS_PER_USER:
            raise ResourceExhausted("TOO_MANY_STREAMS", f"{user} has {MAX_STREAMS_PER_USER} output streams open "
                                                        f"already")
        self._streams[user] = self._streams.get(user, 0) + 1
        try:
            yield
        finally:
            self._streams[user] -= 1
            if not self._streams[user]:
                del self._streams[user]

    async def read(self, node: str, request: nodes_pb2.ReadOutput) -> nodes_pb2.OutputData:
        link = self._comm.link(node)
        if link is None:
            raise NodeUnavailable("NODE_UNAVAILABLE", f"node {node} is not connected")
        loop = asyncio.get_running_loop()
        request.request_id = next(self._ids)
        answer: asyncio.Future[nodes_pb2.OutputData] = loop.create_future()
        self._waiting[request.request_id] = (node, answer)
        deadline = loop.time() + ANSWER_TIMEOUT
        try:
            link.send(nodes_pb2.CtldMessage(read_output=request))
            while True:
                try:
                    return await asyncio.wait_for(asyncio.shield(answer), LINK_CHECK)
                except TimeoutError:
                    # A read sent down a stream that has since closed is never answered.
                    if link.closed:
                        raise NodeUnavailable("NODE_UNAVAILABLE", f"node {node} disconnected") from None
                    if loop.time() >= deadline:
                        raise NodeUnavailable("NODE_UNAVAILABLE", f"node {node} did not answer in "
                                                                  f"{ANSWER_TIMEOUT:.0f} s") from None
        finally:
            del self._waiting[request.request_id]

    def on_output(self, node: str, data: nodes_pb2.OutputData) -> None:
        waiting = self._waiting.get(data.request_id)
        # Late (its reader gave up), or not this node's to answer: dropped.
        if waiting is not None and waiting[0] == node and not waiting[1].done():
            waiting[1].set_result(data)

    def __len__(self) -> int:
        return len(self._waiting)


def check_readable(job: jobs_pb2.Job, step_id: int | None, after_end: bool = False) -> None:
    """Only a running job's output (and a running step's) can be read: its node has it;
    `after_end`, a job's own output after it has ended too (chunks says whether its node
    still has it)."""
    if job.state in (S.PENDING, S.HELD, S.WAITING):
        raise FailedPrecondition("JOB_PENDING", f"job {job.id} is pending execution")
    ended_readable = after_end and step_id is None and states.is_finished(job.state)
    if not job.allocation.slices or not (job.state in states.ACTIVE or ended_readable):
        raise FailedPrecondition("JOB_NOT_RUNNING", f"job {job.id} is not running")
    if step_id is not None and _running_step(job, step_id) is None:
        raise NotFound("UNKNOWN_STEP", f"step {job.id}.{step_id} is not running")


def _running_step(job: jobs_pb2.Job, step_id: int) -> jobs_pb2.JobStep | None:
    return next((s for s in job.steps if s.step_id == step_id and s.attempt == job.attempt
                 and s.state == S.RUNNING), None)


def _still_running(job: jobs_pb2.Job | None, attempt: int, step_id: int | None) -> bool:
    if job is None or job.attempt != attempt or job.state not in states.ACTIVE:
        return False
    return step_id is None or _running_step(job, step_id) is not None


def _started(job: jobs_pb2.Job | None) -> bool:
    """Whether the job's node has said it started this attempt (its session id)."""
    return job is not None and job.session_id != 0


async def chunks(reads: OutputReads, job: jobs_pb2.Job, request: jobs_pb2.OutputRequest, job_of: JobOf,
                 sleep: Sleep = asyncio.sleep) -> AsyncIterator[jobs_pb2.OutputChunk]:
    """The file from request.offset: what is there now, and with `follow` what is written
    after, until the job (or the step) has ended and every byte has been sent."""
    step_id = request.step_id if request.HasField("step_id") else None
    node, attempt, offset = head_node(job), job.attempt, request.offset
    ask = nodes_pb2.ReadOutput(job_id=job.id, attempt=attempt, stderr=request.stderr, max_bytes=CHUNK_BYTES)
    if step_id is not None:
        ask.step_id = step_id
    last_look = False      # ctld has seen the end: one more read takes what is left
    ended_before = not _still_running(job, attempt, step_id)   # read with after_end
    while True:
        ask.offset = offset
        data = await reads.read(node, ask)
        running = _still_running(job_of(job.id), attempt, step_id)
        if data.error:
            if data.ended and not running:
                if ended_before and offset == request.offset:
                    raise FailedPrecondition("JOB_NOT_RUNNING", f"job {job.id} has ended, and its node no longer "
                                                                "holds its output")
                return        # the node has already let the attempt go: nothing more to read
            if running and not _started(job_of(job.id)):
                # Launched, its start not reported yet: the node may not have set it up.
                if not request.follow:
                    return
                await sleep(POLL_INTERVAL)
                continue
            raise FailedPrecondition("OUTPUT_UNREADABLE", data.error)
        if data.data:
            yield jobs_pb2.OutputChunk(data=data.data, offset=offset)
            offset += len(data.data)
        if len(data.data) >= CHUNK_BYTES:
            continue
        if not request.follow or data.ended or last_look:
            return
        if not running:
            last_look = True
            continue
        await sleep(POLL_INTERVAL)
