"""Builders for scheduler worlds: jobs and nodes read like what they are."""
from __future__ import annotations

from dataclasses import replace
from itertools import count

from hpcq.ctld.scheduler import JobRequest, NodeCapacity, QueuePolicy, Snapshot

_ids = count(1)


def job(cpus: int = 1, *, nodes: int = 1, mem: int = 0, gpus: int = 0, priority: int = 0, submit: float = 0.0,
        queue: str = "batch", user: str = "alice", job_id: int | None = None, **extra) -> JobRequest:
    return JobRequest(id=job_id if job_id is not None else next(_ids), user=user, queue=queue, priority=priority,
                      submit_time=submit, nodes=nodes, cpus_per_node=cpus, mem_per_node_mb=mem,
                      gpus_per_node=gpus, **extra)


def node(name: str, cpus: int = 4, *, mem: int = 8000, gpus: int = 0, used_cpus: int = 0,
         features: frozenset[str] = frozenset()) -> NodeCapacity:
    return NodeCapacity(name=name, cpus_total=cpus, cpus_free=cpus - used_cpus, mem_total_mb=mem, mem_free_mb=mem,
                        gpus_total=gpus, gpus_free=gpus, features=features, idle=used_cpus == 0)


def world(jobs, nodes, queues=()) -> Snapshot:
    return Snapshot(tuple(jobs), tuple(nodes), {q.name: q for q in queues} or {"batch": QueuePolicy("batch")})


__all__ = ["job", "node", "world", "replace", "QueuePolicy"]
