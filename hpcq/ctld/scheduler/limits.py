"""What is running, counted the ways limits look at it: per user, per queue and user, per
queue, per array, per license, and which (user, name) pairs are busy for singletons.

The pass adds every job it starts, so a limit holds within one pass as well.
Reasons are spelled as Slurm spells them.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from hpcq.ctld.scheduler.model import JobRequest, QueuePolicy, RunningJob, UserLimits

MAX_JOBS_PER_USER = "QOSMaxJobsPerUserLimit"
MAX_CPUS_PER_USER = "QOSMaxCpuPerUserLimit"
MAX_JOBS = "QOSGrpJobsLimit"
MAX_CPUS = "QOSGrpCpuLimit"
ARRAY_TASKS = "JobArrayTaskLimit"
LICENSES = "Licenses"
USER_MAX_JOBS = "AssocMaxJobsLimit"
USER_MAX_CPUS = "AssocGrpCpuLimit"


class Counters:
    def __init__(self, running: Iterable[RunningJob], licenses: Mapping[str, int],
                 user_limits: UserLimits = UserLimits()) -> None:
        self.user_limits = user_limits
        self.jobs_of_user: Counter[str] = Counter()                  # across every queue
        self.cpus_of_user: Counter[str] = Counter()
        self.jobs_per_user: Counter[tuple[str, str]] = Counter()     # (queue, user)
        self.cpus_per_user: Counter[tuple[str, str]] = Counter()
        self.jobs_per_queue: Counter[str] = Counter()
        self.cpus_per_queue: Counter[str] = Counter()
        self.array_running: Counter[int] = Counter()
        # The throttle of each array with a pending rest: its split-out tasks follow it.
        self.array_throttles: dict[int, int] = {}
        self.licenses_total = licenses
        self.licenses_used: Counter[str] = Counter()
        self.contended: set[str] = set()     # a higher job waits for this license: lower ones may not take it
        self.busy_names: set[tuple[str, str]] = set()
        for job in running:
            cpus = sum(s.cpus for s in job.slices)
            self._count(job.queue, job.user, cpus, job.licenses, job.array_job_id, job.name)

    def _count(self, queue: str, user: str, cpus: int, licenses: Mapping[str, int], array_job_id: int | None,
               name: str) -> None:
        self.jobs_of_user[user] += 1
        self.cpus_of_user[user] += cpus
        self.jobs_per_user[(queue, user)] += 1
        self.cpus_per_user[(queue, user)] += cpus
        self.jobs_per_queue[queue] += 1
        self.cpus_per_queue[queue] += cpus
        if array_job_id is not None:
            self.array_running[array_job_id] += 1
        for lic, n in licenses.items():
            self.licenses_used[lic] += n
        if name:
            self.busy_names.add((user, name))

    def on_start(self, job: JobRequest, cpus: int) -> None:
        array = self._array_of(job)
        self._count(job.queue, job.user, cpus, job.licenses, array[0] if array else None, job.name)

    @staticmethod
    def limits_anything(policy: QueuePolicy | None) -> bool:
        return policy is not None and bool(policy.max_running_per_user or policy.max_cpus_per_user
                                           or policy.max_running or policy.max_cpus)

    def blocked(self, job: JobRequest, policy: QueuePolicy | None) -> str | None:
        """The limit that keeps one more task of this job from starting now, if any."""
        array = self._array_of(job)
        if array is not None and array[1] and self.array_running[array[0]] >= array[1]:
            return ARRAY_TASKS
        cpus = job.nodes * job.cpus_per_node
        users = self.user_limits
        if users.max_running_jobs and self.jobs_of_user[job.user] >= users.max_running_jobs:
            return USER_MAX_JOBS
        if users.max_running_cpus and self.cpus_of_user[job.user] + cpus > users.max_running_cpus:
            return USER_MAX_CPUS
        if policy is not None:
            key = (job.queue, job.user)
            if policy.max_running_per_user and self.jobs_per_user[key] >= policy.max_running_per_user:
                return MAX_JOBS_PER_USER
            if policy.max_cpus_per_user and self.cpus_per_user[key] + cpus > policy.max_cpus_per_user:
                return MAX_CPUS_PER_USER
            if policy.max_running and self.jobs_per_queue[job.queue] >= policy.max_running:
                return MAX_JOBS
            if policy.max_cpus and self.cpus_per_queue[job.queue] + cpus > policy.max_cpus:
                return MAX_CPUS
        if job.licenses and not self.licenses_free(job):
            return LICENSES
        return None

    def licenses_free(self, job: JobRequest) -> bool:
        return all(lic not in self.contended and self.licenses_used[lic] + n <= self.licenses_total.get(lic, 0)
                   for lic, n in job.licenses.items())

    def on_license_wait(self, job: JobRequest) -> None:
        """Licenses go in priority order: a small job may not take what a higher one waits for."""
        self.contended.update(job.licenses)

    def describe(self, job: JobRequest, reason: str, policy: QueuePolicy | None) -> str:
        """The numbers behind a limit reason, for explain."""
        key = (job.queue, job.user)
        cpus = job.nodes * job.cpus_per_node
        if reason == ARRAY_TASKS and (array := self._array_of(job)) is not None:
            return f"array throttle %{array[1]}: {self.array_running[array[0]]} tasks running"
        if reason == USER_MAX_JOBS:
            return (f"user {job.user} runs {self.jobs_of_user[job.user]} jobs, max_running_jobs is "
                    f"{self.user_limits.max_running_jobs}")
        if reason == USER_MAX_CPUS:
            return (f"user {job.user} uses {self.cpus_of_user[job.user]} CPUs, this job needs {cpus}, "
                    f"max_running_cpus is {self.user_limits.max_running_cpus}")
        if policy is not None:
            if reason == MAX_JOBS_PER_USER:
                return (f"queue {job.queue}: user {job.user} runs {self.jobs_per_user[key]} jobs, "
                        f"max_running_per_user is {policy.max_running_per_user}")
            if reason == MAX_CPUS_PER_USER:
                return (f"queue {job.queue}: user {job.user} uses {self.cpus_per_user[key]} CPUs, this job needs "
                        f"{cpus}, max_cpus_per_user is {policy.max_cpus_per_user}")
            if reason == MAX_JOBS:
                return (f"queue {job.queue} runs {self.jobs_per_queue[job.queue]} jobs, "
                        f"max_running is {policy.max_running}")
            if reason == MAX_CPUS:
                return (f"queue {job.queue} uses {self.cpus_per_queue[job.queue]} CPUs, this job needs {cpus}, "
                        f"max_cpus is {policy.max_cpus}")
        if reason == LICENSES:
            return "; ".join(
                f"{lic}: needs {n}, {self.licenses_used[lic]} of {self.licenses_total.get(lic, 0)} in use"
                + (", a higher-priority job waits for it" if lic in self.contended else "")
                for lic, n in sorted(job.licenses.items()))
        return ""

    def _array_of(self, job: JobRequest) -> tuple[int, int] | None:
        """(the array's id, its throttle) of an array's pending rest or of one of its tasks:
        the rest's throttle while it has one (it may have been changed since the split)."""
        if job.array is not None:
            return job.id, job.array.throttle
        if job.task_of is None:
            return None
        array_id, throttle = job.task_of
        return array_id, self.array_throttles.get(array_id, throttle)
