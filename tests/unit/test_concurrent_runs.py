"""A job's run and what is asked of it while something waits for a commit, on a real
controller and store: a requeue, a step or a cancel whose run ends (and starts again)
meanwhile, an action's retry that comes while its first attempt is still carried out, an
archiving or a split in the middle of an action, a suspend or a lost node while the pass
that started the job commits, an Allocate call cut off during its commit, and a node (or
ctld) come back after messages were lost with it. Each case ends with the node told only
what the job's current run should hear, and memory and store agreeing."""
from __future__ import annotations

import asyncio

import pytest

from hpcq.api import admin_pb2, jobs_pb2, nodes_pb2
from hpcq.ctld import allocations, auth, server
from hpcq.ctld.clock import ManualClock
from hpcq.ctld.errors import NotFound, ResourceExhausted
from hpcq.ctld.nodes_state import NodeLink
from tests.unit.controllers import RecordingComm, make
from tests.unit.test_read_rules import Context, Gate

S = jobs_pb2.JobState
R = jobs_pb2.JobActionResult
OK = (R.OK, "")
ALICE = auth.Caller("alice", "user")
SCRIPT = "#!/bin/sh\nsleep 100\n"


@pytest.fixture
def world(tmp_path):
    """A controller with one 4-CPU node and what it sends; a requeued job may start again at once."""
    comm = RecordingComm()
    c, store = make(tmp_path, comm=comm, retry_backoff=0)
    c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=4, memory_mb=4000)), NodeLink())
    comm.kinds()
    yield c, comm
    store.close()


def ended(c, job: jobs_pb2.Job, state=S.CANCELLED) -> None:
    """The job's node reports its current run's end."""
    c.on_job_finished("n1", nodes_pb2.JobOutcome(job_id=job.id, attempt=job.attempt, state=state,
                                                 end_time=c.clock.wall()))


def sent(comm: RecordingComm, kind: str, job_id: int) -> list[int]:
    """The attempts of `job_id` that messages of `kind` were sent for, in order."""
    return [getattr(m, kind).attempt for _, m in comm.sent
            if m.WhichOneof("kind") == kind and getattr(m, kind).job_id == job_id]


async def together(*coroutines):
    """Run `coroutines` at once, in the order given up to their first wait; each's result or error."""
    return await asyncio.gather(*coroutines, return_exceptions=True)


def stored(tmp_path, job_id: int) -> jobs_pb2.Job:
    """The job as a restarted ctld would load it."""
    c, store = make(tmp_path)
    job = c.get(job_id)
    store.close()
    assert job is not None
    return job


async def running_job(c, **spec) -> jobs_pb2.Job:
    [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT, **spec)])
    assert await c.schedule_once() == 1
    return c.get(j)


def test_a_requeue_whose_run_ends_and_starts_again_during_its_commit_does_not_kill_the_next_run(world, tmp_path):
    """Before: the requeue killed the job after its commit, whatever run it had by then:
    the run it was asked for had ended (and requeued the job), and the next one, started
    meanwhile, was killed and not requeued (its end was a plain failure)."""
    c, comm = world

    async def scenario():
        job = await running_job(c)
        comm.sent.clear()
        requeue = asyncio.ensure_future(c.requeue(job))
        await asyncio.sleep(0)                  # it waits for its commit now
        ended(c, job)                           # the run ends (by itself, or killed before)
        assert await c.schedule_once() == 1     # and the requeued job starts again
        return job, await requeue
    job, requeued = asyncio.run(scenario())
    assert requeued == OK
    assert (job.state, job.attempt) == (S.RUNNING, 2) and not job.HasField("requeue_held")
    assert sent(comm, "kill", job.id) == []
    assert stored(tmp_path, job.id).attempt == 2


def test_a_step_whose_job_ends_and_starts_again_during_its_commit_ends_with_that_run(world, tmp_path):
    """Before: the step was looked for under the job's new attempt after its commit, not
    under its own: no such step, StopIteration (an INTERNAL answer)."""
    c, _ = world

    async def scenario():
        job = await running_job(c)
        creating = asyncio.ensure_future(c.create_step(job, jobs_pb2.CreateStepRequest(name="a", ntasks=1)))
        await asyncio.sleep(0)                  # it waits for its commit now
        ended(c, job, S.NODE_FAIL)              # the node is lost, the job requeued
        assert await c.schedule_once() == 1     # and started again
        return job, await creating
    job, step = asyncio.run(scenario())
    assert (step.attempt, step.state) == (1, S.NODE_FAIL)
    assert job.attempt == 2 and [(s.attempt, s.state) for s in job.steps] == [(1, S.NODE_FAIL)]
    assert [(s.attempt, s.state) for s in stored(tmp_path, job.id).steps] == [(1, S.NODE_FAIL)]


