"""The supervisor: a process the launcher forked, which runs job attempts one at a time.

It detaches once (own session, no inherited descriptors). For each job attempt it is
asked to run, it records itself in the spool, prepares what the job needs (script,
node file, TMPDIR, output files), starts the job, tells the launcher whether it
started, then waits for it: walltime (TERM, grace, KILL), cancellation (SIGTERM from
noded, acted on only when the attempt it runs has a cancel.json: a late signal meant
for its previous job must not end this one; grace in cancel.json), and at the end it
kills whatever the job left behind, collects the usage and writes status.json. Then it
tidies up (TMPDIR, cgroups) and tells the launcher it is free for another attempt; so
the fork, the set-up and the exit of a supervisor are paid once for many jobs, while a
kill -9 of one still takes only the job it runs. End of file on its request pipe (the
launcher is gone, or has idle supervisors enough) ends it, after the job it runs. It
never returns: the process ends with os._exit, so nothing of the launcher it was
forked from (buffers, atexit handlers) runs twice.

It carries out a plan noded made (hpcq.noded.plan), and does little else: every page
of Python a forked process touches is a page copied, so the thinking happens in noded
and this module does the system calls.

The supervisor is a child subreaper: processes the job orphans are re-parented to it
instead of to init. So every process the job started, in its process group or not,
stays in the supervisor's reach (killed at the end, usage counted), as a cgroup
would give, without needing one.
"""
from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator

from hpcq import private_files
from hpcq.noded import enforce, spool

TYPE_CHECKING = False  # see hpcq.noded.spool
if TYPE_CHECKING:
    from typing import Any, NoReturn

_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_NAME = 15
_REPORT_FD = 3
_REQUEST_FD = 4   # where its launch requests come, a line each
# Said to the launcher, which keeps it (noded never sees it), once a job attempt is over
# and tidied up: this supervisor takes the next request.
FREE = b"free\n"
# The job is started through `sh -c` so that SLURM_TASK_PID can be its own pid, which
# is known only in the process itself; exec keeps the pid, so the script has it too.
_TRAMPOLINE = 'SLURM_TASK_PID=$$; export SLURM_TASK_PID; exec "$@"'
# dash, Debian's sh, drops every variable whose name is not a shell name from what it
# passes on, bash's exported functions (BASH_FUNC_f%%) among them; env(1) sets those
# again after the trampoline, so the job gets them as the kernel passes them.
_ENV_COMMAND = "/usr/bin/env"

# Outcome states, spelled as hpcq.api's JobState names (the spool's JSON spells them so).
RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT = "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"
OUT_OF_MEMORY = "OUT_OF_MEMORY"


def _with_unnamed_variables(env: dict[str, str], argv: list[str]) -> list[str]:
    """The command the trampoline execs: `argv`, behind env(1) NAME=VALUE arguments for
    the variables of `env` a shell would drop (taken out of `env`, so as not to be sent
    twice). env(1) reads a command name holding "=" as one more assignment; such a
    command (a qsub -S path) gets the shell's environment only."""
    unnamed = [name for name in env if not (name.isascii() and name.isidentifier())]
    if not unnamed or "=" in argv[0]:
        return argv
    return [_ENV_COMMAND, "--", *(f"{name}={env.pop(name)}" for name in unnamed), *argv]


def supervise_when_asked(request_fd: int, report_fd: int) -> NoReturn:
    """A supervisor forked ahead of its jobs (called in the launcher's freshly forked
    child): it detaches and sets itself up, then for each launch request on `request_fd`
    (a line: the seq, a space, the plan in JSON: hpcq.noded.launcher) supervises that job
    attempt to its end and says it is FREE. End of file: the launcher is gone, or wants
    no more of this one."""
    try:
        wake_r = _detach(report_fd, request_fd)
        for request in _lines(_REQUEST_FD):
            _drain(wake_r)  # signals that came while idle were meant for an earlier job
            seq, _, plan = request.partition(b" ")
            if not _Supervisor(int(seq), json.loads(plan), _REPORT_FD, wake_r).run():
                break
            with contextlib.suppress(OSError):  # the launcher is gone: the next read says so
                os.write(_REPORT_FD, FREE)
    finally:
        os._exit(0)


