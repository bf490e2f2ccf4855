"""ctld's side of an interactive allocation whose stream ends without a release, on a real
Controller: a keyed one waits [ctld] allocation_grace_seconds for its client's call made
again (as after a host agent's restart), an unkeyed one ends at once, and a starting
ctld gives every allocation the same wait."""
from __future__ import annotations

import asyncio

from hpcq import states
from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.ctld import allocations
from hpcq.ctld.auth import Caller
from hpcq.ctld.errors import InvalidArgument
from hpcq.ctld.nodes_state import NodeLink
from tests.unit.controllers import RecordingComm, make

S = jobs_pb2.JobState
ANN = Caller("ann", "user")
KEY = "4f1c0e2a9b7d4c38a1e5f60718293a4b"
WAIT = 10.0   # how long a test waits for something that must happen now


def _controller(tmp_path, grace: float):
    c, store = make(tmp_path, comm=RecordingComm(), allocation_grace_seconds=grace)
    c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=4, memory_mb=4000)), NodeLink())
    return c, store


async def _later(requests: asyncio.Queue):
    """What the client sends after its first message, until None: the end of its side."""
    while (request := await requests.get()) is not None:
        yield request


class Stream:
    """One Allocate call as ctld serves it: open() then follow(), its later requests fed by hand."""

    def __init__(self, rooms: allocations.Allocations, key: str = KEY) -> None:
        self.rooms, self.key = rooms, key
        self.later: asyncio.Queue = asyncio.Queue()

    async def start(self, spec: jobs_pb2.JobSpec | None = None) -> jobs_pb2.Job:
        first = jobs_pb2.AllocateRequest(spec=spec or jobs_pb2.JobSpec(name="interactive"), idempotency_key=self.key)
        job = await self.rooms.open(ANN, first)
        self.events = self.rooms.follow(ANN, job, _later(self.later), keyed=bool(self.key))
        return await anext(self.events)

    async def hang_up(self) -> list[jobs_pb2.Job]:
        """The client's side ends without a release (the agent saw its client go): what ctld sent after."""
        self.later.put_nowait(None)
        return [event async for event in self.events]

    async def cut(self) -> None:
        """The call is cancelled under ctld (the agent died, its connection broke)."""
        await self.events.aclose()

    async def release(self, exit_code: int) -> jobs_pb2.Job:
        self.later.put_nowait(jobs_pb2.AllocateRequest(release=True, exit_code=exit_code))
        return [event async for event in self.events][-1]


def _run(tmp_path, grace: float, scenario):
    c, store = _controller(tmp_path, grace)
    try:
        return c, asyncio.run(scenario(c))
    finally:
        store.close()


async def _ended(rooms: allocations.Allocations) -> None:
    """Every end and wait the allocations started has run its course."""
    await asyncio.wait_for(asyncio.gather(*rooms._ending), WAIT)


def test_a_keyed_allocation_cut_off_waits_for_its_client_who_goes_on_with_the_same_job(tmp_path):
    async def scenario(c):
        rooms = allocations.Allocations(c)
        first = Stream(rooms)
        job = await first.start()
        await c.schedule_once()
        sent = await first.hang_up()
        assert not any(states.is_finished(j.state) for j in sent)   # no end was sent: ctld waits
        again = Stream(rooms)
        resumed = await again.start()       # the call made again with the key, through a new agent
        await _ended(rooms)                 # the grace is over
        still = c.jobs[job.id].state
        released = await again.release(0)
        return job.id, resumed, still, released
    c, (job_id, resumed, still, released) = _run(tmp_path, 0.2, scenario)
    assert (resumed.id, resumed.state, still) == (job_id, S.RUNNING, S.RUNNING)
    assert (released.id, released.state) == (job_id, S.COMPLETED)
    assert [j.id for j in c.jobs.values()] == [job_id]   # nothing queued twice


