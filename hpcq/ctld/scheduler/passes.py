"""One scheduling pass: (snapshot, now) -> decisions.

Jobs are taken in priority order (then submit order, then id) and placed first-fit
on the nodes of their queue; a job that cannot start gets a reason. Nodes are kept
in name order so placements are deterministic and tests can state them.
"""
from __future__ import annotations

from dataclasses import dataclass

from hpcq.ctld.scheduler.model import Decision, JobRequest, NodeCapacity, SetReason, Slice, Snapshot, Start


@dataclass
class _Free:
    node: NodeCapacity
    cpus: int
    mem_mb: int
    gpus: int
    idle: bool

    def fits(self, job: JobRequest) -> bool:
        if job.exclusive and not self.idle:
            return False
        return (self.cpus >= job.cpus_per_node and self.mem_mb >= job.mem_per_node_mb
                and self.gpus >= job.gpus_per_node and job.features <= self.node.features
                and self.node.name not in job.exclude)

    def could_ever_fit(self, job: JobRequest) -> bool:
        n = self.node
        return (n.cpus_total >= job.cpus_per_node and n.mem_total_mb >= job.mem_per_node_mb
                and n.gpus_total >= job.gpus_per_node and job.features <= n.features
                and n.name not in job.exclude)

    def take(self, job: JobRequest) -> Slice:
        cpus = self.cpus if job.exclusive else job.cpus_per_node
        mem = self.mem_mb if job.exclusive else job.mem_per_node_mb
        gpus = self.gpus if job.exclusive else job.gpus_per_node
        self.cpus -= cpus
        self.mem_mb -= mem
        self.gpus -= gpus
        self.idle = False
        return Slice(self.node.name, cpus, mem, gpus)


def order_key(job: JobRequest) -> tuple[int, float, int]:
    return (-job.priority, job.submit_time, job.id)


def schedule(snapshot: Snapshot, now: float) -> list[Decision]:
    """Start what fits now; give every job that stays queued its reason."""
    del now  # the first scheduler needs no clock; backfill will
    free = [_Free(n, n.cpus_free, n.mem_free_mb, n.gpus_free, n.idle)
            for n in sorted(snapshot.nodes, key=lambda n: n.name)]
    decisions: list[Decision] = []
    blocked_queues: set[str] = set()
    any_free = any(f.cpus > 0 for f in free)
    for job in sorted(snapshot.pending, key=order_key):
        policy = snapshot.queues.get(job.queue)
        if policy is not None and not policy.starts_jobs:
            decisions.append(SetReason(job.id, "PartitionDown"))
            continue
        candidates = [f for f in free if policy is None or policy.nodes is None or f.node.name in policy.nodes]
        if any_free:
            chosen = [f for f in candidates if f.fits(job)][: job.nodes]
            if len(chosen) == job.nodes:
                decisions.append(Start(job.id, tuple(f.take(job) for f in chosen)))
                any_free = any(f.cpus > 0 for f in free)
                continue
        if sum(1 for f in candidates if f.could_ever_fit(job)) < job.nodes:
            decisions.append(SetReason(job.id, "ReqNodeNotAvail" if candidates else "PartitionNodeLimit"))
        else:
            decisions.append(SetReason(job.id, "Priority" if job.queue in blocked_queues else "Resources"))
        blocked_queues.add(job.queue)
    return decisions
