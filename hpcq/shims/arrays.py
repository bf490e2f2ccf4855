"""Array jobs as the shims show them.

ctld keeps the tasks of an array that have not started as one record, the array's own
(``array_tasks_pending`` in Slurm's ``3-10,12-20:2`` form); a task gets a record of its
own when it starts. ``squeue -r``, ``scontrol show job N_i`` and ``qstat -t`` show each
pending task as a job of its own: a copy of the array's record with the task's index.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from hpcq.api.lite.jobs_pb2 import Job
from hpcq.indexset import IndexSet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hpcq.client import Client
    from hpcq.shims.jobrefs import JobRef


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


def find_task(records: Iterable[Job], array_job_id: int, index: int) -> Job | None:
    """Task `index` of array `array_job_id` among these records: its own record (once
    started, or split out of the pending rest to be held or changed alone), else the
    array's pending rest's copy for it; None when the array has no such task."""
    head = None
    for job in records:
        if job.array_job_id != array_job_id:
            continue
        if job.HasField("array_task_id") and job.array_task_id == index:
            return job
        if job.id == array_job_id:
            head = job
    return pending_task(head, index) if head is not None and has_pending(head, index) else None


def lookup(client: Client, refs: Sequence[JobRef]) -> dict[JobRef, Job]:
    """The record of each job and array task the references name (a pending task: its
    copy of the array's record); those not found are left out."""
    records, _unknown = client.get(list(dict.fromkeys(ref.job_id for ref in refs)))
    by_id = {job.id: job for job in records}
    found: dict[JobRef, Job] = {}
    started: list[JobRef] = []
    for ref in refs:
        if ref.task is None:
            if ref.job_id in by_id:
                found[ref] = by_id[ref.job_id]
            continue
        task = find_task(records, ref.job_id, ref.task)
        if task is not None:
            found[ref] = task
        elif ref.job_id in by_id:
            started.append(ref)          # a task with a record of its own: listed below
    if started:
        arrays_asked = {ref.job_id for ref in started}
        members = [job for job in client.list(include_finished=True) if job.array_job_id in arrays_asked]
        for ref in started:
            task = find_task(members, ref.job_id, ref.task or 0)
            if task is not None:
                found[ref] = task
    return found
