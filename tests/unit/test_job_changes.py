"""Changing jobs after submit, on the controller alone (a real store, a RecordingComm, a
ManualClock): array tasks as targets (N_i, N[i]), the array's id acting on every task at
every stage, requeue, suspend and resume, and the update rules."""
from __future__ import annotations

import asyncio

import pytest

from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.ctld import auth, scheduler, server
from hpcq.ctld import jobs as jobrules
from hpcq.ctld.clock import ManualClock
from hpcq.ctld.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from hpcq.ctld.nodes_state import NodeLink
from tests.unit.controllers import RecordingComm, make
from tests.unit.test_read_rules import Context, Gate

S = jobs_pb2.JobState
R = jobs_pb2.JobActionResult
OK = (R.OK, "")
SCRIPT = "#!/bin/sh\nsleep 100\n"


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def world(tmp_path):
    """A controller with one 4-CPU node, what it sends and its clock."""
    clock, comm = ManualClock(), RecordingComm()
    c, store = make(tmp_path, clock=clock, comm=comm)
    c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=4, memory_mb=4000)), NodeLink())
    comm.kinds()
    yield c, comm, clock
    store.close()


def array(tasks: str, **fields) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(script=SCRIPT, array=jobs_pb2.ArraySpec(tasks=tasks), **fields)


def killed(comm: RecordingComm) -> list[int]:
    ids = [m.kill.job_id for _, m in comm.sent if m.WhichOneof("kind") == "kill"]
    comm.sent.clear()
    return ids


def task_record(c, array_id: int, index: int) -> jobs_pb2.Job:
    target = c.array_task(array_id, index)
    assert target is not None and not target.pending
    return target.job


def end(c, job: jobs_pb2.Job, state=S.CANCELLED) -> None:
    c.on_job_finished("n1", nodes_pb2.JobOutcome(job_id=job.id, attempt=job.attempt, state=state,
                                                 end_time=c.clock.wall()))


# -- array tasks by index -----------------------------------------------------------------

def test_cancelling_a_running_task_by_index_kills_it_alone_and_the_array_id_kills_the_rest(world):
    c, comm, _ = world

    async def scenario():
        [a] = await c.submit("alice", [array("1-4")])
        assert await c.schedule_once() == 4
        comm.sent.clear()
        tasks = {i: task_record(c, a, i) for i in range(1, 5)}
        assert tasks[4].id == a          # the last task to start took over the array's record
        assert await c.cancel(c.array_task(a, 2), "alice") == OK
        assert killed(comm) == [tasks[2].id]
        end(c, tasks[2])
        assert await c.cancel(c.jobs[a], "alice") == OK
        assert sorted(killed(comm)) == sorted(tasks[i].id for i in (1, 3, 4))
        return tasks
    tasks = run(scenario())
    assert tasks[2].state == S.CANCELLED and all(tasks[i].state == S.RUNNING for i in (1, 3, 4))


def test_a_pending_task_cancelled_by_index_becomes_a_cancelled_record_of_its_own(world):
    c, _, _ = world

    async def scenario():
        [a] = await c.submit("alice", [array("1-5", hold=True)])
        before = c.backlog.of_user["alice"]
        assert await c.cancel(c.array_task(a, 3), "alice") == OK
        return a, before
    a, before = run(scenario())
    task = task_record(c, a, 3)
    assert (task.id != a, task.state, task.array_job_id, task.array_task_id, task.cancelled_by) == (
        True, S.CANCELLED, a, 3, "alice")
    assert c.jobs[a].array_tasks_pending == "1-2,4-5" and c.jobs[a].state == S.HELD
    assert c.backlog.of_user["alice"] == before - 1
    # What sacct's List reads: N_3 CANCELLED.
    listed = filter(jobrules.list_filter(jobs_pb2.ListJobsRequest(include_finished=True)), c.jobs.values())
    assert [(j.array_task_id, j.state) for j in listed if j.id == task.id] == [(3, S.CANCELLED)]


