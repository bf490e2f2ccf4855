"""The controller: ctld's rooms put together, and the actions the servicers call.

Each piece of state has one owner — JobTable (jobs and their indexes), NodeSet,
QueueSet, UsageBook — and each kind of work one room: Admission (what a submit or update
must pass), Scheduling (passes), Lifecycle (a run's end), JobSteps, NodeEvents. NodeComm
is the only way out to the nodes, Clock the only source of time, and every store write
is awaited by the call that needs it durable or handed to BackgroundWrites. All of it is
owned by one asyncio event loop: no locks.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any

from hpcq.api import admin_pb2, jobs_pb2, nodes_pb2
from hpcq.config import Config
from hpcq.ctld import jobs as jobrules
from hpcq.ctld import scheduler
from hpcq.ctld.admission import Admission
from hpcq.ctld.arraytasks import TaskTarget
from hpcq.ctld.auth import AgentPolicy
from hpcq.ctld.background import BackgroundWrites
from hpcq.ctld.backlog import Backlog
from hpcq.ctld.clock import Clock
from hpcq.ctld.comm import NodeComm
from hpcq.ctld.jobactions import ActionResult, JobActions, Target
from hpcq.ctld.jobsteps import JobSteps
from hpcq.ctld.jobtable import JobTable
from hpcq.ctld.lifecycle import Lifecycle
from hpcq.ctld.node_events import NodeEvents
from hpcq.ctld.nodes_state import NodeLink, NodeRecord
from hpcq.ctld.nodeset import NodeSet, node_row
from hpcq.ctld.notify import Notifier
from hpcq.ctld.output import OutputReads
from hpcq.ctld.queueset import QueueSet
from hpcq.ctld.scheduling import Scheduling
from hpcq.ctld.store.writer import Delete, Loaded, Put, Store
from hpcq.ctld.submitkeys import SubmitKeys
from hpcq.ctld.usagebook import UsageBook
from hpcq.ctld.watch import Watchers

log = logging.getLogger("hpcq.ctld")

S = jobs_pb2.JobState
# A periodic chore: a function or a coroutine function.
Chore = Callable[[], Coroutine[Any, Any, None] | None]


class Controller:
    def __init__(self, config: Config, store: Store, *, clock: Clock | None = None,
                 comm: NodeComm | None = None) -> None:
        settings = config.ctld
        self.config = config
        self.cluster = config.cluster.name
        self.store = store
        self.clock = clock or Clock()
        self.table = JobTable()
        self.nodeset = NodeSet()
        self.queueset = QueueSet()
        # An admin's change of a queue is checked against the queues as the change before
        # it left them: one at a time.
        self.queue_changes = asyncio.Lock()
        self.usage = UsageBook(settings)
        self.licenses = {name: int(count) for name, _, count in (i.partition(":") for i in settings.licenses)}
        self.comm = comm or NodeComm(self.nodeset.link_of)
        self.watchers = Watchers()
        self.outputs = OutputReads(self.comm)   # Jobs.Output's reads on the nodes
        self.notifier = Notifier(settings, self.cluster, self.watchers, self.table.get, self.array_records,
                                 self.clock.wall)
        self.submit_keys = SubmitKeys()
        self.background = BackgroundWrites(store)
        self.admission = Admission(settings, self.table, self.queueset, self.nodeset, self.licenses)
        self.steps = JobSteps(self.clock, store, self.background, self.table, self.nodeset, self.comm, self.watchers)
        self.lifecycle = Lifecycle(settings, self.table, self.nodeset, self.usage, self.steps, lambda: self.kick())
        self.scheduling = Scheduling(settings, self.clock, store, self.table, self.nodeset, self.queueset, self.usage,
                                     self.licenses, self.comm, self.watchers, self.cluster, self.lifecycle.finish)
        self.node_events = NodeEvents(settings, self.clock, self.background, self.table, self.nodeset, self.comm,
                                      self.watchers, self.lifecycle, self.scheduling)
        self.actions = JobActions(settings, self.clock, store, self.table, self.lifecycle, self.admission, self.comm,
                                  self.watchers, lambda: self.kick())
        self.started_at = self.clock.wall()
        self.agent_policy = AgentPolicy(frozenset(settings.agent_hosts), settings.agents_may_assert_root,
                                        settings.root_is_admin)

    # The servicers', metrics' and tests' view of the rooms.

    @property
    def jobs(self) -> dict[int, jobs_pb2.Job]:
        return self.table.jobs

    @property
    def nodes(self) -> dict[str, NodeRecord]:
        return self.nodeset.nodes

    @property
    def queues(self) -> dict[str, admin_pb2.Queue]:
        return self.queueset.queues

    @property
    def queued(self) -> dict[int, scheduler.JobRequest]:
        return self.table.queued

    @property
    def active(self) -> set[int]:
        return self.table.active

    @property
    def backlog(self) -> Backlog:
        return self.table.backlog

    @property
    def next_job_id(self) -> int:
        return self.table.next_job_id

    @property
    def shares(self) -> scheduler.Shares:
        return self.usage.shares

    @property
    def passes(self) -> int:
        return self.scheduling.passes

    @property
    def last_pass_seconds(self) -> float:
        return self.scheduling.last_pass_seconds

    # -- start-up and the loops ctld runs -----------------------------------------------------

    def load(self, loaded: Loaded) -> list[Put]:
        """Rebuild memory from the store; returns the rows a first start must create."""
        settings = self.config.ctld
        created = self.queueset.load(loaded.queues, settings.default_queue, settings.default_walltime)
        self.nodeset.load(loaded.nodes)
        for job in self.table.load(loaded.jobs, int(loaded.meta.get("next_job_id", "1")), self.clock.wall()):
            for s in job.allocation.slices:
                self.nodeset.node(s.node).allocate(s.cpus, s.mem_mb, s.gpus, job.id, s.cpu_ids, s.gpu_ids)
        self.usage.load(loaded.meta)
        self.submit_keys.load(loaded.submit_keys)
        log.info("loaded %d jobs (%d queued), %d nodes, %d queues; next job id %d", len(self.jobs),
                 len(self.queued), len(self.nodes), len(self.queues), self.next_job_id)
        return created

    def array_records(self, array_id: int) -> list[jobs_pb2.Job]:
        """Every record of an array: its started tasks' and its own."""
        return [self.table.jobs[i] for i in sorted(self.table.array_members.get(array_id, ()))]

    def kick(self) -> None:
        """Something changed that may let a job start: run a pass soon."""
        self.scheduling.kick()

    def loops(self) -> list[Coroutine[Any, Any, None]]:
        """What ctld runs beside its servicers, each for as long as it serves."""
        return [self.scheduling.run(), self.background.run(), self._every(self._health_interval(), self.check_health),
                self._every(10.0, self.flush_usage), self._every(3600.0, self._archive_now, first=True),
                self.notifier.run()]

    def _health_interval(self) -> float:
        return min(self.config.ctld.heartbeat_interval, self.config.ctld.node_timeout / 4)

    @staticmethod
    async def _every(seconds: float, work: Chore, first: bool = False) -> None:
        """Run `work` every `seconds` (at once too when `first`); a failure is logged and
        the chore tried again next time."""
        if not first:
            await asyncio.sleep(seconds)
        while True:
            try:
                await _call(work)
            except Exception:
                log.exception("%s failed", getattr(work, "__name__", work))
            await asyncio.sleep(seconds)

    async def schedule_once(self, depth: int | None = None) -> int:
        return await self.scheduling.schedule_once(depth)

    def snapshot(self, now: float, depth: int | None = None) -> scheduler.Snapshot:
        return self.scheduling.snapshot(now, depth)

    # -- jobs: submit, queries, actions -------------------------------------------------------

    async def submit(self, user: str, specs: Iterable[jobs_pb2.JobSpec], *, staff: bool = False,
                     test_only: bool = False, key_row: Callable[[list[int]], Put] | None = None) -> list[int]:
        """Store new jobs of `user` (an operator or admin when `staff`); their ids once durable.
        `key_row` makes the row of the submit's idempotency key, committed with the jobs."""
        now = self.clock.wall()
        new = self.admission.new_jobs(user, specs, now, staff)
        if test_only:
            return []
        rows = self.table.add_new(new)
        if key_row is not None:
            rows.append(key_row([job.id for job in new]))
        try:
            await self.store.write(rows)
        except Exception:
            for job in new:     # not stored: they count against no limit (their ids stay spent)
                self.table.backlog.drop(job.id)
            raise
        for job in new:
            self.table.admit(job, now)
            self.watchers.publish(job)
            # DEBUG: the audit log records every submit already; one INFO line a job (its end) is enough
            log.debug("job %d submitted by %s to %s", job.id, user, job.queue)
        self.kick()
        return [job.id for job in new]

    async def submit_keyed(self, user: str, specs: Iterable[jobs_pb2.JobSpec], key: str, *,
                           staff: bool = False) -> tuple[list[int], bool]:
        """submit() under the caller's idempotency key; a repeat of a stored submit's key
        stores nothing and answers that submit's ids (and True)."""
        async with self.submit_keys.claim(user, key) as claim:
            if claim.earlier is not None:
                return claim.earlier, True
            return await self.submit(user, specs, staff=staff, key_row=claim.row), False

    def get(self, job_id: int) -> jobs_pb2.Job | None:
        return self.table.get(job_id)

    # Cancel, hold, release, signal, requeue, suspend, resume, update (see JobActions): a
    # target is a job by id (an array's own id: the whole array) or an array task by index.

    def array_task(self, array_id: int, index: int) -> TaskTarget | None:
        return self.actions.task(array_id, index)

    async def remember_action_key(self, jobs: Sequence[jobs_pb2.Job], key: str) -> None:
        """Keep an action's key with the records it acted on, stored, so that a retry of it
        after a lost answer (or a ctld restart) is answered OK again."""
        # Not a record archived since it was acted on: its row would be stored again.
        jobs = [job for job in jobs if self.table.get(job.id) is job]
        for job in jobs:
            jobrules.remember_action_key(job, key)
        await self.store.write([self.table.row(job) for job in jobs])

    async def cancel(self, job: Target, by: str) -> ActionResult:
        return await self.actions.cancel(job, by)

    async def signal(self, job: Target, sig: int) -> ActionResult:
        return await self.actions.signal(job, sig)

    async def hold(self, job: Target, admin: bool) -> ActionResult:
        return await self.actions.hold(job, admin)

    async def release(self, job: Target, *, staff: bool = True) -> ActionResult:
        return await self.actions.release(job, staff)

    async def requeue(self, job: Target, held: bool = False) -> ActionResult:
        return await self.actions.requeue(job, held)

    async def suspend(self, job: Target) -> ActionResult:
        return await self.actions.suspend(job)

    async def resume(self, job: Target) -> ActionResult:
        return await self.actions.resume(job)

    async def update(self, job: Target, spec: jobs_pb2.JobSpec, fields: Iterable[str], *,
                     staff: bool = False) -> jobs_pb2.Job:
        return await self.actions.update(job, spec, fields, staff=staff)

    def explain(self, job: jobs_pb2.Job) -> scheduler.Explanation | None:
        return self.scheduling.explain(job)

    def live_usage(self, job: jobs_pb2.Job) -> jobs_pb2.JobUsage | None:
        """What a running job has used so far, as its first node (where its script runs)
        last measured it; None before the first heartbeat that did."""
        if job.state != S.RUNNING or not job.allocation.slices:
            return None
        node = self.nodes.get(job.allocation.slices[0].node)
        found = None if node is None else node.usage.get(job.id)
        return found if found is not None and found.attempt == job.attempt else None

    # -- job steps ----------------------------------------------------------------------------

    async def create_step(self, job: jobs_pb2.Job, request: jobs_pb2.CreateStepRequest) -> jobs_pb2.JobStep:
        return await self.steps.create(job, request)

    async def finish_step(self, job: jobs_pb2.Job, request: jobs_pb2.FinishStepRequest) -> jobs_pb2.JobStep:
        return await self.steps.finish(job, request)

    # -- what nodes say -----------------------------------------------------------------------

    def on_register(self, register: nodes_pb2.Register, link: NodeLink) -> None:
        self.node_events.on_register(register, link)

    def on_heartbeat(self, name: str, heartbeat: nodes_pb2.Heartbeat) -> None:
        self.node_events.on_heartbeat(name, heartbeat)

    def on_disconnect(self, name: str, link: NodeLink) -> None:
        self.node_events.on_disconnect(name, link)

    def on_job_started(self, outcome: nodes_pb2.JobOutcome) -> None:
        self.node_events.on_job_started(outcome)

    def on_job_finished(self, node_name: str, outcome: nodes_pb2.JobOutcome) -> None:
        self.node_events.on_job_finished(node_name, outcome)

    def on_step_tasks_ended(self, node_name: str, ended: nodes_pb2.StepTasksEnded) -> None:
        self.steps.on_tasks_ended(node_name, ended)

    def check_health(self) -> None:
        self.node_events.check_health()

    # -- fair-share ---------------------------------------------------------------------------

    async def set_share(self, account: str, user: str, shares: int) -> None:
        # Applied before its commit: a setting made meanwhile starts from this one, not
        # from the shares before it (which would drop this one).
        self.usage.shares, row = self.usage.share_set(account, user, shares)
        await self.store.write([row])
        self.kick()

    def share_rows(self) -> list[tuple[str, str, int, float]]:
        return self.usage.share_rows(self.clock.wall())

    def usage_now(self) -> tuple[dict[str, float], dict[str, float]]:
        return self.usage.usage_now(self.clock.wall())

    async def flush_usage(self) -> None:
        """Fair-share usage survives restarts: written when it changed."""
        row = self.usage.usage_row()
        if row is not None:
            await self.store.write([row])

    # -- history ------------------------------------------------------------------------------

    async def _archive_now(self) -> None:
        await self.archive_once(self.clock.wall())

    async def archive_once(self, now: float) -> int:
        """Finished jobs older than history_days leave memory for the archive table, so
        ctld's working set stays bounded however long it runs."""
        cutoff = now - self.config.ctld.history_days * 86400
        old = self.table.archivable(cutoff)
        if not old:
            return 0
        changes: list[Put | Delete] = []
        for job in old:
            row = self.table.row(job)
            changes += [Put("jobs_archive", row.row), Delete("jobs", job.id)]
        changes += self.submit_keys.forget(job.id for job in old)
        self.table.forget(old)      # before the commit: nothing may requeue them meanwhile
        await self.store.write(changes)
        log.info("archived %d jobs that ended before %s", len(old),
                 time.strftime("%Y-%m-%d %H:%M", time.gmtime(cutoff)))
        return len(old)

    # -- admin --------------------------------------------------------------------------------

    async def set_drain(self, name: str, drained: bool, reason: str) -> NodeRecord:
        node = self.nodeset.set_drain(name, drained, reason)
        await self.store.write([node_row(node)])
        self.kick()
        return node

    async def remove_node(self, name: str) -> NodeRecord:
        node = self.nodeset.check_removable(name)
        await self.store.write([self.nodeset.remove(name)])
        return node

    async def put_queue(self, queue: admin_pb2.Queue, *, create: bool, fields: Iterable[str] = ()) -> admin_pb2.Queue:
        async with self.queue_changes:
            queue, rows = self.queueset.put(queue, create=create, fields=fields)
            await self.store.write(rows)
            self.queueset.apply(queue)
        self.kick()
        return queue

    async def delete_queue(self, name: str) -> None:
        async with self.queue_changes:
            queue, row = self.queueset.take_out(name, busy=self.table.backlog.in_queue(name))
            try:
                await self.store.write([row])
            except BaseException:
                self.queueset.put_back(queue)
                raise


async def _call(work: Chore) -> None:
    result = work()
    if asyncio.iscoroutine(result):
        await result
