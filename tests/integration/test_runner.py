"""JobRunner with real forks: the launcher, supervisors and jobs, a spool in tmp_path,
no ctld and no grpc. Every wait has a deadline; nothing sleeps to synchronise."""
from __future__ import annotations

import asyncio
import functools
import os
import pwd
import shutil
import stat
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from hpcq.api import jobs_pb2 as pb
from hpcq.api import nodes_pb2
from hpcq.noded import spool
from hpcq.noded.runner import JobRunner

pytestmark = pytest.mark.integration

NODE = "node1"
ME = pwd.getpwuid(os.getuid()).pw_name


def run_async(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), 30))
    return wrapper


class Ends:
    """on_finished, as futures one can wait for with a deadline."""

    def __init__(self) -> None:
        self.futures: dict[tuple[int, int], asyncio.Future[nodes_pb2.JobOutcome]] = {}
        self.calls: list[nodes_pb2.JobOutcome] = []

    def _future(self, key: tuple[int, int]) -> asyncio.Future[nodes_pb2.JobOutcome]:
        return self.futures.setdefault(key, asyncio.get_running_loop().create_future())

    def __call__(self, outcome: nodes_pb2.JobOutcome) -> None:
        self.calls.append(outcome)
        future = self._future((outcome.job_id, outcome.attempt))
        if not future.done():
            future.set_result(outcome)

    async def of(self, job_id: int, attempt: int = 1, timeout: float = 10) -> nodes_pb2.JobOutcome:
        return await asyncio.wait_for(asyncio.shield(self._future((job_id, attempt))), timeout)


class Node:
    """A runner over a spool and TMPDIR root in one directory, with its Ends."""

    def __init__(self, root: Path, allow_root: bool = True) -> None:
        self.root = root
        self.spool = root / "spool"
        self.tmp = root / "tmp"
        self.tmp.mkdir(exist_ok=True)
        self.ends = Ends()
        # Most tests run their jobs as whoever runs the tests, root included.
        self.runner = JobRunner(self.spool, self.tmp, NODE, self.ends, allow_root=allow_root)

    async def __aenter__(self) -> Node:
        await self.runner.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.runner.close()


def make_job(job_id: int, script: str, submit_dir: Path, *, walltime: int = 0, user: str = ME,
             dialect: pb.Dialect = pb.DIALECT_SLURM, attempt: int = 1, **spec: Any) -> pb.Job:
    return pb.Job(id=job_id, attempt=attempt, user=user, queue="batch", walltime_seconds=walltime,
                  spec=pb.JobSpec(dialect=dialect, name=f"job{job_id}", script=script, submit_dir=str(submit_dir),
                                  submit_host="login1", **spec),
                  allocation=pb.Allocation(slices=[pb.Allocation.Slice(node=NODE, cpus=1, mem_mb=100)]))