def test_a_pending_task_held_by_index_is_split_out_and_released_back_to_the_queue(world):
    c, _, _ = world
    published = []

    async def scenario():
        [a] = await c.submit("alice", [array("1-3", begin_time=c.clock.wall() + 3600)])
        sub = c.watchers.subscribe(lambda job: auth.View.FULL)
        assert await c.hold(c.array_task(a, 2), admin=False) == OK
        published.extend([(await sub.next()).id, (await sub.next()).id])
        task = task_record(c, a, 2)
        assert (task.state, task.reason) == (S.HELD, "JobHeldUser")
        assert await c.release(c.array_task(a, 2)) == OK
        return a, task
    a, task = run(scenario())
    assert task.state == S.WAITING and c.jobs[a].array_tasks_pending == "1,3"
    assert sorted(published) == sorted([a, task.id])       # watchers hear of both records


def test_the_last_pending_task_split_out_takes_over_the_arrays_record(world):
    c, _, _ = world

    async def scenario():
        [a] = await c.submit("alice", [array("7", hold=True)])
        assert await c.release(c.array_task(a, 7)) == OK
        return a
    a = run(scenario())
    head = c.jobs[a]
    assert (head.array_tasks_pending, head.array_task_id, head.state) == ("", 7, S.PENDING)
    assert c.array_task(a, 7).job is head and c.array_task(a, 8) is None


def test_actions_that_need_a_started_task_change_nothing_of_the_pending_rest(world):
    c, _, _ = world

    async def scenario():
        [a] = await c.submit("alice", [array("1-3", hold=True)])
        return a, [await c.signal(c.array_task(a, 1), 10), await c.requeue(c.array_task(a, 1)),
                   await c.suspend(c.array_task(a, 1)), await c.release(c.array_task(a, 1), staff=False)]
    run_a, results = run(scenario())
    assert [code for code, _ in results] == [R.INVALID_STATE, R.INVALID_STATE, R.INVALID_STATE, R.OK]
    assert c.jobs[run_a].array_tasks_pending == "2-3"


def test_the_array_id_holds_its_pending_rest_and_the_tasks_split_out_of_it(world):
    c, _, _ = world

    async def scenario():
        [a] = await c.submit("alice", [array("1-3", begin_time=c.clock.wall() + 3600)])
        await c.hold(c.array_task(a, 1), admin=False)
        await c.release(c.array_task(a, 1))
        assert await c.hold(c.jobs[a], admin=False) == OK
        return a
    a = run(scenario())
    assert {c.jobs[a].state, task_record(c, a, 1).state} == {S.HELD}


def test_a_cancelled_arrays_pending_rest_counts_no_more_and_satisfies_afterany(world):
    c, _, _ = world

    async def scenario():
        [a] = await c.submit("alice", [array("1-3", hold=True)])
        await c.cancel(c.jobs[a], "alice")
        return a
    a = run(scenario())
    assert c.backlog.of_user["alice"] == 0
    assert c.table.phase(scheduler.Target(a)) == scheduler.Phase.of_state("CANCELLED")


# -- requeue ------------------------------------------------------------------------------

