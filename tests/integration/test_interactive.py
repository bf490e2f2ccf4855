"""Interactive work on a real cluster, typed at a real terminal (a pty): salloc's shell and
srun steps in it, srun outside any job (--pty too), qsub -I, scancel of an allocation, every
way these commands end giving their allocation back at once, and another user's reach into
it through the agent."""
from __future__ import annotations

import os
import pty
import re
import select
import signal
import socket
import time
from pathlib import Path

import pytest

import hpcq.allocation  # noqa: F401 - loaded here: the users' forks cannot read this interpreter's files
from hpcq.api import jobs_pb2
from hpcq.client import Client
from hpcq.noded.enforce import parse_cpu_list
from hpcq.transport import AgentTransport
from tests import localusers
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration]
S = jobs_pb2.JobState
PROMPT = "hpcq-test$ "
# How long ctld holds an allocation whose client went away without releasing it: short, for
# the test of a killed salloc; the others check an allocation is over the moment its command
# exits, which only its release can do that soon.
GRACE = 3


class Terminal:
    """A command on a terminal of its own (pty.fork: a session whose controlling terminal
    it is), its output read with deadlines."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        pid, fd = pty.fork()
        if pid == 0:   # the child: exec at once, nothing else of the test runs here
            try:
                # What a login shell gives the commands typed at it, whatever pytest was started
                # with: a run in the background of a script without job control has ^C and
                # ^\ ignored, which its children inherit (so salloc would never see the ^C
                # typed here), and Python ignores SIGPIPE and SIGXFSZ for itself.
                for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE, signal.SIGXFSZ):
                    signal.signal(sig, signal.SIG_DFL)
                os.chdir(cwd)
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd, self.text, self.at = pid, fd, "", 0
        self.status: int | None = None

    def send(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())

    def expect(self, pattern: str, timeout: float = 90.0) -> re.Match[str]:
        """The first match of `pattern` in what the terminal showed since the last match."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.compile(pattern).search(self.text, self.at)
            if found:
                self.at = found.end()
                return found
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                raise AssertionError(f"{pattern!r} not seen within {timeout} s; the terminal showed:\n{self.text}")

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:   # EIO: every process of the terminal has closed it
            data = b""
        self.text += data.decode(errors="replace").replace("\r\n", "\n")
        return bool(data)

    def wait(self, timeout: float = 90.0) -> int:
        """The command's exit status, once it has ended."""
        def ended() -> tuple[int] | None:
            self._read(0.05)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            return (os.waitstatus_to_exitcode(status),) if pid else None
        [self.status] = wait_until(ended, timeout=timeout, what=f"the terminal's command to end:\n{self.text}")
        return self.status

    def close(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(self.fd)


@pytest.fixture(scope="module")
def cluster():
    """Two nodes, whose agent and spool every local user reaches."""
    with localusers.shared_cluster("hpcq-interactive.", f"ctld.allocation_grace_seconds={GRACE}",
                                   nodes=2) as (started, _):
        yield started


@pytest.fixture
def terminal(cluster, tmp_path):
    """terminal(*argv): the command on a pty, with a bash without rc files as the user's shell."""
    opened: list[Terminal] = []
    shell = tmp_path / "bare-bash"    # no rc file of the machine's may change the prompt
    shell.write_text('#!/bin/sh\nexec bash --norc --noprofile "$@"\n')
    shell.chmod(0o755)
    env = {**cluster.env, "SHELL": str(shell), "HOME": str(tmp_path), "PS1": PROMPT, "TERM": "dumb"}
    env.pop("SLURM_JOB_ID", None)

    def start(*argv: str) -> Terminal:
        t = Terminal(list(argv), env, tmp_path)
        opened.append(t)
        return t
    yield start
    for t in opened:
        t.close()


def unfinished(cluster) -> list[int]:
    with cluster.client() as client:
        return [j.id for j in client.list()]


def test_salloc_gives_a_shell_whose_srun_runs_on_the_allocation_and_exit_releases_it(cluster, terminal):
    t = terminal("salloc", "-n1")
    job_id = int(t.expect(r"salloc: Granted job allocation (\d+)\n")[1])
    t.expect(re.escape(PROMPT))
    t.send('echo "job=$SLURM_JOB_ID nodes=$SLURM_JOB_NODELIST n=$SLURM_NTASKS"')
    node = t.expect(rf"job={job_id} nodes=(node\d) n=1\n")[1]
    t.send('srun hostname; echo "srun=$?"')
    t.expect(rf"\n{re.escape(socket.gethostname())}\nsrun=0\n")
    t.send('srun sh -c \'echo "step=$SLURM_STEP_ID on=$SLURMD_NODENAME"\'')
    t.expect(rf"step=1 on={node}\n")
    t.send("srun grep Cpus_allowed_list /proc/self/status")     # the job's CPUs on its node
    bound = parse_cpu_list(t.expect(r"Cpus_allowed_list:\s+(\S+)\n")[1])
    with cluster.client() as client:
        [job], _ = client.get([job_id])
    assert set(bound) == set(job.allocation.slices[0].cpu_ids) & os.sched_getaffinity(0)
    t.send("exit 3")
    t.expect(rf"salloc: Relinquishing job allocation {job_id}\n")
    assert t.wait() == 3
    assert unfinished(cluster) == []
    out = cluster.run("sacct", "-X", "-j", str(job_id), "-P", "-n", "-o", "JobName,State,ExitCode").stdout
    assert out.splitlines() == ["interactive|FAILED|3:0"]


def test_srun_outside_a_job_makes_an_allocation_for_its_step(cluster, terminal):
    t = terminal("srun", "-n2", "hostname")
    assert t.wait() == 0
    host = socket.gethostname()
    assert t.text.splitlines() == [host, host]
    assert unfinished(cluster) == []
    jobs = cluster.run("sacct", "-X", "-P", "-n", "-o", "JobName,State").stdout.splitlines()
    assert "hostname|COMPLETED" in jobs

    # With every CPU taken, srun says it waits, then runs once they are free.
    everything = terminal("salloc", "-N2", "-n4")
    everything.expect(r"salloc: Granted job allocation \d+\n")
    everything.expect(re.escape(PROMPT))
    t = terminal("srun", "-n1", "hostname")
    job_id = int(t.expect(r"srun: job (\d+) queued and waiting for resources\n")[1])
    everything.send("exit")
    t.expect(rf"srun: job {job_id} has been allocated resources\n{re.escape(host)}\n")
    assert t.wait() == 0 and everything.wait() == 0


def test_srun_pty_bash_is_a_shell_at_the_terminal(cluster, terminal):
    t = terminal("srun", "--pty", "bash", "--norc", "--noprofile", "-i")
    t.expect(re.escape(PROMPT))
    t.send("echo typed-$((6 * 7)) in $SLURM_JOB_ID")
    t.expect(r"typed-42 in \d+\n")
    t.send("exit")
    assert t.wait() == 0
    assert unfinished(cluster) == []


def test_qsub_interactive_gives_a_shell_with_the_pbs_environment(cluster, terminal):
    t = terminal("qsub", "-I", "-l", "walltime=00:10:00")
    job = t.expect(r"qsub: waiting for job (\d+)\.(\S+) to start\n")
    job_id = f"{job[1]}.{job[2]}"
    t.expect(rf"qsub: job {re.escape(job_id)} ready\n")
    t.expect(re.escape(PROMPT))
    t.send('echo "id=$PBS_JOBID env=$PBS_ENVIRONMENT nodes=$(cat $PBS_NODEFILE)"')
    t.expect(rf"id={re.escape(job_id)} env=PBS_INTERACTIVE nodes=node\d\n")
    t.send("exit")
    t.expect(rf"qsub: job {re.escape(job_id)} completed\n")
    assert t.wait() == 0
    assert unfinished(cluster) == []


def test_refusals_are_the_commands_own(cluster):
    result = cluster.run("qsub", "-I", "-X", check=False)
    assert result.returncode == 2 and "-X (X11 forwarding) is not supported" in result.stderr
    result = cluster.run("salloc", "-n64", "true", check=False)
    assert (result.returncode, result.stderr.splitlines()[-1]) == (
        1, "salloc: error: Job submit/allocate failed: Requested node configuration is not available")
    assert unfinished(cluster) == []


def test_scancel_revokes_an_allocation_and_the_shell_goes_on(cluster, terminal):
    t = terminal("salloc", "-n1")
    job_id = int(t.expect(r"salloc: Granted job allocation (\d+)\n")[1])
    t.expect(re.escape(PROMPT))
    cluster.run("scancel", str(job_id))
    t.expect(rf"salloc: Job allocation {job_id} has been revoked\.\n")
    t.send("exit")
    assert t.wait() == 0
    assert "Relinquishing" not in t.text
    assert unfinished(cluster) == []
    out = cluster.run("sacct", "-X", "-j", str(job_id), "-P", "-n", "-o", "State").stdout
    assert out.split()[0].startswith("CANCELLED")

    t = terminal("salloc", "--kill-command=TERM", "sleep", "300")
    job_id = int(t.expect(r"salloc: Granted job allocation (\d+)\n")[1])
    cluster.run("scancel", str(job_id))
    t.expect(rf"salloc: Job allocation {job_id} has been revoked\.\n")
    assert t.wait() == 128 + signal.SIGTERM


def test_an_allocation_whose_salloc_dies_is_cancelled(cluster, terminal):
    t = terminal("salloc", "-n1", "sleep", "300")
    job_id = int(t.expect(r"salloc: Granted job allocation (\d+)\n")[1])
    os.kill(t.pid, signal.SIGKILL)
    assert t.wait() == -signal.SIGKILL
    wait_until(lambda: not unfinished(cluster), timeout=60, what=f"allocation {job_id} to end")
    with cluster.client() as client:
        [job], _ = client.get([job_id])
    assert job.state == S.CANCELLED


def _state(cluster, job_id: int) -> int:
    with cluster.client() as client:
        [job], _ = client.get([job_id])
    return job.state


def test_interrupted_while_waiting_salloc_srun_and_qsub_give_their_allocation_up_at_once(cluster, terminal):
    """^C typed, TERM or HUP sent while the allocation is queued: it is cancelled before the
    command exits, not left to wait out ctld's grace."""
    for interrupt in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        t = terminal("salloc", "-H", "true")
        job_id = int(t.expect(r"salloc: Pending job allocation (\d+)\n")[1])
        t.expect(rf"salloc: job {job_id} queued and waiting for resources\n")
        if interrupt == signal.SIGINT:
            os.write(t.fd, b"\x03")
        else:
            os.kill(t.pid, interrupt)
        t.expect(rf"salloc: Job allocation {job_id} has been revoked\.\nsalloc: Job aborted due to signal\n")
        assert t.wait() == 1, interrupt
        assert unfinished(cluster) == [], interrupt
        assert _state(cluster, job_id) == S.CANCELLED

    everything = terminal("salloc", "-N2", "-n4")   # srun and qsub -I wait for CPUs
    taken = int(everything.expect(r"salloc: Granted job allocation (\d+)\n")[1])
    t = terminal("srun", "-n1", "true")
    t.expect(r"srun: job \d+ queued and waiting for resources\n")
    os.kill(t.pid, signal.SIGTERM)
    t.expect(r"srun: error: Unable to allocate resources: Job aborted due to signal\n")
    assert t.wait() == 1
    assert unfinished(cluster) == [taken]

    t = terminal("qsub", "-I")
    job_id = t.expect(r"qsub: waiting for job (\d+\.\S+) to start\n")[1]
    os.write(t.fd, b"\x03")
    t.expect(rf"qsub: job {re.escape(job_id)} deleted\n")
    assert t.wait() == 1
    assert unfinished(cluster) == [taken]
    everything.expect(re.escape(PROMPT))
    everything.send("exit")
    assert everything.wait() == 0


def test_salloc_ended_by_a_signal_or_a_command_that_cannot_start_releases_at_once(cluster, terminal):
    t = terminal("salloc", "-n1", "sleep", "300")
    job_id = int(t.expect(r"salloc: Granted job allocation (\d+)\n")[1])
    wait_until(lambda: any(c.name() == "sleep" for c in _children(t.pid)), timeout=60, what="salloc's command")
    os.kill(t.pid, signal.SIGTERM)     # passed on to the command, whose status is the allocation's
    assert t.wait() == 128 + signal.SIGTERM
    assert unfinished(cluster) == []
    out = cluster.run("sacct", "-X", "-j", str(job_id), "-P", "-n", "-o", "State,ExitCode").stdout
    assert out.split() == [f"FAILED|{128 + signal.SIGTERM}:0"]

    t = terminal("salloc", "-n1", "/no/such/command")
    job_id = int(t.expect(r"salloc: Granted job allocation (\d+)\n")[1])
    assert t.wait() != 0
    assert unfinished(cluster) == []
    assert _state(cluster, job_id) == S.FAILED


def _children(pid: int) -> list:
    import psutil
    try:
        return psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []


def test_a_held_allocation_waits_and_says_so_until_released(cluster, terminal):
    t = terminal("salloc", "-H", "true")
    job_id = int(t.expect(r"salloc: Pending job allocation (\d+)\n")[1])
    t.expect(rf"salloc: job {job_id} queued and waiting for resources\n")
    cluster.run("scontrol", "release", str(job_id))
    t.expect(rf"salloc: job {job_id} has been allocated resources\nsalloc: Granted job allocation {job_id}\n"
             rf"salloc: Relinquishing job allocation {job_id}\n")
    assert t.wait() == 0
    assert unfinished(cluster) == []


# -- another user ------------------------------------------------------------------------------

USERS = ("hpcqalice", "hpcqbob")


@pytest.mark.skipif(os.geteuid() != 0, reason="creates local users and changes uid")
def test_another_user_can_neither_see_into_nor_end_an_allocation(cluster):
    """alice holds an allocation through the host agent as herself; bob, through the same
    agent, reads none of its owner-only fields and cannot cancel it; alice's release ends it."""
    users = localusers.ensure(*USERS)
    alice, bob = users["hpcqalice"], users["hpcqbob"]
    socket_path = str(cluster.home / "run" / "agent.sock")
    granted_r, granted_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:   # alice, until told to release
        try:
            os.close(granted_r)
            os.close(go_w)
            os.setgroups([])
            os.setgid(alice.pw_gid)
            os.setuid(alice.pw_uid)
            _hold_until_told(socket_path, granted_w, go_r)
        finally:
            os._exit(0)
    os.close(granted_w)
    os.close(go_r)
    try:
        with os.fdopen(granted_r, "rb") as granted:
            job_id = int(granted.readline() or b"0")
            assert job_id, "alice got no allocation"
            seen, outcome = localusers.call_as(bob.pw_uid, bob.pw_gid, lambda: _peek_and_cancel(socket_path, job_id))
            assert "alice-secret" not in seen and "hpcqalice" in seen
            assert outcome == "NOT_PERMITTED"
            os.write(go_w, b"release\n")
            assert granted.readline().strip() == b"COMPLETED"
    finally:
        os.close(go_w)
        os.waitpid(pid, 0)
    with cluster.client() as client:
        [job], _ = client.get([job_id])
    assert (job.user, job.state, job.cancelled_by) == ("hpcqalice", S.COMPLETED, "")


def _hold_until_told(socket_path: str, report: int, told: int) -> None:
    """As alice: an allocation; its job id written to `report` once granted, then released
    when `told` says so, and the state it ended in written too."""
    spec = jobs_pb2.JobSpec(name="mine", submit_dir="/tmp", environment={"TOKEN": "alice-secret"})
    with Client(AgentTransport(socket_path)) as client:
        allocation = client.allocate(spec)
        events = allocation.events()
        job = next(j for j in events if j.state != S.PENDING)
        os.write(report, f"{job.id}\n".encode())
        os.read(told, 64)
        allocation.release(0)
        os.write(report, f"{S.Name(next(events).state)}\n".encode())
        allocation.close()


def _peek_and_cancel(socket_path: str, job_id: int) -> tuple[str, str]:
    """As bob: alice's job as he reads it, and what his scancel of it gets."""
    with Client(AgentTransport(socket_path)) as client:
        [job], _ = client.get([job_id])
        results = client.cancel([job_id])
        return str(job), jobs_pb2.JobActionResult.Code.Name(results[0].code)


def test_a_personal_certificate_holds_an_allocation_too(cluster):
    """Jobs.Allocate straight over mutual TLS (the SDK's path without an agent)."""
    with cluster.client(admin=True) as client:
        allocation = client.allocate(jobs_pb2.JobSpec(name="direct", submit_dir="/tmp"))
        events = allocation.events()
        granted = next(j for j in events if j.state != S.PENDING)
        allocation.release(0)
        ended = next(events)
        allocation.close()
    assert (granted.state, ended.state) == (S.RUNNING, S.COMPLETED)
