"""Notifications of job events: mail as Slurm (--mail-type, --mail-user) and PBS (qsub -m,
-M) send it, and a JSON POST to [ctld] notify_url per event for chat and dashboards.

What happened is read from the job records Watchers publishes (a job's start, end and
requeue, each published once stored); which mail that asks for and its words are pure
functions of the record, Slurm 22.05's (src/slurmctld/agent.c mail_job_info, job_mgr.c
job_completion_logger) and OpenPBS's (src/server/svr_mail.c). Sending is hpcq/ctld/
mailer.py's, on a thread of its own: the controller's loop never waits for a mail.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from hpcq import states
from hpcq.api import jobs_pb2
from hpcq.config import CtldSection
from hpcq.ctld import auth
from hpcq.ctld.mailer import Mail, Post, Sender
from hpcq.ctld.watch import Watchers

log = logging.getLogger("hpcq.ctld.notify")

S = jobs_pb2.JobState
BEGIN, END, FAIL, REQUEUE = "BEGIN", "END", "FAIL", "REQUEUE"
TIME_LIMITS = {"TIME_LIMIT_50": 0.5, "TIME_LIMIT_80": 0.8, "TIME_LIMIT_90": 0.9, "TIME_LIMIT": 1.0}
# Slurm's ALL: every event but the time limits and ARRAY_TASKS.
_ALL = frozenset({BEGIN, END, FAIL, REQUEUE, "INVALID_DEPEND", "STAGE_OUT"})
_SLURM_WORDS = {BEGIN: "Began", END: "Ended", FAIL: "Failed", REQUEUE: "Requeued",
                "TIME_LIMIT": "Reached time limit", "TIME_LIMIT_90": "Reached 90% of time limit",
                "TIME_LIMIT_80": "Reached 80% of time limit", "TIME_LIMIT_50": "Reached 50% of time limit"}
# PBS: begin, end, abort; an abort is an end the job did not come to by itself.
_PBS_LETTER = {BEGIN: "b", END: "e", FAIL: "a"}
_ABORTED = frozenset({S.CANCELLED, S.TIMEOUT, S.NODE_FAIL, S.OUT_OF_MEMORY})
# A recipient goes on the mail program's command line: an address or a login, never an option.
KEEP_FINISHED = 20_000
JobOf = Callable[[int], "jobs_pb2.Job | None"]
ArrayOf = Callable[[int], "list[jobs_pb2.Job]"]     # every record of an array (its tasks and its own)
_ADDRESS = re.compile(r"[A-Za-z0-9_.+=%][A-Za-z0-9_.+=%-]*(@[A-Za-z0-9.-]+)?")


@dataclass(frozen=True)
class Change:
    """What a job did since its last record: one of BEGIN, END (any end), REQUEUE."""
    kind: str
    job: jobs_pb2.Job


def change(before: tuple[int, int] | None, job: jobs_pb2.Job, since: float = 0.0) -> Change | None:
    """The event between the (state, attempt) last seen and this record, if any. A job first
    heard of now (after a restart of ctld, say) began or ended now only if it did so after
    `since`, when the listening began: before that, an earlier run told of it."""
    if job.state in states.FINISHED:
        if before is None:
            return Change(END, job) if job.end_time >= since or not job.end_time else None
        return Change(END, job) if before[0] not in states.FINISHED else None
    if job.state == S.RUNNING:
        if before is None:
            return Change(BEGIN, job) if job.start_time >= since else None
        started = before[1] != job.attempt or before[0] not in states.ACTIVE
        return Change(BEGIN, job) if started else None   # (a resume from SUSPENDED is no begin)
    if job.state in states.QUEUED and before is not None and before[0] in states.ACTIVE:
        return Change(REQUEUE, job)
    return None


def is_pbs(job: jobs_pb2.Job) -> bool:
    return job.spec.dialect == jobs_pb2.DIALECT_PBS


def slurm_types(job: jobs_pb2.Job) -> frozenset[str]:
    words = {w for w in job.spec.mail_events.upper().split(",") if w}
    if "ALL" in words:
        words |= _ALL
    return frozenset(words) if "NONE" not in words else frozenset()


def pbs_points(job: jobs_pb2.Job) -> str:
    """PBS's Mail_Points: the letters asked, "a" (abort) when none were."""
    points = job.spec.mail_events or "a"
    return "" if "n" in points else points


