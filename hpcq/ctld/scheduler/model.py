"""What the scheduler sees and what it decides: plain frozen data, no I/O.

The controller builds a Snapshot on every pass from its in-memory state and
applies the decisions: Start (run it on these slices), Reserve (the planned start
`squeue --start` shows) and SetReason (the pending reason and current priority).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from hpcq.ctld.scheduler.arrays import ArrayTasks
from hpcq.ctld.scheduler.dependencies import Dependencies, Phase, Target
from hpcq.ctld.scheduler.fairshare import Shares, Usage

NO_LICENSES: Mapping[str, int] = MappingProxyType({})
UNLIMITED = 0   # walltime 0: the job may run for ever (it then never frees its nodes for a reservation)


def _no_licenses() -> Mapping[str, int]:
    return NO_LICENSES


@dataclass(frozen=True)
class PriorityWeights:
    """Weights of the priority factors, which priority.py computes (config: priority_weight_*,
    priority_max_age, priority_favor_small). Here, as part of the snapshot, so that priority.py
    depends on the model and not the other way round."""
    age: int = 1000
    fairshare: int = 10000
    job_size: int = 1000
    queue: int = 1000
    max_age: float = 7 * 86400.0     # seconds after which age stops growing
    favor_small: bool = False        # size factor: 1 for the smallest job instead of the largest


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A pending job (or the pending rest of an array) as the scheduler needs it."""
    id: int
    user: str
    queue: str
    submit_time: float
    account: str = ""
    name: str = ""                          # for singleton dependencies
    nodes: int = 1
    cpus_per_node: int = 1
    mem_per_node_mb: int = 0
    gpus_per_node: int = 0
    walltime: int = UNLIMITED               # effective seconds (own, or the queue's default)
    exclusive: bool = False
    features: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()
    licenses: Mapping[str, int] = field(default_factory=_no_licenses)   # cluster-wide, per job (not per node or task)
    nice: int = 0                           # subtracted from the priority; negative only if an admin allows
    admin_priority: int | None = None       # set by an admin: replaces the computed priority
    eligible_time: float = 0.0              # when it became eligible (begin time); 0: submit_time
    dependency: Dependencies | None = None
    array: ArrayTasks | None = None         # the tasks not started yet; None for an ordinary job
    # A task of an array on a record of its own (split out of the rest): (the array's id, its
    # throttle %N), for it counts toward the array's running tasks as the rest's do.
    task_of: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class Slice:
    """What a job holds on one node: counts, and which CPUs and GPUs (as Slurm's cons_tres
    picks cores), so that jobs sharing a node get disjoint ones."""
    node: str
    cpus: int
    mem_mb: int
    gpus: int
    cpu_ids: tuple[int, ...] = ()
    gpu_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class RunningJob:
    """A running job (or array task): it holds its slices until start_time + walltime."""
    id: int
    user: str
    queue: str
    start_time: float
    walltime: int                           # 0: unlimited
    slices: tuple[Slice, ...]
    account: str = ""
    name: str = ""
    licenses: Mapping[str, int] = field(default_factory=_no_licenses)
    array_job_id: int | None = None         # for the array throttle


@dataclass(frozen=True, slots=True)
class NodeCapacity:
    """A node's capacity and free resources now (only nodes that may take work: not down, not drained)."""
    name: str
    cpus_total: int
    cpus_free: int
    mem_total_mb: int
    mem_free_mb: int
    gpus_total: int = 0
    gpus_free: int = 0
    features: frozenset[str] = frozenset()
    idle: bool = True                       # no job on it (an exclusive job needs that)
    # Which CPUs (0..cpus_total-1) and GPUs (their indexes) are free. None: the last
    # cpus_free ids and the last gpus_free of range(gpus_total), for worlds that leave them out.
    free_cpu_ids: tuple[int, ...] | None = None
    free_gpu_ids: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """A queue (partition) as the scheduler applies it; 0 means no limit."""
    name: str
    nodes: frozenset[str] | None = None     # None: every node
    starts_jobs: bool = True                # False: down (or inactive): PartitionDown
    priority: int = 0                       # the queue factor, normalized by the highest queue
    allowed_users: frozenset[str] | None = None   # None: everybody (resolve groups into users)
    max_running_per_user: int = 0           # QOSMaxJobsPerUserLimit
    max_cpus_per_user: int = 0              # QOSMaxCpuPerUserLimit
    max_running: int = 0                    # the whole queue: QOSGrpJobsLimit
    max_cpus: int = 0                       # the whole queue: QOSGrpCpuLimit


@dataclass(frozen=True, slots=True)
class UserLimits:
    """What one user may run at once across every queue (Slurm's association limits); 0: no limit."""
    max_running_jobs: int = 0               # AssocMaxJobsLimit
    max_running_cpus: int = 0               # AssocGrpCpuLimit

    def __bool__(self) -> bool:
        return bool(self.max_running_jobs or self.max_running_cpus)


def _no_phases() -> Mapping[Target, Phase]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Snapshot:
    pending: tuple[JobRequest, ...]
    nodes: tuple[NodeCapacity, ...]
    queues: Mapping[str, QueuePolicy] = field(default_factory=dict)
    running: tuple[RunningJob, ...] = ()
    licenses: Mapping[str, int] = field(default_factory=_no_licenses)   # cluster-wide totals (Slurm Licenses=)
    phases: Mapping[Target, Phase] = field(default_factory=_no_phases)   # jobs that dependencies name;
    #                                    a target missing here was purged and counts as ended well
    weights: PriorityWeights = field(default_factory=PriorityWeights)
    usage: Usage = field(default_factory=Usage)
    shares: Shares = field(default_factory=Shares)
    reservations: int = 1                              # how many blocked jobs get a planned start
    user_limits: UserLimits = field(default_factory=UserLimits)


@dataclass(frozen=True, slots=True)
class Start:
    """Run the job (or task `array_index` of the array job) on these slices now."""
    job_id: int
    slices: tuple[Slice, ...]
    array_index: int | None = None
    priority: int = 0


@dataclass(frozen=True, slots=True)
class Reserve:
    """A blocked job's planned start: nothing of lower priority will delay it (squeue --start)."""
    job_id: int
    start_at: float
    nodes: tuple[str, ...]
    array_index: int | None = None


@dataclass(frozen=True, slots=True)
class SetReason:
    """The job stays pending, for this reason, at this priority."""
    job_id: int
    reason: str
    priority: int = 0


Decision = Start | Reserve | SetReason
