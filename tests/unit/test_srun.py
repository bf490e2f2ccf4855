"""srun's options, a step's layout on the allocation, the tasks' environment and CPUs,
the exit report, ctld's step records and sacct's step rows — without processes."""
from __future__ import annotations

import asyncio
import os
import signal

import pytest

from hpcq import stepexec, steplayout
from hpcq.api import jobs_pb2 as pb
from hpcq.ctld import steps
from hpcq.ctld.errors import FailedPrecondition, NotFound
from hpcq.errors import HpcqError
from hpcq.shims.errors import ShimError
from hpcq.shims.slurm import sacct_format as sf
from hpcq.shims.slurm import srun, srun_tasks
from tests.unit.test_controller import SCRIPT, make

S = pb.JobState
JOB_ENV = {"SLURM_JOB_ID": "42", "SLURM_NTASKS": "4", "SLURM_CPUS_PER_TASK": "1", "SLURM_NNODES": "1",
           "SLURMD_NODENAME": "n1", "PATH": "/usr/bin"}


# -- options --------------------------------------------------------------------------------

def test_submitit_s_command_line_parses_and_leaves_the_command_s_options_alone():
    o = srun.parse(["--unbuffered", "--output", "/l/%j_%t_log.out", "--error", "/l/%j_%t_log.err",
                    "/venv/bin/python", "-u", "-m", "submitit.core._submit", "/l"], JOB_ENV)
    assert o.argv == ["/venv/bin/python", "-u", "-m", "submitit.core._submit", "/l"]
    assert (o.unbuffered, o.output, o.error, o.job_id) == (True, "/l/%j_%t_log.out", "/l/%j_%t_log.err", 42)


def test_the_command_line_wins_over_the_job_s_variables():
    o = srun.parse(["-n", "2", "-c2", "-N", "1-2", "-l", "hostname"], JOB_ENV)
    assert (o.tasks, o.cpus_per_task, o.nodes, o.label) == (2, 2, 1, True)
    inherited = srun.parse(["hostname"], JOB_ENV)
    assert (inherited.tasks, inherited.cpus_per_task, inherited.nodes) == (4, 1, 1)
    assert srun.parse(["--ntasks-per-node=3", "-N", "2", "x"], {}).tasks == 6


@pytest.mark.parametrize("argv,message", [
    (["-n", "0", "x"], "srun: error: Invalid number of tasks specification: 0"),
    (["-c", "two", "x"], "srun: error: Invalid cpus-per-task specification: two"),
    (["--cpu-bind=bogus", "x"], "srun: error: Invalid --cpu-bind argument: bogus"),
    (["--open-mode=sometimes", "x"], "srun: error: Invalid --open-mode argument: sometimes"),
    (["--frobnicate", "x"], "srun: unrecognized option '--frobnicate'\nTry \"srun --help\" for more information"),
])
def test_bad_options_are_refused_in_srun_s_words(argv, message):
    with pytest.raises(ShimError) as e:
        srun.parse(argv, {})
    assert (e.value.text, e.value.exit_code) == (message, 1)


def test_cpu_bind_forms():
    assert steplayout.parse_cpu_bind("none") == steplayout.CpuBind()
    assert steplayout.parse_cpu_bind("verbose,cores") == steplayout.CpuBind("block", (), True)
    assert steplayout.parse_cpu_bind("map_cpu:0,2").lists == (frozenset({0}), frozenset({2}))
    assert steplayout.parse_cpu_bind("quiet,mask_cpu:0x3,0xc").lists == (frozenset({0, 1}), frozenset({2, 3}))
    for bad in ("bogus", "map_cpu:x", "mask_cpu:0x0"):
        with pytest.raises(ValueError, match="--cpu-bind"):
            steplayout.parse_cpu_bind(bad)


def test_export_all_none_and_lists():
    env = {"A": "1", "B": "2", "SLURM_JOB_ID": "42"}
    assert stepexec.exported(env, "ALL") == env
    assert stepexec.exported(env, "NONE") == {"SLURM_JOB_ID": "42"}
    assert stepexec.exported(env, "A,C=3") == {"SLURM_JOB_ID": "42", "A": "1", "C": "3"}
    assert stepexec.exported(env, "ALL,B=9") == {**env, "B": "9"}