def test_a_late_step_end_of_a_run_that_ended_leaves_the_new_runs_step_of_that_number_running(world, tmp_path):
    """srun of the first run reports its step 0's end after the job was requeued and its
    second run made a step 0 of its own. Before (FinishStepRequest had no attempt): the
    report finished the second run's step."""
    c, _ = world

    async def scenario():
        job = await running_job(c)
        first = await c.create_step(job, jobs_pb2.CreateStepRequest(name="a", ntasks=1))
        ended(c, job, S.NODE_FAIL)              # the node is lost, the job requeued
        assert await c.schedule_once() == 1     # and started again
        second = await c.create_step(job, jobs_pb2.CreateStepRequest(name="a", ntasks=1))
        # The new run's first step let the old run's steps go: the late report finds none.
        with pytest.raises(NotFound, match="has no step 0"):
            await c.finish_step(job, jobs_pb2.FinishStepRequest(job_id=job.id, step_id=first.step_id,
                                                                attempt=first.attempt, exit_code=3))
        return job, first, second
    job, first, second = asyncio.run(scenario())
    assert (first.step_id, first.attempt, second.step_id, second.attempt) == (0, 1, 0, 2)
    assert [(s.attempt, s.state) for s in job.steps] == [(2, S.RUNNING)]
    assert [(s.attempt, s.state) for s in stored(tmp_path, job.id).steps] == [(2, S.RUNNING)]


def test_a_keyed_actions_retry_during_its_first_attempt_answers_as_the_first_and_acts_once(world, tmp_path):
    """A client retries a keyed requeue whose answer did not come in time, while the first
    attempt (carried on without its caller) is still being committed. Before: the retry
    acted again, on what the first had left: 'pending execution' for a job the first had
    requeued, and a job the first had requeued and a pass had started again was requeued
    a second time (its new run killed)."""
    c, comm = world
    jobs = server.JobsServicer(c, Gate(auth.Caller("alice", "user")))

    async def scenario():
        first, second = [await running_job(c) for _ in range(2)]
        for job in (first, second):
            ended(c, job, S.COMPLETED)
        comm.sent.clear()
        request = jobs_pb2.JobActionRequest(job_ids=[first.id, second.id], idempotency_key="k-1")
        requeue = asyncio.ensure_future(jobs.Requeue(request, Context()))
        while first.state != S.PENDING:         # until it has requeued the first job: it waits for its commit
            await asyncio.sleep(0)
        assert await c.schedule_once() >= 1     # which starts again
        retry = await jobs.Requeue(request, Context())
        return first, second, await requeue, retry
    first, second, answer, retry = asyncio.run(scenario())
    assert [r.code for r in answer.results] == [R.OK, R.OK]
    assert [r.code for r in retry.results] == [R.OK, R.OK], retry
    assert first.attempt == 2 and not first.HasField("requeue_held") and sent(comm, "kill", first.id) == []
    assert (second.state, list(second.action_keys)) == (S.PENDING, ["k-1"])
    assert list(stored(tmp_path, first.id).action_keys) == ["k-1"]


def test_a_suspend_while_the_pass_that_started_the_job_commits_reaches_its_run(world, tmp_path):
    """Before: the suspend went to the node before the job's launch (which waits for the
    pass's commit), the node knew no such run, and the job ran while ctld had it SUSPENDED."""
    c, comm = world
    jobs = server.JobsServicer(c, Gate(auth.Caller("root", "admin")))

    async def scenario():
        [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        passing = asyncio.ensure_future(c.schedule_once())
        await asyncio.sleep(0)                  # the job is started in memory; its pass commits
        assert c.get(j).state == S.RUNNING
        suspended = await jobs.Suspend(jobs_pb2.JobActionRequest(job_ids=[j]), Context())
        assert await passing == 1
        return j, suspended
    j, suspended = asyncio.run(scenario())
    assert [r.code for r in suspended.results] == [R.OK]
    kinds = [m.WhichOneof("kind") for _, m in comm.sent if m.WhichOneof("kind") in ("launch", "suspend")]
    assert kinds[-1] == "suspend" and "launch" in kinds, kinds
    assert c.get(j).state == stored(tmp_path, j).state == S.SUSPENDED


def test_a_task_whose_update_is_refused_after_its_split_waits_in_the_queue_as_its_array_did(world, tmp_path):
    """The update of a pending array task splits it out, then checks the change again on
    the task's own record: a submit made during the split's commit can fill the queue it
    moves to. Before: refused then, the task was left PENDING but out of the queue, never
    to start (a restart would have queued it)."""
    c, _ = world

    async def scenario():
        await c.put_queue(admin_pb2.Queue(name="short", max_submit_per_user=3), create=True)
        [a] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT, array=jobs_pb2.ArraySpec(tasks="1-3"))])
        moving = asyncio.ensure_future(c.update(c.array_task(a, 2), jobs_pb2.JobSpec(queue="short"), ["queue"]))
        await asyncio.sleep(0)                  # task 2 is split out; the split commits
        await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT, queue="short")] * 3)
        return a, await together(moving)
    a, [moved] = asyncio.run(scenario())
    assert isinstance(moved, ResourceExhausted), moved
    task = c.array_task(a, 2).job
    assert task.id != a and (task.state, task.queue) == (S.PENDING, "batch")
    assert task.id in c.queued
    assert stored(tmp_path, task.id).state == S.PENDING


