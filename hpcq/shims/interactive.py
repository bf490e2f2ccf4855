"""What salloc, srun outside a job and qsub -I share: an allocation held open (Jobs.Allocate)
while a command runs here, on the submit host, as Slurm's salloc runs its command; the
allocation's environment for that command; its end when the command ends.

The terminal stays the command's own: nothing of it travels through ctld. Steps (srun)
started from the command run on the allocation's nodes as srun inside a job does.
"""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time

from hpcq import states
from hpcq.api.lite import jobs_pb2
from hpcq.errors import HpcqError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from hpcq.allocation import Allocation
    from hpcq.client import Client
    from hpcq.jobenv import JobUser

# A grant that comes this soon after the request is "immediate": no "queued and waiting" lines
# (Slurm answers an allocation request at once when it can start it).
IMMEDIATE_SECONDS = 2.0
# How long the end of a released allocation is awaited before hanging up anyway.
RELEASE_WAIT = 30.0
# Signals that end a wait for the grant as ^C does: at their default they would kill the
# command without a release, and its allocation would wait out ctld's grace for a client
# that is not coming back (Slurm's salloc likewise revokes a pending allocation on them).
_GIVING_UP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
# Signals the monitor thread must never take: srun's step runner waits for them itself.
_MAIN_THREAD_SIGNALS = frozenset({signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1,
                                  signal.SIGUSR2, signal.SIGALRM, signal.SIGCHLD, signal.SIGTSTP})
# What salloc passes on of the job's Slurm variables (as Slurm 22.05's salloc sets them).
SLURM_ALLOCATION_VARIABLES = (
    "SLURM_CLUSTER_NAME", "SLURM_JOB_ACCOUNT", "SLURM_JOB_CPUS_PER_NODE", "SLURM_JOB_ID", "SLURM_JOBID",
    "SLURM_JOB_NAME", "SLURM_JOB_NODELIST", "SLURM_JOB_NUM_NODES", "SLURM_JOB_PARTITION", "SLURM_JOB_QOS",
    "SLURM_NNODES", "SLURM_NODELIST", "SLURM_SUBMIT_DIR", "SLURM_SUBMIT_HOST", "SLURM_TASKS_PER_NODE",
    "SLURM_MEM_PER_NODE", "SLURM_MEM_PER_CPU")
PBS_ALLOCATION_VARIABLES = (
    "PBS_JOBID", "PBS_JOBNAME", "PBS_QUEUE", "PBS_O_QUEUE", "PBS_O_WORKDIR", "PBS_O_HOST", "PBS_NODENUM",
    "PBS_TASKNUM", "PBS_JOBDIR", "NCPUS", "PBS_NCPUS", "OMP_NUM_THREADS")


