"""Builders for scheduler worlds: jobs, nodes and running jobs read like what they are."""
from __future__ import annotations

from dataclasses import replace
from itertools import count

from hpcq.ctld.scheduler import (
    ArrayTasks,
    IndexSet,
    JobRequest,
    NodeCapacity,
    QueuePolicy,
    RunningJob,
    SetReason,
    Slice,
    Snapshot,
    Start,
    parse_slurm,
)
from hpcq.ctld.scheduler.model import Reserve

_ids = count(1)


def job(cpus: int = 1, *, nodes: int = 1, mem: int = 0, gpus: int = 0, priority: int | None = None,
        submit: float = 0.0, queue: str = "batch", user: str = "alice", job_id: int | None = None,
        walltime: int = 0, depends: str | None = None, array: str | None = None, throttle: int = 0,
        **extra) -> JobRequest:
    """`priority=` is an admin-set priority, so a test can state the order outright."""
    return JobRequest(id=job_id if job_id is not None else next(_ids), user=user, queue=queue, submit_time=submit,
                      nodes=nodes, cpus_per_node=cpus, mem_per_node_mb=mem, gpus_per_node=gpus, walltime=walltime,
                      admin_priority=priority, dependency=parse_slurm(depends) if depends else None,
                      array=ArrayTasks(IndexSet.parse(array), throttle) if array else None, **extra)


def node(name: str, cpus: int = 4, *, mem: int = 8000, gpus: int = 0, used_cpus: int = 0, used_mem: int = 0,
         used_gpus: int = 0, features: frozenset[str] = frozenset()) -> NodeCapacity:
    return NodeCapacity(name=name, cpus_total=cpus, cpus_free=cpus - used_cpus, mem_total_mb=mem,
                        mem_free_mb=mem - used_mem, gpus_total=gpus, gpus_free=gpus - used_gpus, features=features,
                        idle=used_cpus == 0 and used_gpus == 0)


def running(on: str, cpus: int = 1, *, ends: float | None = None, start: float = 0.0, user: str = "alice",
            queue: str = "batch", mem: int = 0, gpus: int = 0, job_id: int | None = None, **extra) -> RunningJob:
    """A running job holding `cpus` on node `on` until `ends` (None: no time limit)."""
    walltime = 0 if ends is None else int(ends - start)
    return RunningJob(id=job_id if job_id is not None else next(_ids), user=user, queue=queue, start_time=start,
                      walltime=walltime, slices=(Slice(on, cpus, mem, gpus),), **extra)


def busy_node(name: str, cpus: int = 4, *, mem: int = 8000, gpus: int = 0, jobs=()) -> NodeCapacity:
    """A node whose free resources are what `jobs` (running jobs on it) leave."""
    used = [s for r in jobs for s in r.slices if s.node == name]
    return node(name, cpus, mem=mem, gpus=gpus, used_cpus=sum(s.cpus for s in used),
                used_mem=sum(s.mem_mb for s in used), used_gpus=sum(s.gpus for s in used))


def world(jobs, nodes, queues=(), **snapshot) -> Snapshot:
    return Snapshot(tuple(jobs), tuple(nodes), {q.name: q for q in queues} or {"batch": QueuePolicy("batch")},
                    **snapshot)


def after(snapshot: Snapshot, decisions, now: float) -> Snapshot:
    """The world once the pass's starts are applied: started jobs run, nodes have less free."""
    by_id = {j.id: j for j in snapshot.pending}
    launched = [d for d in decisions if isinstance(d, Start)]
    used: dict[str, list[int]] = {}
    running_now = list(snapshot.running)
    done_tasks: dict[int, list[int]] = {}
    for d in launched:
        j = by_id[d.job_id]
        for s in d.slices:
            u = used.setdefault(s.node, [0, 0, 0])
            u[0], u[1], u[2] = u[0] + s.cpus, u[1] + s.mem_mb, u[2] + s.gpus
        running_now.append(RunningJob(id=10**9 + len(running_now), user=j.user, queue=j.queue, start_time=now,
                                      walltime=j.walltime, slices=d.slices, account=j.account, name=j.name,
                                      licenses=j.licenses, array_job_id=j.id if j.array is not None else None))
        if d.array_index is not None:
            done_tasks.setdefault(j.id, []).append(d.array_index)
    nodes = []
    for n in snapshot.nodes:
        c, m, g = used.get(n.name, (0, 0, 0))
        nodes.append(replace(n, cpus_free=n.cpus_free - c, mem_free_mb=n.mem_free_mb - m, gpus_free=n.gpus_free - g,
                             idle=n.idle and n.name not in used))
    pending = []
    for j in snapshot.pending:
        if j.array is not None and j.id in done_tasks:
            rest = j.array.indices.without(done_tasks[j.id])
            if rest:
                pending.append(replace(j, array=replace(j.array, indices=rest)))
        elif j.array is not None or j.id not in {d.job_id for d in launched}:
            pending.append(j)
    return replace(snapshot, pending=tuple(pending), nodes=tuple(nodes), running=tuple(running_now))


def starts(decisions) -> dict[int, tuple[Slice, ...]]:
    return {d.job_id: d.slices for d in decisions if isinstance(d, Start)}


def started_tasks(decisions) -> list[tuple[int, int | None]]:
    return [(d.job_id, d.array_index) for d in decisions if isinstance(d, Start)]


def reasons(decisions) -> dict[int, str]:
    return {d.job_id: d.reason for d in decisions if isinstance(d, SetReason)}


def reservations(decisions) -> dict[int, Reserve]:
    return {d.job_id: d for d in decisions if isinstance(d, Reserve)}


__all__ = [
    "QueuePolicy",
    "after",
    "busy_node",
    "job",
    "node",
    "reasons",
    "replace",
    "reservations",
    "running",
    "started_tasks",
    "starts",
    "world",
]
