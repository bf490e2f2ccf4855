"""Lifecycle: the end of a job's run — its resources given back, its usage charged, its
steps ended — and whether it runs again (requeue, retry with backoff, or a hold)."""
from __future__ import annotations

from collections.abc import Callable

from hpcq.api import jobs_pb2
from hpcq.config import CtldSection
from hpcq.ctld import jobs as jobrules
from hpcq.ctld import scheduler
from hpcq.ctld.jobsteps import JobSteps
from hpcq.ctld.jobtable import JobTable
from hpcq.ctld.nodeset import NodeSet
from hpcq.ctld.usagebook import UsageBook

S = jobs_pb2.JobState


class Lifecycle:
    def __init__(self, settings: CtldSection, table: JobTable, nodes: NodeSet, usage: UsageBook, steps: JobSteps,
                 kick: Callable[[], None]) -> None:
        self.settings, self.table, self.nodes, self.usage, self.steps = settings, table, nodes, usage, steps
        self._kick = kick

    def finish(self, job: jobs_pb2.Job, state: jobs_pb2.JobState, reason: str, end: float) -> None:
        """The job (or this run of it) ended in `state` at `end`."""
        table = self.table
        if job.id in table.active and job.start_time:
            self.usage.charge(job, end)
        table.active.discard(job.id)
        job.state, job.reason, job.end_time = state, reason, end
        self.steps.end_all(job, end)
        for s in job.allocation.slices:
            node = self.nodes.get(s.node)
            if node is not None:
                node.release(s.cpus, s.mem_mb, s.gpus, job.id)
        self._kick()

    def run_ended(self, job: jobs_pb2.Job, state: jobs_pb2.JobState, reason: str, end: float,
                  now: float) -> tuple[jobs_pb2.JobState, str]:
        """A run ended as its node reports (or as the node's loss implies): finish it and
        queue it again when it may run again. The state the run ended in, and what was
        done next, for the log ("" if nothing)."""
        cancelled = job.id in self.table.cancel_requested
        self.table.cancel_requested.discard(job.id)
        requeue_held = job.requeue_held if job.HasField("requeue_held") else None
        job.ClearField("requeue_held")
        ended = jobrules.outcome_state(cancelled, state)
        self.finish(job, ended, reason, end)
        return ended, self._run_again(job, cancelled, now, requeue_held)

    def requeue_finished(self, job: jobs_pb2.Job, held: bool, now: float) -> str:
        """A finished job somebody requeued (scontrol requeue, qrerun): queued again (held
        with `held`) as if its run had just ended so; what was done, for the log."""
        job.cancelled_by = ""
        return self._run_again(job, False, now, held)

    def _run_again(self, job: jobs_pb2.Job, cancelled: bool, now: float, requeue_held: bool | None = None) -> str:
        """`requeue_held`: None, or somebody asked for a requeue (held, or not)."""
        settings = self.settings
        limits = scheduler.RetryLimits(backoff=settings.retry_backoff, backoff_max=settings.retry_backoff_max,
                                       max_batch_requeue=settings.max_batch_requeue)
        outcome = scheduler.after_run(jobrules.run_end(job, job.state, cancelled, requeue_held), limits, now)
        if isinstance(outcome, scheduler.Finish):
            return ""
        if job.start_time:
            jobrules.keep_run(job)
        job.end_time = 0.0
        if isinstance(outcome, scheduler.Hold):
            job.state, job.reason = S.HELD, outcome.reason
            return f"held ({outcome.reason}) after {job.attempt} runs"
        job.state = S.PENDING
        if outcome.at > now:
            # Eligible again only after the backoff, as a requeued Slurm job's EligibleTime.
            job.retry_time = outcome.at
            job.eligible_time = max(outcome.at, job.spec.begin_time)
        self.table.enqueue(job, now, reason=outcome.reason)
        if job.spec.retry.max_attempts > 1:
            return (f"requeued: retry {job.attempt} of {job.spec.retry.max_attempts - 1} "
                    f"in {max(0.0, outcome.at - now):.0f} s")
        return "requeued"
