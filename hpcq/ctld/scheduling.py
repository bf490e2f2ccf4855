"""Scheduling: when passes run, what a pass sees, and applying what it decided.

The pure scheduler (`ctld/scheduler/`) decides from a snapshot; this room builds the
snapshot from the job table, the nodes and the queues, applies the decisions (allocations
stored before any node hears of them) and launches through NodeComm.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable

from hpcq import metrics, states
from hpcq.api import jobs_pb2
from hpcq.config import CtldSection
from hpcq.ctld import jobs as jobrules
from hpcq.ctld import scheduler
from hpcq.ctld.clock import Clock
from hpcq.ctld.comm import NodeComm
from hpcq.ctld.jobtable import JobTable
from hpcq.ctld.nodeset import NodeSet
from hpcq.ctld.queueset import QueueSet
from hpcq.ctld.store.writer import Store
from hpcq.ctld.usagebook import UsageBook
from hpcq.ctld.watch import Watchers

log = logging.getLogger("hpcq.ctld")
S = jobs_pb2.JobState

# A quick pass considers the best-ranked pending jobs: twice as many as there are free
# CPUs (each job needs one at least), and this many at least, for jobs that cannot start.
QUICK_PASS_DEPTH = 32
# An array's index list longer than this is not copied into each started task's record.
LONG_INDEX_LIST = 256

Finish = Callable[[jobs_pb2.Job, jobs_pb2.JobState, str, float], None]      # (job, state, reason, end)


class Scheduling:
    def __init__(self, settings: CtldSection, clock: Clock, store: Store, table: JobTable, nodes: NodeSet,
                 queues: QueueSet, usage: UsageBook, licenses: dict[str, int], comm: NodeComm, watchers: Watchers,
                 cluster: str, finish: Finish) -> None:
        self.settings, self.clock, self.store = settings, clock, store
        self.table, self.nodes, self.queues, self.usage = table, nodes, queues, usage
        self.licenses, self.comm, self.watchers, self.cluster = licenses, comm, watchers, cluster
        self._finish = finish
        self._wake = asyncio.Event()
        self.passes = 0
        self.last_pass_seconds = 0.0
        # Jobs a pass has started whose rows it is committing: the pass launches them once
        # committed, and nothing else may (a node registering meanwhile).
        self.committing: set[int] = set()

    def kick(self) -> None:
        """Something changed that may let a job start: run a pass soon."""
        self._wake.set()

    async def run(self) -> None:
        settings, clock, table = self.settings, self.clock, self.table
        last_pass = clock.monotonic()
        while True:
            timed = False
            try:
                # A begin time or a retry's backoff that ends before the next periodic
                # pass wakes the loop then, so the job is queued (and may start) on time.
                due = max(0.0, table.next_due - clock.wall())
                await asyncio.wait_for(self._wake.wait(), timeout=min(settings.sched_interval, due))
            except TimeoutError:
                timed = True
            self._wake.clear()
            # A full pass costs O(pending). It runs every sched_interval (and when many
            # jobs came since the last one); in between, an event gets a quick pass over
            # the best-ranked jobs only, as Slurm's main scheduler does between backfill
            # passes. While every CPU is taken, an event cannot start anything: no pass.
            full = timed or clock.monotonic() - last_pass >= settings.sched_interval
            free = self.nodes.free_cpus()
            if not full and not free:
                continue
            quick_depth = max(QUICK_PASS_DEPTH, 2 * free)
            depth: int | None = quick_depth
            if full or len(table.unranked) > quick_depth:
                depth, last_pass = None, clock.monotonic()
            try:
                await self.schedule_once(depth)
            except Exception:
                log.exception("scheduling pass failed")
            # Events that come during the pause share the next pass: after an expensive
            # pass (a long queue) the pause is as long, so passes take at most half of
            # ctld's time and each starts more jobs, however fast jobs end.
            await asyncio.sleep(max(settings.sched_min_interval, self.last_pass_seconds))

    def snapshot(self, now: float, depth: int | None = None) -> scheduler.Snapshot:
        """What a pass sees; with `depth`, a quick pass's: only the `depth` best-ranked
        pending jobs (by the last full pass) and those queued since. Changes nothing: the
        callers first let the waiting jobs whose time has come into the queue."""
        s = self.settings
        weights = scheduler.PriorityWeights(
            age=s.priority_weight_age, fairshare=s.priority_weight_fairshare, job_size=s.priority_weight_job_size,
            queue=s.priority_weight_queue, max_age=s.priority_max_age, favor_small=s.priority_favor_small)
        pending = tuple(self.table.queued.values()) if depth is None else self._best_pending(depth)
        return scheduler.Snapshot(
            pending=pending, nodes=self.nodes.capacities(), queues=self.queues.policies(),
            running=tuple(jobrules.running(self.table.jobs[i]) for i in self.table.active), licenses=self.licenses,
            phases=self.table.dependency_phases(pending), weights=weights, usage=self.usage.usage,
            shares=self.usage.shares, reservations=s.sched_reservations,
            user_limits=scheduler.UserLimits(s.max_running_jobs, s.max_running_cpus))

    def _best_pending(self, depth: int) -> tuple[scheduler.JobRequest, ...]:
        table = self.table
        ranking, queued = table.ranking, table.queued
        start = table.ranking_start
        while start < len(ranking) and ranking[start] not in queued:
            start += 1  # the best-ranked jobs are the first to start: skip them once for all
        table.ranking_start = start
        best = []
        for job_id in itertools.islice(ranking, start, None):
            if job_id in queued and job_id not in table.unranked:
                best.append(queued[job_id])
                if len(best) == depth:
                    break
        return (*best, *(queued[i] for i in table.unranked if i in queued))

    def explain(self, job: jobs_pb2.Job) -> scheduler.Explanation | None:
        """Why a queued job waits, from the data a pass would use now; None if it is not pending."""
        if job.id not in self.table.queued:
            return None
        now = self.clock.wall()
        self._release_due(now)
        return scheduler.explain(self.snapshot(now), now, job.id)

    async def schedule_once(self, depth: int | None = None) -> int:
        """One pass: a full one, or with `depth` a quick one (see snapshot)."""
        started_at = time.perf_counter()
        table = self.table
        now = self.clock.wall()
        self._release_due(now)
        decisions = scheduler.schedule(self.snapshot(now, depth), now)
        if depth is None:  # decisions come in priority order
            table.ranking, table.ranking_start = list(dict.fromkeys(d.job_id for d in decisions)), 0
            table.unranked.clear()
        starting: list[jobs_pb2.Job] = []
        abandoned: list[jobs_pb2.Job] = []
        arrays: dict[int, ArrayStarts] = {}     # arrays whose tasks start in this pass
        for d in decisions:
            job = table.jobs[d.job_id]
            if isinstance(d, scheduler.SetReason):
                if job.reason != d.reason or job.priority != d.priority:
                    job.reason, job.priority = d.reason, d.priority
                    self.watchers.decided(job)
                if d.reason != "DependencyNeverSatisfied" or not self._gives_up_on_dependency(job):
                    continue
                table.dequeue(job)
                self._finish(job, S.CANCELLED, "DependencyNeverSatisfied", now)
                abandoned.append(job)
            elif isinstance(d, scheduler.Reserve):
                if job.planned_start_time != d.start_at:
                    job.planned_start_time = d.start_at
                    self.watchers.decided(job)
            else:
                if d.array_index is not None:
                    job = self._take_array_task(job, d.array_index, arrays)
                self._start(job, d, now)
                starting.append(job)
        changed = [a for a in arrays.values() if a.head.array_tasks_pending]   # (not taken by its last task)
        for a in changed:
            a.head.array_tasks_pending = str(a.rest.without(a.taken))
            table.requeue_request(a.head)
            self.watchers.decided(a.head)
        self.passes += 1
        self.last_pass_seconds = time.perf_counter() - started_at
        metrics.on_pass(self.last_pass_seconds, starting)
        if not starting and not abandoned:
            return 0
        # The allocation is durable before any node hears of it, so a restart never
        # launches a job twice: a node that already runs this attempt ignores a repeat.
        rows = [table.row(job) for job in [*starting, *abandoned]]
        rows += [table.row(a.head, pending_tasks=a.count - len(a.taken)) for a in changed]
        if arrays:   # tasks given ids of their own (even when the last took over its array's record)
            rows.append(table.next_id_row())
        ids = [job.id for job in starting]
        self.committing.update(ids)
        try:
            await self.store.write(rows)
        finally:
            self.committing.difference_update(ids)
        for job in abandoned:
            self.watchers.publish(job)
            log.info("job %d cancelled: its dependency can never be satisfied", job.id)
        for job in starting:
            self.watchers.publish(job)
            if job.state in states.ACTIVE:   # (not ended during the commit: lost with its node, released)
                self.launch(job)
        return len(starting)

    def _release_due(self, now: float) -> None:
        for job in self.table.release_due(now):
            self.watchers.decided(job)

    def _start(self, job: jobs_pb2.Job, d: scheduler.Start, now: float) -> None:
        self.table.dequeue(job)
        job.state, job.reason, job.start_time, job.priority = S.RUNNING, "None", now, d.priority
        job.attempt += 1
        job.session_id = 0
        job.planned_start_time = 0.0
        del job.allocation.slices[:]
        for s in d.slices:
            job.allocation.slices.add(node=s.node, cpus=s.cpus, mem_mb=s.mem_mb, gpus=s.gpus, cpu_ids=s.cpu_ids,
                                      gpu_ids=s.gpu_ids)
            self.nodes.node(s.node).allocate(s.cpus, s.mem_mb, s.gpus, job.id, s.cpu_ids, s.gpu_ids)
        self.table.active.add(job.id)

    def launch(self, job: jobs_pb2.Job) -> None:
        """Send the job to its head node (a node not connected gets it when it registers,
        once its start is stored), and then what was asked of this run since it started: the
        node did not have the run when that was sent (the pass was committing its start, or
        the node lost the launch and what followed it with its stream)."""
        self.comm.launch(job, self.cluster, self.settings.kill_grace)
        if job.id in self.table.cancel_requested or job.HasField("requeue_held"):
            self.comm.kill(job, self.settings.kill_grace)
        elif job.state == S.SUSPENDED:
            self.comm.suspend(job, resume=False)

    def _take_array_task(self, head: jobs_pb2.Job, index: int, arrays: dict[int, ArrayStarts]) -> jobs_pb2.Job:
        """The record task `index` of an array runs as: a new one (with its own id), or,
        for the last task to start, the array's own record (as Slurm does). The array's
        pending rest is written once at the end of the pass (schedule_once), not per task:
        an index list can be long."""
        a = arrays.get(head.id)
        if a is None:
            a = arrays[head.id] = ArrayStarts(head)
        a.taken.append(index)
        if len(a.taken) == a.count:
            head.array_tasks_pending = ""
            head.array_task_id = index
            self.table.index_task(head)
            return head
        return self.table.add_task(head, a.template(), index)

    def _gives_up_on_dependency(self, job: jobs_pb2.Job) -> bool:
        """PBS deletes such a job; Slurm keeps it pending unless kill_invalid_depend."""
        return job.spec.dialect == jobs_pb2.DIALECT_PBS or self.settings.kill_invalid_depend


class ArrayStarts:
    """The tasks of one array that a pass starts: its pending rest parsed once, and the
    record each new task copies (the array's own, less the index lists)."""

    def __init__(self, head: jobs_pb2.Job) -> None:
        self.head = head
        self.rest = scheduler.IndexSet.parse(head.array_tasks_pending)
        self.count = len(self.rest)
        self.taken: list[int] = []
        self._template: jobs_pb2.Job | None = None

    def template(self) -> jobs_pb2.Job:
        if self._template is None:
            t = self._template = jobs_pb2.Job()
            t.CopyFrom(self.head)
            t.array_tasks_pending = ""
            array = t.spec.array
            if len(array.tasks) > LONG_INDEX_LIST:
                every = scheduler.IndexSet.parse(array.tasks)
                array.tasks, array.task_count = f"{every.first()}-{every.last()}", len(every)
        return self._template
