"""Supervisors that run job after job (hpcq.noded.launcher, hpcq.noded.jobd): what one
job leaves in a reused supervisor must not reach the next one. Real forks, a spool in
tmp_path, no ctld; every wait has a deadline."""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from pathlib import Path

import psutil
import pytest

from hpcq.api import jobs_pb2 as pb
from hpcq.api import nodes_pb2
from hpcq.noded import launcher, spool
from tests import localusers
from tests.integration.test_agent import USERS
from tests.integration.test_runner import Node, group_members, make_job, run_async, stopped, until

pytestmark = pytest.mark.integration

# Quick jobs run until one lands on a supervisor that ran an earlier one; with reuse it is
# the second or third (the spare, then the one freed first), without it never.
TRIES = 12


def supervisor_pid(node: Node, job_id: int) -> int:
    record = spool.read_json(spool.attempt_dir(node.spool, job_id, 1).supervisor) or {}
    return int(record.get("pid", 0))


def alive(pid: int, ticks: int | None) -> bool:
    """The process `pid` that started at `ticks` still runs (a recycled pid is another)."""
    return ticks is not None and spool.process_start_ticks(pid) == ticks


async def run_on_a_reused_supervisor(node: Node, workdir: Path, script: str,
                                     first_id: int) -> tuple[nodes_pb2.JobOutcome, int]:
    """Run `true` jobs one after another, then a job of `script` once it lands on a
    supervisor that ran one of them: (that job's start, the id of the earlier job it ran).
    A job of `script` that lands on a fresh supervisor is let end (its script must end
    once `release` is called) before the next try."""
    ran: dict[int, int] = {}   # supervisor pid -> the job it ran
    job_id = first_id
    await node.runner.launch(make_job(job_id, "true\n", workdir), "c1", 1)
    await node.ends.of(job_id)
    ran[supervisor_pid(node, job_id)] = job_id
    for _ in range(TRIES):
        job_id += 1
        started = await node.runner.launch(make_job(job_id, script, workdir), "c1", 1)
        pid = supervisor_pid(node, job_id)
        if pid in ran:
            return started, ran[pid]
        release(workdir)
        await node.ends.of(job_id)
        ran[pid] = job_id
    raise AssertionError(f"no job of {TRIES} ran on a supervisor that had run one before")


def job_stopped(pgid: int) -> bool:
    """Every process of the job's group stopped, but a shell waiting in vfork (state D) for
    a child that the stop caught before it could exec (dash forks `sleep` so)."""
    states = set()
    for pid in group_members(pgid):
        with contextlib.suppress(psutil.NoSuchProcess):
            states.add(psutil.Process(pid).status())
    return psutil.STATUS_STOPPED in states and states <= {psutil.STATUS_STOPPED, psutil.STATUS_DISK_SLEEP}


def release(workdir: Path) -> None:
    """Let a job waiting on `workdir/go` (a regular file it polls for) end."""
    (workdir / "go").touch()


WAIT_FOR_GO = "while [ ! -e go ]; do sleep 0.01; done; rm -f go\n"


@run_async
async def test_a_late_sigterm_meant_for_a_supervisors_last_job_does_not_cancel_its_next(
        tmp_path: Path, workdir: Path) -> None:
    async with Node(tmp_path) as node:
        started, earlier = await run_on_a_reused_supervisor(node, workdir, WAIT_FOR_GO, 600)
        job_id = started.job_id
        # what a cancel of the earlier job that came too late would do: its record, then a TERM
        spool.write_json(spool.attempt_dir(node.spool, earlier, 1).cancel, {"grace_seconds": 0})
        os.kill(supervisor_pid(node, job_id), signal.SIGTERM)
        # A suspend of this job, sent after it: once the job is stopped, the supervisor has
        # read the TERM (in the same wake-up or before) and let it be.
        assert node.runner.suspend(job_id, 1, resume=False)
        await until(lambda: job_stopped(started.session_id), 10, "the job to be stopped")
        assert node.runner.suspend(job_id, 1, resume=True)
        release(workdir)
        ended = await node.ends.of(job_id, timeout=20)
        assert (ended.state, ended.exit_code, ended.signal) == (pb.COMPLETED, 0, 0)
        # a cancel of its own still ends a job on a reused supervisor
        started, _ = await run_on_a_reused_supervisor(node, workdir, WAIT_FOR_GO, 700)
        assert node.runner.kill(started.job_id, 1, 1)
        assert (await node.ends.of(started.job_id, timeout=20)).state == pb.CANCELLED