def test_a_requeued_running_job_is_killed_then_queued_and_runs_again_as_attempt_2(world):
    c, comm, _ = world

    async def scenario():
        [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        await c.schedule_once()
        comm.sent.clear()
        assert await c.requeue(c.jobs[j]) == OK
        assert killed(comm) == [j]
        end(c, c.jobs[j])
        job = c.jobs[j]
        assert (job.state, job.reason, job.attempt, job.end_time) == (S.PENDING, "None", 1, 0.0)
        assert await c.schedule_once() == 1
        return j
    j = run(scenario())
    assert (c.jobs[j].state, c.jobs[j].attempt) == (S.RUNNING, 2)


def test_requeuehold_brings_a_running_job_back_held(world):
    c, _, _ = world

    async def scenario():
        [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        await c.schedule_once()
        assert await c.requeue(c.jobs[j], held=True) == OK
        end(c, c.jobs[j])
        return c.jobs[j]
    job = run(scenario())
    assert (job.state, job.reason) == (S.HELD, "JobHeldUser")


def test_a_finished_job_is_requeued_at_once_and_its_steps_stay_with_their_attempt(world):
    c, _, _ = world

    async def scenario():
        [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        await c.schedule_once()
        end(c, c.jobs[j], S.COMPLETED)
        assert c.jobs[j].state == S.COMPLETED
        assert await c.requeue(c.jobs[j]) == OK
        return c.jobs[j]
    job = run(scenario())
    assert (job.state, job.attempt, job.end_time) == (S.PENDING, 1, 0.0)
    assert c.backlog.of_user["alice"] == 1


def test_each_requeued_run_is_kept_for_sacct_and_only_the_last_few(world):
    c, _, _ = world

    async def scenario():
        [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        await c.schedule_once()
        assert await c.requeue(c.jobs[j]) == OK      # running: killed, then back
        end(c, c.jobs[j])
        await c.schedule_once()
        end(c, c.jobs[j], S.COMPLETED)
        assert await c.requeue(c.jobs[j]) == OK      # finished: back at once
        return c.jobs[j]
    job = run(scenario())
    assert [(r.attempt, r.state) for r in job.runs] == [(1, S.CANCELLED), (2, S.COMPLETED)]
    assert all(r.start_time and r.end_time >= r.start_time and r.allocation.slices for r in job.runs)
    assert (job.state, job.start_time, job.end_time) == (S.PENDING, job.start_time, 0.0)

    for _ in range(jobrules.MAX_KEPT_RUNS + 3):
        jobrules.keep_run(job)
    assert len(job.runs) == jobrules.MAX_KEPT_RUNS


def test_requeue_is_refused_for_pending_jobs_and_jobs_that_may_not_be_requeued(world):
    c, _, _ = world

    async def scenario():
        [pending] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT, hold=True)])
        [never] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT, requeue=False)])
        await c.schedule_once()
        return await c.requeue(c.jobs[pending]), await c.requeue(c.jobs[never])
    on_pending, on_never = run(scenario())
    assert on_pending == (R.INVALID_STATE, "Job is pending execution")
    assert on_never[0] == R.INVALID_STATE and on_never[1].startswith("Requested operation is presently disabled")


# -- suspend and resume -------------------------------------------------------------------

def test_a_suspended_job_keeps_its_cpus_and_its_node_is_told_to_stop_then_continue_it(world):
    c, comm, _ = world

    async def scenario():
        [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        await c.schedule_once()
        comm.sent.clear()
        free = c.nodeset.free_cpus()
        assert await c.suspend(c.jobs[j]) == OK
        assert c.jobs[j].state == S.SUSPENDED and c.nodeset.free_cpus() == free
        assert await c.suspend(c.jobs[j]) == (R.INVALID_STATE, "Job is not running")
        assert await c.resume(c.jobs[j]) == OK
        return [(node, m.suspend.job_id, m.suspend.resume) for node, m in comm.sent]
    sent = run(scenario())
    assert [(node, resume) for node, _, resume in sent] == [("n1", False), ("n1", True)]


def test_a_pending_job_cannot_be_suspended_or_resumed(world):
    c, _, _ = world

    async def scenario():
        [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT, hold=True)])
        return await c.suspend(c.jobs[j]), await c.resume(c.jobs[j])
    assert run(scenario()) == ((R.INVALID_STATE, "Job is pending execution"),) * 2


def test_a_suspended_job_that_ends_is_finished_as_any_other(world):
    c, _, _ = world

    async def scenario():
        [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        await c.schedule_once()
        await c.suspend(c.jobs[j])
        await c.cancel(c.jobs[j], "alice")
        end(c, c.jobs[j])
        return c.jobs[j]
    assert run(scenario()).state == S.CANCELLED
    assert c.nodeset.free_cpus() == 4


# -- update -------------------------------------------------------------------------------

def test_users_may_only_lower_a_time_limit_and_staff_may_raise_it(world):
    c, _, _ = world

    async def scenario():
        [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT, walltime_seconds=600, hold=True)])
        await c.update(c.jobs[j], jobs_pb2.JobSpec(walltime_seconds=300), ["walltime_seconds"])
        with pytest.raises(PermissionDenied, match="Access/permission denied"):
            await c.update(c.jobs[j], jobs_pb2.JobSpec(walltime_seconds=900), ["walltime_seconds"])
        await c.update(c.jobs[j], jobs_pb2.JobSpec(walltime_seconds=1200), ["walltime_seconds"], staff=True)
        return c.jobs[j]
    assert run(scenario()).walltime_seconds == 1200


