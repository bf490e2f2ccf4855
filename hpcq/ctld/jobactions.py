"""JobActions: what users and staff do to jobs after submit — cancel, hold, release,
signal, requeue, suspend, resume, update — on a job, on a whole array, or on one task
of an array.

A target is a job record named by its id, or an array task named by index
(`arraytasks.TaskTarget`). The array's own id stands for the whole array: every task at
every stage, its pending rest and each task's record, as `scancel N` and `qdel N[]` do;
the answer is OK when the action did something to any of them. A task still in the
pending rest is split out into a record of its own when the action changes it alone
(cancel, hold, release, update); an action that needs a running job answers for it
from the rest's state and changes nothing.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from hpcq import states
from hpcq.api import jobs_pb2
from hpcq.config import CtldSection
from hpcq.ctld import arraytasks
from hpcq.ctld import jobs as jobrules
from hpcq.ctld.admission import Admission
from hpcq.ctld.arraytasks import TaskTarget
from hpcq.ctld.clock import Clock
from hpcq.ctld.comm import NodeComm
from hpcq.ctld.errors import DomainError
from hpcq.ctld.jobtable import JobTable
from hpcq.ctld.lifecycle import Lifecycle
from hpcq.ctld.store.writer import Put, Store
from hpcq.ctld.watch import Watchers

log = logging.getLogger("hpcq.ctld")

S = jobs_pb2.JobState
R = jobs_pb2.JobActionResult
ActionResult = tuple[jobs_pb2.JobActionResult.Code, str]   # what an action did to one job
Target = jobs_pb2.Job | TaskTarget
One = Callable[[jobs_pb2.Job], Awaitable[ActionResult]]

FINISHED = (R.FINISHED, "job has finished")
# Slurm's words where a shim passes them on (slurm_strerror).
PENDING_EXECUTION = "Job is pending execution"


class JobActions:
    def __init__(self, settings: CtldSection, clock: Clock, store: Store, table: JobTable, lifecycle: Lifecycle,
                 admission: Admission, comm: NodeComm, watchers: Watchers, kick: Callable[[], None]) -> None:
        self.settings, self.clock, self.store, self.table = settings, clock, store, table
        self.lifecycle, self.admission, self.comm, self.watchers = lifecycle, admission, comm, watchers
        self._kick = kick

    def task(self, array_id: int, index: int) -> TaskTarget | None:
        return arraytasks.find(self.table, array_id, index)

    # -- the actions --------------------------------------------------------------------------

    async def cancel(self, target: Target, by: str) -> ActionResult:
        async def one(job: jobs_pb2.Job) -> ActionResult:
            return await self._cancel_one(job, by)
        return await self._act(target, one, split=lambda head: True)

    async def hold(self, target: Target, admin: bool) -> ActionResult:
        async def one(job: jobs_pb2.Job) -> ActionResult:
            return await self._hold_one(job, admin)
        if isinstance(target, TaskTarget) and target.pending and target.job.state == S.HELD and \
                (not admin or target.job.reason == "JobHeldAdmin"):
            return R.OK, ""       # held with the rest of its array already
        return await self._act(target, one, split=lambda head: True)

    async def release(self, target: Target, staff: bool) -> ActionResult:
        async def one(job: jobs_pb2.Job) -> ActionResult:
            return await self._release_one(job, staff)
        return await self._act(target, one, split=lambda head: head.state == S.HELD and may_release(head, staff))

    async def signal(self, target: Target, sig: int) -> ActionResult:
        async def one(job: jobs_pb2.Job) -> ActionResult:
            return self._signal_one(job, sig)
        return await self._act(target, one)

    async def requeue(self, target: Target, held: bool) -> ActionResult:
        async def one(job: jobs_pb2.Job) -> ActionResult:
            return await self._requeue_one(job, held)
        return await self._act(target, one)

    async def suspend(self, target: Target) -> ActionResult:
        async def one(job: jobs_pb2.Job) -> ActionResult:
            return await self._suspend_one(job, resume=False)
        return await self._act(target, one)

    async def resume(self, target: Target) -> ActionResult:
        async def one(job: jobs_pb2.Job) -> ActionResult:
            return await self._suspend_one(job, resume=True)
        return await self._act(target, one)

    async def update(self, target: Target, spec: jobs_pb2.JobSpec, fields: Iterable[str], *,
                     staff: bool = False) -> jobs_pb2.Job:
        """Change a queued job's spec: the same checks as a submit (validation, queue
        access and limits, privileged settings), made by the owner or by staff. A pending
        array task is split out first: the change is its alone."""
        fields = list(fields)
        job = target.job if isinstance(target, TaskTarget) else target
        updated = self.admission.updated(job, spec, fields, staff)
        if isinstance(target, TaskTarget) and target.pending:
            job = await self._split(target)
            try:
                updated = self.admission.updated(job, spec, fields, staff)   # the task's own record now
            except DomainError:
                # Refused now (a submit filled its new queue during the split's commit): the
                # task waits as the rest it came from does, in a record of its own.
                if job.state in (S.PENDING, S.WAITING) and job.id not in self.table.queued:
                    self.table.enqueue(job, self.clock.wall(), reason=job.reason)
                raise
        # Applied before its commit, as every action is: a copy put back after the commit
        # would undo what happened meanwhile (a cancel, a start by a pass).
        job.CopyFrom(updated)
        if job.id in self.table.queued:
            self.table.requeue_request(job)
        elif job.state != S.HELD and job.id not in self.table.waiting:
            self.table.enqueue(job, self.clock.wall(), reason=job.reason)      # split out: queued now
        await self._store_and_publish(job)
        self._kick()
        return job

    # -- targets: one record, a whole array, a task of the pending rest --------------------

    async def _act(self, target: Target, one: One,
                   split: Callable[[jobs_pb2.Job], bool] = lambda head: False) -> ActionResult:
        """`one` on what the target names. `split(head)`: whether a task of the pending
        rest of `head` is split out for this action (else the rest answers for it)."""
        if isinstance(target, TaskTarget):
            if target.pending:
                if states.is_finished(target.job.state):
                    return FINISHED          # its array's pending rest was cancelled
                if split(target.job):
                    return await one(await self._split(target))
            # A task still in a queued rest: the rest answers for it, and an action that
            # needs a started job changes nothing of a queued record.
            return await one(target.job)
        job = target
        if job.array_job_id == job.id:
            # Each looked up when its turn comes: one archived meanwhile is gone (ended already).
            results = [await one(member) for i in sorted(self.table.array_members.get(job.id, {job.id}))
                       if (member := self.table.get(i)) is not None]
            return min(results)
        return await one(job)

    async def _split(self, target: TaskTarget) -> jobs_pb2.Job:
        task, rows = arraytasks.split(self.table, target.job, target.index)
        await self.store.write(rows)
        self.watchers.publish(target.job)
        if task is not target.job:
            self.watchers.publish(task)
        log.debug("job %d: task %d split out of its array's pending tasks as job %d", target.job.id, target.index,
                  task.id)
        return task

    # -- one record ---------------------------------------------------------------------------

    async def _cancel_one(self, job: jobs_pb2.Job, by: str) -> ActionResult:
        if states.is_finished(job.state):
            return FINISHED
        job.cancelled_by = by
        if job.state in states.QUEUED:
            self.table.dequeue(job)
            self.lifecycle.finish(job, S.CANCELLED, "None", self.clock.wall())
            await self._store_and_publish(job)
            return R.OK, ""
        self.table.cancel_requested.add(job.id)
        await self._store_then_kill(job)
        return R.OK, ""

    def _signal_one(self, job: jobs_pb2.Job, sig: int) -> ActionResult:
        if job.state not in states.ACTIVE:
            return FINISHED if states.is_finished(job.state) else (R.INVALID_STATE, "job is not running")
        self.comm.signal(job, sig)
        return R.OK, ""

    async def _hold_one(self, job: jobs_pb2.Job, admin: bool) -> ActionResult:
        if states.is_finished(job.state):
            return FINISHED
        if job.state not in states.QUEUED:
            return R.INVALID_STATE, "job is not queued"
        self.table.dequeue(job)
        job.state, job.reason = S.HELD, "JobHeldAdmin" if admin else "JobHeldUser"
        await self._store_and_publish(job)
        return R.OK, ""

    async def _release_one(self, job: jobs_pb2.Job, staff: bool) -> ActionResult:
        if states.is_finished(job.state):
            return FINISHED
        if job.state != S.HELD:
            return R.INVALID_STATE, "job is not held"
        if not may_release(job, staff):
            return R.NOT_PERMITTED, "held by an administrator"
        job.state = S.PENDING
        self.table.enqueue(job, self.clock.wall())
        await self._store_and_publish(job)
        self._kick()
        return R.OK, ""

    async def _requeue_one(self, job: jobs_pb2.Job, held: bool) -> ActionResult:
        """A started job goes back to the queue for another attempt: a running one is
        killed and queued again when its node reports the end (Lifecycle.run_ended), a
        finished one at once. A job that may not be requeued (--no-requeue, -r n) stays."""
        if job.state in states.QUEUED:
            return R.INVALID_STATE, PENDING_EXECUTION
        if not jobrules.may_requeue(job):
            return R.INVALID_STATE, f"Requested operation is presently disabled: job {job.id} may not be requeued"
        if job.state in states.ACTIVE:
            if job.id in self.table.cancel_requested:
                return R.INVALID_STATE, "Job/step already completing or completed"
            job.requeue_held = held
            await self._store_then_kill(job)
            return R.OK, ""
        again = self.lifecycle.requeue_finished(job, held, self.clock.wall())
        await self._store_and_publish(job)
        log.info("job %d of %s %s", job.id, job.user, again)
        self._kick()
        return R.OK, ""

    async def _suspend_one(self, job: jobs_pb2.Job, *, resume: bool) -> ActionResult:
        """SUSPENDED keeps the job's CPUs (Slurm without gang scheduling does too); its
        nodes stop its processes and its walltime until it is resumed."""
        if states.is_finished(job.state):
            return FINISHED
        if job.state in states.QUEUED:
            return R.INVALID_STATE, PENDING_EXECUTION
        if job.state != (S.SUSPENDED if resume else S.RUNNING) or job.id in self.table.cancel_requested:
            return R.INVALID_STATE, "Job is not suspended" if resume else "Job is not running"
        # Told first: a node that does not hear of it would leave the job as it is.
        if not self.comm.suspend(job, resume):
            return R.INVALID_STATE, f"Job's node {job.allocation.slices[0].node} is not responding"
        job.state = S.RUNNING if resume else S.SUSPENDED
        await self._store_and_publish(job)
        return R.OK, ""

    async def _store_then_kill(self, job: jobs_pb2.Job) -> None:
        """A cancel or requeue of a running job: stored first (a ctld that stops before the
        kill has left kills the run again when its node registers with the next one), then
        the run killed if it is still on: one that ended meanwhile has been dealt with, and
        a next run, started meanwhile, must not be killed."""
        attempt = job.attempt
        await self._store_and_publish(job)
        if job.attempt == attempt and job.state in states.ACTIVE:
            self.comm.kill(job, self.settings.kill_grace)

    async def _store_and_publish(self, job: jobs_pb2.Job) -> None:
        rows: list[Put] = [self.table.row(job)]
        await self.store.write(rows)
        self.watchers.publish(job)


def may_release(job: jobs_pb2.Job, staff: bool) -> bool:
    """An operator's hold, and the hold after too many requeues, are for staff to release."""
    return staff or job.reason not in ("JobHeldAdmin", "JobHoldMaxRequeue")