def mail_event(c: Change) -> str | None:
    """The mail this change asks for, by Slurm's mail type name (FAIL standing for PBS's
    abort), or None."""
    job = c.job
    if is_pbs(job):
        points = pbs_points(job)
        if job.HasField("array_task_id") and "j" not in points:
            return None     # subjobs mail only with j
        if c.kind == BEGIN:
            return BEGIN if "b" in points else None
        if c.kind == END:
            if job.state in _ABORTED and "a" in points:
                return FAIL
            return END if "e" in points else None
        return None
    types = slurm_types(job)
    if c.kind == BEGIN:
        return BEGIN if BEGIN in types else None
    if c.kind == REQUEUE:
        return REQUEUE if REQUEUE in types else None
    if job.state in (S.COMPLETED, S.CANCELLED):
        return END if END in types else None
    if FAIL in types:
        return FAIL
    return END if END in types else None


def recipients(job: jobs_pb2.Job) -> tuple[list[str], list[str]]:
    """(the addresses to mail: --mail-user / -M, else the job's owner; those refused)."""
    asked = [a.strip() for a in job.spec.mail_users.split(",") if a.strip()] or [job.user]
    good = [a for a in asked if _ADDRESS.fullmatch(a)]
    return good, [a for a in asked if a not in good]


def secs2time(seconds: float) -> str:
    """Slurm's secs2time_str: HH:MM:SS, D-HH:MM:SS beyond a day."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text


def slurm_subject(job: jobs_pb2.Job, event: str, now: float) -> str:
    """mail_job_info's message, the mail's subject (Slurm's mail has no body)."""
    timing, term = "", ""
    if event == BEGIN and job.start_time and job.submit_time:
        timing = f", Queued time {secs2time(job.start_time - job.submit_time)}"
    elif event in (END, FAIL, REQUEUE) and job.start_time and job.end_time:
        timing = f", Run time {secs2time(job.end_time - job.start_time)}"
    elif event in TIME_LIMITS and job.start_time:
        timing = f", Run time {secs2time(now - job.start_time)}"
    if event in (END, FAIL):
        state = states.slurm_name(job.state)
        term = f", {state}" if job.signal else f", {state}, ExitCode {job.exit_code}"
    name = _one_line(job.spec.name)
    if job.HasField("array_task_id"):
        return (f"Slurm Array Task Job_id={job.array_job_id}_{job.array_task_id} ({job.id}) Name={name} "
                f"{_SLURM_WORDS[event]}{timing}{term}")
    return f"Slurm Job_id={job.id} Name={name} {_SLURM_WORDS[event]}{timing}{term}"


def slurm_array_subject(members: list[jobs_pb2.Job], array_id: int, name: str, event: str) -> str:
    """The one mail of an array whose mail types leave out ARRAY_TASKS (_set_job_term_info's
    summary: the tasks' lowest and highest exit codes)."""
    term = ""
    if event in (END, FAIL):
        finished = [m for m in members if m.state in states.FINISHED]
        signals = [m.signal for m in finished if m.signal]
        codes = [m.exit_code for m in finished if not m.signal]
        if signals:
            term = f", Mixed, MaxSignal [{max(signals)}]"
        else:
            low, high = min(codes, default=0), max(codes, default=0)
            head = next((m for m in members if m.id == array_id), finished[-1] if finished else None)
            state = "Mixed" if low == 0 < high else states.slurm_name(head.state if head else S.COMPLETED)
            term = f", {state}, ExitCode [{low}-{high}]"
    return f"Slurm Array Summary Job_id={array_id}_* ({array_id}) Name={_one_line(name)} {_SLURM_WORDS[event]}{term}"


def array_mail_event(c: Change, members: list[jobs_pb2.Job]) -> str | None:
    """The array's one mail this change of one of its records asks for (BEGIN: its first
    task began; END or FAIL: its last one ended), or None."""
    types = slurm_types(c.job)
    if c.kind == BEGIN:
        return BEGIN if BEGIN in types else None
    if c.kind != END or any(m.state not in states.FINISHED for m in members):
        return None
    if any(m.state not in (S.COMPLETED, S.CANCELLED) for m in members) and FAIL in types:
        return FAIL
    return END if END in types else None


def pbs_job_id(job: jobs_pb2.Job, cluster: str) -> str:
    if job.HasField("array_task_id"):
        return f"{job.array_job_id}[{job.array_task_id}].{cluster}"
    return f"{job.id}.{cluster}"


def pbs_message(job: jobs_pb2.Job, event: str, cluster: str) -> tuple[str, str]:
    """(subject, body) as svr_mailowner writes them."""
    ident = pbs_job_id(job, cluster)
    lines = [f"PBS Job Id: {ident}", f"Job Name:   {_one_line(job.spec.name)}"]
    if event == BEGIN:
        lines.append("Begun execution")
    elif event == FAIL:
        lines += ["Aborted by PBS Server ", _one_line(job.reason or states.slurm_name(job.state))]
    else:
        walltime = secs2time(job.end_time - job.start_time) if job.start_time and job.end_time else "00:00:00"
        lines += ["Execution terminated", f"Exit_status={job.exit_code}",
                  f"resources_used.cput={secs2time(job.cpu_seconds)}", f"resources_used.mem={job.max_rss_kb}kb",
                  f"resources_used.ncpus={sum(s.cpus for s in job.allocation.slices) or 1}",
                  f"resources_used.walltime={walltime}"]
    return f"PBS JOB {ident}", "\n".join(lines) + "\n"


def webhook_body(job: jobs_pb2.Job, event: str, cluster: str) -> dict[str, object]:
    body: dict[str, object] = {
        "cluster": cluster, "event": event, "job_id": job.id, "name": job.spec.name, "user": job.user,
        "state": jobs_pb2.JobState.Name(job.state), "attempt": job.attempt, "submit_time": job.submit_time,
        "start_time": job.start_time, "end_time": job.end_time}
    if job.HasField("array_task_id"):
        body.update(array_job_id=job.array_job_id, array_task_id=job.array_task_id)
    if job.state in states.FINISHED:
        body.update(exit_code=job.exit_code, signal=job.signal, reason=job.reason)
    return body


def _one_line(text: str) -> str:
    """A header carries no line breaks a job name could smuggle in."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


class Notifier:
    """Hears every stored change of the jobs that want a notification and hands the mail and
    posts to the Sender; times the time-limit mails of running jobs that asked for them."""

    def __init__(self, settings: CtldSection, cluster: str, watchers: Watchers, job_of: JobOf, array_of: ArrayOf,
                 wall: Callable[[], float], sender: Sender | None = None) -> None:
        self.cluster, self.watchers, self.job_of, self.array_of, self.wall = cluster, watchers, job_of, array_of, wall
        self.sender = sender or Sender(settings.mail_program, settings.notify_url)
        # (state, attempt) of each job heard of; finished ones only while they are recent
        # (a finished job published again must not be told of twice)
        self._seen: dict[int, tuple[int, int]] = {}
        self._finished: dict[int, None] = {}
        # arrays whose one mail of a kind has gone: (array id, BEGIN or END); ended ones pruned as _finished
        self._array_mails: dict[tuple[int, str], None] = {}
        self._timers: dict[int, list[asyncio.TimerHandle]] = {}
        self.since = 0.0        # when run() began to listen

    def wants(self, job: jobs_pb2.Job) -> bool:
        if self.sender.url:
            return True
        if not self.sender.mail_program:
            return False
        return bool(pbs_points(job)) if is_pbs(job) else bool(slurm_types(job))

    async def run(self) -> None:
        if not self.sender.mail_program:
            # The API has no way to warn at submit: the admin reads it here, users in the docs.
            log.warning("no mail program ([ctld] mail_program, or sendmail on ctld's PATH): the mail jobs ask for "
                        "(sbatch --mail-type, qsub -m) is not sent")
        if not (self.sender.url or self.sender.mail_program):
            return     # nothing could be sent: not even a subscription
        self.sender.start()
        self.since = self.wall()
        while True:
            sub = self.watchers.subscribe(lambda job: auth.View.FULL if self.wants(job) else auth.View.HIDDEN)
            try:
                while (job := await sub.next()) is not None:
                    self.on_job(job)
            finally:
                self.watchers.unsubscribe(sub)
            log.warning("notifications fell too far behind the job events; events in between were not notified")

    def on_job(self, job: jobs_pb2.Job) -> None:
        before = self._seen.get(job.id)
        self._seen[job.id] = (job.state, job.attempt)
        if job.state in states.FINISHED and job.id not in self._finished:
            self._finished[job.id] = None
            if len(self._finished) > KEEP_FINISHED:
                oldest = next(iter(self._finished))
                del self._finished[oldest]
                self._seen.pop(oldest, None)
        c = change(before, job, self.since)
        if c is None:
            return
        if c.kind != BEGIN:
            for timer in self._timers.pop(job.id, ()):
                timer.cancel()
        if self.sender.url:
            self.sender.submit(Post(job.id, webhook_body(job, c.kind, self.cluster)))
        if self.sender.mail_program:
            if job.array_job_id and not is_pbs(job) and "ARRAY_TASKS" not in slurm_types(job):
                self._array_mail(c)
            elif (event := mail_event(c)) is not None:
                self._mail(job, event)
            if c.kind == BEGIN and not is_pbs(job):
                self._time_limit_timers(job)

    def _array_mail(self, c: Change) -> None:
        array_id = c.job.array_job_id
        members = self.array_of(array_id) if c.kind == END else []
        if members and all(m.state in states.FINISHED for m in members):
            self._array_mails.pop((array_id, BEGIN), None)     # its begin is told of, or never will be
        event = array_mail_event(c, members)
        # Two tasks' ends heard one after the other may each find the whole array ended.
        once = (array_id, BEGIN if c.kind == BEGIN else END)
        if event is None or once in self._array_mails:
            return
        self._array_mails[once] = None
        if len(self._array_mails) > KEEP_FINISHED:
            del self._array_mails[next(iter(self._array_mails))]
        self._mail(c.job, event, slurm_array_subject(members, array_id, c.job.spec.name, event))

    def _mail(self, job: jobs_pb2.Job, event: str, subject: str = "") -> None:
        to, refused = recipients(job)
        if refused:
            log.warning("job %d: mail not sent to %d address(es) that are not plain addresses", job.id, len(refused))
        if not to:
            return
        if is_pbs(job):
            subject, body = pbs_message(job, event, self.cluster)
        else:
            subject, body = subject or slurm_subject(job, event, self.wall()), ""
        self.sender.submit(Mail(job.id, tuple(to), subject, body))

    def _time_limit_timers(self, job: jobs_pb2.Job) -> None:
        asked = [(name, share) for name, share in TIME_LIMITS.items() if name in slurm_types(job)]
        if not asked or not job.walltime_seconds:
            return
        loop, elapsed = asyncio.get_running_loop(), self.wall() - (job.start_time or self.wall())
        self._timers[job.id] = [loop.call_later(max(0.0, share * job.walltime_seconds - elapsed),
                                                self._time_limit, job.id, job.attempt, name)
                                for name, share in asked]

    def _time_limit(self, job_id: int, attempt: int, event: str) -> None:
        if self._seen.get(job_id) != (S.RUNNING, attempt):
            return
        job = self.job_of(job_id)
        if job is not None:
            self._mail(job, event)