def test_a_dependency_given_as_text_is_read_as_at_submit_and_an_unknown_job_refused(world):
    c, _, _ = world

    async def scenario():
        [first] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        [second] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT, hold=True,
                                                             dialect=jobs_pb2.DIALECT_SLURM)])
        text = jobs_pb2.JobSpec(attributes={"dependency": f"afterok:{first}"})
        await c.update(c.jobs[second], text, ["dependencies", "attributes"])
        deps = list(c.jobs[second].spec.dependencies)
        with pytest.raises(InvalidArgument, match="BAD_DEPENDENCY"):
            await c.update(c.jobs[second], jobs_pb2.JobSpec(attributes={"dependency": "afterok:999"}),
                           ["dependencies", "attributes"])
        return first, deps
    first, deps = run(scenario())
    assert [(d.kind, list(d.job_ids)) for d in deps] == [(jobs_pb2.Dependency.AFTER_OK, [first])]


def test_resources_of_a_running_job_cannot_change(world):
    c, _, _ = world

    async def scenario():
        [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        await c.schedule_once()
        with pytest.raises(FailedPrecondition, match="Job is no longer pending execution"):
            await c.update(c.jobs[j], jobs_pb2.JobSpec(resources=jobs_pb2.Resources(cpus_per_task=2)),
                           ["resources.cpus_per_task"])
    run(scenario())


def test_an_update_of_a_pending_task_changes_that_task_alone(world):
    c, _, _ = world

    async def scenario():
        [a] = await c.submit("alice", [array("1-3", hold=True)])
        task = await c.update(c.array_task(a, 2), jobs_pb2.JobSpec(name="second"), ["name"])
        return a, task
    a, task = run(scenario())
    assert (task.id != a, task.array_task_id, task.spec.name) == (True, 2, "second")
    assert c.jobs[a].spec.name == "" and c.jobs[a].array_tasks_pending == "1,3"


# -- the servicers: task refs in requests and results ------------------------------------

def servicer(c, who: str, role: str = "user"):
    return server.JobsServicer(c, Gate(auth.Caller(who, role)))


def test_a_request_names_tasks_by_index_and_each_result_says_which(world):
    c, _, _ = world

    async def scenario():
        [a] = await c.submit("alice", [array("1-3", hold=True)])
        request = jobs_pb2.JobActionRequest(tasks=[jobs_pb2.ArrayTaskRef(array_job_id=a, task=2),
                                                   jobs_pb2.ArrayTaskRef(array_job_id=a, task=9)])
        by_bob = await servicer(c, "bob").Cancel(request, Context())
        by_alice = await servicer(c, "alice").Cancel(request, Context())
        return a, by_bob, by_alice
    a, by_bob, by_alice = run(scenario())
    assert [r.code for r in by_bob.results] == [R.NOT_PERMITTED, R.UNKNOWN_JOB]
    split, unknown = by_alice.results
    assert (split.code, split.task.array_job_id, split.task.task) == (R.OK, a, 2)
    assert split.job_id == task_record(c, a, 2).id != a and c.jobs[split.job_id].state == S.CANCELLED
    assert (unknown.code, unknown.message, unknown.task.task) == (R.UNKNOWN_JOB, "Invalid job id specified", 9)


def test_a_keyed_action_retried_after_a_lost_answer_is_answered_ok_even_after_a_restart(tmp_path):
    c, store = make(tmp_path)

    async def scenario(c):
        [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT, hold=True)])
        [a] = await c.submit("alice", [array("1-3", hold=True)])
        keyed = jobs_pb2.JobActionRequest(job_ids=[j], tasks=[jobs_pb2.ArrayTaskRef(array_job_id=a, task=2)],
                                          idempotency_key="k1")
        first = await servicer(c, "alice").Cancel(keyed, Context())
        again = await servicer(c, "alice").Cancel(keyed, Context())
        return j, keyed, first, again
    j, keyed, first, again = run(scenario(c))
    assert [r.code for r in first.results] == [R.OK, R.OK]
    assert [r.code for r in again.results] == [R.OK, R.OK]         # the retry: as the first attempt
    store.close()
    c, store = make(tmp_path)                                        # ctld restarted meanwhile

    async def after_restart():
        retried = await servicer(c, "alice").Cancel(keyed, Context())
        other = await servicer(c, "alice").Cancel(jobs_pb2.JobActionRequest(job_ids=[j], idempotency_key="k2"),
                                                  Context())
        plain = await servicer(c, "alice").Cancel(jobs_pb2.JobActionRequest(job_ids=[j]), Context())
        by_bob = await servicer(c, "bob").Cancel(keyed, Context())
        return retried, other, plain, by_bob
    retried, other, plain, by_bob = run(after_restart())
    store.close()
    assert [r.code for r in retried.results] == [R.OK, R.OK]
    assert [r.code for r in other.results] == [R.FINISHED] == [r.code for r in plain.results]
    assert [r.code for r in by_bob.results] == [R.NOT_PERMITTED, R.NOT_PERMITTED]   # a key opens nothing
    assert c.jobs[j].action_keys == ["k1"]


