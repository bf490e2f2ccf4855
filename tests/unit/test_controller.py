"""The controller's submit rules, on a real store, without a network."""
import asyncio

import pytest

from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.ctld.errors import InvalidArgument
from hpcq.ctld.nodes_state import NodeLink
from hpcq.ctld.store.writer import Store
from tests.unit.controllers import make

S = jobs_pb2.JobState
SCRIPT = "#!/bin/sh\ntrue\n"


def run(coro):
    return asyncio.run(coro)


def test_ids_are_monotonic_across_restarts(tmp_path):
    c, store = make(tmp_path)
    first = run(c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)] * 3))
    store.close()
    c2, store2 = make(tmp_path)
    assert sorted(c2.jobs) == first
    assert run(c2.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])) == [first[-1] + 1]
    store2.close()


def test_unknown_queue_is_refused_and_nothing_stored(tmp_path):
    c, store = make(tmp_path)
    with pytest.raises(InvalidArgument, match="UNKNOWN_QUEUE"):
        run(c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT), jobs_pb2.JobSpec(script=SCRIPT, queue="nope")]))
    assert c.jobs == {}
    store.close()


def test_a_job_larger_than_every_node_is_refused(tmp_path):
    c, store = make(tmp_path)

    async def register_and_submit():
        c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=2, memory_mb=1000)), NodeLink())
        spec = jobs_pb2.JobSpec(script=SCRIPT, resources=jobs_pb2.Resources(cpus_per_task=8))
        await c.submit("alice", [spec])
    with pytest.raises(InvalidArgument, match="TOO_BIG"):
        run(register_and_submit())
    store.close()


def test_hold_and_begin_time_set_the_initial_state(tmp_path):
    c, store = make(tmp_path)
    held, later = run(c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT, hold=True),
                                         jobs_pb2.JobSpec(script=SCRIPT, begin_time=4e9)]))
    assert (c.jobs[held].state, c.jobs[held].reason) == (S.HELD, "JobHeldUser")
    assert (c.jobs[later].state, c.jobs[later].reason) == (S.WAITING, "BeginTime")
    assert not c.queued
    store.close()


def test_a_pass_starts_a_job_on_a_registered_node_and_sends_launch(tmp_path):
    c, store = make(tmp_path)
    link = NodeLink()

    async def scenario():
        c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=2, memory_mb=1000)), link)
        [job_id] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        assert await c.schedule_once() == 1
        return job_id
    job_id = run(scenario())
    job = c.jobs[job_id]
    assert job.state == S.RUNNING and job.attempt == 1
    assert [s.node for s in job.allocation.slices] == ["n1"]
    sent = [link.outbox.get_nowait() for _ in range(link.outbox.qsize())]
    assert [m.launch.job.id for m in sent if m.WhichOneof("kind") == "launch"] == [job_id]
    store.close()


def test_a_flood_meets_backpressure_not_unbounded_memory(tmp_path):
    c, store = make(tmp_path)
    c.config.ctld.max_pending_jobs = 10
    run(c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)] * 10))
    from hpcq.ctld.errors import ResourceExhausted
    with pytest.raises(ResourceExhausted, match="MAX_JOB_COUNT: 10 jobs are not finished and 1 more were submitted; "
                                                "the limit is 10"):
        run(c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)]))
    assert len(c.jobs) == 10
    store.close()


def test_finished_jobs_older_than_history_days_are_archived(tmp_path):
    c, store = make(tmp_path)
    ids = run(c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)] * 3))
    old, recent, queued = (c.jobs[i] for i in ids)

    async def finish_and_archive():
        for job, ended in ((old, 1000.0), (recent, 40 * 86400.0)):
            c.table.dequeue(job)
            c.lifecycle.finish(job, S.COMPLETED, "None", ended)
        return await c.archive_once(now=40 * 86400.0 + 1)  # history_days 30: only `old` goes
    assert run(finish_and_archive()) == 1
    assert sorted(c.jobs) == [recent.id, queued.id]
    store.close()
    loaded = Store(f"sqlite:///{tmp_path / 'hpcq.db'}").open()
    assert sorted(jobs_pb2.Job.FromString(r).id for r in loaded.jobs) == [recent.id, queued.id]
    with Store(f"sqlite:///{tmp_path / 'hpcq.db'}").engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT id FROM jobs_archive").fetchall() == [(old.id,)]


@pytest.mark.parametrize("field,value,message", [
    ("environment", {"A\n": "x"}, "environment: invalid variable name"),
    ("environment", {"A": "x\0y"}, "environment: A: NUL byte"),
    ("environment", {"BIG": "x" * (1024 * 1024)}, "environment: larger than"),
    ("begin_time", float("nan"), "begin_time: must be a finite"),
    ("stdout_path", "/tmp/a\nb", "stdout_path: NUL or line break"),
])
def test_the_submit_validator_names_the_field(field, value, message):
    from hpcq.ctld import jobs
    spec = jobs_pb2.JobSpec(script=SCRIPT)
    if isinstance(value, dict):
        spec.environment.update(value)
    else:
        setattr(spec, field, value)
    with pytest.raises(InvalidArgument, match=message):
        jobs.validate(spec)
