"""Array tasks named by index (Slurm's N_i, PBS's N[i]), started or not.

A started task has a record of its own (`JobTable.array_task`); a task not started yet
is an index in its array's pending rest (`Job.array_tasks_pending` of the array's own
record). When somebody acts on such a task alone — holds, releases, updates or cancels
it — it is split out of the rest into a record of its own, as Slurm splits a task out
of an array's meta record; it keeps array_job_id and array_task_id, so it still shows
as N_i, and is scheduled from then on as a job of its own. The last task of the rest
takes over the array's own record, as the last task to start does.
"""
from __future__ import annotations

from dataclasses import dataclass

from hpcq.api import jobs_pb2
from hpcq.ctld.jobtable import JobTable, pending_tasks
from hpcq.ctld.scheduler import IndexSet
from hpcq.ctld.scheduling import ArrayStarts
from hpcq.ctld.store.writer import Put

S = jobs_pb2.JobState


@dataclass(frozen=True)
class TaskTarget:
    """Where task `index` of an array is: `job` is its own record, or, while `pending`,
    the array's record whose pending rest holds it."""
    job: jobs_pb2.Job
    index: int
    pending: bool


def find(table: JobTable, array_id: int, index: int) -> TaskTarget | None:
    """Task `index` of array `array_id`; None when the array has no such task (left)."""
    record = table.array_task(array_id, index)
    if record is not None:
        return TaskTarget(record, index, False)
    head = table.get(array_id)
    if head is not None and head.array_job_id == array_id and head.array_tasks_pending and \
            index in pending_tasks(head.array_tasks_pending):
        return TaskTarget(head, index, True)
    return None


def split(table: JobTable, head: jobs_pb2.Job, index: int) -> tuple[jobs_pb2.Job, list[Put]]:
    """Take pending task `index` out of the array `head`'s rest into a record of its own,
    in the state the rest is in; the record and the rows that store the change. A new
    record is not queued yet: the action it was split for decides (JobTable.enqueue), so
    no pass starts it in between."""
    rest = IndexSet.parse(head.array_tasks_pending).without([index])
    if not rest:
        # The last one: it takes over the array's own record.
        head.array_tasks_pending = ""
        head.array_task_id = index
        table.index_task(head)
        table.requeue_request(head)
        return head, [table.row(head)]
    task = table.add_task(head, ArrayStarts(head).template(), index)
    head.array_tasks_pending = str(rest)
    table.requeue_request(head)
    return task, [table.row(task), table.row(head, pending_tasks=len(rest)), table.next_id_row()]