def test_a_bad_action_key_is_refused(world):
    c, _, _ = world

    async def scenario():
        [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT, hold=True)])
        await servicer(c, "alice").Hold(jobs_pb2.JobActionRequest(job_ids=[j], idempotency_key="a b"), Context())
    with pytest.raises(Exception, match="idempotency_key: only printable ASCII characters without spaces"):
        run(scenario())


def test_a_job_keeps_only_its_last_action_keys():
    job = jobs_pb2.Job()
    for n in range(jobrules.MAX_ACTION_KEYS + 2):
        jobrules.remember_action_key(job, f"k{n}")
        jobrules.remember_action_key(job, f"k{n}")
    assert list(job.action_keys) == [f"k{n}" for n in range(2, jobrules.MAX_ACTION_KEYS + 2)]


def test_an_update_names_a_task_by_index(world):
    c, _, _ = world

    async def scenario():
        [a] = await c.submit("alice", [array("1-3", hold=True)])
        request = jobs_pb2.UpdateJobRequest(task=jobs_pb2.ArrayTaskRef(array_job_id=a, task=3),
                                            spec=jobs_pb2.JobSpec(name="third"), fields=["name"])
        return a, (await servicer(c, "alice").Update(request, Context())).job
    a, job = run(scenario())
    assert (job.array_job_id, job.array_task_id, job.spec.name) == (a, 3, "third")


def test_a_job_whose_node_is_not_connected_is_not_suspended(tmp_path):
    c, store = make(tmp_path)

    async def scenario():
        link = NodeLink()
        c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=4, memory_mb=4000)), link)
        [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        await c.schedule_once()
        c.on_disconnect("n1", link)
        return await c.suspend(c.jobs[j]), c.jobs[j].state
    (code, message), state = run(scenario())
    store.close()
    assert (code, state) == (R.INVALID_STATE, S.RUNNING) and "not responding" in message


def test_a_node_that_registers_again_is_told_again_of_a_suspended_job(world):
    c, comm, _ = world

    async def scenario():
        [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        await c.schedule_once()
        await c.suspend(c.jobs[j])
        comm.sent.clear()
        job = c.jobs[j]
        c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=4, memory_mb=4000), jobs=[
            nodes_pb2.JobOutcome(job_id=j, attempt=job.attempt, running=True, state=S.RUNNING, session_id=5)]),
            NodeLink())
        return [(node, m.suspend.job_id, m.suspend.resume) for node, m in comm.sent
                if m.WhichOneof("kind") == "suspend"]
    assert len(run(scenario())) == 1