@run_async
async def test_a_reused_supervisors_next_job_reports_its_own_usage_live_and_at_its_end(
        tmp_path: Path, workdir: Path) -> None:
    # about 0.4 s of CPU and 64 MiB resident in a process the job's shell reaps
    heavy = ("/usr/bin/python3 -c 'import time; b = b\"x\" * (64 << 20); t = time.process_time() + 0.4\n"
             "while time.process_time() < t: pass'\n")
    async with Node(tmp_path) as node:
        ran: dict[int, nodes_pb2.JobOutcome] = {}   # supervisor pid -> the heavy job's outcome
        for job_id in range(800, 800 + TRIES):
            light = job_id % 2 == 1
            await node.runner.launch(make_job(job_id, WAIT_FOR_GO if light else heavy, workdir), "c1", 1)
            pid = supervisor_pid(node, job_id)
            if light:
                [live] = [u for u in node.runner.usage(100) if u.job_id == job_id]   # sstat's
                release(workdir)
            outcome = await node.ends.of(job_id, timeout=20)
            assert outcome.state == pb.COMPLETED, outcome.reason
            if not light:
                ran[pid] = outcome
            elif pid in ran:
                break
        else:
            raise AssertionError("no light job ran on a supervisor that had run a heavy one")
        assert ran[pid].cpu_seconds >= 0.35 and ran[pid].max_rss_kb >= 64 << 10
        assert live.cpu_seconds < 0.2, live
        assert outcome.cpu_seconds < 0.2, outcome
        assert outcome.max_rss_kb < 32 << 10, outcome


@run_async
async def test_supervisors_exit_when_the_launcher_goes_and_a_busy_one_after_its_job_which_noded_adopts(
        tmp_path: Path, workdir: Path) -> None:
    async with Node(tmp_path) as node:
        for job_id in range(900, 904):
            await node.runner.launch(make_job(job_id, "true\n", workdir), "c1", 1)
            await node.ends.of(job_id)
        started, _ = await run_on_a_reused_supervisor(node, workdir, WAIT_FOR_GO, 910)
        busy_id = started.job_id
        pids = {supervisor_pid(node, j) for j in range(900, busy_id + 1)}
    # noded stopped (its launcher too): the idle supervisors go; the busy one stays with its job
    busy = supervisor_pid(node, busy_id)
    ticks = {pid: spool.process_start_ticks(pid) for pid in pids}
    assert alive(busy, ticks[busy])
    await until(lambda: not any(alive(p, ticks[p]) for p in pids - {busy}), 10, "idle supervisors to exit")
    assert alive(busy, ticks[busy])
    async with Node(tmp_path) as restarted:   # noded again: it finds the job running, and hears of its end
        by_id = {o.job_id: o for o in restarted.runner.outcomes()}
        assert by_id[busy_id].running
        assert all(o.state == pb.COMPLETED for j, o in by_id.items() if j != busy_id)
        release(workdir)
        assert (await restarted.ends.of(busy_id, timeout=20)).state == pb.COMPLETED
        await until(lambda: not alive(busy, ticks[busy]), 10, "the busy supervisor to exit after its job")



@run_async
async def test_idle_supervisors_beyond_the_cpus_exit_once_idle_a_while(tmp_path: Path, workdir: Path) -> None:
    keep = len(os.sched_getaffinity(0))
    wait = "while [ ! -e all-go ]; do sleep 0.01; done\n"
    async with Node(tmp_path) as node:
        jobs = range(1000, 1000 + keep + 3)
        await asyncio.gather(*(node.runner.launch(make_job(j, wait, workdir), "c1", 1) for j in jobs))
        assert node.runner._launcher is not None
        supervisors = psutil.Process(node.runner._launcher.pid).children   # the launcher forks them all
        assert len(supervisors()) > keep + 3   # one supervisor a job, and a spare
        (workdir / "all-go").touch()
        for j in jobs:
            await node.ends.of(j, timeout=20)
        await until(lambda: len(supervisors()) <= keep, launcher.IDLE_SECONDS + 10, "idle supervisors to exit")


@run_async
async def test_a_kill_of_a_reused_supervisor_fails_only_the_job_it_runs(tmp_path: Path, workdir: Path) -> None:
    async with Node(tmp_path) as node:
        started, earlier = await run_on_a_reused_supervisor(node, workdir, WAIT_FOR_GO, 1100)
        os.kill(supervisor_pid(node, started.job_id), signal.SIGKILL)
        lost = await node.ends.of(started.job_id, timeout=20)
        assert (lost.state, lost.reason) == (pb.FAILED, "supervisor lost")
        release(workdir)   # without a cgroup its job is beyond noded's reach: let it end
        assert (await node.ends.of(earlier)).state == pb.COMPLETED
        # the launcher has let the dead one go: the next jobs start and end
        for job_id in range(1150, 1153):
            await node.runner.launch(make_job(job_id, "true\n", workdir), "c1", 1)
            assert (await node.ends.of(job_id, timeout=20)).state == pb.COMPLETED


