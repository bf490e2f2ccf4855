"""Interactive allocations without a network: salloc's command line and lines (as Slurm
22.05 prints them, checked against the anchor), the environment salloc and qsub -I give
their command, and ctld's side of Jobs.Allocate on a real Controller."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time

import pytest

from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.ctld import allocations
from hpcq.ctld.auth import Caller
from hpcq.ctld.errors import InvalidArgument
from hpcq.ctld.nodes_state import NodeLink
from hpcq.errors import HpcqError
from hpcq.shims import interactive
from hpcq.shims.errors import ShimError
from hpcq.shims.slurm import salloc
from hpcq.shims.submit_context import SubmitContext
from tests.unit.controllers import RecordingComm, make

S = jobs_pb2.JobState
CTX = SubmitContext(cwd="/home/ann/work", host="login1", user="ann", environ={"PATH": "/bin", "SECRET": "x"},
                    now=1_800_000_000.0)


# -- salloc's command line --------------------------------------------------------------------

def test_salloc_takes_sbatchs_job_options_and_a_command():
    request = salloc.parse(["-n2", "-c", "2", "-t", "10", "-p", "debug", "--kill-command=HUP", "hostname", "-f"], CTX)
    spec = request.spec
    assert (spec.resources.tasks, spec.resources.cpus_per_task, spec.walltime_seconds, spec.queue) == (2, 2, 600,
                                                                                                      "debug")
    assert (spec.name, spec.submit_dir, spec.script, dict(spec.environment)) == ("interactive", "/home/ann/work", "",
                                                                                 {})
    assert (request.command, request.kill_signal) == (["hostname", "-f"], 1)
    assert salloc.parse([], CTX).command == []     # the user's shell


def test_salloc_words_a_bad_option_as_salloc():
    with pytest.raises(ShimError) as e:
        salloc.parse(["-t", "soon"], CTX)
    assert (e.value.text, e.value.exit_code) == ("salloc: error: Invalid --time specification", 1)
    with pytest.raises(ShimError) as e:
        salloc.parse(["--array=1-3", "true"], CTX)
    assert e.value.text.startswith("salloc: unrecognized option '--array=1-3'")


def test_salloc_lines_are_slurms():
    assert salloc.pending_lines(36) == ["salloc: Pending job allocation 36",
                                        "salloc: job 36 queued and waiting for resources"]
    assert salloc.granted_lines(36, waited=False) == ["salloc: Granted job allocation 36"]
    assert salloc.granted_lines(36, waited=True) == ["salloc: job 36 has been allocated resources",
                                                     "salloc: Granted job allocation 36"]
    assert salloc.relinquish_line(34) == "salloc: Relinquishing job allocation 34"
    assert salloc.ended_line(jobs_pb2.Job(id=37, state=S.CANCELLED)) == "salloc: Job allocation 37 has been revoked."
    assert salloc.ended_line(jobs_pb2.Job(id=5, state=S.TIMEOUT)) == \
        "salloc: Job 5 has exceeded its time limit and its allocation has been revoked."


def test_a_refused_allocation_reads_as_salloc_prints_it():
    error = HpcqError("INVALID_ARGUMENT", "TOO_BIG: 1 node(s) with 64 CPUs exceed queue batch's nodes")
    assert salloc.allocation_failure(error, "").text == (
        "salloc: error: 1 node(s) with 64 CPUs exceed queue batch's nodes\n"
        "salloc: error: Job submit/allocate failed: Requested node configuration is not available")


def _granted(dialect: int = jobs_pb2.DIALECT_SLURM, **resources: int) -> jobs_pb2.Job:
    return jobs_pb2.Job(
        id=42, user="ann", queue="batch", spec=jobs_pb2.JobSpec(
            dialect=dialect, name="interactive", submit_dir="/home/ann/work", submit_host="login1",
            resources=jobs_pb2.Resources(**resources)),
        allocation=jobs_pb2.Allocation(slices=[jobs_pb2.Allocation.Slice(node="n1", cpus=2, mem_mb=100),
                                               jobs_pb2.Allocation.Slice(node="n2", cpus=2, mem_mb=100)]))


def test_salloc_gives_its_command_the_jobs_slurm_variables_but_no_nodes_own():
    env = interactive.allocation_environment(_granted(tasks=4), "hpc", interactive.SLURM_ALLOCATION_VARIABLES)
    assert {k: env[k] for k in ("SLURM_JOB_ID", "SLURM_JOB_NODELIST", "SLURM_NNODES", "SLURM_NTASKS",
                                "SLURM_JOB_CPUS_PER_NODE", "SLURM_CLUSTER_NAME", "SLURM_SUBMIT_DIR")} == {
        "SLURM_JOB_ID": "42", "SLURM_JOB_NODELIST": "n[1-2]", "SLURM_NNODES": "2", "SLURM_NTASKS": "4",
        "SLURM_JOB_CPUS_PER_NODE": "2(x2)", "SLURM_CLUSTER_NAME": "hpc", "SLURM_SUBMIT_DIR": "/home/ann/work"}
    assert not {"SLURMD_NODENAME", "SLURM_PROCID", "SLURM_NODEID", "SLURM_CPUS_ON_NODE"} & set(env)
    assert "SLURM_NTASKS" not in interactive.allocation_environment(_granted(), "hpc",
                                                                    interactive.SLURM_ALLOCATION_VARIABLES)


def test_qsub_interactive_gives_its_shell_the_pbs_variables():
    env = interactive.allocation_environment(_granted(jobs_pb2.DIALECT_PBS), "hpc",
                                             interactive.PBS_ALLOCATION_VARIABLES)
    assert (env["PBS_JOBID"], env["PBS_O_WORKDIR"], env["PBS_QUEUE"], env["NCPUS"]) == ("42.hpc", "/home/ann/work",
                                                                                         "batch", "2")
    assert not [k for k in env if k.startswith("SLURM")]


# -- ctld's side --------------------------------------------------------------------------------

ANN = Caller("ann", "user")


async def _later(requests: asyncio.Queue):
    """What the client sends after its first message, until None: the end of its side."""
    while (request := await requests.get()) is not None:
        yield request


def _controller(tmp_path):
    comm = RecordingComm()
    c, store = make(tmp_path, comm=comm)
    c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=4, memory_mb=4000)), NodeLink())
    return c, store, comm


def test_a_released_allocation_ends_with_its_clients_exit_status_and_frees_its_node(tmp_path):
    c, store, comm = _controller(tmp_path)

    async def scenario() -> list[jobs_pb2.Job]:
        later: asyncio.Queue = asyncio.Queue()
        spec = jobs_pb2.JobSpec(name="interactive", script="echo ignored", resources=jobs_pb2.Resources(tasks=2))
        rooms = allocations.Allocations(c)
        stream = rooms.follow(ANN, await rooms.open(ANN, jobs_pb2.AllocateRequest(spec=spec)), _later(later))
        seen = [await anext(stream)]
        await c.schedule_once()
        seen.append(await anext(stream))
        later.put_nowait(jobs_pb2.AllocateRequest(release=True, exit_code=3))
        seen += [event async for event in stream]
        return seen
    try:
        seen = asyncio.run(scenario())
    finally:
        store.close()
    assert [s.state for s in seen] == [S.PENDING, S.RUNNING, S.FAILED]
    ended = c.jobs[seen[0].id]
    assert (ended.exit_code, ended.spec.allocation, ended.spec.script) == (3, True, "")
    assert c.nodes["n1"].cpus_allocated == 0
    assert [kind for _, kind in comm.kinds()] == ["launch", "kill"]


def test_an_allocation_whose_client_hangs_up_is_cancelled(tmp_path):
    c, store, _ = _controller(tmp_path)

    async def scenario() -> jobs_pb2.Job:
        later: asyncio.Queue = asyncio.Queue()
        rooms = allocations.Allocations(c)
        job = await rooms.open(ANN, jobs_pb2.AllocateRequest(spec=jobs_pb2.JobSpec(hold=True)))
        stream = rooms.follow(ANN, job, _later(later))
        await anext(stream)
        later.put_nowait(None)       # the client's side ends without a release
        return [event async for event in stream][-1]
    try:
        ended = asyncio.run(scenario())
    finally:
        store.close()
    assert (ended.state, ended.cancelled_by) == (S.CANCELLED, "ann")


def test_submit_takes_no_allocation_and_an_allocation_is_one_job():
    with pytest.raises(InvalidArgument, match=r"set only through Jobs\.Allocate"):
        allocations.check_submitted([jobs_pb2.JobSpec(script="x"), jobs_pb2.JobSpec(allocation=True)])
    with pytest.raises(InvalidArgument, match="an allocation is one job"):
        allocations.allocation_spec(jobs_pb2.AllocateRequest(spec=jobs_pb2.JobSpec(
            array=jobs_pb2.ArraySpec(tasks="1-3"))))
    with pytest.raises(InvalidArgument, match="first message"):
        allocations.allocation_spec(jobs_pb2.AllocateRequest(release=True))


def test_a_bad_release_is_refused_and_the_allocation_cancelled(tmp_path):
    c, store, _ = _controller(tmp_path)

    async def scenario() -> jobs_pb2.Job:
        later: asyncio.Queue = asyncio.Queue()
        rooms = allocations.Allocations(c)
        job = await rooms.open(ANN, jobs_pb2.AllocateRequest(spec=jobs_pb2.JobSpec(hold=True)))
        stream = rooms.follow(ANN, job, _later(later))
        await anext(stream)
        later.put_nowait(jobs_pb2.AllocateRequest(release=True, exit_code=300))
        with pytest.raises(InvalidArgument, match="exit_code: 300"):
            await anext(stream)
        await asyncio.gather(*rooms._ending)
        return job
    try:
        ended = asyncio.run(scenario())
    finally:
        store.close()
    assert ended.state == S.CANCELLED


def test_a_term_that_comes_while_the_command_starts_reaches_it(monkeypatch):
    """A TERM to salloc after the command's exec but before Popen has returned (seen under
    load: the command runs, salloc does not know its process yet) still ends the command."""
    real = subprocess.Popen

    def popen_then_term(*args, **kwargs):
        started = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)   # handled here, before Popen's caller has the process
        return started
    monkeypatch.setattr(interactive.subprocess, "Popen", popen_then_term)
    began = time.monotonic()
    assert interactive.run_command(["sleep", "20"], env=os.environ) == 128 + signal.SIGTERM
    assert time.monotonic() - began < 10


class _GrantedAllocation:
    """An allocation that is granted at once and ends when released."""

    def __init__(self) -> None:
        self.released: list[int] = []
        self._released = threading.Event()

    def events(self):
        yield jobs_pb2.Job(id=7, state=jobs_pb2.RUNNING)
        self._released.wait(30)
        yield jobs_pb2.Job(id=7, state=jobs_pb2.COMPLETED)

    def release(self, exit_code: int) -> None:
        self.released.append(exit_code)
        self._released.set()

    def close(self) -> None:
        pass


def test_a_term_between_the_grant_and_the_command_interrupts_and_the_allocation_is_given_up():
    """salloc, srun and qsub -I release in an `except BaseException` around everything from the
    grant to the release: TERM must come there as an exception, not end the process."""
    before = signal.getsignal(signal.SIGTERM)
    allocation = _GrantedAllocation()
    held = interactive.Held(allocation)   # type: ignore[arg-type]
    assert held.granted(lambda job: None).state == jobs_pb2.RUNNING
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)   # interrupted by the handler's exception at once; a bound, should it not come
    held.close()
    assert allocation.released == [1]
    assert signal.getsignal(signal.SIGTERM) is before


class _QueuedAllocation(_GrantedAllocation):
    """An allocation that waits in the queue until released (ctld then cancels it)."""

    def events(self):
        yield jobs_pb2.Job(id=9, state=jobs_pb2.PENDING)
        self._released.wait(30)
        yield jobs_pb2.Job(id=9, state=jobs_pb2.CANCELLED)


def test_a_c_as_qsub_says_it_waits_gives_the_allocation_up(monkeypatch, capsys):
    """^C typed the moment "waiting for job" is printed (the interrupt raised as the line is
    written) deletes the job, as one a moment later does."""
    from types import SimpleNamespace

    from hpcq.shims.pbs import qsub
    allocation = _QueuedAllocation()
    monkeypatch.setattr(interactive.Held, "request", classmethod(lambda cls, client, spec: cls(allocation)))
    said = []

    def say(line: str) -> None:
        said.append(line)
        if "waiting" in line:
            raise KeyboardInterrupt
    monkeypatch.setattr(qsub, "_say", say)
    try:
        status = qsub._interactive(jobs_pb2.JobSpec(), SimpleNamespace(client=None, cluster="c"))
    except KeyboardInterrupt:
        pytest.fail("the interrupt left qsub without giving the allocation up")
    assert status == 1 and allocation.released == [1]
    assert said == ["qsub: waiting for job 9.c to start", "qsub: job 9.c deleted"]
