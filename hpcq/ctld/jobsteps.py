"""JobSteps: srun's steps inside running jobs — recorded, their remote tasks started and
signalled through NodeComm, and ended with their job."""
from __future__ import annotations

import logging

from hpcq import states
from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.ctld import steps as steprules
from hpcq.ctld.background import BackgroundWrites
from hpcq.ctld.clock import Clock
from hpcq.ctld.comm import NodeComm
from hpcq.ctld.errors import FailedPrecondition, NotFound
from hpcq.ctld.jobtable import JobTable
from hpcq.ctld.nodeset import NodeSet
from hpcq.ctld.store.writer import Store
from hpcq.ctld.watch import Watchers

log = logging.getLogger("hpcq.ctld")
S = jobs_pb2.JobState


class JobSteps:
    def __init__(self, clock: Clock, store: Store, background: BackgroundWrites, table: JobTable, nodes: NodeSet,
                 comm: NodeComm, watchers: Watchers) -> None:
        self.clock, self.store, self.background = clock, store, background
        self.table, self.nodes, self.comm, self.watchers = table, nodes, comm, watchers

    async def create(self, job: jobs_pb2.Job, request: jobs_pb2.CreateStepRequest) -> jobs_pb2.JobStep:
        """Record the next step of a running job; durable when it returns."""
        if job.state != S.RUNNING:
            raise FailedPrecondition("JOB_NOT_RUNNING", f"job {job.id} is {states.slurm_name(job.state)}, "
                                     "not running")
        step = steprules.plan(job, request, self.clock.wall())
        others = steprules.remote_nodes(step)
        down = [n for n in others if not self.nodes.connected(n)]
        if down:
            raise FailedPrecondition("STEP_NODE_DOWN", f"node(s) {','.join(down)} of job {job.id} are not connected")
        # A requeued job starts its steps again from 0, as in Slurm.
        kept = [s for s in job.steps if s.attempt == job.attempt]
        if len(kept) != len(job.steps):
            del job.steps[:]
            job.steps.extend(kept)
        job.steps.append(step)
        await self.store.write([self.table.row(job)])
        self.watchers.publish(job)
        # Looked for under its own run: the job may have ended while the record was written,
        # even started again (a requeue, a lost node); the step ended with its run then.
        ran = next((s for s in job.steps if s.step_id == step.step_id and s.attempt == step.attempt), None)
        if ran is None:
            raise FailedPrecondition("JOB_NOT_RUNNING", f"job {job.id} ended while its step was created")
        step = ran
        if step.state == S.RUNNING:
            for name in others:
                self.comm.send(name, nodes_pb2.CtldMessage(launch_step=nodes_pb2.LaunchStepTasks(
                    job=job, step=step, launch=request.launch)))
        log.info("job %d step %d: %d task(s) on %s", job.id, step.step_id, step.ntasks, ",".join(step.nodes))
        return step

    async def finish(self, job: jobs_pb2.Job, request: jobs_pb2.FinishStepRequest) -> jobs_pb2.JobStep:
        """srun's report of a step's end; a repeat, or a report after the job ended, changes nothing.
        The step is its run's (request.attempt, else the job's current run): a late report of
        a run that ended finds that run's step, ended with it, and not the new run's."""
        attempt = request.attempt or job.attempt
        step = next((s for s in job.steps if s.step_id == request.step_id and s.attempt == attempt), None)
        if step is None:
            raise NotFound("UNKNOWN_STEP", f"job {job.id} has no step {request.step_id}")
        if step.state != S.RUNNING:
            return step
        steprules.finish(step, request, self.clock.wall())
        if request.cancelled:
            self.signal_tasks(job, step, steprules.KILL)
        await self.store.write([self.table.row(job)])
        self.watchers.publish(job)
        return step

    def on_tasks_ended(self, node_name: str, ended: nodes_pb2.StepTasksEnded) -> None:
        """A node's tasks of a step ended; srun, watching the job, takes their exit statuses."""
        job = self.table.get(ended.job_id)
        step = None if job is None else next(
            (s for s in job.steps if s.step_id == ended.step_id and s.attempt == ended.attempt), None)
        if job is None or step is None or not steprules.record_remote_exits(step, node_name, ended.tasks):
            return
        self.background.write([self.table.row(job)], lambda: self.watchers.publish(job))

    def end_all(self, job: jobs_pb2.Job, end: float) -> None:
        """The job ended: its steps end with it, their tasks on other nodes too."""
        for step in job.steps:
            if step.state == S.RUNNING:
                self.signal_tasks(job, step, steprules.KILL)
        steprules.close_running(job, end)

    def signal_tasks(self, job: jobs_pb2.Job, step: jobs_pb2.JobStep, sig: int) -> None:
        for name in steprules.remote_nodes(step):
            self.comm.send(name, nodes_pb2.CtldMessage(signal_step=nodes_pb2.SignalStepTasks(
                job_id=job.id, attempt=step.attempt, step_id=step.step_id, signal=sig)))
