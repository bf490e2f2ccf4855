"""Array jobs as the shims show them.

ctld keeps the tasks of an array that have not started as one record, the array's own
(``array_tasks_pending`` in Slurm's ``3-10,12-20:2`` form); a task gets a record of its
own when it starts. ``squeue -r``, ``scontrol show job N_i`` and ``qstat -t`` show each
pending task as a job of its own: a copy of the array's record with the task's index.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from hpcq.api.lite.jobs_pb2 import Job


def _runs(text: str) -> Iterator[range]:
    for part in filter(None, text.split(",")):
        span, _, step = part.partition(":")
        first, _, last = span.partition("-")
        yield range(int(first), int(last or first) + 1, int(step or 1))


def indices(text: str) -> Iterator[int]:
    """The indices of ``1-10``, ``1-99:2``, ``1,4,7-9`` (ctld's spelling, ascending)."""
    for run in _runs(text):
        yield from run


def pending_task(job: Job, index: int) -> Job:
    """Task `index` of the array whose pending rest `job` holds, as its own record."""
    task = Job()
    task.CopyFrom(job)
    task.array_job_id, task.array_task_id, task.array_tasks_pending = job.id, index, ""
    return task


def pending_tasks(job: Job) -> list[Job]:
    """One record per task not started yet; [] for a job that holds no pending rest."""
    return [pending_task(job, i) for i in indices(job.array_tasks_pending)]


def expand(jobs: Iterable[Job]) -> list[Job]:
    """`jobs` with each array's pending rest replaced by one record per task."""
    out: list[Job] = []
    for job in jobs:
        out.extend(pending_tasks(job) if job.array_tasks_pending else [job])
    return out


def has_pending(job: Job, index: int) -> bool:
    """Whether task `index` is in the pending rest `job` holds."""
    return any(index in run for run in _runs(job.array_tasks_pending))
