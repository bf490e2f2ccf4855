"""The typed views hpcq.Client returns: what a user reads about jobs, actions and nodes.

Each view is a frozen dataclass made from one protobuf message, which stays reachable as
`.proto` for every field the view leaves out (a job's spec, steps, usage...). Times are
timezone-aware UTC datetimes, None where the record has none yet; ids of things that do
not exist (no array, no signal, no exit status before the end) are None rather than 0.

Not imported by the commands: dataclasses and datetime cost them milliseconds at start-up
(tests/unit/test_startup_imports.py). They use hpcq.client, which speaks protobuf.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hpcq import states
from hpcq.api.lite import admin_pb2, jobs_pb2

__all__ = ["ActionResult", "JobInfo", "JobState", "NodeInfo"]


class JobState(enum.IntEnum):
    """A job's state. The values are those of the protobuf enum
    `hpcq.api.jobs_pb2.JobState`, so a JobState equals the protobuf constant
    (`JobState.RUNNING == jobs_pb2.RUNNING`) and works wherever one is expected;
    `str()` gives the name."""

    UNSPECIFIED = 0
    PENDING = 1
    HELD = 2
    WAITING = 3           #: the begin time is in the future
    RUNNING = 4
    COMPLETING = 5
    COMPLETED = 6
    FAILED = 7
    CANCELLED = 8
    TIMEOUT = 9
    NODE_FAIL = 10
    OUT_OF_MEMORY = 11
    SUSPENDED = 12        #: stopped by an operator; its walltime stands still

    def __str__(self) -> str:
        return self.name

    @property
    def is_finished(self) -> bool:
        """The job ended, one way or another: it will not change again."""
        return states.is_finished(self)

    @property
    def slurm_name(self) -> str:
        """As squeue and sacct print it: PENDING for HELD and WAITING too."""
        return states.slurm_name(self)

    @property
    def pbs_code(self) -> str:
        """qstat's one-letter state: F for every finished job."""
        return states.pbs_code(self)


def _time(seconds: float) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


@dataclass(frozen=True, slots=True)
class JobInfo:
    """One job (or one array task) as ctld last stored it."""

    id: int
    name: str
    user: str
    account: str
    #: The queue it runs in (its effective queue, the default one if it named none).
    queue: str
    state: JobState
    #: Why it is pending (Priority, Resources, Dependency, JobHeldUser...), or why it
    #: ended as it did; empty when there is nothing to say.
    reason: str
    #: The script's exit status once the job has finished; None before.
    exit_code: int | None
    #: The signal that ended it, None if none did.
    signal: int | None
    submit_time: datetime | None
    start_time: datetime | None
    end_time: datetime | None
    #: Its effective time limit; None when it has none.
    walltime: timedelta | None
    #: The nodes of its allocation, in order; empty until it starts.
    nodes: tuple[str, ...]
    #: For an array task, or an array's own record: the array's job id.
    array_job_id: int | None
    array_task_id: int | None
    #: 1 for the first run; grows with every requeue.
    attempt: int
    priority: int
    #: The whole record, as the API has it (hpcq.api.jobs_pb2.Job).
    proto: jobs_pb2.Job = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, job: jobs_pb2.Job) -> JobInfo:
        state = JobState(job.state)
        finished = state.is_finished
        return cls(
            id=job.id, name=job.spec.name, user=job.user, account=job.spec.account, queue=job.queue,
            state=state, reason=job.reason,
            exit_code=job.exit_code if finished else None, signal=job.signal or None,
            submit_time=_time(job.submit_time), start_time=_time(job.start_time), end_time=_time(job.end_time),
            walltime=timedelta(seconds=job.walltime_seconds) if job.walltime_seconds else None,
            nodes=tuple(s.node for s in job.allocation.slices),
            array_job_id=job.array_job_id or None,
            array_task_id=job.array_task_id if job.HasField("array_task_id") else None,
            attempt=job.attempt, priority=job.priority, proto=job)

    @property
    def is_finished(self) -> bool:
        return self.state.is_finished


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What a cancel, hold, release or signal did to one job."""

    job_id: int
    #: OK, UNKNOWN_JOB, FINISHED, NOT_PERMITTED or INVALID_STATE.
    code: str
    #: Why, in words, when it is not OK.
    message: str
    proto: jobs_pb2.JobActionResult = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, result: jobs_pb2.JobActionResult) -> ActionResult:
        return cls(job_id=result.job_id, code=jobs_pb2.JobActionResult.Code.Name(result.code),
                   message=result.message, proto=result)

    @property
    def ok(self) -> bool:
        return self.code == "OK"


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """One node daemon as ctld sees it."""

    name: str
    #: IDLE, MIXED, ALLOCATED, DOWN, DRAINING or DRAINED.
    state: str
    #: Why it is down or drained.
    reason: str
    #: Its noded holds a session with ctld now.
    connected: bool
    cpus: int
    cpus_allocated: int
    memory_mb: int
    memory_allocated_mb: int
    gpus: int
    gpus_allocated: int
    features: tuple[str, ...]
    #: The jobs running there.
    job_ids: tuple[int, ...]
    last_seen: datetime | None
    #: The whole record (hpcq.api.admin_pb2.Node): hardware, load, ...
    proto: admin_pb2.Node = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, node: admin_pb2.Node) -> NodeInfo:
        hardware = node.hardware
        return cls(
            name=node.name, state=admin_pb2.NodeState.Name(node.state).removeprefix("NODE_"), reason=node.reason,
            connected=node.connected, cpus=hardware.cpus, cpus_allocated=node.cpus_allocated,
            memory_mb=hardware.memory_mb, memory_allocated_mb=node.memory_allocated_mb,
            gpus=len(hardware.gpus), gpus_allocated=node.gpus_allocated, features=tuple(hardware.features),
            job_ids=tuple(node.job_ids), last_seen=_time(node.last_seen), proto=node)
