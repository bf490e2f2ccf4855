"""A job step's tasks on one node, started as Slurm's step daemon starts them: their
environment, CPUs and files; their output relayed or filed; their wait statuses.

srun runs this for the tasks on its own node (hpcq/shims/slurm/srun_tasks.py); noded's
step helper (hpcq/noded/steptasks.py) for a step's tasks on the job's other nodes. Where
the tasks go and which CPUs they bind to is hpcq/steplayout.py's.

The tasks stay in the job's process group, where hpcq delivers a job's signals
(scancel, --signal, the walltime) to every process of the job at once; so the runner
passes on only the signals sent to its own process alone (``timeout 60 srun ...``,
``kill $srun_pid``), told apart by their sender, and never doubles one the tasks
already got.
"""
from __future__ import annotations

import os
import selectors
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hpcq import hostlist
from hpcq.steplayout import CpuBind, cpu_mask, task_cpus

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hpcq.api.lite import jobs_pb2

KILL_WAIT = 30.0          # Slurm's KillWait: after cancelling, the tasks' time to end before SIGKILL
DRAIN_WAIT = 1.0          # output still open after every task ended (a background child) is left after this
_FORWARDED = frozenset({signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1,
                        signal.SIGUSR2, signal.SIGALRM})
# The signals that end a step: the tasks get them (if only the runner's process did), and
# after KILL_WAIT, SIGKILL.
ENDING_SIGNALS = frozenset({signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGALRM})


@dataclass
class TaskOptions:
    """How this node's tasks run: srun's options that shape them (srun's StepOptions
    adds the step's size and the command's own flags)."""
    argv: list[str] = field(default_factory=list)
    output: str = ""                    # file name patterns (%j, %t, ...); "" relays to srun's own
    error: str = ""
    input: str = ""
    unbuffered: bool = False
    label: bool = False
    chdir: str = ""
    cpu_bind: CpuBind = CpuBind()
    open_mode: str = ""                 # "", "append" or "truncate"
    export: str = "ALL"


def exported(environ: Mapping[str, str], export: str) -> dict[str, str]:
    """--export: ALL (the default), NONE (the SLURM_* variables only), or names and
    NAME=value pairs, with ALL among them to keep the rest."""
    items = [i for i in export.split(",") if i]
    upper = [i.upper() for i in items]
    env = dict(environ) if "ALL" in upper or not items else \
        {k: v for k, v in environ.items() if k.startswith(("SLURM_", "SLURMD_"))}
    for item in items:
        if item.upper() in ("ALL", "NONE"):
            continue
        name, eq, value = item.partition("=")
        if eq:
            env[name] = value
        elif name in environ:
            env[name] = environ[name]
    return env


def available_cpus(job: jobs_pb2.Job, node: str) -> list[int]:
    """The CPU ids the job holds on this node that this process may run on (a node may
    offer more CPUs than the host has), else all those it may run on."""
    usable = os.sched_getaffinity(0)
    ids = sorted({c for s in job.allocation.slices if s.node == node for c in s.cpu_ids} & usable)
    return ids or sorted(usable)


def task_environment(base: Mapping[str, str], step: jobs_pb2.JobStep, node: str, node_index: int, rank: int,
                     local_id: int, local_ranks: Sequence[int], cpus: Sequence[int] = (),
                     bind: CpuBind = CpuBind()) -> dict[str, str]:
    """A task's environment as Slurm's step daemon sets it: the job's variables srun
    passed on, with the step's geometry and the task's ranks over them."""
    from hpcq.jobenv import slurm_counts
    nodelist = hostlist.compress(list(step.nodes))
    per_node = slurm_counts(list(step.tasks_per_node))
    env = dict(base)
    env.update(
        SLURM_STEP_ID=str(step.step_id), SLURM_STEPID=str(step.step_id),
        SLURM_STEP_NODELIST=nodelist, SLURM_STEP_NUM_NODES=str(len(step.nodes)),
        SLURM_STEP_NUM_TASKS=str(step.ntasks), SLURM_STEP_TASKS_PER_NODE=per_node,
        SLURM_NODELIST=nodelist, SLURM_NNODES=str(len(step.nodes)), SLURM_TASKS_PER_NODE=per_node,
        SLURM_NTASKS=str(step.ntasks), SLURM_NPROCS=str(step.ntasks),
        SLURM_CPUS_PER_TASK=str(step.cpus_per_task or 1), SLURM_DISTRIBUTION="block",
        SLURM_NODEID=str(node_index), SLURM_PROCID=str(rank), SLURM_LOCALID=str(local_id),
        SLURM_GTIDS=",".join(map(str, local_ranks)), SLURMD_NODENAME=node,
    )
    if cpus:
        mask = cpu_mask(cpus)
        env.update(SLURM_CPU_BIND=f"{'verbose' if bind.verbose else 'quiet'},mask_cpu:{mask}",
                   SLURM_CPU_BIND_VERBOSE="verbose" if bind.verbose else "quiet",
                   SLURM_CPU_BIND_TYPE="mask_cpu:", SLURM_CPU_BIND_LIST=mask)
    return env


