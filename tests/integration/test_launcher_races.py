"""noded's launching machinery when its processes die or stop at awkward moments: the
launcher (hpcq.noded.launcher) or a supervisor (hpcq.noded.jobd) killed or stopped
(SIGSTOP lines the events up) in the middle of a launch. Real forks, a spool in tmp_path,
no ctld; every wait has a deadline."""
from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import psutil
import pytest

from hpcq.api import jobs_pb2 as pb
from hpcq.noded import spool
from tests.integration.test_runner import Node, make_job, run_async, stopped, until

pytestmark = pytest.mark.integration

# A script larger than a pipe's buffer (64 KiB): its plan cannot be written at once.
BIG_SCRIPT = "true\n" + "# " + "x" * (1 << 20) + "\n"


async def stop_first_spare(node: Node) -> tuple[psutil.Process, psutil.Process]:
    """The launcher, and its first spare supervisor stopped (SIGSTOP: the caller continues it)."""
    assert node.runner._launcher is not None
    launcher = psutil.Process(node.runner._launcher.pid)
    [spare] = await until(launcher.children, what="the launcher's first spare")
    os.kill(spare.pid, signal.SIGSTOP)
    await until(lambda: stopped(spare.pid), what="the spare to stop")
    return launcher, spare


def gone_or_writing(pid: int) -> bool:
    """The process has exited, or waits to write to a full pipe."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE or \
            Path(f"/proc/{pid}/wchan").read_text().endswith("pipe_write")
    except (psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
        return True


@run_async
async def test_a_launcher_killed_while_a_request_is_written_to_it_holds_up_no_launch(
        tmp_path: Path, workdir: Path) -> None:
    """The launcher dies with a large request half written to it: its end of output is
    read before the write fails, and the next launcher takes the request. Before, the
    launch raised KeyError and its attempt stayed "launching" for good: never reported,
    never forgotten."""
    async with Node(tmp_path) as node:
        launcher = node.runner._launcher
        assert launcher is not None and launcher.stdin is not None
        os.kill(launcher.pid, signal.SIGSTOP)
        await until(lambda: stopped(launcher.pid), what="the launcher to stop")
        launch = asyncio.ensure_future(node.runner.launch(make_job(1400, BIG_SCRIPT, workdir), "c1", 1))
        transport = launcher.stdin.transport
        await until(lambda: transport.get_write_buffer_size() > 0, what="the request to wait on the pipe")
        os.kill(launcher.pid, signal.SIGKILL)
        started = await asyncio.wait_for(launch, 10)
        assert started.state in (pb.RUNNING, pb.COMPLETED), started.reason
        assert (await node.ends.of(1400)).state == pb.COMPLETED
        started = await node.runner.launch(make_job(1401, "true\n", workdir), "c1", 1)
        assert started.state in (pb.RUNNING, pb.COMPLETED), started.reason
        assert (await node.ends.of(1401)).state == pb.COMPLETED


@run_async
async def test_a_stopped_supervisor_handed_a_large_request_holds_up_no_other_launch(
        tmp_path: Path, workdir: Path) -> None:
    """A request larger than a pipe's buffer goes to an idle supervisor that is stopped:
    the launcher must not wait on it. Before, it blocked writing the rest, and no other
    launch was answered until the supervisor was continued."""
    async with Node(tmp_path) as node:
        _, spare = await stop_first_spare(node)
        try:
            big = asyncio.ensure_future(node.runner.launch(make_job(1410, BIG_SCRIPT, workdir), "c1", 1))
            started = await asyncio.wait_for(node.runner.launch(make_job(1411, "true\n", workdir), "c1", 1), 10)
            assert started.state in (pb.RUNNING, pb.COMPLETED)
            assert (await node.ends.of(1411)).state == pb.COMPLETED
            assert not big.done()
        finally:
            os.kill(spare.pid, signal.SIGCONT)
        assert (await asyncio.wait_for(big, 10)).state in (pb.RUNNING, pb.COMPLETED)
        assert (await node.ends.of(1410)).state == pb.COMPLETED


@run_async
async def test_a_job_found_still_starting_can_be_signalled_once_it_runs(tmp_path: Path) -> None:
    """noded took stock of a job from the spool while its supervisor was between its first
    record and the job's start (noded restarted, or its launcher died before answering):
    it watches a job whose session it does not know yet. Before, it never learnt it: every
    signal to the running job was refused."""
    # stand-ins for the supervisor and for the job, which leads a process group of its own
    supervisor = await asyncio.create_subprocess_exec("sleep", "30")
    job = await asyncio.create_subprocess_exec("sleep", "30", start_new_session=True)
    directory = spool.attempt_dir(tmp_path / "spool", 1420, 1)
    directory.path.mkdir(parents=True)
    record = {"pid": supervisor.pid, "start_time_ticks": spool.process_start_ticks(supervisor.pid), "cgroup": ""}
    spool.write_json(directory.supervisor, record)
    try:
        async with Node(tmp_path) as node:
            [found] = node.runner.outcomes()
            assert found.running and found.session_id == 0   # not known yet
            spool.write_json(directory.supervisor, dict(record, session_id=job.pid, start_time=1.0))  # it started
            assert node.runner.signal(1420, 1, signal.SIGTERM)
            assert await asyncio.wait_for(job.wait(), 5) == -signal.SIGTERM
    finally:
        for process in (supervisor, job):
            if process.returncode is None:
                process.kill()
                await process.wait()


@run_async
async def test_a_launch_that_comes_as_the_launcher_dies_is_made_by_the_next_launcher(
        tmp_path: Path, workdir: Path) -> None:
    """The launcher is killed just before a launch is written to it: noded does not know
    it is gone yet. Before, the job was reported FAILED though it could have run."""
    async with Node(tmp_path) as node:
        for job_id in (1430, 1431):
            assert node.runner._launcher is not None
            os.kill(node.runner._launcher.pid, signal.SIGKILL)
            started = await asyncio.wait_for(node.runner.launch(make_job(job_id, "true\n", workdir), "c1", 1), 10)
            assert started.state in (pb.RUNNING, pb.COMPLETED), started.reason
            assert (await node.ends.of(job_id)).state == pb.COMPLETED


@run_async
async def test_a_launcher_stopped_in_a_write_to_a_slow_noded_loses_no_part_of_a_line(
        tmp_path: Path, workdir: Path) -> None:
    """The launcher writes to noded, which does not read (busy): its pipe fills, and the
    launcher waits in a write of lines longer than a pipe writes at once (long output
    paths). A SIGSTOP there makes the write return what it wrote so far. Before, the rest
    was dropped: noded read a broken line, its reader died, and no launch was answered
    again."""
    deep = workdir.joinpath(*["d" * 200] * 19)   # ~3800 characters: two make a start line of three pipe pages
    deep.mkdir(parents=True)
    paths = {"stdout_path": str(deep / "%j.out"), "stderr_path": str(deep / "%j.err")}
    async with Node(tmp_path) as node:
        launcher = node.runner._launcher
        assert launcher is not None
        from_launcher = launcher._transport.get_pipe_transport(1)   # type: ignore[attr-defined]
        from_launcher.pause_reading()
        launches = [asyncio.ensure_future(node.runner.launch(make_job(j, "true\n", workdir, **paths), "c1", 1))
                    for j in range(1440, 1456)]
        await until(lambda: gone_or_writing(launcher.pid), 10, "the launcher to wait on its full pipe")
        os.kill(launcher.pid, signal.SIGSTOP)
        await until(lambda: stopped(launcher.pid), what="the launcher to stop")
        os.kill(launcher.pid, signal.SIGCONT)
        from_launcher.resume_reading()
        started = await asyncio.wait_for(asyncio.gather(*launches), 20)
        assert {s.state for s in started} <= {pb.RUNNING, pb.COMPLETED}
        for j in range(1440, 1456):
            assert (await node.ends.of(j)).state == pb.COMPLETED


@run_async
async def test_a_launch_under_way_as_noded_stops_starts_no_launcher_and_runs_once(
        tmp_path: Path, workdir: Path) -> None:
    """noded stops while a launch waits on a supervisor (stopped here): the launcher goes
    and the launch is not sent to another one, which nobody would stop. The supervisor,
    continued, starts the job: the next noded finds it running, and it ends once."""
    node = Node(tmp_path)
    await node.__aenter__()
    assert node.runner._launcher is not None
    [spare] = await until(psutil.Process(node.runner._launcher.pid).children, what="the launcher's first spare")
    os.kill(spare.pid, signal.SIGSTOP)
    try:
        await until(lambda: stopped(spare.pid), what="the spare to stop")
        launch = asyncio.ensure_future(node.runner.launch(make_job(1460, "true\n", workdir), "c1", 1))
        await until(lambda: node.runner._seq >= 1, what="the launch to be sent")
        await asyncio.wait_for(node.runner.close(), 10)
        assert node.runner._launcher is None
        interrupted = await asyncio.wait_for(launch, 10)
        assert interrupted.state in (pb.FAILED, pb.RUNNING)
    finally:
        os.kill(spare.pid, signal.SIGCONT)
    async with Node(tmp_path) as second:
        [outcome] = second.runner.outcomes()
        if outcome.running:
            outcome = await second.ends.of(1460)
        assert outcome.state in (pb.FAILED, pb.COMPLETED)
        assert (workdir / "slurm-1460.out").exists() == (outcome.state == pb.COMPLETED)


@run_async
async def test_a_large_request_half_written_when_noded_goes_is_written_out(tmp_path: Path, workdir: Path) -> None:
    """noded dies (the launcher's input ends) while a large request is still being written
    to a supervisor that is slow (stopped here): the launcher finishes writing it before
    it exits, so the job starts as it would have, for the next noded to find. Before, the
    launcher left at once and the supervisor read half a request: the job was lost."""
    node = Node(tmp_path)
    await node.__aenter__()
    launcher, reader = node.runner._launcher, node.runner._reader
    assert launcher is not None and launcher.stdin is not None and reader is not None
    [spare] = await until(psutil.Process(launcher.pid).children, what="the launcher's first spare")
    os.kill(spare.pid, signal.SIGSTOP)
    try:
        await until(lambda: stopped(spare.pid), what="the spare to stop")
        launch = asyncio.ensure_future(node.runner.launch(make_job(1470, BIG_SCRIPT, workdir), "c1", 1))
        transport = launcher.stdin.transport
        await until(lambda: node.runner._seq >= 1 and transport.get_write_buffer_size() == 0,
                    what="the request to be sent")
        reader.cancel()          # noded is dead: nothing hears the launcher, nothing launches again
        launcher.stdin.close()
        await until(lambda: launcher.returncode is not None or gone_or_writing(launcher.pid),
                    what="the launcher to exit or to write on")
    finally:
        os.kill(spare.pid, signal.SIGCONT)
    status = spool.attempt_dir(node.spool, 1470, 1).status
    ended = await until(lambda: spool.read_json(status), 10, "the job to end")
    assert ended["state"] == "COMPLETED"
    launch.cancel()


@run_async
async def test_a_launch_sent_again_after_its_launcher_died_runs_once(tmp_path: Path, workdir: Path) -> None:
    """The launcher hands the request to a supervisor (stopped here) and dies; noded sends
    it again to a new launcher, whose supervisor runs the job. The first supervisor,
    continued, still holds the request: it finds the attempt taken and gives it up."""
    ledger = workdir / "ledger"
    async with Node(tmp_path) as node:
        launcher, first = await stop_first_spare(node)
        try:
            launch = asyncio.ensure_future(
                node.runner.launch(make_job(1480, f"echo ran >> '{ledger}'\n", workdir), "c1", 1))
            # handed out: the launcher forks the next spare
            await until(lambda: len(launcher.children()) == 2, what="the request to be handed to the spare")
            launcher.kill()
            started = await asyncio.wait_for(launch, 10)
            assert started.state in (pb.RUNNING, pb.COMPLETED), started.reason
            assert (await node.ends.of(1480)).state == pb.COMPLETED
        finally:
            os.kill(first.pid, signal.SIGCONT)
        await until(lambda: not first.is_running() or first.status() == psutil.STATUS_ZOMBIE, 10,
                    "the first supervisor to give up and exit")
        assert ledger.read_text() == "ran\n"


@run_async
async def test_an_output_file_that_would_block_its_opener_fails_the_launch(tmp_path: Path, workdir: Path) -> None:
    """The job's output is a FIFO nobody reads (the user's choice): the supervisor must not
    wait in its open for a reader that may never come, where no cancel reaches it. Before,
    the launch never ended."""
    os.mkfifo(workdir / "slurm-1490.out")
    async with Node(tmp_path) as node:
        failed = await asyncio.wait_for(node.runner.launch(make_job(1490, "true\n", workdir), "c1", 1), 10)
        assert failed.state == pb.FAILED
        assert failed.reason == f"cannot open output file {workdir}/slurm-1490.out: No such device or address"
        # a FIFO with a reader is written to as before
        os.mkfifo(workdir / "slurm-1491.out")
        reader = os.open(workdir / "slurm-1491.out", os.O_RDONLY | os.O_NONBLOCK)
        try:
            await node.runner.launch(make_job(1491, "echo hello\n", workdir), "c1", 1)
            assert (await node.ends.of(1491)).state == pb.COMPLETED
            assert os.read(reader, 100) == b"hello\n"
        finally:
            os.close(reader)