def group_members(pgid: int) -> list[int]:
    members = []
    for p in psutil.process_iter():
        try:
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                members.append(p.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
    return members


def stopped(pid: int) -> bool:
    """The process is stopped (SIGSTOP)."""
    return psutil.Process(pid).status() == psutil.STATUS_STOPPED


async def until(condition: Callable[[], Any], timeout: float = 5, what: str = "") -> Any:
    """The first truthy value of condition(), looked at on every loop turn until the deadline."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.01)
    return value


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    d = tmp_path / "work dir"
    d.mkdir()
    return d


# --- a job's life ----------------------------------------------------------------------

@run_async
async def test_job_output_environment_and_exit(tmp_path: Path, workdir: Path) -> None:
    async with Node(tmp_path) as node:
        script = ("#!/bin/bash\necho out $1 $SLURM_JOB_ID $PBS_JOBID; echo err >&2; pwd; "
                  "echo $TMPDIR $SLURM_TASK_PID $$\n")
        started = await node.runner.launch(make_job(1, script, workdir, argv=["a1"]), "c1", 1)
        assert started.running and started.state == pb.RUNNING and started.session_id > 0
        assert started.start_time == pytest.approx(time.time(), abs=5)

        ended = await node.ends.of(1)
        assert (ended.state, ended.exit_code, ended.signal, ended.running) == (pb.COMPLETED, 0, 0, False)
        assert ended.end_time >= ended.start_time and ended.max_rss_kb > 0
        pid = started.session_id
        out, err, cwd, tmp = (workdir / "slurm-1.out").read_text().splitlines()
        assert (out, err, cwd) == ("out a1 1 1.c1", "err", str(workdir))
        tmpdir, task_pid, group = tmp.split()
        assert tmpdir.startswith(f"{node.tmp}/hpcq.1.") and task_pid == group == str(pid)
        assert not Path(tmpdir).exists(), "TMPDIR is removed after the job"
        [listed] = node.runner.outcomes()
        assert listed == ended


@run_async
async def test_non_zero_exit_is_failed(tmp_path: Path, workdir: Path) -> None:
    async with Node(tmp_path) as node:
        await node.runner.launch(make_job(2, "exit 3\n", workdir), "c1", 1)
        ended = await node.ends.of(2)
        assert (ended.state, ended.exit_code, ended.signal) == (pb.FAILED, 3, 0)


@run_async
async def test_pbs_job_starts_in_home_with_private_output_files(tmp_path: Path, workdir: Path) -> None:
    async with Node(tmp_path) as node:
        job = make_job(3, "pwd; cat $PBS_NODEFILE; echo e >&2\n", workdir, dialect=pb.DIALECT_PBS)
        await node.runner.launch(job, "srv", 1)
        assert (await node.ends.of(3)).state == pb.COMPLETED
        out, err = workdir / "job3.o3", workdir / "job3.e3"
        assert out.read_text() == f"{pwd.getpwnam(ME).pw_dir}\n{NODE}\n"
        assert err.read_text() == "e\n"
        assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE(err.stat().st_mode) == 0o600


@run_async
async def test_walltime_ends_the_job_and_its_children(tmp_path: Path, workdir: Path) -> None:
    async with Node(tmp_path) as node:
        started = await node.runner.launch(make_job(4, "sleep 30 & wait\n", workdir, walltime=1), "c1", 1)
        ended = await node.ends.of(4)
        assert (ended.state, ended.signal) == (pb.TIMEOUT, 15)
        assert 0.9 < ended.end_time - ended.start_time < 5
        assert group_members(started.session_id) == []


@run_async
async def test_kill_cancels_the_whole_process_group(tmp_path: Path, workdir: Path) -> None:
    async with Node(tmp_path) as node:
        started = await node.runner.launch(make_job(5, "sleep 100 & sleep 100\n", workdir), "c1", 2)
        pgid = started.session_id
        await until(lambda: len(group_members(pgid)) == 3, what="the shell and both sleeps")
        assert node.runner.kill(5, 1, 2)
        ended = await node.ends.of(5)
        assert ended.state == pb.CANCELLED
        assert group_members(pgid) == []
        assert not node.runner.kill(5, 1, 2), "nothing left to kill"


@run_async
async def test_leftovers_outside_the_group_are_killed_at_the_end(tmp_path: Path, workdir: Path) -> None:
    """A daemon that left the job's process group still belongs to the job."""
    async with Node(tmp_path) as node:
        pidfile = workdir / "daemon.pid"
        script = f"setsid sh -c 'echo $$ > \"{pidfile}\"; exec sleep 100' &\nwhile [ ! -s \"{pidfile}\" ]; do :; done\n"
        await node.runner.launch(make_job(6, script, workdir), "c1", 1)
        assert (await node.ends.of(6)).state == pb.COMPLETED
        # killed and reaped by the supervisor (a subreaper) before it wrote the status
        assert not psutil.pid_exists(int(pidfile.read_text()))


@run_async
async def test_signal_reaches_the_job(tmp_path: Path, workdir: Path) -> None:
    async with Node(tmp_path) as node:
        started = await node.runner.launch(make_job(7, "trap 'echo got USR1; exit 7' USR1\nsleep 100 & wait\n",
                                                    workdir), "c1", 1)
        await until(lambda: len(group_members(started.session_id)) == 2, what="the shell and its sleep")
        assert node.runner.signal(7, 1, 10)
        ended = await node.ends.of(7)
        assert (ended.state, ended.exit_code) == (pb.FAILED, 7)
        assert "got USR1" in (workdir / "slurm-7.out").read_text()
        assert not node.runner.signal(7, 1, 10)


@run_async
async def test_a_quick_job_ends_after_its_start_was_handed_out(tmp_path: Path, workdir: Path) -> None:
    """noded reports JobStarted with what launch() returns; JobFinished must not overtake it."""
    async with Node(tmp_path) as node:
        events: list[tuple[str, int]] = []
        node.runner.on_finished = lambda outcome: events.append(("finished", outcome.job_id))

        async def launch(job_id: int) -> None:
            started = await node.runner.launch(make_job(job_id, "true\n", workdir), "c1", 1)
            assert started.running
            events.append(("started", job_id))
        await asyncio.gather(*(launch(i) for i in range(60, 80)))
        await until(lambda: len(events) == 40, what="every end")
        for i in range(60, 80):
            assert events.index(("started", i)) < events.index(("finished", i))


@run_async
async def test_an_end_is_told_once_though_both_the_supervisor_and_its_exit_tell_it(
        tmp_path: Path, workdir: Path) -> None:
    """The supervisor says when status.json is written, and its exit (the pidfd) says it
    again: whichever noded hears first reports the end, and only that one."""
    async with Node(tmp_path) as node:
        jobs = range(85, 105)
        await asyncio.gather(*(node.runner.launch(make_job(i, "true\n", workdir), "c1", 1) for i in jobs))
        for i in jobs:
            assert (await node.ends.of(i, timeout=20)).state == pb.COMPLETED
        await until(lambda: all(node.runner._attempts[(i, 1)].pidfd is None for i in jobs), timeout=20,
                    what="every supervisor's exit heard")
        assert sorted(o.job_id for o in node.ends.calls) == list(jobs)


# --- launch failures and idempotency -------------------------------------------------------

@run_async
async def test_launch_failures_come_back_as_failed_outcomes(tmp_path: Path, workdir: Path) -> None:
    async with Node(tmp_path) as node:
        if os.geteuid() == 0:
            unknown = await node.runner.launch(make_job(10, "true\n", workdir, user="no-such-user-hpcq"), "c1", 1)
            assert unknown.reason == f"user no-such-user-hpcq unknown on node {NODE}"
        else:
            other = await node.runner.launch(make_job(10, "true\n", workdir, user="someone-else"), "c1", 1)
            assert other.reason == f"node runs in user mode for {ME}; job belongs to someone-else"
        missing = await node.runner.launch(make_job(11, "true\n", workdir, workdir=str(workdir / "gone"),
                                                    stdout_path=str(workdir / "o11")), "c1", 1)
        assert missing.reason == f"cannot change to directory {workdir}/gone: No such file or directory"
        assert (workdir / "o11").read_text() == f"hpcq: error: {missing.reason}\n"
        no_out = await node.runner.launch(make_job(12, "true\n", workdir, stdout_path="/nonexistent/dir/o"), "c1", 1)
        assert no_out.reason == "cannot open output file /nonexistent/dir/o: No such file or directory"
        for failed in (missing, no_out):
            assert (failed.running, failed.state, failed.exit_code) == (False, pb.FAILED, 1)
        assert sorted(o.job_id for o in node.runner.outcomes()) == [10, 11, 12]
        assert node.ends.calls == [], "a failed launch is answered by launch(), not on_finished"


@run_async
async def test_jobs_of_root_are_refused_unless_allowed(tmp_path: Path, workdir: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs a root node")
    async with Node(tmp_path, allow_root=False) as node:
        refused = await node.runner.launch(make_job(13, "true\n", workdir, user="root"), "c1", 1)
    assert (refused.state, refused.reason) == (pb.FAILED, f"node {NODE} does not run jobs of root "
                                                          "([noded] allow_root_jobs is false)")


@run_async
async def test_launch_is_idempotent_per_attempt(tmp_path: Path, workdir: Path) -> None:
    async with Node(tmp_path) as node:
        job = make_job(20, "echo ran >> ran.txt; sleep 100\n", workdir)
        first, again = await asyncio.gather(node.runner.launch(job, "c1", 1), node.runner.launch(job, "c1", 1))
        assert first == again and first.running
        assert await node.runner.launch(job, "c1", 1) == first
        await until(lambda: (workdir / "ran.txt").exists(), what="the job to run")
        node.runner.kill(20, 1, 1)
        await node.ends.of(20)
        assert (workdir / "ran.txt").read_text() == "ran\n"
        node.runner.forget(20, 1)
        assert node.runner.outcomes() == []
        assert not spool.attempt_dir(node.spool, 20, 1).path.exists()
        # a requeued job is a new attempt
        requeued = await node.runner.launch(make_job(20, "true\n", workdir, attempt=2), "c1", 1)
        assert requeued.running and (await node.ends.of(20, 2)).state == pb.COMPLETED


@run_async
async def test_kill_during_launch_applies_once_started(tmp_path: Path, workdir: Path) -> None:
    async with Node(tmp_path) as node:
        launching = asyncio.create_task(node.runner.launch(make_job(21, "sleep 100\n", workdir), "c1", 1))
        await until(lambda: node.runner._attempts.get((21, 1)), what="the launch under way")
        assert node.runner.kill(21, 1, 1)
        assert (await launching).running
        assert (await node.ends.of(21)).state == pb.CANCELLED


@run_async
async def test_a_suspend_during_launch_stops_the_job_once_started_and_resume_continues_it(
        tmp_path: Path, workdir: Path) -> None:
    async with Node(tmp_path) as node:
        launching = asyncio.create_task(node.runner.launch(make_job(22, "sleep 100 & wait\n", workdir), "c1", 1))
        await until(lambda: node.runner._attempts.get((22, 1)), what="the launch under way")
        assert node.runner.suspend(22, 1, resume=False)
        pgid = (await launching).session_id

        def states() -> set[str]:
            return {psutil.Process(p).status() for p in group_members(pgid)}
        # Stopped as soon as it started: the shell may not have forked its sleep yet.
        await until(lambda: states() == {psutil.STATUS_STOPPED}, what="the job stopped")
        assert node.runner.suspend(22, 1, resume=True)
        await until(lambda: len(group_members(pgid)) == 2 and psutil.STATUS_STOPPED not in states(),
                    what="the job running again, its sleep too")
        assert node.runner.kill(22, 1, 1)
        assert (await node.ends.of(22)).state == pb.CANCELLED


# --- noded restarts ------------------------------------------------------------------------

@run_async
async def test_restarted_runner_reattaches_to_running_jobs(tmp_path: Path, workdir: Path) -> None:
    fifo = workdir / "go"
    os.mkfifo(fifo)
    async with Node(tmp_path) as first:
        started = await first.runner.launch(make_job(30, f"read line < '{fifo}'; echo got $line\n", workdir), "c1", 1)
        done = await first.runner.launch(make_job(31, "true\n", workdir), "c1", 1)
        await first.ends.of(31)
    # noded is gone (its launcher too); the job is not
    assert len(group_members(started.session_id)) == 1

    async with Node(tmp_path) as second:
        by_id = {o.job_id: o for o in second.runner.outcomes()}
        assert by_id[30] == started
        assert by_id[31].state == pb.COMPLETED and by_id[31].start_time == done.start_time

        def release() -> None:
            with open(fifo, "w") as f:
                f.write("go\n")
        await asyncio.wait_for(asyncio.to_thread(release), 5)
        ended = await second.ends.of(30)
        assert ended.state == pb.COMPLETED
        assert (workdir / "slurm-30.out").read_text() == "got go\n"
        assert second.runner.kill(30, 1, 1) is False


@run_async
async def test_supervisor_gone_without_status_is_lost(tmp_path: Path, workdir: Path) -> None:
    directory = spool.attempt_dir(tmp_path / "spool", 40, 1)
    directory.path.mkdir(parents=True)
    # a pid that is alive but is not that supervisor: the start time gives it away
    spool.write_json(directory.supervisor, {"pid": os.getpid(), "start_time_ticks": 1, "session_id": 99999,
                                            "start_time": 1.0})
    async with Node(tmp_path) as node:
        [lost] = node.runner.outcomes()  # reported with the rest at Register
        assert (lost.job_id, lost.state, lost.reason, lost.start_time) == (40, pb.FAILED, "supervisor lost", 1.0)
        assert (spool.read_json(directory.status) or {})["reason"] == "supervisor lost"
        assert not node.runner.signal(40, 1, 10)


@run_async
async def test_a_launch_cut_short_is_claimed_so_it_cannot_start_later(tmp_path: Path, workdir: Path) -> None:
    """noded died between making the attempt's directory and its supervisor's first record."""
    directory = spool.attempt_dir(tmp_path / "spool", 41, 1)
    directory.path.mkdir(parents=True)
    async with Node(tmp_path) as node:
        [failed] = node.runner.outcomes()
        assert (failed.state, failed.reason) == (pb.FAILED, "launch interrupted before the job started")
        # a supervisor arriving now finds the record taken and gives up
        assert not spool.publish_json(directory.supervisor, {"pid": 1, "start_time_ticks": 1})


# --- running as the job's owner --------------------------------------------------------------

@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
@run_async
async def test_root_node_runs_the_job_as_its_owner() -> None:
    nobody = pwd.getpwnam("nobody")
    # tmp_path's parents are private to root; the job's user must reach its files
    root = Path(tempfile.mkdtemp(prefix="hpcq-runner-"))
    try:
        root.chmod(0o711)
        out = root / "out"
        out.mkdir()
        os.chown(out, nobody.pw_uid, nobody.pw_gid)
        async with Node(root) as node:
            job = make_job(50, "id -u; id -g; echo $USER $HOME; touch $TMPDIR/x && echo tmp ok\n", out,
                           user="nobody", dialect=pb.DIALECT_PBS, workdir=str(out))
            await node.runner.launch(job, "c1", 1)
            assert (await node.ends.of(50)).state == pb.COMPLETED
            result = out / "job50.o50"
            assert result.read_text() == f"{nobody.pw_uid}\n{nobody.pw_gid}\nnobody {nobody.pw_dir}\ntmp ok\n"
            assert result.stat().st_uid == nobody.pw_uid
    finally:
        shutil.rmtree(root)


# --- throughput ------------------------------------------------------------------------------

@run_async
async def test_hundred_launches(tmp_path: Path, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with Node(tmp_path) as node:
        await node.runner.launch(make_job(99, "true\n", workdir), "c1", 1)  # the launcher is warm
        await node.ends.of(99)
        jobs = [make_job(100 + i, "true\n", workdir) for i in range(100)]
        t0 = time.perf_counter()
        outcomes = await asyncio.gather(*(node.runner.launch(j, "c1", 1) for j in jobs))
        launched = time.perf_counter() - t0
        ended = await asyncio.gather(*(node.ends.of(j.id, timeout=20) for j in jobs))
        finished = time.perf_counter() - t0
        assert all(o.running for o in outcomes)
        assert {e.state for e in ended} == {pb.COMPLETED}
    with capsys.disabled():
        print(f"\n100 launches of `true`: {100 / launched:.0f} launches/s; all finished after {finished:.2f} s "
              f"({100 / finished:.0f} jobs/s end to end)")
