"""JobRunner: noded's side of running jobs.

It owns the spool and speaks to the launcher process (hpcq.noded.launcher), whose
supervisors (hpcq.noded.jobd) run one job attempt at a time each, and many in turn. The
runner hears of a job's end by push: the supervisor's "ended" line, relayed by the
launcher once status.json is written; and it watches the supervisor with a pidfd on the
event loop while that job runs, for a supervisor that dies (a status.json, or none: the
supervisor was lost) and for the jobs of a launcher that is gone (their supervisors exit
after them). Supervisors do not depend on noded: after a restart, start() finds them in
the spool and attaches again.
"""
from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.noded import enforce, plan, spool
from hpcq.noded.usage import Sampler

log = logging.getLogger(__name__)

S = jobs_pb2.JobState


@dataclass
class _Attempt:
    """What noded knows of one job attempt in the spool."""

    dir: spool.AttemptDir
    outcome: nodes_pb2.JobOutcome
    launching: asyncio.Task[nodes_pb2.JobOutcome] | None = None
    pidfd: int | None = None
    kill_grace: int | None = None  # kill() came while the launch was under way
    # on_finished waits until launch() has handed out the start, so that noded never
    # reports an end before the start it belongs to.
    start_handed_out: bool = True
    end_held: bool = False
    supervisor_pid: int = 0        # while watched
    cgroup: str = ""               # the name of its cgroups, while watched (enforce.recorded_cgroup)
    seq: int = 0                   # of its launch request: the launcher's word of its end carries it
    ended_early: bool = False      # that word came while launch() was still finishing
    peak_rss_kb: int = 0           # the largest measured while it runs
    reaped_before: tuple[float, float] = (0.0, 0.0)   # its supervisor's, of earlier jobs (usage.Sampler)


_LAUNCHER_EXITED = "the launcher exited before the job started"