class Held:
    """An allocation this process holds: the job's changes, read by a thread of their own
    so that the command's wait and the allocation's end can be told apart.

    It is always released explicitly: by release() when the command ends, by close() when
    none ran (the job ended first, or ^C, TERM or HUP came while waiting for the grant,
    which interrupt the wait as KeyboardInterrupt). Only a client that truly vanished
    (kill -9, a lost host) leaves its allocation to ctld, which holds it for [ctld]
    allocation_grace_seconds in case the client's call is made again, then cancels it."""

    def __init__(self, allocation: Allocation, client: Client | None = None) -> None:
        self.allocation = allocation
        self.client = client
        self.broken = False                           # the stream failed (ctld restarted, the agent went)
        self.ended: jobs_pb2.Job | None = None       # the job's last record once it has ended
        self.releasing = False                        # the end coming is our own release
        self._changes: queue.Queue[jobs_pb2.Job | HpcqError | None] = queue.Queue()
        self._on_end: Callable[[jobs_pb2.Job], None] | None = None
        self._done = threading.Event()
        self._end_lock = threading.Lock()          # on_end is called once, whichever thread sees the end last
        self._latest_id = 0
        self._released = False
        self._restore = _interrupting(_GIVING_UP_SIGNALS)   # until granted or released
        # Started with the signals blocked, which the thread keeps: they are the main thread's.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _MAIN_THREAD_SIGNALS)
        try:
            threading.Thread(target=self._read, name="allocation", daemon=True).start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    @classmethod
    def request(cls, client: Client, spec: jobs_pb2.JobSpec) -> Held:
        return cls(client.allocate(spec), client)

    def _read(self) -> None:
        try:
            for job in self.allocation.events():
                if states.is_finished(job.state):
                    with self._end_lock:
                        self.ended, on_end = job, self._on_end
                    if on_end is not None:
                        on_end(job)
                self._latest_id = job.id
                self._changes.put(job)
        except HpcqError as e:
            self.broken = True
            self._changes.put(e)
        finally:
            self._changes.put(None)
            self._done.set()

    def next(self, timeout: float | None = None) -> jobs_pb2.Job | None:
        """The next change (None: the stream is over); queue.Empty after `timeout`. An
        interrupted wait gives the allocation up before the KeyboardInterrupt goes on."""
        try:
            change = self._changes.get(timeout=timeout)
        except KeyboardInterrupt:
            self.close()
            raise
        if isinstance(change, HpcqError):
            raise change
        return change

    def granted(self, on_waiting: Callable[[jobs_pb2.Job], None]) -> jobs_pb2.Job:
        """Wait until the job runs, and tell `on_waiting` once if it does not at once (held,
        a begin time, or no grant within IMMEDIATE_SECONDS). The ended job if it ended first."""
        latest: jobs_pb2.Job | None = None
        told = False
        deadline = time.monotonic() + IMMEDIATE_SECONDS
        while True:
            # Until the first record (ctld sends it once the job is stored) there is nothing to tell.
            wait = None if told or latest is None else max(0.0, deadline - time.monotonic())
            try:
                job = self.next(timeout=wait)
            except queue.Empty:
                job = None
            else:
                if job is None:
                    raise HpcqError("UNAVAILABLE", "the allocation's stream ended before its job started")
                if job.state == jobs_pb2.RUNNING:
                    # TERM and HUP go on raising KeyboardInterrupt until the release: between
                    # the grant and the command's start, the caller gives the allocation up.
                    return job
                if states.is_finished(job.state):
                    return job
                latest = job
            if not told and latest is not None and (job is None or latest.state != jobs_pb2.PENDING):
                told = True
                on_waiting(latest)

    def watch_end(self, on_end: Callable[[jobs_pb2.Job], None]) -> None:
        """Call `on_end` (in the reading thread) when the job ends, whoever ends it."""
        with self._end_lock:
            self._on_end, ended = on_end, self.ended
        if ended is not None:
            on_end(ended)

    def release(self, exit_code: int) -> None:
        """End the allocation with the command's exit status and wait (a while) for ctld's
        word; a later call does nothing."""
        if self._released:
            return
        self._released = True
        try:
            if self.ended is None:
                self.releasing = True
                try:
                    self.allocation.release(max(0, min(exit_code, 255)))
                except HpcqError:
                    pass   # the stream is gone for good: the fallback below
                self._done.wait(RELEASE_WAIT)
            self.allocation.close()
            if self.ended is None and self.broken and self.client is not None and self._latest_id:
                # A stream that broke beyond the retry window (ctld or the agent away that long)
                # leaves its allocation to a ctld that cannot know its client is done: end it
                # as scancel would rather than let it wait out the grace.
                try:
                    self.client.cancel([self._latest_id])
                except HpcqError:
                    pass
        finally:
            self._restore = _restored(self._restore)

    def close(self) -> None:
        """Give the allocation up when no command ran: released (ctld cancels one that has
        not started), so that it ends now rather than after ctld's grace."""
        self.release(1)


