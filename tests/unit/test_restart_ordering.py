"""Orderings around ctld's store writes that leave the store behind what nodes were told,
found while looking for the acknowledged sbatch job that finished without running in the
chaos test (tests/chaos/test_submit_retries.py). Each leaves the store, for a moment,
with a job at an attempt below the one its node runs; a ctld killed in that moment comes
back with the older attempt, starts that attempt number again, and the node answers it
with the first run's outcome (or is told to kill or forget a run ctld then adopts).

Neither is met by the chaos test's workload (quick jobs, ctld kills only) without a node
re-registering or failing; each test holds a commit open to make its moment last."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.ctld.nodes_state import NodeLink
from hpcq.ctld.store.writer import Delete, Put, Store
from tests.unit.controllers import RecordingComm, make

S = jobs_pb2.JobState
SCRIPT = "#!/bin/sh\ntrue\n"
HARDWARE = nodes_pb2.Hardware(cpus=2, memory_mb=1000)


class HeldWrites:
    """Holds the store's writer thread, before it commits a batch that `held(changes)`
    picks, until released: a commit that is slow (PostgreSQL under load) for as long as a
    test needs, with everything queued after it waiting behind it."""

    def __init__(self, store: Store, held) -> None:
        self.apply, self.held = store._apply, held
        self.entered, self.released = asyncio.Event(), threading.Event()
        self.loop = asyncio.get_running_loop()
        store._apply = self   # type: ignore[method-assign]

    def __call__(self, changes: list[Put | Delete]) -> None:
        if self.held(changes):
            self.loop.call_soon_threadsafe(self.entered.set)
            self.released.wait()
        self.apply(changes)


async def until(condition, turns: int = 10_000) -> None:
    """Let the loop run until `condition()` holds (within `turns` of it)."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"not reached in {turns} turns of the loop")


def running_job_row(changes: Sequence[Put | Delete]) -> bool:
    return any(isinstance(c, Put) and c.table == "jobs" and c.row["state"] == S.RUNNING for c in changes)


def stored_job(tmp_path, job_id: int) -> jobs_pb2.Job:
    return {j.id: j for j in map(jobs_pb2.Job.FromString, Store(f"sqlite:///{tmp_path / 'hpcq.db'}").open().jobs)}[
        job_id]


def test_a_node_registering_during_a_pass_write_is_not_sent_the_launch_before_it_is_stored(tmp_path):
    comm = RecordingComm()
    c, store = make(tmp_path, comm=comm)

    async def scenario() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        c.on_register(nodes_pb2.Register(name="n1", hardware=HARDWARE), NodeLink())
        await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        comm.kinds()
        held = HeldWrites(store, running_job_row)
        passing = asyncio.create_task(c.schedule_once())
        await held.entered.wait()       # the pass has started the job in memory; its row is not committed
        # n1's stream broke and it registers again (a noded restart, a PostgreSQL lease lapse...)
        c.on_register(nodes_pb2.Register(name="n1", hardware=HARDWARE), NodeLink())
        before_commit = comm.kinds()
        held.released.set()
        await passing
        return before_commit, comm.kinds()
    before_commit, after_commit = asyncio.run(scenario())
    # A ctld killed now would come back with the job PENDING at attempt 0 and start attempt 1 again.
    assert before_commit == []
    assert after_commit == [("n1", "launch")], "the pass launches it once stored"


def test_a_requeued_jobs_next_start_is_not_overwritten_in_the_store_by_its_requeue(tmp_path):
    comm = RecordingComm()
    c, store = make(tmp_path, comm=comm)

    async def scenario() -> int:
        consumer = asyncio.create_task(c.background.run())
        c.on_register(nodes_pb2.Register(name="n1", hardware=HARDWARE), NodeLink())
        await c.background.drained()
        [job_id] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        assert await c.schedule_once() == 1
        held = HeldWrites(store, lambda changes: any(isinstance(ch, Put) and ch.table == "nodes" for ch in changes))
        c.on_register(nodes_pb2.Register(name="n2", hardware=HARDWARE), NodeLink())   # a slow background commit
        await held.entered.wait()
        c.node_events._lose(c.jobs[job_id], c.clock.wall(), "node n1 not responding")   # requeued: a row queued
        passing = asyncio.create_task(c.schedule_once())   # attempt 2 stored (awaited), then launched
        await until(lambda: c.scheduling.committing)           # its rows queued behind the slow commit
        held.released.set()
        assert await passing == 1
        await c.background.drained()
        consumer.cancel()
        return job_id
    job_id = asyncio.run(scenario())
    assert (c.jobs[job_id].state, c.jobs[job_id].attempt) == (S.RUNNING, 2)
    store.close()
    stored = stored_job(tmp_path, job_id)
    assert (stored.state, stored.attempt) == (S.RUNNING, 2)
