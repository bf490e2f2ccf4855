"""Job references as users type them, one parser per dialect, for every command that
takes job ids.

    Slurm   N   N_i   N_[1-3,7] (where a command takes ranges)   N.step, N_i.step (where it takes steps)
    PBS     N   N.server   N[]   N[i]   N[i].server   N[1-3] (where a command takes ranges)

A reference names a whole job (an array's id names every task of the array) or one
task of an array by its index, started or not: ctld resolves the index (ArrayTaskRef),
so a shim never needs to know whether the task has a record of its own yet.
"""
from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Iterable, Sequence

from hpcq.shims import values

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hpcq.api.lite.jobs_pb2 import JobActionResult

# A range names at most this many tasks: ctld takes at most 100,000 ids and task refs per
# call (hpcq.client.MAX_JOB_IDS_PER_CALL), and a typo must not build millions of them.
MAX_RANGE_TASKS = 100_000

_SLURM = re.compile(r"([0-9]+)(?:_(?:([0-9]+)|\[([0-9,:\-]+)\]))?(?:\.([0-9]+|batch|extern|interactive))?")
_PBS = re.compile(r"([0-9]+)(?:\[([0-9:\-]*)\])?(?:\.[^\s\[\]]*)?")    # the server part after the index


class JobRefError(ValueError):
    """Text that is no job reference (or one the command does not take)."""


class JobRef(namedtuple("JobRef", "job_id task step", defaults=(None, ""))):
    """A whole job (task None) or one array task; `step` only where a command takes steps."""
    __slots__ = ()
    job_id: int
    task: int | None
    step: str

    @property
    def is_task(self) -> bool:
        return self.task is not None

    def slurm(self) -> str:
        """``12``, ``12_3``, ``12_3.batch``."""
        text = f"{self.job_id}_{self.task}" if self.task is not None else str(self.job_id)
        return f"{text}.{self.step}" if self.step else text

    def pbs(self, cluster: str) -> str:
        """``12.server``, ``12[3].server``."""
        index = f"[{self.task}]" if self.task is not None else ""
        return f"{self.job_id}{index}.{cluster}"


def _job_number(text: str) -> int:
    number = values.parse_uint(text, values.UINT64_MAX)       # a job id is a uint64 on the wire
    if number is None:
        raise JobRefError(text)
    return number


def _index(text: str) -> int:
    number = values.parse_uint(text, values.UINT32_MAX)       # an index is a uint32 on the wire
    if number is None:
        raise JobRefError(text)
    return number


def _range(text: str) -> list[int]:
    """``1-3,7``, ``1-9:2``: the indices, ascending; JobRefError past MAX_RANGE_TASKS."""
    from hpcq.indexset import IndexSet

    try:
        indices = IndexSet.parse(text)
    except ValueError:
        raise JobRefError(text) from None
    if len(indices) > MAX_RANGE_TASKS or (indices.runs and indices.runs[-1][1] > values.UINT32_MAX):
        raise JobRefError(text)
    return list(indices)


def parse_slurm(text: str, *, ranges: bool = False, steps: bool = False) -> list[JobRef]:
    """The references of one Slurm job id: ``N``, ``N_i``; ``N_[1-3,7]`` with `ranges`
    (one reference per task); ``N.step`` with `steps`. A heterogeneous job component
    (``N+1``) names nothing hpcq has: it is refused with the rest."""
    m = _SLURM.fullmatch(text)
    if not m or (m[3] is not None and not ranges) or (m[4] is not None and not steps):
        raise JobRefError(text)
    job_id, step = _job_number(m[1]), m[4] or ""
    if m[2] is not None:
        return [JobRef(job_id, _index(m[2]), step)]
    if m[3] is not None:
        return [JobRef(job_id, i, step) for i in _range(m[3])]
    return [JobRef(job_id, None, step)]


def parse_pbs(text: str, *, ranges: bool = False) -> list[JobRef]:
    """The references of one PBS job identifier: ``N``, ``N.server``, ``N[]`` (the array),
    ``N[i]``; ``N[1-3]`` with `ranges` (one reference per subjob)."""
    m = _PBS.fullmatch(text)
    if not m:
        raise JobRefError(text)
    job_id, index = _job_number(m[1]), m[2]
    if not index:                       # N, N[]
        return [JobRef(job_id)]
    if values.is_digits(index):
        return [JobRef(job_id, _index(index))]
    if not ranges:
        raise JobRefError(text)
    return [JobRef(job_id, i) for i in _range(index)]


def split(refs: Iterable[JobRef]) -> tuple[list[int], list[tuple[int, int]]]:
    """(whole job ids, array tasks as (array job id, index)) for a job action request."""
    job_ids: list[int] = []
    tasks: list[tuple[int, int]] = []
    for ref in refs:
        if ref.task is None:
            job_ids.append(ref.job_id)
        else:
            tasks.append((ref.job_id, ref.task))
    return job_ids, tasks


def result_ref(result: JobActionResult) -> JobRef:
    """What a job action result answers: the array task the request named, else the job."""
    if result.HasField("task"):
        return JobRef(result.task.array_job_id, result.task.task)
    return JobRef(result.job_id)


def in_order(refs: Sequence[JobRef], results: Iterable[JobActionResult]) -> list[tuple[JobRef, JobActionResult]]:
    """Each result with the reference it answers, in the order the user gave them (ctld
    answers job ids first, then task refs); a result for no given reference comes last."""
    position = {JobRef(ref.job_id, ref.task): n for n, ref in reversed(list(enumerate(refs)))}
    paired = [(result_ref(result), result) for result in results]
    return sorted(paired, key=lambda pair: position.get(pair[0], len(refs)))