@run_async
async def test_idle_supervisors_killed_as_a_launch_comes_in_hold_up_nothing(tmp_path: Path, workdir: Path) -> None:
    """The launch reaches the launcher in the same wake-up as the end of file of two idle
    supervisors killed meanwhile (chaos's kills of supervisors). Handing it out finds them
    dead and forks afresh, and the new pipes may take the dead ones' descriptor numbers:
    their ends of file, still to be handled in that wake-up, must not be read as news of
    the new supervisors. Before, the launcher read a fresh spare's pipe there and blocked
    for good: no launch was answered again."""
    async with Node(tmp_path) as node:
        assert node.runner._launcher is not None
        launcher_pid = node.runner._launcher.pid
        await asyncio.gather(*(node.runner.launch(make_job(j, "true\n", workdir), "c1", 1) for j in (1300, 1301)))
        idle = [supervisor_pid(node, j) for j in (1300, 1301)]
        for j in (1300, 1301):
            await node.ends.of(j)
        for pid in idle:    # each has said it is free once its job's end was told
            await until(lambda pid=pid: psutil.Process(pid).status() == psutil.STATUS_SLEEPING, what="idle")
        os.kill(launcher_pid, signal.SIGSTOP)
        try:
            await until(lambda: stopped(launcher_pid), what="the launcher to stop")
            launches = [asyncio.ensure_future(node.runner.launch(make_job(j, "true\n", workdir), "c1", 1))
                        for j in (1302, 1303)]
            # A request is written to the pipe in the same turn as its seq is taken (an
            # empty pipe's transport writes at once).
            await until(lambda: node.runner._seq >= 4, what="the launches to be written")
            for pid in idle:
                os.kill(pid, signal.SIGKILL)
            await until(lambda: not any(psutil.pid_exists(p) for p in idle), what="the killed supervisors to go")
        finally:
            os.kill(launcher_pid, signal.SIGCONT)
        started = await asyncio.wait_for(asyncio.gather(*launches), 10)
        assert [s.state for s in started] in ([pb.RUNNING] * 2, [pb.RUNNING, pb.COMPLETED], [pb.COMPLETED] * 2)
        for j in (1302, 1303):
            assert (await node.ends.of(j)).state == pb.COMPLETED
        # and the launcher goes on launching
        await node.runner.launch(make_job(1304, "true\n", workdir), "c1", 1)
        assert (await node.ends.of(1304)).state == pb.COMPLETED


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
@run_async
async def test_a_supervisor_reused_for_another_user_runs_the_job_as_that_user_alone() -> None:
    users = localusers.ensure(*USERS)
    umasks = dict(zip(USERS, (0o027, 0o002), strict=True))   # each its own: a leftover would show
    # tmp_path's parents are private to root; the jobs' users must reach their files
    root = Path(tempfile.mkdtemp(prefix="hpcq-reuse-"))
    try:
        root.chmod(0o711)
        outs = {}
        for name, user in users.items():
            outs[name] = root / name
            outs[name].mkdir()
            os.chown(outs[name], user.pw_uid, user.pw_gid)
        async with Node(root) as node:
            ran: dict[int, str] = {}   # supervisor pid -> the user of the job it ran
            for job_id in range(1200, 1200 + TRIES):
                name = USERS[job_id % 2]
                job = make_job(job_id, "id -u; id -G; umask\n", outs[name], user=name, dialect=pb.DIALECT_PBS,
                               workdir=str(outs[name]), umask=umasks[name])
                await node.runner.launch(job, "c1", 1)
                assert (await node.ends.of(job_id)).state == pb.COMPLETED
                pid = supervisor_pid(node, job_id)
                if ran.get(pid, name) != name:
                    break
                ran[pid] = name
            else:
                raise AssertionError("no supervisor ran jobs of both users")
            user = users[name]
            uid, groups, umask = (outs[name] / f"job{job_id}.o{job_id}").read_text().split("\n")[:3]
            assert int(uid) == user.pw_uid
            assert {int(g) for g in groups.split()} == set(os.getgrouplist(name, user.pw_gid))
            assert int(umask, 8) == umasks[name]
            # and the supervisor itself is root again, with root's groups
            status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
            assert status["Uid"].split() == ["0"] * 4 and status["Gid"].split() == ["0"] * 4
    finally:
        shutil.rmtree(root)