def test_qalter_depend_text_of_a_pbs_job_makes_it_wait_for_the_other(world):
    c, _, _ = world

    async def scenario():
        [first] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT, walltime_seconds=60,
                                                            resources=jobs_pb2.Resources(cpus_per_task=4))])
        [second] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT, dialect=jobs_pb2.DIALECT_PBS)])
        await c.update(c.jobs[second], jobs_pb2.JobSpec(attributes={"depend": f"afterok:{first}"}),
                       ["dependencies", "attributes"])
        await c.schedule_once()
        return first, c.jobs[first].state, c.jobs[second]
    first, first_state, second = run(scenario())
    assert first_state == S.RUNNING
    assert (second.state, second.reason) == (S.PENDING, "Dependency")
    assert [list(d.job_ids) for d in second.spec.dependencies] == [[first]]


def test_a_split_out_task_and_the_rest_it_left_survive_a_restart(tmp_path):
    c, store = make(tmp_path)

    async def scenario():
        [a] = await c.submit("alice", [array("1-4", hold=True)])
        await c.release(c.array_task(a, 3))
        return a, task_record(c, a, 3).id
    a, task_id = run(scenario())
    store.close()
    again, store = make(tmp_path)
    assert again.array_task(a, 3).job.id == task_id and task_id in again.queued
    assert again.jobs[a].array_tasks_pending == "1-2,4" and again.backlog.of_user["alice"] == 4
    assert again.next_job_id > task_id
    store.close()


def test_a_requeue_asked_before_a_restart_still_requeues_when_the_run_ends_after_it(tmp_path):
    clock, comm = ManualClock(), RecordingComm()
    c, store = make(tmp_path, clock=clock, comm=comm)
    node = nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=4, memory_mb=4000))
    c.on_register(node, NodeLink())

    async def scenario():
        [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        await c.schedule_once()
        c.on_job_started(nodes_pb2.JobOutcome(job_id=j, attempt=1, running=True, start_time=clock.wall(),
                                              session_id=7))
        assert await c.requeue(c.jobs[j], held=True) == OK
        return j
    j = run(scenario())
    store.close()
    again_comm = RecordingComm()
    again, store = make(tmp_path, clock=clock, comm=again_comm)
    # The node still runs it (the kill was lost with the old ctld): it is told again.
    running = nodes_pb2.JobOutcome(job_id=j, attempt=1, running=True, start_time=clock.wall(), session_id=7)
    again.on_register(nodes_pb2.Register(name="n1", hardware=node.hardware, jobs=[running]), NodeLink())
    assert j in killed(again_comm)
    end(again, again.jobs[j])
    job = again.jobs[j]
    store.close()
    assert (job.state, job.reason, job.HasField("requeue_held")) == (S.HELD, "JobHeldUser", False)
    assert [(r.attempt, r.state) for r in job.runs] == [(1, S.CANCELLED)]


def test_a_pending_task_updated_alone_is_queued_as_a_job_of_its_own(tmp_path):
    c, store = make(tmp_path)           # no node: nothing starts

    async def scenario():
        [a] = await c.submit("alice", [array("1-3")])
        task = await c.update(c.array_task(a, 2), jobs_pb2.JobSpec(name="second"), ["name"])
        return a, task
    a, task = run(scenario())
    store.close()
    assert task.state == S.PENDING and task.id in c.queued and c.queued[task.id].array is None
    assert c.queued[a].array is not None and list(c.queued[a].array.indices) == [1, 3]


def test_an_operator_hold_of_a_task_in_a_user_held_rest_is_the_tasks_alone(world):
    c, _, _ = world

    async def scenario():
        [a] = await c.submit("alice", [array("1-3", hold=True)])
        assert await c.hold(c.array_task(a, 1), admin=False) == OK      # held with its rest already
        assert c.array_task(a, 1).pending
        assert await c.hold(c.array_task(a, 2), admin=True) == OK
        return a
    a = run(scenario())
    assert task_record(c, a, 2).reason == "JobHeldAdmin" and c.jobs[a].reason == "JobHeldUser"
    assert c.jobs[a].array_tasks_pending == "1,3"
