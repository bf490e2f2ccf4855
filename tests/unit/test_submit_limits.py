"""Limits a user cannot dodge, and settings only staff may choose: the controller on a
real store, without a network."""
import asyncio

import pytest

from hpcq.api import admin_pb2, jobs_pb2, nodes_pb2
from hpcq.ctld.errors import InvalidArgument, PermissionDenied, ResourceExhausted
from hpcq.ctld.nodes_state import NodeLink
from tests.unit.controllers import make

S = jobs_pb2.JobState
SCRIPT = "#!/bin/sh\ntrue\n"


def run(coro):
    return asyncio.run(coro)


def spec(**fields) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(script=SCRIPT, **fields)


@pytest.mark.parametrize("kind", ["pending", "held", "begin"])
def test_max_pending_jobs_counts_every_unfinished_job(tmp_path, kind):
    c, store = make(tmp_path, max_pending_jobs=50)
    fields = {"pending": {}, "held": {"hold": True}, "begin": {"begin_time": 4e9}}[kind]
    run(c.submit("alice", [spec(**fields)] * 50))
    with pytest.raises(ResourceExhausted, match="MAX_JOB_COUNT: 50 jobs are not finished"):
        run(c.submit("bob", [spec()]))
    assert len(c.jobs) == 50
    store.close()


def test_an_array_counts_its_tasks_and_running_jobs_count_too(tmp_path):
    c, store = make(tmp_path, max_pending_jobs=10)

    async def scenario():
        c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=4, memory_mb=1000)), NodeLink())
        await c.submit("alice", [spec(array=jobs_pb2.ArraySpec(tasks="0-7"))])
        assert await c.schedule_once() == 4        # four tasks run, four wait: still eight unfinished
        assert c.backlog.total == 8
        await c.submit("alice", [spec(), spec()])
        with pytest.raises(ResourceExhausted, match="MAX_JOB_COUNT"):
            await c.submit("alice", [spec()])
    run(scenario())
    store.close()


def test_max_submit_jobs_is_per_user(tmp_path):
    c, store = make(tmp_path, max_submit_jobs=10)
    run(c.submit("bob", [spec(hold=True)] * 10))
    with pytest.raises(ResourceExhausted, match="SUBMIT_LIMIT: user bob has 10 unfinished jobs"):
        run(c.submit("bob", [spec()]))
    assert run(c.submit("alice", [spec()] * 10))     # alice has her own ten
    store.close()


def test_a_finished_job_frees_its_place(tmp_path):
    c, store = make(tmp_path, max_submit_jobs=2)
    first, _ = run(c.submit("bob", [spec(), spec()]))
    assert run(c.cancel(c.jobs[first], "bob")) == (jobs_pb2.JobActionResult.OK, "")
    assert run(c.submit("bob", [spec()]))
    with pytest.raises(ResourceExhausted, match="SUBMIT_LIMIT"):
        run(c.submit("bob", [spec()]))
    store.close()


def test_a_queues_per_user_submit_limit_holds_at_submit_and_when_a_job_moves_there(tmp_path):
    c, store = make(tmp_path)
    run(c.put_queue(admin_pb2.Queue(name="small", max_submit_per_user=1), create=True))
    run(c.submit("bob", [spec(queue="small")]))
    with pytest.raises(ResourceExhausted, match="SUBMIT_LIMIT: user bob has 1 unfinished jobs in queue small"):
        run(c.submit("bob", [spec(queue="small")]))
    [other] = run(c.submit("bob", [spec()]))
    with pytest.raises(ResourceExhausted, match="max_submit_per_user"):
        run(c.update(c.jobs[other], spec(queue="small"), ["queue"]))
    assert c.jobs[other].queue == "batch"
    store.close()


def test_the_counts_survive_a_restart(tmp_path):
    c, store = make(tmp_path, max_submit_jobs=3)
    run(c.submit("bob", [spec(hold=True), spec(array=jobs_pb2.ArraySpec(tasks="1-2"))]))
    store.close()
    c2, store2 = make(tmp_path, max_submit_jobs=3)
    assert c2.backlog.of_user["bob"] == 3
    with pytest.raises(ResourceExhausted, match="SUBMIT_LIMIT"):
        run(c2.submit("bob", [spec()]))
    store2.close()


@pytest.mark.parametrize("fields", [{"nice": -1}, {"priority": 100000}])
def test_a_user_may_not_raise_a_slurm_jobs_priority(tmp_path, fields):
    c, store = make(tmp_path)
    with pytest.raises(PermissionDenied, match="PRIVILEGED"):
        run(c.submit("bob", [spec(dialect=jobs_pb2.DIALECT_SLURM, **fields)]))
    assert not c.jobs
    [job_id] = run(c.submit("root", [spec(dialect=jobs_pb2.DIALECT_SLURM, **fields)], staff=True))
    assert c.jobs[job_id].spec.nice == fields.get("nice", 0)
    if "priority" in fields:
        assert c.jobs[job_id].priority == 100000 and c.jobs[job_id].admin_priority_set
    store.close()