class JobRunner:
    def __init__(self, spool_dir: Path, tmp_dir: Path, node_name: str,
                 on_finished: Callable[[nodes_pb2.JobOutcome], None], *, allow_root: bool = False,
                 enforcement: enforce.Enforcement | None = None) -> None:
        # Absolute: supervisors and jobs work in other directories.
        self.spool_dir = spool_dir.absolute()
        self.tmp_dir = tmp_dir.absolute()
        self.node_name = node_name
        self.allow_root = allow_root
        self.enforcement = enforcement
        self.on_finished = on_finished
        self._attempts: dict[tuple[int, int], _Attempt] = {}
        self._launcher: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        # launch seq -> attempt, for the jobs this launcher started that have not ended yet
        self._running_by_seq: dict[int, _Attempt] = {}
        self._seq = 0
        self._clearing: set[asyncio.Task[None]] = set()   # lost supervisors' cgroups being emptied
        self._closed = False   # no launcher is started again

    # --- life ------------------------------------------------------------------------

    async def start(self) -> None:
        """Spawn the launcher, then take stock of the spool: attach to every supervisor
        that still runs, keep every outcome that ctld has not yet told us to forget."""
        spool.prepare(self.spool_dir)
        await self._spawn_launcher()
        for directory in spool.scan(self.spool_dir):
            self._adopt(directory)
        e = self.enforcement
        if e is not None and e.kind != enforce.AFFINITY:
            # Supervisors killed before they removed their cgroups (ours, or another noded's:
            # cgroup v1's hierarchies are the host's) leave them behind; the empty ones go.
            removed = enforce.sweep(e.bases, spool.process_start_ticks)
            log.info("removed %d leftover job cgroups (empty, their supervisors gone)", removed)

    async def close(self) -> None:
        """Stop the launcher and stop listening; supervisors (and their jobs) keep running."""
        self._closed = True
        for attempt in self._attempts.values():
            self._unwatch(attempt)
        launcher, self._launcher = self._launcher, None
        if launcher is None:
            return
        assert launcher.stdin is not None
        launcher.stdin.close()  # end of input is the launcher's signal to go
        try:
            await asyncio.wait_for(launcher.wait(), 5)
        except TimeoutError:
            launcher.kill()
            await launcher.wait()
        if self._reader is not None:
            await self._reader

    def outcomes(self) -> list[nodes_pb2.JobOutcome]:
        """Every attempt in the spool: running ones and finished ones ctld has not forgotten.
        An attempt whose launch is under way is left out: its launch() answers for it."""
        return [_copy(a.outcome) for a in self._attempts.values() if a.launching is None]

    def usage(self, limit: int) -> list[jobs_pb2.JobUsage]:
        """What each running job (at most `limit` of them) has used so far."""
        sampler, now = Sampler(self.enforcement), time.time()
        measured: list[jobs_pb2.JobUsage] = []
        for a in self._attempts.values():
            if len(measured) >= limit:
                break
            if not a.outcome.running or a.supervisor_pid <= 0:
                continue
            m = sampler.measure(a.supervisor_pid, a.cgroup, a.reaped_before)
            if m is None:
                continue
            a.peak_rss_kb = max(a.peak_rss_kb, int(m["max_rss_kb"]))
            measured.append(jobs_pb2.JobUsage(
                job_id=a.outcome.job_id, attempt=a.outcome.attempt, node=self.node_name,
                cpu_seconds=m["user"] + m["system"], user_cpu_seconds=m["user"], system_cpu_seconds=m["system"],
                rss_kb=int(m["rss_kb"]), max_rss_kb=a.peak_rss_kb, sample_time=now))
        return measured

    # --- commands from ctld --------------------------------------------------------------

    async def launch(self, job: jobs_pb2.Job, cluster: str, kill_grace_seconds: int) -> nodes_pb2.JobOutcome:
        """Start one job attempt, once: a repeated Launch (ctld resends after a reconnect)
        answers with what the spool already says. Returns a running outcome, or a finished
        FAILED one with the reason when the job could not be started."""
        key = (job.id, job.attempt)
        attempt = self._attempts.get(key)
        if attempt is None:
            directory = spool.attempt_dir(self.spool_dir, job.id, job.attempt)
            try:
                spool.make_attempt_dir(directory)
            except FileExistsError:  # unknown to us, yet there: the spool is the truth
                return _copy(self._adopt(directory).outcome)
            attempt = _Attempt(directory, nodes_pb2.JobOutcome(job_id=job.id, attempt=job.attempt),
                               start_handed_out=False)
            self._attempts[key] = attempt
            # A task of its own: a caller that stops waiting must not stop a launch half-way.
            attempt.launching = asyncio.create_task(self._launch(attempt, job, cluster, kill_grace_seconds))
        if attempt.launching is None:
            return _copy(attempt.outcome)
        try:
            return _copy(await asyncio.shield(attempt.launching))
        finally:
            self._hand_out_start(attempt)

    def signal(self, job_id: int, attempt: int, sig: int) -> bool:
        """Send `sig` to the job's whole process group."""
        a = self._attempts.get((job_id, attempt))
        if a is None or not a.outcome.running:
            return False
        self._learn_start(a)
        # session_id 0 (a job still starting) would be our own group
        if a.outcome.session_id <= 0:
            return False
        try:
            os.killpg(a.outcome.session_id, sig)
        except ProcessLookupError:
            return False
        return True

    def kill(self, job_id: int, attempt: int, grace_seconds: int) -> bool:
        """Cancel: the supervisor TERMs the job's group and KILLs it after the grace; the
        outcome will say CANCELLED. A job whose launch is under way is killed once started."""
        a = self._attempts.get((job_id, attempt))
        if a is None:
            return False
        if a.launching is not None:
            a.kill_grace = grace_seconds
            return True
        if not a.outcome.running or a.pidfd is None:
            return False
        spool.write_json(a.dir.cancel, {"grace_seconds": grace_seconds})
        try:
            signal.pidfd_send_signal(a.pidfd, signal.SIGTERM)
        except ProcessLookupError:
            return False
        return True

    def suspend(self, job_id: int, attempt: int, resume: bool) -> bool:
        """Stop (or continue) a running job: its supervisor stops the job's processes and
        its walltime (SIGUSR1: read suspend.json, which says which)."""
        a = self._attempts.get((job_id, attempt))
        if a is None:
            return False
        if a.launching is not None:
            spool.write_json(a.dir.suspend, {"suspended": not resume})
            return True     # the launch's end tells the supervisor
        if not a.outcome.running or a.pidfd is None:
            return False
        spool.write_json(a.dir.suspend, {"suspended": not resume})
        try:
            signal.pidfd_send_signal(a.pidfd, signal.SIGUSR1)
        except ProcessLookupError:
            return False
        return True

    def forget(self, job_id: int, attempt: int) -> None:
        """ctld has stored the outcome: the spool directory can go."""
        a = self._attempts.get((job_id, attempt))
        if a is None:
            return
        if a.outcome.running or a.launching is not None:
            log.warning("ctld asked to forget job %s attempt %s, which still runs; kept", job_id, attempt)
            return
        del self._attempts[(job_id, attempt)]
        spool.remove_attempt(a.dir)

    # --- launching -----------------------------------------------------------------------

    async def _launch(self, attempt: _Attempt, job: jobs_pb2.Job, cluster: str, grace: int) -> nodes_pb2.JobOutcome:
        reply: dict[str, Any]
        try:
            request = {"plan": plan.make(job, cluster, self.node_name, attempt.dir, tmp_dir=str(self.tmp_dir),
                                         kill_grace_seconds=grace, allow_root=self.allow_root,
                                         enforcement=self.enforcement)}
            spool.give_to_job(attempt.dir, request["plan"]["gid"])
        except plan.Refused as e:
            reply = {"refused": str(e)}
        except Exception as e:  # noqa: BLE001 - whatever stops the launch is the reason, as in a supervisor
            reply = {"refused": f"noded could not prepare the job: {e!r}"}
        else:
            try:
                reply = await self._request(request, attempt)
            except OSError as e:  # the launcher's pipe broke under us
                reply = {"error": f"the launcher is unavailable: {e}"}
        if "refused" in reply:
            # No supervisor was asked: the status says so, and a restarted noded reads it.
            attempt.outcome = self._failed(attempt.dir, reply["refused"])
            started = attempt.outcome
        elif "error" in reply:
            # No word from a supervisor; the spool says whether one got going.
            log.warning("launch of job %s attempt %s: %s", job.id, job.attempt, reply["error"])
            self._take_stock(attempt)
            started = attempt.outcome
        else:
            started = attempt.outcome = outcome_from_json(reply["outcome"])
            if started.running and (attempt.ended_early or not self._watch(attempt, reply["supervisor"])):
                self._on_supervisor_exit(attempt)  # a quick job, over before we looked: its end waits
        attempt.launching = None
        if attempt.kill_grace is not None:
            self.kill(job.id, job.attempt, attempt.kill_grace)
        elif started.running and os.path.exists(attempt.dir.suspend):
            self.suspend(job.id, job.attempt, resume=not (spool.read_json(attempt.dir.suspend) or {}).get("suspended"))
        return started

    def _hand_out_start(self, attempt: _Attempt) -> None:
        """launch() is about to return the start (or its caller gave up): an end heard
        meanwhile may now be told, after the caller has reported the start."""
        attempt.start_handed_out = True
        if attempt.end_held:
            attempt.end_held = False
            asyncio.get_running_loop().call_soon(self.on_finished, _copy(attempt.outcome))

    async def _spawn_launcher(self) -> None:
        self._launcher = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hpcq.noded.launcher", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        # Tables of its own: the reader of a launcher that is gone answers, and forgets, only
        # what was sent to that one, not what its successor was sent meanwhile.
        self._replies, self._running_by_seq = {}, {}
        self._reader = asyncio.create_task(self._read_replies(self._launcher, self._replies, self._running_by_seq))

    async def _request(self, message: dict[str, Any], attempt: _Attempt) -> dict[str, Any]:
        """The launcher's reply to the launch request. A launcher gone before it answered
        (killed, maybe before noded knew it) is replaced and asked again, once: a supervisor
        of the old one that got the request may still start the job, but only one of the
        two can create the attempt's supervisor.json (spool.publish_json); the other gives
        the launch up, and the job starts once."""
        for last_try in (False, True):
            if self._closed:
                raise OSError(errno.ESHUTDOWN, "noded is stopping")
            if self._launcher is None or self._launcher.returncode is not None or \
                    self._reader is None or self._reader.done():
                log.warning("the launcher is gone; starting another")
                await self._spawn_launcher()
            launcher, replies, running_by_seq = self._launcher, self._replies, self._running_by_seq
            assert launcher is not None and launcher.stdin is not None
            self._seq += 1
            seq = attempt.seq = self._seq
            reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            replies[seq] = reply
            running_by_seq[seq] = attempt
            try:
                launcher.stdin.write(b"%d %s" % (seq, spool.json_line(message["plan"])))
                await launcher.stdin.drain()
            except OSError:
                # The reader may have answered it already: a launcher that died while this
                # request was still being written ends its output first.
                replies.pop(seq, None)
                running_by_seq.pop(seq, None)
                if last_try:
                    raise
                if self._launcher is launcher:
                    self._launcher = None   # its input is closed: it is gone
                continue
            answer = await reply
            if last_try or answer.get("error") != _LAUNCHER_EXITED:
                return answer
        raise AssertionError("unreachable")

    async def _read_replies(self, launcher: asyncio.subprocess.Process, replies: dict[int, asyncio.Future[Any]],
                            running_by_seq: dict[int, _Attempt]) -> None:
        assert launcher.stdout is not None
        while line := await launcher.stdout.readline():
            message = json.loads(line)
            if message.get("ended"):
                attempt = running_by_seq.pop(message["seq"], None)
                if attempt is not None:
                    self._on_status_written(attempt)
                continue
            reply = replies.pop(message["seq"], None)
            if reply is not None:
                if "outcome" not in message or not message["outcome"].get("running"):
                    running_by_seq.pop(message["seq"], None)   # no end to hear of
                reply.set_result(message)
        # The launcher ended: what it had not answered will not be answered, and the ends
        # of the jobs it started come by their supervisors' exits (pidfds) alone: with
        # their request pipes closed, they exit once their job is over.
        for seq, reply in replies.items():
            reply.set_result({"seq": seq, "error": _LAUNCHER_EXITED})
        replies.clear()
        running_by_seq.clear()

    # --- supervisors -------------------------------------------------------------------

    def _adopt(self, directory: spool.AttemptDir) -> _Attempt:
        """Know an attempt from its spool directory alone (at start, or a stray one)."""
        attempt = _Attempt(directory, nodes_pb2.JobOutcome(job_id=directory.job_id, attempt=directory.attempt))
        self._attempts[directory.key] = attempt
        status = spool.read_json(directory.status)
        if status is None:
            self._take_stock(attempt)
        else:
            attempt.outcome = outcome_from_json(status)
        return attempt

    def _take_stock(self, attempt: _Attempt) -> None:
        """The outcome of an attempt with no status yet: running if its supervisor lives
        (then watched), else whatever it left, else FAILED."""
        directory = attempt.dir
        record = spool.read_json(directory.supervisor)
        if record is None:
            # No supervisor got going (noded or the launcher died first). Claim the record:
            # a supervisor still on its way will find it taken and not start the job.
            if spool.publish_json(directory.supervisor, {"pid": 0, "start_time_ticks": 0}):
                attempt.outcome = self._failed(directory, "launch interrupted before the job started")
                return
            record = spool.read_json(directory.supervisor) or {}
        if self._watch(attempt, record):
            # session_id is 0 if the job was still starting: its end will tell the rest
            attempt.outcome = nodes_pb2.JobOutcome(
                job_id=directory.job_id, attempt=directory.attempt, running=True, state=S.RUNNING,
                start_time=record.get("start_time", 0), session_id=record.get("session_id", 0))
            return
        status = spool.read_json(directory.status)  # read after it is gone: it may have just ended
        if status:
            attempt.outcome = outcome_from_json(status)
            return
        attempt.outcome = self._failed(directory, "supervisor lost", start_time=record.get("start_time", 0),
                                       session_id=record.get("session_id", 0))
        self._clear_out_lost(directory, enforce.recorded_cgroup(directory.job_id, directory.attempt, record))

    def _watch(self, attempt: _Attempt, supervisor: dict[str, Any]) -> bool:
        """Listen for the supervisor's end on a pidfd; False if it has already ended.
        The pidfd is opened before the start time is compared, so a pid recycled by
        then is caught and not watched."""
        pid = supervisor.get("pid", 0)
        if pid <= 0:  # a launch an earlier noded gave up
            return False
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return False
        if spool.process_start_ticks(pid) != supervisor.get("start_time_ticks"):
            os.close(pidfd)
            return False
        attempt.pidfd, attempt.supervisor_pid = pidfd, pid
        attempt.cgroup = enforce.recorded_cgroup(attempt.dir.job_id, attempt.dir.attempt, supervisor)
        user, system = supervisor.get("reaped_before", (0.0, 0.0))
        attempt.reaped_before = (user, system)
        asyncio.get_running_loop().add_reader(pidfd, self._on_supervisor_exit, attempt)
        return True

    def _unwatch(self, attempt: _Attempt) -> None:
        if attempt.pidfd is not None:
            asyncio.get_running_loop().remove_reader(attempt.pidfd)
            os.close(attempt.pidfd)
            attempt.pidfd = None

    @staticmethod
    def _learn_start(attempt: _Attempt) -> None:
        """A running job we took stock of from the spool while it was still starting (noded
        or the launcher had died) has no session yet: its supervisor's record tells it once
        the job has started."""
        if attempt.outcome.session_id > 0:
            return
        record = spool.read_json(attempt.dir.supervisor) or {}
        if record.get("session_id", 0) > 0:
            attempt.outcome.session_id, attempt.outcome.start_time = record["session_id"], record["start_time"]

    def _on_status_written(self, attempt: _Attempt) -> None:
        """The supervisor says the job's status.json is written: its end is known now,
        before the supervisor has tidied up and exited."""
        if attempt.launching is not None:
            attempt.ended_early = True   # _launch reads the status once it has the start
        else:
            self._on_supervisor_exit(attempt)

    def _on_supervisor_exit(self, attempt: _Attempt) -> None:
        """The job has ended (its supervisor said the status is written, or exited): report
        the status; once only, whichever of the two is heard first. The pidfd is let go:
        the supervisor may go on to another job, and its exit then is no longer this one's."""
        self._unwatch(attempt)
        if self._attempts.get(attempt.dir.key) is not attempt or not attempt.outcome.running:
            return
        self._running_by_seq.pop(attempt.seq, None)
        status = spool.read_json(attempt.dir.status)
        if status is None:
            attempt.outcome = self._failed(attempt.dir, "supervisor lost", start_time=attempt.outcome.start_time,
                                           session_id=attempt.outcome.session_id)
            self._clear_out_lost(attempt.dir, attempt.cgroup)
        else:
            attempt.outcome = outcome_from_json(status)
        if attempt.start_handed_out:
            self.on_finished(_copy(attempt.outcome))
        else:
            attempt.end_held = True

    def _clear_out_lost(self, directory: spool.AttemptDir, cgroup: str) -> None:
        """A job whose supervisor was lost is reported FAILED, and its CPUs go to others:
        whatever it left running in its cgroups (named `cgroup`) is killed, and the cgroups
        removed (without cgroups its processes are beyond reach; they are the subreaper's
        no longer)."""
        if self.enforcement is None or not cgroup:
            return
        left = enforce.JobConfinement.left_by(self.enforcement, directory.job_id, directory.attempt, cgroup)
        if left is None or not left.made:
            return
        log.warning("job %s attempt %s: its supervisor was lost; killing what it left in its cgroup",
                    directory.job_id, directory.attempt)
        task = asyncio.get_running_loop().create_task(enforce.clear_out(left))
        self._clearing.add(task)
        task.add_done_callback(self._clearing.discard)

    @staticmethod
    def _failed(directory: spool.AttemptDir, reason: str, **fields: Any) -> nodes_pb2.JobOutcome:
        """A FAILED outcome that noded decides itself, recorded as a supervisor would."""
        now = time.time()
        outcome = nodes_pb2.JobOutcome(job_id=directory.job_id, attempt=directory.attempt, state=S.FAILED,
                                       exit_code=1, end_time=now, reason=reason, **fields)
        if not outcome.start_time:
            outcome.start_time = now
        spool.write_json(directory.status, outcome_to_json(outcome))
        return outcome