@pytest.fixture
def archiving(tmp_path):
    """A controller that archives a job as soon as it has ended (history_days = 0)."""
    c, store = make(tmp_path, history_days=0)
    yield c, server.JobsServicer(c, Gate(auth.Caller("alice", "user")))
    store.close()


async def cancelled_while_archived(c, cancel, job_id: int) -> int:
    """Archive once the job `cancel` is carried out on is cancelled (its commit under way)."""
    while c.get(job_id).state != S.CANCELLED:
        await asyncio.sleep(0)
    archived = await c.archive_once(c.clock.wall())
    await cancel
    return archived


def test_a_keyed_cancel_during_which_its_job_is_archived_does_not_store_it_again(archiving, tmp_path):
    """Before: the key was stored with the job's record after the archive had deleted it:
    the job was back in the store's jobs, which a restart would load beside its archived row."""
    c, jobs = archiving

    async def scenario():
        [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT, hold=True)])
        cancel = asyncio.ensure_future(jobs.Cancel(jobs_pb2.JobActionRequest(job_ids=[j], idempotency_key="k-1"),
                                                   Context()))
        return j, await cancelled_while_archived(c, cancel, j), cancel.result()
    j, archived, answer = asyncio.run(scenario())
    assert archived == 1 and [r.code for r in answer.results] == [R.OK]
    assert c.get(j) is None
    again, store = make(tmp_path)
    assert again.get(j) is None
    store.close()


def test_cancelling_an_array_whose_records_are_archived_meanwhile_answers_for_those_it_reached(archiving):
    """Before: the array's records were listed before the first of them was cancelled, and
    one archived during that cancel's commit was looked up after it: KeyError (INTERNAL)."""
    c, jobs = archiving

    async def scenario():
        [a] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT, array=jobs_pb2.ArraySpec(tasks="1-2"))])
        assert await c.cancel(c.array_task(a, 2), "alice") == OK    # split out, and ended
        cancel = asyncio.ensure_future(jobs.Cancel(jobs_pb2.JobActionRequest(job_ids=[a]), Context()))
        return await cancelled_while_archived(c, cancel, a), cancel.result()
    archived, answer = asyncio.run(scenario())
    assert archived == 2 and [r.code for r in answer.results] == [R.OK]


