"""The controller's rooms driven directly: time from a ManualClock, what goes to the
nodes read from a RecordingComm, writes nobody awaits waited for by event. No sockets,
no sleeps."""
from __future__ import annotations

import asyncio
import logging

from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.ctld import auth
from hpcq.ctld.clock import ManualClock
from hpcq.ctld.nodes_state import NodeLink
from hpcq.ctld.store.writer import Store
from tests.unit.controllers import RecordingComm, make

S = jobs_pb2.JobState
SCRIPT = "#!/bin/sh\ntrue\n"
HARDWARE = nodes_pb2.Hardware(cpus=2, memory_mb=1000)


def register(c, name: str) -> None:
    c.on_register(nodes_pb2.Register(name=name, hardware=HARDWARE), NodeLink())


def test_a_silent_node_goes_down_after_node_timeout_and_its_job_is_requeued(tmp_path):
    clock, comm = ManualClock(), RecordingComm()
    c, store = make(tmp_path, clock=clock, comm=comm, node_timeout=60.0, heartbeat_interval=10.0)

    async def scenario():
        writer = asyncio.create_task(c.background.run())
        register(c, "n1")
        [job_id] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        assert await c.schedule_once() == 1
        assert comm.kinds() == [("n1", "launch")]
        clock.advance(59)
        c.check_health()
        assert c.jobs[job_id].state == S.RUNNING and not c.nodes["n1"].down
        clock.advance(2)
        c.check_health()
        await c.background.drained()
        writer.cancel()
        return job_id
    job_id = asyncio.run(scenario())
    job = c.jobs[job_id]
    assert c.nodes["n1"].down and c.nodes["n1"].reason == "Not responding"
    assert (job.state, job.reason) == (S.PENDING, "NodeFail")     # requeued, as Slurm requeues a NODE_FAIL
    store.close()
    stored = {jobs_pb2.Job.FromString(r).id: jobs_pb2.Job.FromString(r) for r in Store(
        f"sqlite:///{tmp_path / 'hpcq.db'}").open().jobs}
    assert stored[job_id].state == S.PENDING and stored[job_id].attempt == 1


def test_a_jobs_end_is_stored_then_published_then_forgotten_on_its_node(tmp_path):
    clock, comm = ManualClock(), RecordingComm()
    c, store = make(tmp_path, clock=clock, comm=comm)
    events: list[tuple[int, int]] = []

    async def scenario():
        writer = asyncio.create_task(c.background.run())
        register(c, "n1")
        [job_id] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        await c.schedule_once()
        sub = c.watchers.subscribe(lambda job: auth.View.FULL)
        clock.advance(5)
        c.on_job_finished("n1", nodes_pb2.JobOutcome(job_id=job_id, attempt=1, state=S.COMPLETED,
                                                     end_time=clock.wall()))
        assert comm.forgotten == []          # not before the end is stored
        event = await sub.next()
        events.append((event.id, event.state))
        await c.background.drained()
        writer.cancel()
        return job_id
    job_id = asyncio.run(scenario())
    assert events == [(job_id, S.COMPLETED)]
    assert comm.forgotten == [("n1", job_id, 1)]
    assert c.usage.usage.of_user("alice", clock.wall()) > 0      # 1 CPU for 5 s, charged at its end
    store.close()


def test_a_failed_background_write_is_logged_and_counted_and_the_writer_goes_on(tmp_path, caplog):
    c, store = make(tmp_path)
    failing = [True]
    real_apply = store._apply

    def flaky(changes):   # on the writer thread, as a commit the database refuses
        if failing and failing.pop():
            raise OSError("disk full")
        real_apply(changes)
    store._apply = flaky
    done: list[str] = []

    async def scenario():
        writer = asyncio.create_task(c.background.run())
        c.background.write([c.table.next_id_row()], lambda: done.append("first"))
        await c.background.drained()
        c.background.write([c.table.next_id_row()], lambda: done.append("second"))
        await c.background.drained()
        writer.cancel()
    with caplog.at_level(logging.ERROR, logger="hpcq.ctld.background"):
        asyncio.run(scenario())
    assert done == ["second"] and c.background.failures == 1
    assert "store write of background changes failed" in caplog.text and "disk full" in caplog.text
    store.close()


def test_a_cancel_of_a_running_job_goes_to_its_node_and_its_end_says_cancelled(tmp_path):
    clock, comm = ManualClock(), RecordingComm()
    c, store = make(tmp_path, clock=clock, comm=comm, kill_grace=7)

    async def scenario():
        register(c, "n1")
        [job_id] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        await c.schedule_once()
        comm.kinds()
        assert await c.cancel(c.jobs[job_id], "alice") == (jobs_pb2.JobActionResult.OK, "")
        [(node, kill)] = comm.sent
        assert (node, kill.kill.job_id, kill.kill.grace_seconds) == ("n1", job_id, 7)
        c.on_job_finished("n1", nodes_pb2.JobOutcome(job_id=job_id, attempt=1, state=S.FAILED, signal=15))
        return job_id
    job_id = asyncio.run(scenario())
    assert c.jobs[job_id].state == S.CANCELLED and c.jobs[job_id].cancelled_by == "alice"
    store.close()