def _copy(outcome: nodes_pb2.JobOutcome) -> nodes_pb2.JobOutcome:
    """Callers get their own message: they may change it."""
    copy = nodes_pb2.JobOutcome()
    copy.CopyFrom(outcome)
    return copy


# --- outcomes as JSON ---------------------------------------------------------------------

_OUTCOME_NUMBERS = ("exit_code", "signal", "start_time", "end_time", "session_id", "cpu_seconds",
                    "user_cpu_seconds", "system_cpu_seconds", "max_rss_kb")


def outcome_to_json(outcome: nodes_pb2.JobOutcome) -> dict[str, Any]:
    """A readable record: the state is spelled out, so an admin can `cat` a status file."""
    data: dict[str, Any] = {
        "job_id": outcome.job_id,
        "attempt": outcome.attempt,
        "running": outcome.running,
        "state": jobs_pb2.JobState.Name(outcome.state),
        "reason": outcome.reason,
    }
    data.update((name, getattr(outcome, name)) for name in _OUTCOME_NUMBERS)
    return data


def outcome_from_json(data: dict[str, Any]) -> nodes_pb2.JobOutcome:
    outcome = nodes_pb2.JobOutcome(
        job_id=data["job_id"], attempt=data["attempt"], running=data.get("running", False),
        state=data.get("state", "JOB_STATE_UNSPECIFIED"),  # the name JobState.Name wrote
        reason=data.get("reason", ""))
    for name in _OUTCOME_NUMBERS:
        if name in data:
            setattr(outcome, name, data[name])
    return outcome
