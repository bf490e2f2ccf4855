"""JobTable: every job ctld holds, where each stands, and the indexes the scheduler reads.

A job is in exactly one of: `queued` (PENDING, as the scheduler sees it), `waiting`
(WAITING for its begin time or a retry's backoff), `active` (RUNNING or COMPLETING), or
none (HELD, or finished). An array's own record carries its pending rest until its last
task starts; `array_members` maps an array to every record it has. The backlog counts
unfinished work as the submit limits do; `row()` is the one way a changed job reaches the
store, so the counts follow every change.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Iterable

from hpcq import states
from hpcq.api import jobs_pb2
from hpcq.ctld import jobs as jobrules
from hpcq.ctld import scheduler
from hpcq.ctld.backlog import Backlog
from hpcq.ctld.errors import InvalidArgument
from hpcq.ctld.store.writer import Put

log = logging.getLogger("hpcq.ctld")
S = jobs_pb2.JobState


def job_row(job: jobs_pb2.Job) -> Put:
    return Put("jobs", {"id": job.id, "user": job.user, "state": job.state, "queue": job.queue,
                        "name": job.spec.name, "account": job.spec.account, "submit_time": job.submit_time,
                        "end_time": job.end_time, "record": job.SerializeToString()})


class JobTable:
    def __init__(self) -> None:
        self.jobs: dict[int, jobs_pb2.Job] = {}
        self.queued: dict[int, scheduler.JobRequest] = {}    # PENDING jobs, as the scheduler sees them
        self.waiting: set[int] = set()                       # WAITING jobs (begin time or backoff ahead)
        self.active: set[int] = set()                        # RUNNING and COMPLETING jobs
        self.array_members: dict[int, set[int]] = {}         # array job id -> its records (tasks, and its own)
        self.task_records: dict[tuple[int, int], int] = {}   # (array job id, task index) -> the task's record
        self.backlog = Backlog()                             # unfinished jobs, as the submit limits count them
        self.cancel_requested: set[int] = set()              # running jobs somebody cancelled
        self.next_job_id = 1
        self.next_due = float("inf")                         # the earliest start of a WAITING job
        # Pending jobs in the order of the last full pass, and those queued since (see scheduling).
        self.ranking: list[int] = []
        self.ranking_start = 0                               # ranking[:start] have all left the queue
        self.unranked: set[int] = set()

    def load(self, raw_jobs: Iterable[bytes], next_job_id: int, now: float) -> list[jobs_pb2.Job]:
        """Rebuild from stored records; returns the active ones (their nodes hold them)."""
        active = []
        for raw in raw_jobs:
            job = jobs_pb2.Job.FromString(raw)
            self.jobs[job.id] = job
            self.backlog.update(job)
            if job.array_job_id:
                self.array_members.setdefault(job.array_job_id, set()).add(job.id)
                self.index_task(job)
            if job.state in states.QUEUED:
                self._enqueue_loaded(job, now)
            elif job.state in states.ACTIVE:
                self.active.add(job.id)
                active.append(job)
                if job.cancelled_by:    # cancelled by the last ctld, its run not ended yet
                    self.cancel_requested.add(job.id)
        self.next_job_id = max(next_job_id, max(self.jobs, default=0) + 1)
        return active

    def _enqueue_loaded(self, job: jobs_pb2.Job, now: float) -> None:
        """Queue a stored job; one whose record the scheduler cannot read (stored by an
        older ctld that let a bad dependency through) is held for an admin, not a crash."""
        try:
            self.enqueue(job, now)
        except (scheduler.DependencyError, ValueError) as e:
            self.queued.pop(job.id, None)
            self.unranked.discard(job.id)
            job.state, job.reason = S.HELD, "JobHeldAdmin"
            log.error("job %d held: its stored request cannot be scheduled (%s); fix or cancel it", job.id, e)

    def get(self, job_id: int) -> jobs_pb2.Job | None:
        return self.jobs.get(job_id)

    def row(self, job: jobs_pb2.Job, pending_tasks: int | None = None) -> Put:
        """The store row of a changed job; the backlog counts it as it now is."""
        self.backlog.update(job, pending_tasks)
        return job_row(job)

    def add_new(self, new: list[jobs_pb2.Job]) -> list[Put]:
        """Give new jobs their ids; the rows that store them (and the next id)."""
        for job in new:
            job.id = self.next_job_id
            self.next_job_id += 1
            if job.array_tasks_pending:
                job.array_job_id = job.id
        return [*map(self.row, new), self.next_id_row()]

    def next_id_row(self) -> Put:
        return Put("meta", {"key": "next_job_id", "value": str(self.next_job_id)})

    def admit(self, job: jobs_pb2.Job, now: float) -> None:
        """A stored new job joins the table."""
        self.jobs[job.id] = job
        if job.array_job_id:
            self.array_members[job.id] = {job.id}
        self.enqueue(job, now)

    # -- queued, waiting, active --------------------------------------------------------------

    def enqueue(self, job: jobs_pb2.Job, now: float, reason: str = "None") -> None:
        """Put a queued job where the scheduler looks: PENDING, or WAITING for its begin time."""
        if job.state == S.HELD:
            return
        if jobrules.not_before(job) > now:
            job.state, job.reason = S.WAITING, "BeginTime"
            self.waiting.add(job.id)
            self.next_due = min(self.next_due, jobrules.not_before(job))
        else:
            job.state, job.reason = S.PENDING, reason
            self.waiting.discard(job.id)
            self.queued[job.id] = jobrules.request(job)
            self.unranked.add(job.id)

    def dequeue(self, job: jobs_pb2.Job) -> None:
        self.queued.pop(job.id, None)
        self.waiting.discard(job.id)

    def requeue_request(self, job: jobs_pb2.Job) -> None:
        """A queued job's spec changed: the scheduler sees the new one."""
        if job.id in self.queued:
            self.queued[job.id] = jobrules.request(job)

    def release_due(self, now: float) -> list[jobs_pb2.Job]:
        """WAITING jobs whose time has come are PENDING now; those jobs."""
        due = [self.jobs[i] for i in self.waiting if jobrules.not_before(self.jobs[i]) <= now]
        for job in due:
            self.enqueue(job, now)
        self.next_due = min((jobrules.not_before(self.jobs[i]) for i in self.waiting), default=float("inf"))
        return due

    def add_task(self, head: jobs_pb2.Job, template: jobs_pb2.Job, index: int) -> jobs_pb2.Job:
        """A new record, with an id of its own, for task `index` of the array `head`."""
        task = jobs_pb2.Job()
        task.CopyFrom(template)
        task.id, task.array_task_id = self.next_job_id, index
        self.next_job_id += 1
        self.jobs[task.id] = task
        self.array_members[head.id].add(task.id)
        self.index_task(task)
        return task

    def index_task(self, job: jobs_pb2.Job) -> None:
        """An array task's record, new or taken over by a task: found by its index from now on."""
        if job.array_job_id and job.HasField("array_task_id"):
            self.task_records[(job.array_job_id, job.array_task_id)] = job.id

    def array_task(self, array_id: int, index: int) -> jobs_pb2.Job | None:
        """The record task `index` of an array has: its own, once started or split out."""
        job_id = self.task_records.get((array_id, index))
        return None if job_id is None else self.jobs.get(job_id)

    # -- dependencies -------------------------------------------------------------------------

    def dependency_phases(self, pending: Iterable[scheduler.JobRequest]) -> dict[scheduler.Target, scheduler.Phase]:
        """Where each job that a pending job depends on stands; purged ones are left out."""
        phases = {}
        seen: set[scheduler.Target] = set()   # 10,000 jobs after one target look it up once
        for request in pending:
            if request.dependency is None:
                continue
            for target in request.dependency.targets():
                if target in seen:
                    continue
                seen.add(target)
                phase = self.phase(target)
                if phase is not None:
                    phases[target] = phase
        return phases

    def phase(self, target: scheduler.Target) -> scheduler.Phase | None:
        """Where a job, a whole array or one array task stands; None when purged."""
        def of(job: jobs_pb2.Job) -> scheduler.Phase:
            return scheduler.Phase.of_state(jobs_pb2.JobState.Name(job.state))
        members = [self.jobs[i] for i in self.array_members.get(target.job_id, ())]
        if not members:
            job = self.jobs.get(target.job_id)
            return of(job) if job is not None and target.task is None else None
        if target.task is None:
            # A pending rest waits, unless it ended with its record (cancelled).
            return scheduler.Phase.combine(
                scheduler.Phase.WAITING if m.array_tasks_pending and not states.is_finished(m.state) else of(m)
                for m in members)
        for m in members:
            if m.HasField("array_task_id") and m.array_task_id == target.task:
                return of(m)
        head = self.jobs.get(target.job_id)
        if head is not None and head.array_tasks_pending and \
                target.task in pending_tasks(head.array_tasks_pending):
            return of(head) if states.is_finished(head.state) else scheduler.Phase.WAITING
        return None

    def refuse_dependency_cycle(self, job_id: int, spec: jobs_pb2.JobSpec) -> None:
        wanted = jobrules.dependencies(spec)
        if wanted is None:
            return

        def lookup(other: int) -> scheduler.Dependencies | None:
            job = self.jobs.get(other)
            return jobrules.dependencies(job.spec) if job is not None else None
        if scheduler.find_cycle(job_id, wanted, lookup):
            raise InvalidArgument("BAD_DEPENDENCY", f"dependency: job {job_id} would depend on itself")

    # -- history ------------------------------------------------------------------------------

    def archivable(self, cutoff: float) -> list[jobs_pb2.Job]:
        """Finished jobs that ended before `cutoff`, arrays only once all their tasks ended."""
        return [job for job in self.jobs.values() if states.is_finished(job.state) and 0 < job.end_time < cutoff
                and not (job.array_job_id and self.array_unfinished(job.array_job_id))]

    def forget(self, jobs: Iterable[jobs_pb2.Job]) -> None:
        for job in jobs:
            del self.jobs[job.id]
            if job.HasField("array_task_id"):
                self.task_records.pop((job.array_job_id, job.array_task_id), None)
            members = self.array_members.get(job.array_job_id)
            if members is not None:
                members.discard(job.id)
                if not members:
                    del self.array_members[job.array_job_id]

    def array_unfinished(self, array_id: int) -> bool:
        return any(not states.is_finished(self.jobs[i].state) for i in self.array_members.get(array_id, ()))


@functools.lru_cache(maxsize=8)
def pending_tasks(text: str) -> scheduler.IndexSet:
    """An array's pending rest (Job.array_tasks_pending), parsed once for the many task refs
    and dependencies that name it (100,000 refs to an array of scattered indices parsed it
    for 25 s of ctld's CPU)."""
    return scheduler.IndexSet.parse(text)
