"""Array jobs as the shims show them.

ctld keeps the tasks of an array that have not started as one record, the array's own
(``array_tasks_pending`` in Slurm's ``3-10,12-20:2`` form); a task gets a record of its
own when it starts. ``squeue -r``, ``scontrol show job N_i`` and ``qstat -t`` show each
pending task as a job of its own: a copy of the array's record with the task's index.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from hpcq.api.lite.jobs_pb2 import Job
from hpcq.indexset import IndexSet


def indices(text: str) -> Iterator[int]:
    """The indices of ``1-10``, ``1-99:2``, ``1,4,7-9`` (ctld's spelling, ascending); none for ""."""
    return iter(IndexSet.parse(text) if text else ())


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
    return bool(job.array_tasks_pending) and index in IndexSet.parse(job.array_tasks_pending)