def test_a_user_may_lower_but_not_raise_a_queued_jobs_priority(tmp_path):
    c, store = make(tmp_path)
    [job_id] = run(c.submit("bob", [spec(dialect=jobs_pb2.DIALECT_SLURM)]))
    job = c.jobs[job_id]
    assert run(c.update(job, spec(nice=50), ["nice"])).spec.nice == 50
    with pytest.raises(PermissionDenied, match="nice: -5000"):
        run(c.update(job, spec(nice=-5000), ["nice"]))
    with pytest.raises(PermissionDenied, match="priority"):
        run(c.update(job, spec(priority=9), ["priority"]))
    assert job.spec.nice == 50
    assert run(c.update(job, spec(nice=-5000), ["nice"], staff=True)).spec.nice == -5000
    assert run(c.update(job, spec(name="renamed"), ["name"])).spec.name == "renamed"   # nice set by staff stays
    store.close()


def test_a_pbs_users_priority_is_kept_for_display_but_never_ranks_above_others(tmp_path):
    c, store = make(tmp_path)
    [job_id] = run(c.submit("bob", [spec(dialect=jobs_pb2.DIALECT_PBS, nice=-1023)]))
    job = c.jobs[job_id]
    assert job.spec.nice == 0 and job.spec.attributes["priority"] == "1023"
    [staff_job] = run(c.submit("root", [spec(dialect=jobs_pb2.DIALECT_PBS, nice=-1023)], staff=True))
    assert c.jobs[staff_job].spec.nice == -1023
    store.close()


def test_moving_a_job_to_a_queue_checks_who_may_use_it(tmp_path):
    c, store = make(tmp_path)
    run(c.put_queue(admin_pb2.Queue(name="private", allowed_users=["alice"]), create=True))
    [job_id] = run(c.submit("bob", [spec()]))
    with pytest.raises(InvalidArgument, match="QUEUE_ACCESS: user bob may not submit to queue private"):
        run(c.update(c.jobs[job_id], spec(queue="private"), ["queue"]))
    # staff moving bob's job does not make the queue admit bob either
    with pytest.raises(InvalidArgument, match="QUEUE_ACCESS"):
        run(c.update(c.jobs[job_id], spec(queue="private"), ["queue"], staff=True))
    assert c.jobs[job_id].queue == "batch"
    store.close()


def test_a_long_index_list_is_not_copied_into_each_started_task(tmp_path):
    """40,000 explicit indices (a ~230 KB list): every task runs, each task record stays
    small, and the array's pending rest is rewritten once a pass, not once a task."""
    c, store = make(tmp_path, max_pending_jobs=100_000, max_array_size=120_000)
    indices = ",".join(str(i) for i in range(0, 120_000, 3))
    assert len(indices) > 200_000

    async def scenario():
        writer = asyncio.create_task(c.background.run())
        c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=8000, memory_mb=10**6)),
                      NodeLink())
        [array_id] = await c.submit("alice", [spec(array=jobs_pb2.ArraySpec(tasks=indices))])
        started = 0
        while started < 40_000:
            started += await c.schedule_once()
            for job_id in [i for i in c.active]:
                job = c.jobs[job_id]
                c.on_job_finished("n1", nodes_pb2.JobOutcome(job_id=job_id, attempt=job.attempt, state=S.COMPLETED))
            await c.background.drained()       # the outcomes are stored
        writer.cancel()
        return array_id
    array_id = run(scenario())
    tasks = [j for j in c.jobs.values() if j.array_job_id == array_id]
    assert len(tasks) == 40_000
    assert c.backlog.total == 0
    others = [t for t in tasks if t.id != array_id]
    assert max(t.ByteSize() for t in others) < 1024
    assert others[0].spec.array.tasks == "0-119997" and others[0].spec.array.task_count == 40_000
    store.close()


def test_a_license_the_cluster_does_not_have_is_refused_at_submit(tmp_path):
    c, store = make(tmp_path, licenses=["matlab:2"])
    assert run(c.submit("bob", [spec(resources=jobs_pb2.Resources(licenses={"matlab": 1}))]))
    with pytest.raises(InvalidArgument, match=r"BAD_LICENSE: resources\.licenses: 'fluent' is not a license"):
        run(c.submit("bob", [spec(resources=jobs_pb2.Resources(licenses={"fluent": 1}))]))
    store.close()


def test_the_sdk_splits_long_id_lists_as_ctld_caps_them():
    from hpcq import client
    from hpcq.ctld import jobs
    assert client.MAX_JOB_IDS_PER_CALL == jobs.MAX_JOB_IDS
    assert [len(c) for c in client._chunks(range(250_000))] == [100_000, 100_000, 50_000]
    assert list(client._chunks([])) == [[]]


def test_a_stored_job_the_scheduler_cannot_read_is_held_not_a_crash(tmp_path):
    """A record stored before submit validation refused kind-less dependencies."""
    from hpcq.ctld.jobtable import job_row
    c, store = make(tmp_path)
    [job_id] = run(c.submit("bob", [spec(hold=True)]))
    job = c.jobs[job_id]
    job.state = S.PENDING
    job.spec.dependencies.add(job_ids=[1])       # no kind: what the old validator let through
    run(store.write([job_row(job)]))
    store.close()
    c2, store2 = make(tmp_path)
    assert (c2.jobs[job_id].state, c2.jobs[job_id].reason) == (S.HELD, "JobHeldAdmin")
    assert job_id not in c2.queued
    store2.close()