def _lines(fd: int) -> Iterator[bytes]:
    """Each line read from `fd`, without its newline, until end of file."""
    pending = b""
    while chunk := os.read(fd, 1 << 16):
        *lines, pending = (pending + chunk).split(b"\n")
        yield from lines


def _drain(fd: int) -> None:
    """Read a non-blocking pipe empty."""
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 4096):
            pass


def _detach(report_fd: int, request_fd: int) -> int:
    """Leave the launcher's session and keep nothing of its: its pipes to noded would
    otherwise stay open for as long as the job runs. Only the report pipe survives, as
    fd 3, and the request pipe as fd 4. Then catch the signals the supervisor acts on
    and become a subreaper. Returns the read end of the signals' wake-up pipe."""
    os.setsid()
    # Above the fds they go to, so that neither dup2 below overwrites the other.
    report_fd = fcntl.fcntl(report_fd, fcntl.F_DUPFD_CLOEXEC, 16)
    request_fd = fcntl.fcntl(request_fd, fcntl.F_DUPFD_CLOEXEC, 16)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.dup2(report_fd, _REPORT_FD, inheritable=False)
    os.dup2(request_fd, _REQUEST_FD, inheritable=False)
    os.closerange(_REQUEST_FD + 1, os.sysconf("SC_OPEN_MAX"))
    wake_r = _catch_signals()
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    return wake_r