def _interrupting(signals: tuple[signal.Signals, ...]) -> dict[int, Any]:
    """Make `signals` raise KeyboardInterrupt; their handlers before, to restore. Nothing
    outside the main thread, where handlers cannot be set (the SDK's own threads)."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def interrupt(sig: int, frame: object) -> None:
        raise KeyboardInterrupt
    return {sig: signal.signal(sig, interrupt) for sig in signals}


def _restored(handlers: dict[int, Any]) -> dict[int, Any]:
    """Put `handlers` back (those Python knows of); what is left to restore: nothing."""
    for sig, handler in handlers.items():
        if handler is not None:
            signal.signal(sig, handler)
    return {}


def run_command(argv: list[str], env: Mapping[str, str], cwd: str | None = None,
                on_start: Callable[[subprocess.Popen[bytes]], None] | None = None) -> int:
    """Run the command in the foreground, as salloc does: interrupts typed at the terminal
    are the command's (caught, not ignored, here: the command must not inherit them
    ignored); TERM and HUP sent to us are passed on. Its exit status, 128+N for a signal."""
    caught = (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP)
    child: subprocess.Popen[bytes] | None = None
    # Sent while Popen had not returned yet: the command may already run (Popen returns
    # once the exec is done), and it must get the signal all the same.
    early: list[int] = []

    def pass_on(sig: int, frame: object) -> None:
        if sig not in (signal.SIGTERM, signal.SIGHUP):
            return
        if child is None:
            early.append(sig)
        else:
            child.send_signal(sig)
    previous = {sig: signal.signal(sig, pass_on) for sig in caught}
    try:
        try:
            child = subprocess.Popen(argv, env=dict(env), cwd=cwd)
        except OSError as e:
            raise HpcqError("FAILED_PRECONDITION", f"{argv[0]}: {e.strerror or e}") from None
        for sig in early:
            child.send_signal(sig)
        if on_start is not None:
            on_start(child)
        status = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status if status >= 0 else 128 - status


def default_shell(environ: Mapping[str, str]) -> list[str]:
    """The user's shell: $SHELL, else the password database's, else /bin/sh."""
    shell = environ.get("SHELL")
    if not shell:
        import pwd
        try:
            shell = pwd.getpwuid(os.getuid()).pw_shell
        except KeyError:
            shell = ""
    return [shell or "/bin/sh"]


def job_user() -> JobUser:
    """This process's account as hpcq.jobenv describes the user a job runs as."""
    import pwd

    from hpcq.jobenv import JobUser
    entry = pwd.getpwuid(os.getuid())
    return JobUser(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_shell or "/bin/sh")


def allocation_environment(job: jobs_pb2.Job, cluster: str, names: tuple[str, ...],
                           nodefile: str = "") -> dict[str, str]:
    """The job's variables among `names`, as a batch job on its first node would have
    them (hpcq.jobenv builds both)."""
    from hpcq.jobenv import job_environment
    head = job.allocation.slices[0].node
    env = job_environment(job, head, cluster, tmpdir="", nodefile=nodefile, user=job_user())
    picked = {name: env[name] for name in names if name in env}
    r = job.spec.resources
    if names is SLURM_ALLOCATION_VARIABLES:
        if r.tasks:     # Slurm sets these only when a task count was asked for
            picked.update(SLURM_NTASKS=env["SLURM_NTASKS"], SLURM_NPROCS=env["SLURM_NPROCS"])
        if r.cpus_per_task:
            picked["SLURM_CPUS_PER_TASK"] = env["SLURM_CPUS_PER_TASK"]
    return picked


def head_node_here(client: Client, job: jobs_pb2.Job) -> str:
    """The job's first node if it runs on this host ("" if not): where a step started from
    here may run its tasks itself."""
    import socket
    head = job.allocation.slices[0].node
    nodes = client.nodes([head])
    host = socket.gethostname()
    if nodes and nodes[0].hardware.hostname in (host, host.split(".")[0]):
        return head
    return ""