def test_a_keyed_allocation_whose_client_does_not_come_back_is_cancelled_after_the_grace(tmp_path):
    async def scenario(c):
        rooms = allocations.Allocations(c)
        stream = Stream(rooms)
        job = await stream.start()
        await c.schedule_once()
        await anext(stream.events)
        await stream.cut()
        during = c.jobs[job.id].state, c.jobs[job.id].cancelled_by
        await _ended(rooms)
        return during, c.jobs[job.id]
    c, (during, ended) = _run(tmp_path, 0.2, scenario)
    assert during == (S.RUNNING, "")
    # Cancelled as scancel would: its node is told to kill it (and reports its end then).
    assert ended.cancelled_by == "ann"
    assert [kind for _, kind in c.comm.kinds()] == ["launch", "kill"]


def test_a_wait_taken_over_ends_nothing_even_if_the_new_stream_is_cut_off_too(tmp_path):
    """Two cuts in a row (the agent restarted twice): the first wait's end must not end
    the job its client took over; the second wait is the one that counts."""
    async def scenario(c):
        rooms = allocations.Allocations(c)
        original = Stream(rooms)    # kept: a stream dropped here would be cut off (closed) too
        job = await original.start()
        first = Stream(rooms)
        await first.start()
        await first.cut()
        [first_wait] = rooms._ending
        second = Stream(rooms)
        await second.start()
        c.config.ctld.allocation_grace_seconds = 3600.0
        await second.cut()
        await asyncio.wait_for(first_wait, WAIT)
        after_first = c.jobs[job.id].state
        third = Stream(rooms)
        await third.start()
        ended = await third.release(5)
        return after_first, ended
    _, (after_first, ended) = _run(tmp_path, 0.2, scenario)
    assert after_first == S.PENDING
    assert ended.state == S.CANCELLED   # a release of a job not yet started cancels it


def test_an_unkeyed_allocation_ends_as_soon_as_its_stream_does(tmp_path):
    async def scenario(c):
        rooms = allocations.Allocations(c)
        hung_up = Stream(rooms, key="")
        await hung_up.start()
        ended_on_stream = (await hung_up.hang_up())[-1]
        cut = Stream(rooms, key="")
        job = await cut.start()
        await cut.cut()
        await _ended(rooms)   # the grace is an hour: only an end at once is over by now
        return ended_on_stream, c.jobs[job.id]
    _, (ended_on_stream, cut) = _run(tmp_path, 3600.0, scenario)
    assert ended_on_stream.state == S.CANCELLED
    assert cut.state == S.CANCELLED


def test_a_starting_ctld_gives_every_allocation_the_wait_and_ends_those_not_taken_over(tmp_path):
    async def scenario(c):
        last = allocations.Allocations(c)   # the controller that went away
        kept, left = Stream(last, key=KEY), Stream(last, key="a-key-of-a-client-that-is-gone")
        kept_job, left_job = await kept.start(), await left.start()
        last.stopping = True
        await kept.cut()
        await left.cut()
        assert not last._ending   # a stopping ctld ends nothing and waits for nothing
        rooms = allocations.Allocations(c)  # the one that starts
        waiting = asyncio.ensure_future(rooms.end_unclaimed())
        await asyncio.sleep(0)              # one turn of the loop: the waits are marked
        back = Stream(rooms, key=KEY)
        resumed = await back.start()
        await asyncio.wait_for(waiting, WAIT)
        rooms.stopping = True
        await back.cut()
        return kept_job.id, resumed, c.jobs[kept_job.id].state, c.jobs[left_job.id].state
    _, (kept_id, resumed, kept, left) = _run(tmp_path, 0.2, scenario)
    assert (resumed.id, kept, left) == (kept_id, S.PENDING, S.CANCELLED)


def test_a_bad_release_ends_a_keyed_allocation_at_once(tmp_path):
    async def scenario(c):
        rooms = allocations.Allocations(c)
        stream = Stream(rooms)
        job = await stream.start()
        stream.later.put_nowait(jobs_pb2.AllocateRequest(release=True, exit_code=300))
        try:
            await anext(stream.events)
        except InvalidArgument as e:   # the stream's answer
            refused = str(e)
        await _ended(rooms)
        return refused, c.jobs[job.id].state
    _, (refused, state) = _run(tmp_path, 3600.0, scenario)
    assert "exit_code: 300" in refused and states.is_finished(state)