def test_outside_a_job_srun_takes_the_allocations_size_and_limits(monkeypatch):
    o = srun.parse(["-n2", "-t", "5", "-p", "debug", "--mem=1G", "--pty", "bash"], {})
    assert (o.tasks, o.job_id, o.pty, o.argv) == (2, 0, True, ["bash"])
    assert o.allocation == [("time", "5"), ("partition", "debug"), ("mem", "1G")]


def test_a_refused_step_is_printed_as_slurm_does():
    error = HpcqError("FAILED_PRECONDITION", "STEP_TOO_BIG: 3 task(s) of 1 CPU(s) need 3 CPUs on 1 node(s)")
    assert srun.step_failure(error, 7).text == (
        "srun: error: Unable to create step for job 7: More processors requested than permitted\n"
        "srun: error: 3 task(s) of 1 CPU(s) need 3 CPUs on 1 node(s)")


# -- the step's layout (ctld) -----------------------------------------------------------------

def running_job(*slices: tuple[str, int], attempt: int = 1) -> pb.Job:
    job = pb.Job(id=42, user="alice", state=S.RUNNING, attempt=attempt, start_time=100.0)
    for name, cpus in slices:
        job.allocation.slices.add(node=name, cpus=cpus, cpu_ids=list(range(cpus)))
    return job


def test_tasks_fill_the_nodes_in_order_one_each_first():
    assert steps.layout(2, 1, [("a", 4), ("b", 4)]) == [1, 1]
    assert steps.layout(5, 1, [("a", 4), ("b", 4)]) == [4, 1]
    assert steps.layout(3, 2, [("a", 4), ("b", 2)]) == [2, 1]
    with pytest.raises(FailedPrecondition, match="STEP_TOO_BIG"):
        steps.layout(3, 1, [("a", 2)])


def test_a_plan_uses_as_many_nodes_as_asked_and_numbers_steps_per_attempt():
    job = running_job(("a", 2), ("b", 2))
    step = steps.plan(job, pb.CreateStepRequest(name="hostname", ntasks=2, nodes=1), 200.0)
    assert (step.step_id, list(step.nodes), list(step.tasks_per_node), step.cpus) == (0, ["a"], [2], 2)
    assert list(steps.plan(job, pb.CreateStepRequest(ntasks=1), 200.0).nodes) == ["a"]      # not more nodes than tasks
    assert list(steps.plan(job, pb.CreateStepRequest(ntasks=4), 200.0).nodes) == ["a", "b"]
    job.steps.add(step_id=0, attempt=1)
    job.steps.add(step_id=0, attempt=0)
    assert steps.plan(job, pb.CreateStepRequest(), 200.0).step_id == 1
    with pytest.raises(FailedPrecondition, match="STEP_TOO_BIG"):
        steps.plan(job, pb.CreateStepRequest(nodes=3), 200.0)


def test_a_step_ends_by_its_report_or_with_its_job():
    step = pb.JobStep(state=S.RUNNING)
    steps.finish(step, pb.FinishStepRequest(exit_code=3), 300.0)
    assert (step.state, step.exit_code, step.end_time) == (S.FAILED, 3, 300.0)
    job = running_job(("a", 1))
    job.steps.add(state=S.RUNNING)
    job.steps.add(state=S.COMPLETED, end_time=5.0)
    job.state = S.CANCELLED
    assert steps.close_running(job, 400.0)
    assert [(s.state, s.end_time) for s in job.steps] == [(S.CANCELLED, 400.0), (S.COMPLETED, 5.0)]


# -- the controller --------------------------------------------------------------------------

def test_the_controller_records_steps_durably_and_refuses_them_for_jobs_not_running(tmp_path):
    c, store = make(tmp_path)

    async def scenario():
        [job_id] = await c.submit("alice", [pb.JobSpec(script=SCRIPT)])
        job = c.jobs[job_id]
        with pytest.raises(FailedPrecondition, match="JOB_NOT_RUNNING"):
            await c.create_step(job, pb.CreateStepRequest(ntasks=1))
        job.state, job.attempt = S.RUNNING, 1
        job.allocation.slices.add(node="n1", cpus=2)
        first = await c.create_step(job, pb.CreateStepRequest(name="a", ntasks=2))
        second = await c.create_step(job, pb.CreateStepRequest(name="b"))
        done = await c.finish_step(job, pb.FinishStepRequest(step_id=0, exit_code=0))
        again = await c.finish_step(job, pb.FinishStepRequest(step_id=0, exit_code=9))
        with pytest.raises(NotFound, match="UNKNOWN_STEP"):
            await c.finish_step(job, pb.FinishStepRequest(step_id=7))
        return job_id, first, second, done, again
    job_id, first, second, done, again = asyncio.run(scenario())
    assert (first.step_id, second.step_id, done.state, again.exit_code) == (0, 1, S.COMPLETED, 0)
    store.close()
    c2, store2 = make(tmp_path)
    assert [(s.name, s.state) for s in c2.jobs[job_id].steps] == [("a", S.COMPLETED), ("b", S.RUNNING)]
    store2.close()