def _catch_signals() -> int:
    """SIGTERM (cancel), SIGCHLD (an orphan to reap) and SIGUSR1 (suspend or resume)
    arrive as bytes on a pipe that poll() watches with the job's pidfd: no race, no
    polling."""
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(w)
    for sig in (signal.SIGTERM, signal.SIGCHLD, signal.SIGUSR1):
        signal.signal(sig, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # ignored by the launcher; the job inherits ours
    return r


@contextlib.contextmanager
def _as_user(uid: int, gid: int, groups: list[int] | None, umask: int) -> Iterator[None]:
    """Act as the job's user for file access: effective ids only, so that root can come
    back; the real and saved uid stay root's, so the user cannot signal us meanwhile."""
    old_umask = os.umask(umask)
    if groups is not None:
        old_groups, egid = os.getgroups(), os.getegid()
        os.setgroups(groups)
        os.setegid(gid)
        os.seteuid(uid)
    try:
        yield
    finally:
        if groups is not None:
            os.seteuid(0)
            os.setegid(egid)
            os.setgroups(old_groups)
        os.umask(old_umask)


class LaunchError(Exception):
    """The job could not be started; the message is the reason the user will read."""


@contextlib.contextmanager
def _failing(what: str) -> Iterator[None]:
    """Turn an OSError into the reason a launch failed: "<what>: <strerror>"."""
    try:
        yield
    except OSError as e:
        raise LaunchError(f"{what}: {e.strerror or e}") from None


class _Supervisor:
    def __init__(self, seq: int, plan: dict[str, Any], report_fd: int, wake_r: int) -> None:
        self.seq = seq
        self.plan = plan
        self.dir = spool.AttemptDir.at(plan["dir"])
        self.report_fd = report_fd
        self.wake_r = wake_r
        self.grace = plan["grace"]
        self.tmpdir: str | None = None
        self.popen: subprocess.Popen[bytes] | None = None
        self.leader = 0
        self.confinement: enforce.JobConfinement | None = None
        self.cgroup = ""   # the name of the job's cgroups (enforce.job_cgroup_name)
        self.stderr = -1  # kept open while the job runs only to tell of an OOM kill in it
        self.output_paths: list[str | None] = []
        # What the processes of this job we reaped used (wait4): the process outlives the
        # job, so RUSAGE_CHILDREN would hold every earlier job's too.
        self.reaped_user = self.reaped_system = 0.0
        self.reaped_max_rss_kb = 0

    # --- the whole life --------------------------------------------------------------

    def run(self) -> bool:
        """Supervise the attempt to its end. True if this process is fit for another:
        the job ran and everything of it is gone (a launch that failed half-way, or a
        supervisor error, may leave us in a state not worth undoing: we exit instead)."""
        _prctl(_PR_SET_NAME, ctypes.c_char_p(b"hpcq-jobd"))  # what ps and top show (a spare is not one yet)
        pid = os.getpid()
        ticks = spool.process_start_ticks(pid)
        # The job's cgroups are named for this process (its pid and start time): a name
        # no other cgroup on the host has. Recorded, so that noded finds them after us.
        if "confine" in self.plan:
            self.cgroup = enforce.job_cgroup_name(self.plan["confine"]["name"], pid, ticks)
        record: dict[str, Any] = {"pid": pid, "start_time_ticks": ticks, "cgroup": self.cgroup}
        # The CPU of the earlier jobs' processes, which /proc counts as ours (reaped) too.
        times = os.times()
        reaped_before = [times.children_user, times.children_system]
        if not spool.publish_json(self.dir.supervisor, record):
            # A restarted noded gave this launch up already: the job must not start.
            self._send({"seq": self.seq, "error": "the launch was given up before the job started"})
            return True
        try:
            started = self._start()
        except Exception as e:  # noqa: BLE001 - whatever stopped the launch is the reason
            reason = str(e) if isinstance(e, LaunchError) else f"supervisor error: {e!r}"
            now = time.time()
            outcome = self._outcome(FAILED, exit_code=1, start_time=now, end_time=now, reason=reason)
            spool.write_json(self.dir.status, outcome)
            self._send({"seq": self.seq, "supervisor": record, "outcome": outcome})
            self._remove_tmpdir()
            if self.confinement is not None:
                self.confinement.remove()
            return False
        record.update(session_id=started["session_id"], start_time=started["start_time"], output=self.output_paths,
                      uid=self.plan["uid"], gid=self.plan["gid"],   # what noded's outputreader reads
                      reaped_before=reaped_before)                  # what its live usage is less
        spool.write_json(self.dir.supervisor, record)
        self._send({"seq": self.seq, "supervisor": record, "outcome": started})
        fit = True
        try:
            outcome = self._wait(started)
        except Exception as e:  # noqa: BLE001 - a job nobody watches must not run on
            self._signal_job(signal.SIGKILL)
            outcome = self._outcome(FAILED, exit_code=1, start_time=started["start_time"], end_time=time.time(),
                                    session_id=started["session_id"], reason=f"supervisor error: {e!r}")
            fit = False
        spool.write_json(self.dir.status, outcome)
        self._remove_tmpdir()   # before the end is told, as a Slurm epilog's would be
        # noded may report the end now, while we remove the job's cgroups, which takes
        # milliseconds on a busy node.
        self._send({"seq": self.seq, "ended": True})
        if self.confinement is not None:
            self.confinement.remove()
        if self.stderr >= 0:
            os.close(self.stderr)
        return fit

    def _send(self, message: dict[str, Any]) -> None:
        """A line to the launcher, which relays it to noded: whether the job started, and
        when its status.json is written (before we have tidied up)."""
        with contextlib.suppress(OSError):  # the launcher is gone: the spool tells noded instead
            os.write(self.report_fd, spool.json_line(message))

    def _outcome(self, state: str, **fields: Any) -> dict[str, Any]:
        """An outcome as the spool's JSON spells it (hpcq.noded.runner reads it back)."""
        outcome = dict(_NO_OUTCOME, job_id=self.plan["job_id"], attempt=self.plan["attempt"],
                       running=state == RUNNING, state=state)
        outcome.update(fields)
        return outcome

    # --- launch ----------------------------------------------------------------------

    def _start(self) -> dict[str, Any]:
        plan = self.plan
        root = os.geteuid() == 0
        # The job's user's alone: the job reads them as that user, and nobody else may.
        owner = (plan["uid"], plan["gid"]) if root else None
        with _failing(f"cannot write the job's files in {self.dir.path}"):
            _write_file(self.dir.script, plan["script"].encode(), 0o500, owner)
            _write_file(self.dir.nodefile, plan["nodefile"].encode(), 0o600, owner)
        self.tmpdir = self._make_tmpdir()
        stdout, stderr = self._open_output_and_chdir()
        env = plan["env"]
        env["TMPDIR"] = self.tmpdir
        argv = _with_unnamed_variables(env, plan["argv"])
        switch = plan["groups"] is not None
        trampoline = _TRAMPOLINE
        confinement = None
        if "confine" in plan:
            confinement = self.confinement = enforce.JobConfinement(plan["confine"], self.cgroup)
            with _failing("cannot confine the job"):
                confinement.prepare()
                confinement.enter()  # the job, forked by Popen, starts in its cgroup
            trampoline = confinement.shell_limits() + trampoline
        start_time = time.time()
        # Popen forks and switches user in C, with no Python between fork and exec: a
        # Python child would copy-on-write much of this process first (~4 ms a job).
        try:
            with _failing("cannot start the job"):
                # Kept for the whole life of the supervisor: a Popen that is garbage-collected
                # reaps its child if it has ended, and the leader's status is ours to collect.
                self.popen = subprocess.Popen(
                    ["/bin/sh", "-c", trampoline, "hpcq-job", *argv], stdin=subprocess.DEVNULL, stdout=stdout,
                    stderr=stderr, env=env, process_group=0, umask=plan["umask"],
                    user=plan["uid"] if switch else None, group=plan["gid"] if switch else None,
                    extra_groups=plan["groups"] if switch else None)
        finally:
            if confinement is not None:
                confinement.leave()
        if plan.get("oom_message") and confinement is not None and confinement.kind != enforce.AFFINITY:
            self.stderr = os.dup(stderr)
        os.close(stdout)
        if stderr != stdout:
            os.close(stderr)
        os.chdir("/")  # the job has the start directory; do not hold it ourselves
        self.leader = self.popen.pid
        return self._outcome(RUNNING, start_time=start_time, session_id=self.leader)

    def _make_tmpdir(self) -> str:
        """A fresh <tmp_dir>/hpcq.<job id>.<random>, the user's. Fresh because /tmp is
        everybody's: several clusters (and their job ids) share it, and a planted name
        must not make root chown something else; mkdir creates it exclusively, 0700."""
        plan = self.plan
        with _failing(f"cannot create a TMPDIR in {plan['tmp_dir']}"):
            while True:
                path = os.path.join(plan["tmp_dir"], f"hpcq.{plan['job_id']}.{os.urandom(6).hex()}")
                try:
                    os.mkdir(path, 0o700)
                    break
                except FileExistsError:
                    continue
            if os.geteuid() == 0:
                os.chown(path, plan["uid"], plan["gid"], follow_symlinks=False)
        return path

    def _remove_tmpdir(self) -> None:
        if self.tmpdir is not None:
            try:
                os.rmdir(self.tmpdir)  # most jobs leave it empty; a symlink in its place is not followed
            except OSError:
                spool.remove(self.tmpdir)  # rmtree works on descriptors: no symlink games

    def _open_output_and_chdir(self) -> tuple[int, int]:
        """Open the job's stdout and stderr and enter its start directory, all as the
        job's user: root must not create files, or follow paths, the user could not."""
        plan = self.plan
        # Non-blocking: a FIFO that nobody reads (the user's to choose) fails the launch
        # (ENXIO) instead of holding the supervisor in open(), where no cancel reaches it.
        flags = os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | (os.O_APPEND if plan["append"] else os.O_TRUNC)
        mode = plan["output_mode"]
        with _as_user(plan["uid"], plan["gid"], plan["groups"], plan["umask"]):
            dirs = [p for p in plan["probes"] if os.path.isdir(p)]
            stdout_path, stderr_path = next((o, e) for d, o, e in plan["outputs"] if d == dirs)
            self.output_paths = [stdout_path, stderr_path]
            with _failing(f"cannot open output file {stdout_path}"):
                stdout = os.open(stdout_path, flags, mode)
                os.set_blocking(stdout, True)   # the job writes as to any file
            stderr = stdout
            if stderr_path is not None:
                with _failing(f"cannot open error file {stderr_path}"):
                    stderr = os.open(stderr_path, flags, mode)
                    os.set_blocking(stderr, True)
            workdir = plan["workdir"]
            try:
                with _failing(f"cannot change to directory {workdir}"):
                    os.chdir(workdir)
            except LaunchError as e:
                os.write(stderr, f"hpcq: error: {e}\n".encode())  # where the user will look
                raise
        return stdout, stderr

    # --- waiting ---------------------------------------------------------------------

    def _wait(self, started: dict[str, Any]) -> dict[str, Any]:
        """Wait for the job; at the walltime or on cancel TERM it, KILL after the grace;
        when it has ended, give leftovers the rest of that grace (none after a normal
        end), then kill them and collect everything. While suspended (SIGSTOP) its
        walltime stands still: the deadline moves on by the time it was stopped."""
        leader = self.leader
        pidfd = os.pidfd_open(leader)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.register(self.wake_r, select.POLLIN)
        walltime = self.plan["walltime"]
        deadline = time.monotonic() + walltime if walltime else None
        ending: str | None = None  # TIMEOUT or CANCELLED once we have started ending it
        kill_at: float | None = None
        killing = leader_done = False
        suspended_at: float | None = None
        while True:
            running = not (ending or leader_done or suspended_at is not None)
            timers = [t for t in (deadline if running else None, kill_at) if t is not None]
            timeout = max(0.0, min(timers) - time.monotonic()) * 1000 if timers else None
            ready = {fd for fd, _ in poller.poll(timeout)}
            now = time.monotonic()
            if self.wake_r in ready:
                caught = os.read(self.wake_r, 4096)
                grace = self._cancel_grace() if signal.SIGTERM in caught and not leader_done else None
                if grace is not None:
                    if ending is None:
                        ending = CANCELLED
                        self._signal_job(signal.SIGTERM)
                    kill_at = min(kill_at or now + grace, now + grace)
                if signal.SIGUSR1 in caught and not leader_done and ending is None:
                    wanted = self._suspend_wanted()
                    if wanted and suspended_at is None:
                        self._signal_job(signal.SIGSTOP)
                        suspended_at = now
                    elif not wanted and suspended_at is not None:
                        if deadline is not None:
                            deadline += now - suspended_at
                        self._signal_job(signal.SIGCONT)
                        suspended_at = None
                if ending is not None and suspended_at is not None:
                    self._signal_job(signal.SIGCONT)   # a stopped job cannot act on its SIGTERM
                    suspended_at = None
                self._reap_orphans()
            if ending is None and suspended_at is None and not leader_done and deadline is not None and \
                    now >= deadline:
                ending = TIMEOUT
                self._signal_job(signal.SIGTERM)
                kill_at = now + self.grace
            if pidfd in ready and not leader_done:
                # The leader is a zombie now: its pid still holds the process group's id,
                # so signalling the group cannot hit a stranger until we reap it.
                leader_done = True
                poller.unregister(pidfd)
                if ending is None:
                    kill_at = now  # a job that ended by itself: leftovers go at once
            if kill_at is not None and now >= kill_at:
                killing, kill_at = True, None
            if killing:  # again on every wake-up: a killed process may have orphaned more
                self._signal_job(signal.SIGKILL)
            if leader_done and not self._orphans():
                break
        os.close(pidfd)
        status = self._reap(leader, 0)
        assert self.popen is not None
        # Ours to reap, and reaped: else a later Popen (of the next job) would poll this pid
        # from subprocess's list of unreaped children, and might reap a stranger.
        self.popen.returncode = status
        end_time = time.time()
        self._end_the_rest()
        # Every process of the job was reaped by its parent or by us (subreaper), so what
        # we reaped holds the usage of the whole job, not only the leader's.
        user, system, max_rss_kb = self.reaped_user, self.reaped_system, self.reaped_max_rss_kb
        oom_kills = 0
        if self.confinement is not None:
            oom_kills = self.confinement.oom_kills()
            measured = self.confinement.usage()
            if measured is not None:
                # The cgroup's CPU is every process's, even one we could not reap. Its peak is
                # of the processes' sum, but counts a page only in the cgroup that first
                # touched it (shared libraries seldom): never less than one process's RSS.
                user, system = measured["user"], measured["system"]
                max_rss_kb = max(max_rss_kb, int(measured["max_rss_kb"]))
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 0
        state = ending or (OUT_OF_MEMORY if oom_kills else COMPLETED if code == 0 and sig == 0 else FAILED)
        if oom_kills and self.stderr >= 0:
            message = self.plan["oom_message"].format(count=oom_kills, s="s" if oom_kills > 1 else "")
            with contextlib.suppress(OSError):
                os.write(self.stderr, message.encode())
        return self._outcome(
            state, exit_code=code, signal=sig, start_time=started["start_time"],
            end_time=end_time, session_id=started["session_id"], cpu_seconds=user + system,
            user_cpu_seconds=user, system_cpu_seconds=system, max_rss_kb=max_rss_kb)

    def _end_the_rest(self) -> None:
        """Kill what is left in the job's cgroup (a process that is not our descendant
        cannot be reaped by us) and wait until it is empty, so that its usage is final."""
        confinement = self.confinement
        if confinement is None:
            return
        deadline = time.monotonic() + 5.0
        while confinement.processes() and time.monotonic() < deadline:
            confinement.kill_all()
            self._reap_orphans()
            time.sleep(0.005)

    def _suspend_wanted(self) -> bool:
        return bool((spool.read_json(self.dir.suspend) or {}).get("suspended", False))

    def _cancel_grace(self) -> int | None:
        """The grace of this attempt's cancel; None if it has none: the SIGTERM was a late
        one for the job this process ran before (noded writes cancel.json, then signals)."""
        record = spool.read_json(self.dir.cancel)
        return None if record is None else int(record.get("grace_seconds", self.grace))

    def _orphans(self) -> list[int]:
        """Our children other than the job's leader: processes the job left behind."""
        try:
            return [p for p in map(int, spool.read_bytes(f"/proc/self/task/{os.getpid()}/children").split())
                    if p != self.leader]
        except FileNotFoundError:  # kernel without CONFIG_PROC_CHILDREN: the group is all we see
            return []

    def _reap_orphans(self) -> None:
        for pid in self._orphans():
            with contextlib.suppress(ChildProcessError):
                self._reap(pid, os.WNOHANG)

    def _reap(self, pid: int, options: int) -> int:
        """waitpid, counting what the process (and what it reaped) used; its wait status."""
        reaped, status, rusage = os.wait4(pid, options)
        if reaped:
            self.reaped_user += rusage.ru_utime
            self.reaped_system += rusage.ru_stime
            self.reaped_max_rss_kb = max(self.reaped_max_rss_kb, rusage.ru_maxrss)
        return status

    def _signal_job(self, sig: int) -> None:
        """The job's process group, and processes of the job that left it (they are our
        children now, and in its cgroup if it has one)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.leader, sig)
        others = set(self._orphans())
        if self.confinement is not None:
            others.update(self.confinement.processes())
        for pid in others:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


def _write_file(path: str, data: bytes, mode: int, owner: tuple[int, int] | None = None) -> None:
    fd = private_files.open_file(path, os.O_WRONLY | os.O_TRUNC, mode)
    try:
        if owner is not None:
            os.fchown(fd, *owner)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


_NO_OUTCOME: dict[str, Any] = {"reason": "", "exit_code": 0, "signal": 0, "start_time": 0.0, "end_time": 0.0,
                               "session_id": 0, "cpu_seconds": 0.0, "user_cpu_seconds": 0.0,
                               "system_cpu_seconds": 0.0, "max_rss_kb": 0}

_libc = ctypes.CDLL(None, use_errno=True)  # loaded once, in the launcher


def _prctl(option: int, value: int | ctypes.c_char_p) -> None:
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option})")
