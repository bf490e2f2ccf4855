"""Unfinished work, counted as the submit limits count it.

Every job that has not finished counts, whatever its state — pending, held, waiting
for its begin time, running — so that holding jobs or giving them a begin time cannot
slip past a limit; an array counts each of its tasks (Slurm's MaxJobCount and
MaxSubmitJobs count array tasks too). Counts are kept per user, per (queue, user) and in
total, updated from each job record as it changes, so a submit checks its limits in O(1).
"""
from __future__ import annotations

from collections import Counter

from hpcq import states
from hpcq.api import jobs_pb2
from hpcq.ctld.scheduler import IndexSet


def units(job: jobs_pb2.Job, pending_tasks: int | None = None) -> int:
    """How many jobs a record stands for until it ends: its pending array tasks (the
    array's own record), else 1, and 0 once finished. `pending_tasks`, when the caller
    knows it, saves parsing the index list again."""
    if states.is_finished(job.state):
        return 0        # a cancelled array's pending rest ended with its record
    if job.array_tasks_pending:
        return pending_tasks if pending_tasks is not None else len(IndexSet.parse(job.array_tasks_pending))
    return 1


class Backlog:
    def __init__(self) -> None:
        self._counted: dict[int, tuple[str, str, int]] = {}    # job id -> (user, queue, units)
        self.total = 0
        self.of_user: Counter[str] = Counter()
        self.of_user_in_queue: Counter[tuple[str, str]] = Counter()

    def in_queue(self, queue: str) -> bool:
        """Whether an unfinished job is in `queue`, or on its way there (a record is
        counted before its commit)."""
        return any(n for (_, q), n in self.of_user_in_queue.items() if q == queue)

    def update(self, job: jobs_pb2.Job, pending_tasks: int | None = None) -> None:
        """Count a record as it is now (a new one, or a change of state, queue or tasks).
        On every job's every change: kept to plain dict operations."""
        n = units(job, pending_tasks)
        old = self._counted.get(job.id)
        entry = (job.user, job.queue, n)
        if old == entry:
            return
        if old is not None:
            self._count(old, -1)
        if n:
            self._counted[job.id] = entry
            self._count(entry, 1)
        elif old is not None:
            del self._counted[job.id]

    def drop(self, job_id: int) -> None:
        """A record that was never stored (its commit failed) counts no more."""
        old = self._counted.pop(job_id, None)
        if old is not None:
            self._count(old, -1)

    def _count(self, entry: tuple[str, str, int], sign: int) -> None:
        user, queue, n = entry
        self.total += sign * n
        self.of_user[user] += sign * n
        self.of_user_in_queue[(user, queue)] += sign * n
