"""One scheduling pass: (snapshot, now) -> decisions. EASY backfill with walltimes.

Jobs are taken by priority (then submit time, then id). Each is checked, in the
order a user reads the reasons: queue down or closed to the user, dependencies,
array throttle, queue limits, licenses; then placed best fit on nodes that have
its resources now and keep them, for its walltime, without breaking a hold. The
first `snapshot.reservations` jobs that find no room get a hold at the earliest
time enough resources free up (a Reserve), so a lower job starts now only if it
fits in the hole: it ends before the hold begins, or uses what the hold leaves.

Cost: O(pending log pending) for the priorities and the sort, then O(1) for most
jobs — the free resources only shrink during a pass, so a request shape that did
not fit is not tried again with a walltime as long — plus the nodes a start
touches, and O(nodes) per reservation.
"""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from hpcq.ctld.scheduler import limits
from hpcq.ctld.scheduler.cluster import Cluster, shape_key
from hpcq.ctld.scheduler.dependencies import Verdict, describe, evaluate
from hpcq.ctld.scheduler.model import Decision, JobRequest, Reserve, SetReason, Snapshot, Start
from hpcq.ctld.scheduler.priority import PriorityContext

PARTITION_DOWN = "PartitionDown"
PARTITION_CONFIG = "PartitionConfig"          # the queue does not admit this user
DEPENDENCY = "Dependency"
DEPENDENCY_NEVER = "DependencyNeverSatisfied"
PARTITION_NODE_LIMIT = "PartitionNodeLimit"   # more nodes than the queue has
REQ_NODE_NOT_AVAIL = "ReqNodeNotAvail"        # not enough nodes of the queue could ever hold it
RESOURCES = "Resources"
PRIORITY = "Priority"


@dataclass
class PassResult:
    decisions: list[Decision]
    notes: dict[int, str] = field(default_factory=dict)        # only for the watched job


def order_key(priority: int, job: JobRequest) -> tuple[int, float, int]:
    return (-priority, job.submit_time, job.id)


def schedule(snapshot: Snapshot, now: float) -> list[Decision]:
    """Start what may start now, plan the top blocked jobs, give every job that stays pending its reason."""
    return run_pass(snapshot, now).decisions


@contextmanager
def _collector_paused() -> Iterator[None]:
    # A pass allocates a decision per pending job and makes no reference cycles; with the
    # cyclic collector on, its full collections walk the controller's whole heap (10^5 jobs)
    # again and again: a third of the pass at 10^5 pending jobs.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run_pass(snapshot: Snapshot, now: float, watch: int | None = None) -> PassResult:
    """The pass; for `watch`, also its priority and the detail behind its reason (explain)."""
    with _collector_paused():
        return _run_pass(snapshot, now, watch)