# -- the tasks (srun) ----------------------------------------------------------------------

def step(nodes=("n1",), tasks=(2,), step_id=3, cpus_per_task=1) -> pb.JobStep:
    return pb.JobStep(step_id=step_id, nodes=nodes, tasks_per_node=tasks, ntasks=sum(tasks),
                      cpus_per_task=cpus_per_task)


def test_the_tasks_of_this_node_and_their_environment():
    s = step(("n1", "n2"), (2, 1))
    assert steplayout.node_ranks(s, "n2") == (1, [2])
    assert steplayout.node_ranks(s, "n3") == (-1, [])
    env = stepexec.task_environment({"SLURM_JOB_NODELIST": "n[1-2]", "HOME": "/h"}, s, "n1", 0, 1, 1, [0, 1],
                                    [2], steplayout.CpuBind("block"))
    assert env["HOME"] == "/h" and env["SLURM_JOB_NODELIST"] == "n[1-2]"
    assert {k: env[k] for k in ("SLURM_STEP_ID", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_NODEID", "SLURM_NTASKS",
                                 "SLURM_STEP_NUM_TASKS", "SLURM_STEP_NODELIST", "SLURM_STEP_TASKS_PER_NODE",
                                 "SLURM_GTIDS", "SLURM_NNODES", "SLURM_CPU_BIND")} == {
        "SLURM_STEP_ID": "3", "SLURM_PROCID": "1", "SLURM_LOCALID": "1", "SLURM_NODEID": "0", "SLURM_NTASKS": "3",
        "SLURM_STEP_NUM_TASKS": "3", "SLURM_STEP_NODELIST": "n[1-2]", "SLURM_STEP_TASKS_PER_NODE": "2,1",
        "SLURM_GTIDS": "0,1", "SLURM_NNODES": "2", "SLURM_CPU_BIND": "quiet,mask_cpu:0x4"}


def test_cpu_binding_per_local_task():
    block, none = steplayout.CpuBind("block"), steplayout.CpuBind()
    assert steplayout.task_cpus(block, 1, 2, [4, 5, 6, 7]) == [6, 7]
    assert steplayout.task_cpus(none, 1, 2, [4, 5, 6, 7]) == []
    assert steplayout.task_cpus(steplayout.parse_cpu_bind("map_cpu:5,3"), 3, 1, [0]) == [3]
    assert steplayout.cpu_mask([0, 3]) == "0x9"


def test_the_highest_exit_code_wins_and_signals_count_as_128_plus():
    exited = lambda code: code << 8  # noqa: E731 - a wait status
    code, step_code, step_signal, lines = srun_tasks.exit_report(
        {0: ("n1", exited(0)), 1: ("n1", exited(3)), 2: ("n1", exited(3)), 3: ("n2", exited(2))})
    assert (code, step_code, step_signal) == (3, 3, 0)
    assert lines == ["srun: error: n1: tasks 1-2: Exited with exit code 3",
                     "srun: error: n2: task 3: Exited with exit code 2"]
    code, _, step_signal, lines = srun_tasks.exit_report({0: ("n1", signal.SIGKILL)})
    assert (code, step_signal, lines) == (137, 9, ["srun: error: n1: task 0: Killed"])


# -- sacct -----------------------------------------------------------------------------------