@dataclass
class _Task:
    rank: int
    local_id: int
    pid: int = 0
    pidfd: int = -1


class Tasks:
    """This node's tasks of one step, from fork to the last wait status."""

    def __init__(self, o: TaskOptions, job: jobs_pb2.Job, step: jobs_pb2.JobStep, node: str, node_index: int,
                 ranks: list[int], environ: Mapping[str, str]) -> None:
        self.o, self.job, self.step, self.node, self.node_index = o, job, step, node, node_index
        self.tasks = [_Task(rank, i) for i, rank in enumerate(ranks)]
        self.base = exported(environ, o.export)
        self.cwd = os.path.abspath(o.chdir or os.getcwd())
        self.cancelled = False
        self._files: dict[tuple[str, str], int] = {}
        self._pipes: dict[int, tuple[int, int, bytearray]] = {}   # read end -> (rank, stream fd, partial line)
        self._jobd = _job_supervisor()

    # files and pipes

    def _path(self, pattern: str, task: _Task) -> str:
        if pattern.lower() == "none":
            return os.devnull
        from hpcq.jobenv import slurm_file_name
        return slurm_file_name(self.job, pattern, self.node, step=str(self.step.step_id), task=task.rank,
                               node_index=self.node_index, directory=self.cwd)

    def _open(self, path: str, mode: str) -> int:
        key = (path, mode)
        if key not in self._files:
            if mode == "r":
                self._files[key] = os.open(path, os.O_RDONLY)
            else:
                append = (self.o.open_mode or ("append" if self.job.spec.append_output else "truncate")) == "append"
                flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
                self._files[key] = os.open(path, flags, 0o666)
        return self._files[key]

    def _relayed(self) -> bool:
        """Output to srun's own stdout/stderr goes through pipes to label lines, or to
        keep the lines of several tasks whole (unless --unbuffered)."""
        return self.o.label or (not self.o.unbuffered and len(self.tasks) > 1)

    def _fds(self, task: _Task) -> tuple[int, int, int]:
        o = self.o
        stdin = self._open(self._path(o.input, task), "r") if o.input else 0
        out = self._open(self._path(o.output, task), "w") if o.output else None
        err = self._open(self._path(o.error, task), "w") if o.error else out
        if out is None:
            out = self._pipe(task, 1) if self._relayed() else 1
        if err is None:
            err = self._pipe(task, 2) if self._relayed() else 2
        return stdin, out, err

    def _pipe(self, task: _Task, stream: int) -> int:
        r, w = os.pipe()
        self._pipes[r] = (task.rank, stream, bytearray())
        return w

    # the run

    def run(self) -> dict[int, int]:
        """Start every task and wait for all; each rank's wait status."""
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED)
        statuses: dict[int, int] = {}
        selector = selectors.DefaultSelector()
        try:
            available = available_cpus(self.job, self.node)
            ranks = [t.rank for t in self.tasks]
            for task in self.tasks:
                cpus = task_cpus(self.o.cpu_bind, task.local_id, self.step.cpus_per_task or 1, available)
                env = task_environment(self.base, self.step, self.node, self.node_index, task.rank, task.local_id,
                                       ranks, cpus, self.o.cpu_bind)
                fds = self._fds(task)
                task.pid = _spawn(self.o.argv, env, fds, self.cwd, cpus)
                for fd in fds[1:]:
                    if fd > 2 and fd not in self._files.values():
                        os.close(fd)     # our copy of a pipe's write end
                task.pidfd = os.pidfd_open(task.pid)
                selector.register(task.pidfd, selectors.EVENT_READ, task)
                if cpus and self.o.cpu_bind.verbose:
                    print(f"cpu-bind=MASK - {self.node}, task {task.rank:2d} {task.local_id:2d} [{task.pid}]: "
                          f"mask {cpu_mask(cpus)} set", file=sys.stderr, flush=True)
            for fd in self._pipes:
                selector.register(fd, selectors.EVENT_READ, None)
            self._loop(selector, statuses)
        finally:
            selector.close()
            for fd in [*self._files.values(), *self._pipes]:
                os.close(fd)
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        return statuses

    def _loop(self, selector: selectors.BaseSelector, statuses: dict[int, int]) -> None:
        kill_at: float | None = None
        drain_until: float | None = None
        while len(statuses) < len(self.tasks) or (self._pipes and time.monotonic() < (drain_until or 0)):
            for key, _ in selector.select(timeout=0.05):
                if key.data is None:
                    self._relay(selector, key.fd)
                else:
                    task = key.data
                    selector.unregister(task.pidfd)
                    os.close(task.pidfd)
                    statuses[task.rank] = os.waitpid(task.pid, 0)[1]
            if len(statuses) == len(self.tasks) and drain_until is None:
                drain_until = time.monotonic() + DRAIN_WAIT
            kill_at = self._take_signals(statuses, kill_at)
            if kill_at is not None and time.monotonic() >= kill_at:
                self._signal(statuses, signal.SIGKILL)
                kill_at = time.monotonic() + KILL_WAIT
        for fd in list(self._pipes):
            self._flush(fd)

    def _take_signals(self, statuses: dict[int, int], kill_at: float | None) -> float | None:
        """Signals sent to srun since the last look: passed on unless the job's supervisor
        sent them to the whole job (the tasks have them already)."""
        while True:
            info = signal.sigtimedwait(_FORWARDED, 0)
            if info is None:
                return kill_at
            if info.si_pid != self._jobd or not self._jobd:
                self._signal(statuses, info.si_signo)
            if info.si_signo in ENDING_SIGNALS:
                if not self.cancelled:
                    print(f"srun: Job step aborted: Waiting up to {int(KILL_WAIT)} seconds for job step to finish.",
                          file=sys.stderr, flush=True)
                self.cancelled = True
                kill_at = kill_at or time.monotonic() + KILL_WAIT

    def _signal(self, statuses: dict[int, int], sig: int) -> None:
        for task in self.tasks:
            if task.rank not in statuses:
                try:
                    os.kill(task.pid, sig)
                except ProcessLookupError:
                    pass

    def _relay(self, selector: selectors.BaseSelector, fd: int) -> None:
        data = os.read(fd, 65536)
        rank, stream, partial = self._pipes[fd]
        if not data:
            selector.unregister(fd)
            self._flush(fd)
            os.close(fd)
            del self._pipes[fd]
            return
        if self.o.unbuffered and not self.o.label:
            _write_all(stream, data)
            return
        partial += data
        end = partial.rfind(b"\n") + 1
        if end:
            _write_all(stream, self._labelled(rank, bytes(partial[:end])))
            del partial[:end]

    def _flush(self, fd: int) -> None:
        rank, stream, partial = self._pipes[fd]
        if partial:
            _write_all(stream, self._labelled(rank, bytes(partial)))
            partial.clear()

    def _labelled(self, rank: int, data: bytes) -> bytes:
        if not self.o.label:
            return data
        width = len(str(self.step.ntasks - 1))
        prefix = f"{rank:>{width}}: ".encode()
        lines = data.splitlines(keepends=True)
        return b"".join(prefix + line for line in lines)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            data = data[os.write(fd, data):]
        except BrokenPipeError:
            return


def _job_supervisor() -> int:
    """The pid of hpcq-jobd: the parent of the job's process group leader (0 if unknown)."""
    try:
        with open(f"/proc/{os.getpgrp()}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _spawn(argv: Sequence[str], env: dict[str, str], fds: tuple[int, int, int], cwd: str, cpus: Sequence[int]) -> int:
    """Fork a task and exec its command, as slurmstepd would (SLURM_TASK_PID is its own pid)."""
    pid = os.fork()
    if pid:
        return pid
    try:
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)   # Python ignores these; a command must not inherit that
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        for target, fd in enumerate(fds):
            if fd != target:
                os.dup2(fd, target)
        try:
            os.chdir(cwd)
        except OSError as e:
            os.write(2, f"slurmstepd: error: couldn't chdir to `{cwd}': {e.strerror}: going to /tmp instead\n"
                     .encode())
            os.chdir("/tmp")
        if cpus:
            os.sched_setaffinity(0, cpus)
        env["SLURM_TASK_PID"] = str(os.getpid())
        os.execvpe(argv[0], list(argv), env)
    except OSError as e:
        os.write(2, f"slurmstepd: error: execve(): {argv[0]}: {e.strerror}\n".encode())
    finally:
        os._exit(2)
