"""Slurm's multifactor priority: weighted factors in [0, 1], minus nice, or an admin's number.

    priority = w_age * age + w_fairshare * fairshare + w_job_size * size + w_queue * queue - nice

age grows linearly from eligibility to `max_age` and stays at 1; fairshare is the
classic 2**(-U/S) (fairshare.py); size is the job's share of the cluster's CPUs (or
its complement when small jobs are favoured); queue is the queue's priority over the
highest queue priority. An admin-set priority replaces the sum, as `scontrol update
priority=` does. The result is an integer of at least 1, as in Slurm (0 means held).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from hpcq.ctld.scheduler.fairshare import fairshare_factors
from hpcq.ctld.scheduler.model import JobRequest, PriorityWeights, Snapshot

__all__ = ["PriorityBreakdown", "PriorityContext", "PriorityWeights", "priorities"]   # PriorityWeights: model's


@dataclass(frozen=True)
class PriorityBreakdown:
    """A job's factors (each in [0, 1]) and what they add up to, for explain."""
    priority: int
    age: float
    fairshare: float
    job_size: float
    queue: float
    nice: int
    admin_override: int | None
    weights: PriorityWeights

    def contributions(self) -> dict[str, float]:
        w = self.weights
        return {"age": w.age * self.age, "fairshare": w.fairshare * self.fairshare,
                "job_size": w.job_size * self.job_size, "queue": w.queue * self.queue, "nice": -self.nice}

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "contributions": self.contributions()}


class PriorityContext:
    """What every job's priority depends on in one pass: computed once, then O(1) per job."""

    def __init__(self, snapshot: Snapshot, now: float) -> None:
        self.now = now
        w = self.weights = snapshot.weights
        self.total_cpus = sum(n.cpus_total for n in snapshot.nodes)
        queue_priority = {name: max(0, q.priority) for name, q in snapshot.queues.items()}
        top = max(queue_priority.values(), default=0)
        self.queue_factor = {name: p / top if top else 0.0 for name, p in queue_priority.items()}
        active = {(j.user, j.account) for j in snapshot.pending}
        active.update((r.user, r.account) for r in snapshot.running)
        self.fairshare = fairshare_factors(snapshot.usage, snapshot.shares, active, now)
        # Weighted once per distinct value: a pass has few queues, sizes and users, many jobs.
        self._fairshare_part = {assoc: w.fairshare * f for assoc, f in self.fairshare.items()}
        self._queue_part = {name: w.queue * f for name, f in self.queue_factor.items()}
        self._size_part: dict[int, float] = {}

    def _age(self, job: JobRequest) -> float:
        max_age = self.weights.max_age
        waited = self.now - (job.eligible_time or job.submit_time)
        if waited <= 0.0:
            return 0.0
        if max_age <= 0.0 or waited >= max_age:
            return 1.0
        return waited / max_age

    def _size(self, cpus: int) -> float:
        size = cpus / self.total_cpus if self.total_cpus else 0.0
        size = size if size < 1.0 else 1.0
        return 1.0 - size if self.weights.favor_small else size

    def factors(self, job: JobRequest) -> tuple[float, float, float, float]:
        """(age, fairshare, job_size, queue), each in [0, 1]."""
        return (self._age(job), self.fairshare.get((job.user, job.account), 1.0),
                self._size(job.nodes * job.cpus_per_node), self.queue_factor.get(job.queue, 0.0))

    def priority(self, job: JobRequest) -> int:
        if job.admin_priority is not None:
            return job.admin_priority
        cpus = job.nodes * job.cpus_per_node
        size = self._size_part.get(cpus)
        if size is None:
            size = self._size_part[cpus] = self.weights.job_size * self._size(cpus)
        fairshare = self._fairshare_part.get((job.user, job.account))
        if fairshare is None:
            fairshare = self.weights.fairshare * 1.0
        total = self.weights.age * self._age(job) + fairshare + size + self._queue_part.get(job.queue, 0.0)
        value = round(total) - job.nice
        return value if value > 1 else 1

    def breakdown(self, job: JobRequest) -> PriorityBreakdown:
        return PriorityBreakdown(self.priority(job), *self.factors(job), job.nice, job.admin_priority,
                                 self.weights)


def priorities(snapshot: Snapshot, now: float) -> dict[int, int]:
    """Every pending job's priority (for `scontrol show job` / `qstat -f` between passes)."""
    ctx = PriorityContext(snapshot, now)
    return {job.id: ctx.priority(job) for job in snapshot.pending}