def _run_pass(snapshot: Snapshot, now: float, watch: int | None) -> PassResult:
    ctx = PriorityContext(snapshot, now)
    prio = ctx.priority
    ordered = sorted((-prio(job), job.submit_time, job.id, job) for job in snapshot.pending)
    queues = snapshot.queues
    phases = snapshot.phases
    cluster = Cluster(snapshot.nodes, snapshot.running, queues, now)
    counters = limits.Counters(snapshot.running, snapshot.licenses, snapshot.user_limits)
    counters.array_throttles = {job.id: job.array.throttle for job in snapshot.pending if job.array is not None}
    result = PassResult([])
    out = result.decisions
    blocked_queues: set[str] = set()
    reserved = 0
    free_left = cluster.any_free()
    limited = {name: counters.limits_anything(q) for name, q in queues.items()}
    users_limited = bool(snapshot.user_limits)

    def note(job: JobRequest, text: str) -> None:
        if job.id == watch:
            result.notes[job.id] = text

    for neg_priority, _, _, job in ordered:
        priority = -neg_priority
        policy = queues.get(job.queue)
        if policy is not None:
            if not policy.starts_jobs:
                out.append(SetReason(job.id, PARTITION_DOWN, priority))
                note(job, f"queue {job.queue} is not starting jobs")
                continue
            if policy.allowed_users is not None and job.user not in policy.allowed_users:
                out.append(SetReason(job.id, PARTITION_CONFIG, priority))
                note(job, f"queue {job.queue} does not admit user {job.user}")
                continue
        deps = job.dependency
        if deps is not None:
            busy = deps.singleton and (job.user, job.name) in counters.busy_names
            verdict = evaluate(deps, phases, singleton_busy=busy)
            if verdict is not Verdict.SATISFIED:
                out.append(SetReason(job.id, DEPENDENCY if verdict is Verdict.WAITING else DEPENDENCY_NEVER,
                                     priority))
                if job.id == watch:
                    note(job, describe(deps, phases, singleton_busy=busy))
                continue
        rest = job.array.indices if job.array is not None else None
        if rest is not None and not rest:
            continue
        key = shape_key(job)
        check_limits = (rest is not None or job.task_of is not None or job.licenses or users_limited
                        or limited.get(job.queue, False))
        reason = None
        started = 0
        while True:
            if check_limits:
                reason = counters.blocked(job, policy)
                if reason is not None:
                    break
            chosen = cluster.place_now(job, key) if free_left else None
            if chosen is None:
                break
            index = None
            if rest is not None:
                index, rest = rest.pop_first()
            slices = cluster.start(job, chosen)
            counters.on_start(job, sum(s.cpus for s in slices))
            out.append(Start(job.id, slices, index, priority))
            started += 1
            free_left = cluster.any_free()
            if not rest:
                break
        if started and not rest:
            continue     # the job, or the last task of the array, started
        in_queue, able = cluster.capable(job, key)
        if reason is not None:
            if reason == limits.LICENSES and able >= job.nodes:
                counters.on_license_wait(job)
            if job.id == watch:
                note(job, counters.describe(job, reason, policy))
            out.append(SetReason(job.id, reason, priority))
            continue
        if job.nodes > in_queue:
            out.append(SetReason(job.id, PARTITION_NODE_LIMIT, priority))
            note(job, f"needs {job.nodes} nodes, queue {job.queue} has {in_queue} available")
            continue
        if able < job.nodes:
            out.append(SetReason(job.id, REQ_NODE_NOT_AVAIL, priority))
            note(job, f"needs {job.nodes} node(s) with {_shape(job)}; {able} of the queue's {in_queue} could")
            continue
        plan = None
        if reserved < snapshot.reservations:
            plan = cluster.reserve(job)
            if plan is not None:
                reserved += 1
                start_at, nodes = plan
                out.append(Reserve(job.id, start_at, tuple(n.name for n in nodes),
                                   rest.first() if rest is not None else None))
        reason = RESOURCES if plan is not None or job.queue not in blocked_queues else PRIORITY
        blocked_queues.add(job.queue)
        out.append(SetReason(job.id, reason, priority))
        if job.id == watch:
            if plan is not None:
                note(job, f"waits for {_shape(job)} on {job.nodes} node(s); planned start at {plan[0]:.0f} "
                          f"on {','.join(n.name for n in plan[1])}")
            elif reason == PRIORITY:
                note(job, f"a higher-priority job of queue {job.queue} waits for resources first")
            else:
                note(job, f"waits for {_shape(job)} on {job.nodes} node(s)")
    return result


def _shape(job: JobRequest) -> str:
    parts = [f"{job.cpus_per_node} CPUs"]
    if job.mem_per_node_mb:
        parts.append(f"{job.mem_per_node_mb} MB")
    if job.gpus_per_node:
        parts.append(f"{job.gpus_per_node} GPUs")
    if job.features:
        parts.append("features " + ",".join(sorted(job.features)))
    if job.exclusive:
        parts.append("a whole node")
    return ", ".join(parts) + (f" for {job.walltime}s" if job.walltime else " without a time limit")
