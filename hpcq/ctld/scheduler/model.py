"""What the scheduler sees and what it decides: plain frozen data, no I/O."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class JobRequest:
    """A queued job as the scheduler needs it: per-node shape and ordering keys."""
    id: int
    user: str
    queue: str
    priority: int
    submit_time: float
    nodes: int = 1
    cpus_per_node: int = 1
    mem_per_node_mb: int = 0
    gpus_per_node: int = 0
    walltime: int = 0
    exclusive: bool = False
    features: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()


@dataclass(frozen=True)
class NodeCapacity:
    """A node's free resources at the snapshot (only nodes that may take work)."""
    name: str
    cpus_total: int
    cpus_free: int
    mem_total_mb: int
    mem_free_mb: int
    gpus_total: int = 0
    gpus_free: int = 0
    features: frozenset[str] = frozenset()
    idle: bool = True


@dataclass(frozen=True)
class QueuePolicy:
    name: str
    nodes: frozenset[str] | None = None   # None: every node
    starts_jobs: bool = True
    priority: int = 0


@dataclass(frozen=True)
class Snapshot:
    pending: tuple[JobRequest, ...]
    nodes: tuple[NodeCapacity, ...]
    queues: dict[str, QueuePolicy] = field(default_factory=dict)


@dataclass(frozen=True)
class Slice:
    node: str
    cpus: int
    mem_mb: int
    gpus: int


@dataclass(frozen=True)
class Start:
    job_id: int
    slices: tuple[Slice, ...]


@dataclass(frozen=True)
class SetReason:
    job_id: int
    reason: str


Decision = Start | SetReason