def test_sacct_lists_steps_after_the_batch_step_with_their_own_values():
    job = running_job(("vm", 2))
    job.spec.name, job.queue, job.state, job.end_time = "job", "batch", S.COMPLETED, 160.0
    job.steps.add(step_id=0, name="date", ntasks=1, cpus_per_task=1, nodes=["vm"], tasks_per_node=[1], attempt=1,
                  state=S.COMPLETED, start_time=110.0, end_time=150.0, cpus=1)
    job.steps.add(step_id=1, name="false", ntasks=2, cpus_per_task=1, nodes=["vm"], tasks_per_node=[2], attempt=1,
                  state=S.FAILED, exit_code=1, start_time=150.0, end_time=151.0, cpus=2)
    job.steps.add(step_id=0, name="old", attempt=0, state=S.COMPLETED)     # an earlier run's: not shown
    columns = sf.parse_fields("JobID,JobName,Partition,AllocCPUS,NTasks,State,ExitCode,Elapsed,NodeList")
    assert sf.render([job], 200.0, columns, parsable="P").splitlines()[1:] == [
        "42|job|batch|2||COMPLETED|0:0|00:01:00|vm",
        "42.batch|batch||2|1|COMPLETED|0:0|00:01:00|vm",
        "42.0|date||1|1|COMPLETED|0:0|00:00:40|vm",
        "42.1|false||2|2|FAILED|1:0|00:00:01|vm",
    ]
    assert len(sf.render([job], 200.0, columns, parsable="P", allocations_only=True).splitlines()) == 2


def test_srun_main_runs_nothing_without_a_command(monkeypatch, capsys):
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    assert srun.main([]) == 1
    assert capsys.readouterr().err == "srun: fatal: No command given to execute.\n"
    assert os.environ["SLURM_JOB_ID"] == "42"


def test_the_other_nodes_ranks_and_their_reports_taken_once():
    s = step(("a", "b", "c"), (2, 1, 0))
    s.launch_node = "a"
    assert steps.remote_nodes(s) == ["b"]
    assert (steps.ranks_on(s, "a"), steps.ranks_on(s, "b"), steps.ranks_on(s, "z")) == ([0, 1], [2], [])
    assert steps.record_remote_exits(s, "b", [pb.TaskExit(rank=2, wait_status=256), pb.TaskExit(rank=0)])
    assert not steps.record_remote_exits(s, "b", [pb.TaskExit(rank=2, wait_status=0)])
    assert [(e.rank, e.node, e.wait_status) for e in s.remote_exits] == [(2, "b", 256)]
    assert steps.remote_nodes(step(("a", "b"), (1, 1))) == []     # srun said not where it runs


def test_ctld_starts_the_other_nodes_tasks_and_kills_them_when_the_job_ends(tmp_path):
    from hpcq.api import nodes_pb2
    from hpcq.ctld.nodes_state import NodeLink
    c, store = make(tmp_path)
    links = {"n1": NodeLink(), "n2": NodeLink()}

    async def scenario():
        for name, link in links.items():
            c.on_register(nodes_pb2.Register(name=name, hardware=nodes_pb2.Hardware(cpus=1, memory_mb=100)), link)
        [job_id] = await c.submit("alice", [pb.JobSpec(script=SCRIPT, resources=pb.Resources(nodes=2, tasks=2))])
        await c.schedule_once()
        job = c.jobs[job_id]
        launch = pb.StepLaunch(launch_node=job.allocation.slices[0].node, argv=["hostname"])
        made = await c.create_step(job, pb.CreateStepRequest(ntasks=2, launch=launch))
        other = job.allocation.slices[1].node
        c.on_step_tasks_ended(other, nodes_pb2.StepTasksEnded(job_id=job_id, attempt=1, step_id=0,
                                                              tasks=[pb.TaskExit(rank=1, wait_status=0)]))
        await asyncio.sleep(0)
        c.on_job_finished(job.allocation.slices[0].node, nodes_pb2.JobOutcome(
            job_id=job_id, attempt=1, state=S.COMPLETED, end_time=1.0))
        await asyncio.sleep(0.05)
        return job, made, other
    job, made, other = asyncio.run(scenario())
    sent = []
    while not links[other].outbox.empty():
        sent.append(links[other].outbox.get_nowait())
    kinds = [m.WhichOneof("kind") for m in sent if m is not None]
    assert "launch_step" in kinds and "signal_step" in kinds
    launch = next(m.launch_step for m in sent if m is not None and m.WhichOneof("kind") == "launch_step")
    assert (list(launch.launch.argv), launch.step.step_id, list(made.nodes)) == (["hostname"], 0, ["n1", "n2"])
    assert [(e.rank, e.node) for e in job.steps[0].remote_exits] == [(1, other)]
    assert job.steps[0].state == S.CANCELLED
    store.close()