def test_a_job_whose_node_falls_silent_while_its_start_commits_is_not_launched_there(tmp_path):
    """The pass starts a job on a node that then falls silent (node_timeout) before the
    start is committed: the job is lost with the node and queued again. Before: the pass
    launched it all the same once committed, to the node back by then, which ran that
    attempt while ctld had the job pending (to start it again, elsewhere)."""
    clock, comm = ManualClock(), RecordingComm()
    c, store = make(tmp_path, clock=clock, comm=comm, retry_backoff=0)
    hardware = nodes_pb2.Hardware(cpus=4, memory_mb=4000)
    c.on_register(nodes_pb2.Register(name="n1", hardware=hardware), NodeLink())

    async def scenario():
        [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        clock.advance(c.config.ctld.node_timeout)
        passing = asyncio.ensure_future(c.schedule_once())
        await asyncio.sleep(0)                  # the job is started on n1 in memory; its pass commits
        assert c.get(j).state == S.RUNNING
        c.check_health()                        # n1 is silent: DOWN, and the job lost with it
        c.on_register(nodes_pb2.Register(name="n1", hardware=hardware), NodeLink())    # back
        assert await passing == 1
        return c.get(j)
    job = asyncio.run(scenario())
    store.close()
    assert (job.state, job.attempt) == (S.PENDING, 1) and job.id in c.queued
    assert [m.launch.job.attempt for _, m in comm.sent if m.WhichOneof("kind") == "launch"] == []


def allocation(key: str = "") -> jobs_pb2.AllocateRequest:
    return jobs_pb2.AllocateRequest(spec=jobs_pb2.JobSpec(name="interactive"), idempotency_key=key)


async def cut_during_commit(c, rooms: allocations.Allocations, first: jobs_pb2.AllocateRequest) -> int:
    """Open an allocation and cut its call off (grpc cancels the handler) while its job is
    being committed; the id it was given."""
    next_id = c.table.next_job_id
    opening = asyncio.ensure_future(rooms.open(ALICE, first))
    while c.table.next_job_id == next_id:      # until its id is given: it waits for its commit now
        await asyncio.sleep(0)
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    return next_id


def test_an_allocation_cut_off_during_its_commit_is_found_by_its_clients_call_made_again(tmp_path):
    """Before: the job was stored but never queued, and its key not remembered: the call
    made again with the key stored a second job (and a restart would queue the first)."""
    c, store = make(tmp_path, allocation_grace_seconds=30)
    rooms = allocations.Allocations(c)

    async def scenario():
        job_id = await cut_during_commit(c, rooms, allocation("k-1"))
        again = await rooms.open(ALICE, allocation("k-1"))
        return job_id, again
    job_id, again = asyncio.run(scenario())
    store.close()
    assert again.id == job_id and c.get(job_id) is again and job_id in c.queued
    restarted, store = make(tmp_path)
    assert sorted(restarted.jobs) == [job_id]
    store.close()


def test_an_allocation_cut_off_during_its_commit_without_a_key_ends_at_once(tmp_path):
    """Nothing can take it over: it ends as a stream cut off after its open does (before: it
    was stored pending and never queued, and a restart would have queued it with nobody
    to hold it)."""
    c, store = make(tmp_path)
    rooms = allocations.Allocations(c)

    async def scenario():
        job_id = await cut_during_commit(c, rooms, allocation())
        await asyncio.wait_for(ended(job_id), 10)
        await asyncio.wait_for(asyncio.gather(*rooms._ending), 10)      # its end committed
        return job_id

    async def ended(job_id: int) -> None:
        while (job := c.get(job_id)) is None or job.state != S.CANCELLED:
            await asyncio.sleep(0.01)
    job_id = asyncio.run(scenario())
    store.close()
    assert c.get(job_id).state == stored(tmp_path, job_id).state == S.CANCELLED


@pytest.mark.parametrize("action", ["cancel", "requeue", "suspend"])
def test_a_job_launched_again_to_its_reconnected_node_hears_what_was_asked_of_it_meanwhile(world, action):
    """The node came back without the job (the launch and what followed it were lost with
    its stream): ctld launches it again. Before: the cancel, requeue or suspend it had
    answered OK was not told again, and the job ran on as if never asked."""
    c, comm = world

    async def scenario():
        job = await running_job(c)
        assert await getattr(c, action)(*((job, "alice") if action == "cancel" else (job,))) == OK
        comm.sent.clear()
        c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=4, memory_mb=4000)),
                      NodeLink())
        return job
    asyncio.run(scenario())
    kinds = [m.WhichOneof("kind") for _, m in comm.sent]
    assert kinds == ["launch", "suspend" if action == "suspend" else "kill"], kinds


def test_a_cancelled_job_its_reconnected_node_still_runs_is_killed_again(world):
    """The kill was lost with the node's stream; the node reports the job running when it
    registers again. Before: a requeue's kill was sent again then, a cancel's was not, and
    the cancelled job ran on to its end."""
    c, comm = world

    async def scenario():
        job = await running_job(c)
        c.on_job_started(nodes_pb2.JobOutcome(job_id=job.id, attempt=job.attempt, running=True, session_id=7))
        assert await c.cancel(job, "alice") == OK
        comm.sent.clear()
        c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=4, memory_mb=4000), jobs=[
            nodes_pb2.JobOutcome(job_id=job.id, attempt=job.attempt, running=True, session_id=7)]), NodeLink())
        return job
    job = asyncio.run(scenario())
    assert sent(comm, "kill", job.id) == [1]


def test_a_cancel_answered_before_ctld_restarts_is_carried_out_by_the_next_ctld(world, tmp_path):
    """The kill may not have left ctld before it stopped. Before: nothing of the cancel was
    stored; the restarted ctld let the job its node still ran go on to its end."""
    c, _ = world

    async def scenario():
        job = await running_job(c)
        c.on_job_started(nodes_pb2.JobOutcome(job_id=job.id, attempt=job.attempt, running=True, session_id=7))
        assert await c.cancel(job, "alice") == OK
        return job
    job = asyncio.run(scenario())
    comm = RecordingComm()
    again, store = make(tmp_path, comm=comm)
    again.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=4, memory_mb=4000), jobs=[
        nodes_pb2.JobOutcome(job_id=job.id, attempt=job.attempt, running=True, session_id=7)]), NodeLink())
    store.close()
    assert sent(comm, "kill", job.id) == [1]
    assert again.get(job.id).cancelled_by == "alice"
