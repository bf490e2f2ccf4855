"""ctld's working set and every change to it.

One Controller, owned by the event loop: jobs, nodes and queues live here in memory,
every change is written through the store before anyone is told of it, and the
scheduling loop runs the pure scheduler over a snapshot of this state. Servicers and
node sessions call these methods; nothing else mutates jobs or nodes.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Iterable

from hpcq import metrics, states
from hpcq.api import admin_pb2, jobs_pb2, nodes_pb2
from hpcq.config import Config
from hpcq.ctld import jobs as jobrules
from hpcq.ctld import privileges
from hpcq.ctld import scheduler
from hpcq.ctld import steps as steprules
from hpcq.ctld.auth import AgentPolicy
from hpcq.ctld.backlog import Backlog, units as backlog_units
from hpcq.ctld.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from hpcq.ctld.nodes_state import NodeLink, NodeRecord
from hpcq.ctld.store.writer import Delete, Loaded, Put, Store
from hpcq.ctld.watch import Watchers

log = logging.getLogger("hpcq.ctld")

S = jobs_pb2.JobState
R = jobs_pb2.JobActionResult

# A quick pass considers the best-ranked pending jobs: twice as many as there are free
# CPUs (each job needs one at least), and this many at least, for jobs that cannot start.
QUICK_PASS_DEPTH = 32


def job_row(job: jobs_pb2.Job) -> Put:
    return Put("jobs", {"id": job.id, "user": job.user, "state": job.state, "queue": job.queue,
                        "name": job.spec.name, "account": job.spec.account, "submit_time": job.submit_time, "end_time": job.end_time,
                        "record": job.SerializeToString()})


class Controller:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.cluster = config.cluster.name
        self.store = store
        self.jobs: dict[int, jobs_pb2.Job] = {}
        self.queued: dict[int, scheduler.JobRequest] = {}    # PENDING jobs, as the scheduler sees them
        self.waiting: set[int] = set()                       # WAITING jobs (begin time ahead)
        self.active: set[int] = set()                        # RUNNING and COMPLETING jobs
        self.array_members: dict[int, set[int]] = {}         # array job id -> its records (tasks, and its own)
        self.backlog = Backlog()                             # unfinished jobs, as the submit limits count them
        self.usage = scheduler.Usage(half_life=config.ctld.fairshare_half_life,
                                     gpu_weight=config.ctld.fairshare_gpu_weight)
        self.licenses = {name: int(count) for name, _, count in (i.partition(":") for i in config.ctld.licenses)}
        self._usage_dirty = False
        self.shares = scheduler.Shares()
        self.nodes: dict[str, NodeRecord] = {}
        self.queues: dict[str, admin_pb2.Queue] = {}
        self.next_job_id = 1
        self.watchers = Watchers()
        self.started_at = time.time()
        self._wake = asyncio.Event()
        self._cancel_requested: set[int] = set()
        self.agent_policy = AgentPolicy(frozenset(config.ctld.agent_hosts), config.ctld.agents_may_assert_root,
                                        config.ctld.root_is_admin)
        self.passes = 0
        self.last_pass_seconds = 0.0
        self._next_due = float("inf")                        # the earliest start of a WAITING job
        # Pending jobs in the order of the last full pass, and those queued since (see run_scheduler).
        self._ranking: list[int] = []
        self._ranking_start = 0                              # ranking[:start] have all left the queue
        self._unranked: set[int] = set()

    # -- start-up ---------------------------------------------------------------------

    def load(self, loaded: Loaded) -> list[Put]:
        """Rebuild memory from the store; returns the rows a first start must create."""
        for raw in loaded.queues:
            q = admin_pb2.Queue.FromString(raw)
            self.queues[q.name] = q
        for raw in loaded.nodes:
            n = admin_pb2.Node.FromString(raw)
            self.nodes[n.name] = NodeRecord(n.name, hardware=n.hardware, reason=n.reason,
                                            drained=n.state == admin_pb2.NODE_DRAINED)
        for raw in loaded.jobs:
            job = jobs_pb2.Job.FromString(raw)
            self.jobs[job.id] = job
            self.backlog.update(job)
            if job.array_job_id:
                self.array_members.setdefault(job.array_job_id, set()).add(job.id)
            if job.state in states.QUEUED:
                self._enqueue_loaded(job)
            elif job.state in states.ACTIVE:
                self.active.add(job.id)
                for s in job.allocation.slices:
                    self._node(s.node).allocate(s.cpus, s.mem_mb, s.gpus, job.id)
        self.next_job_id = max(int(loaded.meta.get("next_job_id", "1")), max(self.jobs, default=0) + 1)
        if "shares" in loaded.meta:
            raw = json.loads(loaded.meta["shares"])
            self.shares = scheduler.Shares(accounts=raw["accounts"], users=raw["users"])
        if "usage" in loaded.meta:
            self.usage = scheduler.Usage.from_dict(json.loads(loaded.meta["usage"]),
                                                   half_life=self.config.ctld.fairshare_half_life,
                                                   gpu_weight=self.config.ctld.fairshare_gpu_weight)
        created: list[Put] = []
        if not self.queues:
            default = admin_pb2.Queue(name=self.config.ctld.default_queue, is_default=True, state=admin_pb2.Queue.UP,
                                      default_walltime_seconds=self.config.ctld.default_walltime)
            self.queues[default.name] = default
            created.append(Put("queues", {"name": default.name, "record": default.SerializeToString()}))
        log.info("loaded %d jobs (%d queued), %d nodes, %d queues; next job id %d", len(self.jobs),
                 len(self.queued), len(self.nodes), len(self.queues), self.next_job_id)
        return created

    def _enqueue_loaded(self, job: jobs_pb2.Job) -> None:
        """Queue a stored job; one whose record the scheduler cannot read (stored by an
        older ctld that let a bad dependency through) is held for an admin, not a crash."""
        try:
            self._enqueue(job)
        except (scheduler.DependencyError, ValueError) as e:
            self.queued.pop(job.id, None)
            self._unranked.discard(job.id)
            job.state, job.reason = S.HELD, "JobHeldAdmin"
            log.error("job %d held: its stored request cannot be scheduled (%s); fix or cancel it", job.id, e)

    def _node(self, name: str) -> NodeRecord:
        if name not in self.nodes:
            self.nodes[name] = NodeRecord(name)
        return self.nodes[name]

    # -- jobs: submit and queries -----------------------------------------------------

    def default_queue(self) -> admin_pb2.Queue:
        for q in self.queues.values():
            if q.is_default:
                return q
        raise InvalidArgument("UNKNOWN_QUEUE", "no queue given and no default queue is set")

    def _queue_for(self, spec: jobs_pb2.JobSpec) -> admin_pb2.Queue:
        if not spec.queue:
            return self.default_queue()
        q = self.queues.get(spec.queue)
        if q is None:
            raise InvalidArgument("UNKNOWN_QUEUE", f"queue {spec.queue!r} does not exist")
        return q

    def _check_fits(self, spec: jobs_pb2.JobSpec, queue: admin_pb2.Queue) -> None:
        """Refuse at submit what no node of the queue could ever run (when nodes are known)."""
        nodes, cpus, mem, gpus = jobrules.shape(spec)
        members = [n for n in self.nodes.values() if n.hardware.cpus and (not queue.nodes or n.name in queue.nodes)]
        if not members:
            return
        fitting = [n for n in members if n.hardware.cpus >= cpus and n.hardware.memory_mb >= mem
                   and len(n.hardware.gpus) >= gpus and set(spec.resources.features) <= set(n.hardware.features)]
        if len(fitting) < nodes:
            biggest = max(members, key=lambda n: n.hardware.cpus)
            raise InvalidArgument("TOO_BIG", f"{nodes} node(s) with {cpus} CPUs, {mem} MiB, {gpus} GPUs each "
                                  f"exceed queue {queue.name}'s nodes (largest: {biggest.hardware.cpus} CPUs, "
                                  f"{biggest.hardware.memory_mb} MiB)")

    def _admits(self, queue: admin_pb2.Queue, user: str) -> None:
        """Whether `user`'s jobs may go into `queue` (at submit, and when a job moves there)."""
        if queue.state in (admin_pb2.Queue.DRAIN, admin_pb2.Queue.INACTIVE):
            raise InvalidArgument("QUEUE_CLOSED", f"queue {queue.name} is not accepting jobs")
        if queue.allowed_users and user not in queue.allowed_users:
            raise InvalidArgument("QUEUE_ACCESS", f"user {user} may not submit to queue {queue.name}")

    def _check_licenses(self, spec: jobs_pb2.JobSpec) -> None:
        """A license the cluster does not have could never be granted (Slurm refuses it too)."""
        for name in spec.resources.licenses:
            if name not in self.licenses:
                raise InvalidArgument("BAD_LICENSE", f"resources.licenses: {name!r} is not a license of this cluster "
                                      f"([ctld] licenses: {', '.join(sorted(self.licenses)) or 'none'})")

    def _new_job(self, user: str, spec: jobs_pb2.JobSpec, now: float, staff: bool) -> jobs_pb2.Job:
        jobrules.validate(spec)
        jobrules.check_retry(spec, self.config.ctld.retry_max_attempts)
        privileges.check_spec(spec, staff)
        self._check_licenses(spec)
        queue = self._queue_for(spec)
        self._admits(queue, user)
        self._check_fits(spec, queue)
        jobrules.resolve_dependencies(spec)
        tasks = jobrules.array_tasks(spec)
        state, reason = jobrules.initial_state(spec, now)
        job = jobs_pb2.Job(spec=spec, user=user, state=state, reason=reason, submit_time=now,
                           eligible_time=max(now, spec.begin_time), walltime_seconds=jobrules.walltime(spec, queue),
                           queue=queue.name, array_tasks_pending=str(tasks) if tasks else "")
        if spec.HasField("priority"):
            job.priority, job.admin_priority_set = spec.priority, True
        return job

    async def submit(self, user: str, specs: Iterable[jobs_pb2.JobSpec], *, staff: bool = False,
                     test_only: bool = False) -> list[int]:
        """Store new jobs of `user` (an operator or admin when `staff`); their ids once durable."""
        now = time.time()
        new = [self._new_job(user, spec, now, staff) for spec in specs]
        if not new:
            raise InvalidArgument("BAD_SPEC", "specs: no job given")
        self._check_submit_limits(user, new)
        if test_only:
            return []
        for job in new:
            job.id = self.next_job_id
            self.next_job_id += 1
            if job.array_tasks_pending:
                job.array_job_id = job.id
        await self.store.write([*map(self._row, new), Put("meta", {"key": "next_job_id", "value": str(self.next_job_id)})])
        for job in new:
            self.jobs[job.id] = job
            if job.array_job_id:
                self.array_members[job.id] = {job.id}
            self._enqueue(job)
            self.watchers.publish(job)
            # DEBUG: the audit log records every submit already; one INFO line a job (its end) is enough
            log.debug("job %d submitted by %s to %s", job.id, user, job.queue)
        self.kick()
        return [job.id for job in new]

    def _check_submit_limits(self, user: str, new: list[jobs_pb2.Job]) -> None:
        """Refuse jobs beyond the cluster's, the user's or a queue's cap of unfinished jobs."""
        ctld = self.config.ctld
        backlog = self.backlog
        adding = [(job.queue, backlog_units(job)) for job in new]
        count = sum(n for _, n in adding)
        if backlog.total + count > ctld.max_pending_jobs:
            raise ResourceExhausted("MAX_JOB_COUNT", f"{backlog.total} jobs are not finished and {count} more were "
                                    f"submitted; the limit is {ctld.max_pending_jobs} (max_pending_jobs)")
        if ctld.max_submit_jobs and backlog.of_user[user] + count > ctld.max_submit_jobs:
            raise ResourceExhausted("SUBMIT_LIMIT", f"user {user} has {backlog.of_user[user]} unfinished jobs and "
                                    f"submitted {count} more; the limit is {ctld.max_submit_jobs} (max_submit_jobs)")
        per_queue: dict[str, int] = {}
        for queue, n in adding:
            per_queue[queue] = per_queue.get(queue, 0) + n
        for queue, n in per_queue.items():
            self._check_queue_submit_limit(user, self.queues[queue], n)

    def _check_queue_submit_limit(self, user: str, queue: admin_pb2.Queue, count: int) -> None:
        most = queue.max_submit_per_user
        have = self.backlog.of_user_in_queue[(user, queue.name)]
        if most and have + count > most:
            raise ResourceExhausted("SUBMIT_LIMIT", f"user {user} has {have} unfinished jobs in queue {queue.name} "
                                    f"and submitted {count} more; the queue's limit is {most} (max_submit_per_user)")

    def _row(self, job: jobs_pb2.Job, pending_tasks: int | None = None) -> Put:
        """The store row of a changed job; the backlog counts it as it now is."""
        self.backlog.update(job, pending_tasks)
        return job_row(job)

    def _enqueue(self, job: jobs_pb2.Job, reason: str = "None") -> None:
        """Put a queued job where the scheduler looks: PENDING, or WAITING for its begin time."""
        if job.state == S.HELD:
            return
        if jobrules.not_before(job) > time.time():
            job.state, job.reason = S.WAITING, "BeginTime"
            self.waiting.add(job.id)
            self._next_due = min(self._next_due, jobrules.not_before(job))
        else:
            job.state, job.reason = S.PENDING, reason
            self.waiting.discard(job.id)
            self.queued[job.id] = jobrules.request(job)
            self._unranked.add(job.id)

    def _dequeue(self, job: jobs_pb2.Job) -> None:
        self.queued.pop(job.id, None)
        self.waiting.discard(job.id)

    def get(self, job_id: int) -> jobs_pb2.Job | None:
        return self.jobs.get(job_id)

    def list(self, request: jobs_pb2.ListJobsRequest) -> list[jobs_pb2.Job]:
        return list(filter(jobrules.list_filter(request), self.jobs.values()))

    # -- jobs: actions by users -------------------------------------------------------

    async def cancel(self, job: jobs_pb2.Job, by: str) -> tuple[int, str]:
        """Cancel a job; an array's own id cancels every task of it and its pending rest."""
        if job.array_job_id == job.id and job.array_tasks_pending:
            results = [await self._cancel_one(self.jobs[i], by) for i in sorted(self.array_members[job.id])]
            return min(results)
        return await self._cancel_one(job, by)

    async def _cancel_one(self, job: jobs_pb2.Job, by: str) -> tuple[int, str]:
        if states.is_finished(job.state):
            return R.FINISHED, "job has finished"
        if job.state in states.QUEUED:
            self._dequeue(job)
            self._finish(job, S.CANCELLED, reason="None", end=time.time())
            job.cancelled_by = by
            await self.store.write([self._row(job)])
            self.watchers.publish(job)
            self.kick()
            return R.OK, ""
        job.cancelled_by = by
        self._cancel_requested.add(job.id)
        self._send_to_nodes(job, nodes_pb2.CtldMessage(kill=nodes_pb2.KillJob(
            job_id=job.id, attempt=job.attempt, grace_seconds=self.config.ctld.kill_grace)))
        return R.OK, ""

    def signal(self, job: jobs_pb2.Job, sig: int) -> tuple[int, str]:
        if job.state not in states.ACTIVE:
            return (R.FINISHED, "job has finished") if states.is_finished(job.state) \
                else (R.INVALID_STATE, "job is not running")
        self._send_to_nodes(job, nodes_pb2.CtldMessage(signal=nodes_pb2.SignalJob(
            job_id=job.id, attempt=job.attempt, signal=sig)))
        return R.OK, ""

    async def hold(self, job: jobs_pb2.Job, admin: bool) -> tuple[int, str]:
        if states.is_finished(job.state):
            return R.FINISHED, "job has finished"
        if job.state not in states.QUEUED:
            return R.INVALID_STATE, "job is not queued"
        self._dequeue(job)
        job.state, job.reason = S.HELD, "JobHeldAdmin" if admin else "JobHeldUser"
        await self._persist_and_publish(job)
        return R.OK, ""

    async def release(self, job: jobs_pb2.Job) -> tuple[int, str]:
        if states.is_finished(job.state):
            return R.FINISHED, "job has finished"
        if job.state != S.HELD:
            return R.INVALID_STATE, "job is not held"
        job.state = S.PENDING
        self._enqueue(job)
        await self._persist_and_publish(job)
        self.kick()
        return R.OK, ""

    async def update(self, job: jobs_pb2.Job, spec: jobs_pb2.JobSpec, fields: Iterable[str], *,
                     staff: bool = False) -> jobs_pb2.Job:
        """Change a queued job's spec: the same checks as a submit (validation, queue
        access and limits, privileged settings), made by the owner or by staff."""
        if job.state not in states.QUEUED:
            raise FailedPrecondition("NOT_QUEUED", f"job {job.id} is no longer queued")
        fields = list(fields)
        changed = jobs_pb2.JobSpec()
        changed.CopyFrom(job.spec)
        for path in fields:
            _copy_path(spec, changed, path)
        jobrules.validate(changed)
        jobrules.check_retry(changed, self.config.ctld.retry_max_attempts)
        privileges.check_spec(changed, staff, fields)
        self._check_licenses(changed)
        queue = self._queue_for(changed)
        if queue.name != job.queue:
            self._admits(queue, job.user)
            self._check_queue_submit_limit(job.user, queue, backlog_units(job))
        self._check_fits(changed, queue)
        if "dependencies" in fields:
            self._refuse_dependency_cycle(job.id, changed)
        updated = jobs_pb2.Job()
        updated.CopyFrom(job)
        updated.spec.CopyFrom(changed)
        updated.queue, updated.walltime_seconds = queue.name, jobrules.walltime(changed, queue)
        if "priority" in fields:
            updated.priority, updated.admin_priority_set = changed.priority, changed.HasField("priority")
        await self.store.write([self._row(updated)])
        job.CopyFrom(updated)
        if job.id in self.queued:
            self.queued[job.id] = jobrules.request(job)
        self.watchers.publish(job)
        self.kick()
        return job

    async def _persist_and_publish(self, job: jobs_pb2.Job) -> None:
        await self.store.write([self._row(job)])
        self.watchers.publish(job)

    # -- job steps: srun inside a running job -------------------------------------------

    async def create_step(self, job: jobs_pb2.Job, request: jobs_pb2.CreateStepRequest) -> jobs_pb2.JobStep:
        """Record the next step of a running job; durable when it returns."""
        if job.state != S.RUNNING:
            raise FailedPrecondition("JOB_NOT_RUNNING", f"job {job.id} is {states.slurm_name(job.state)}, "
                                     "not running")
        step = steprules.plan(job, request, time.time())
        others = steprules.remote_nodes(step)
        down = [n for n in others if n not in self.nodes or self.nodes[n].link is None]
        if down:
            raise FailedPrecondition("STEP_NODE_DOWN", f"node(s) {','.join(down)} of job {job.id} are not connected")
        # A requeued job starts its steps again from 0, as in Slurm.
        kept = [s for s in job.steps if s.attempt == job.attempt]
        if len(kept) != len(job.steps):
            del job.steps[:]
            job.steps.extend(kept)
        job.steps.append(step)
        await self._persist_and_publish(job)
        step = next(s for s in job.steps if s.step_id == step.step_id and s.attempt == job.attempt)
        if step.state == S.RUNNING:     # (the job may have ended while the record was written)
            for name in others:
                link = self.nodes[name].link
                if link is not None:
                    link.send(nodes_pb2.CtldMessage(launch_step=nodes_pb2.LaunchStepTasks(
                        job=job, step=step, launch=request.launch)))
        log.info("job %d step %d: %d task(s) on %s", job.id, step.step_id, step.ntasks, ",".join(step.nodes))
        return step

    async def finish_step(self, job: jobs_pb2.Job, request: jobs_pb2.FinishStepRequest) -> jobs_pb2.JobStep:
        """srun's report of a step's end; a repeat, or a report after the job ended, changes nothing."""
        step = next((s for s in job.steps if s.step_id == request.step_id and s.attempt == job.attempt), None)
        if step is None:
            raise NotFound("UNKNOWN_STEP", f"job {job.id} has no step {request.step_id}")
        if step.state != S.RUNNING:
            return step
        steprules.finish(step, request, time.time())
        if request.cancelled:
            self._signal_step_tasks(job, step, steprules.KILL)
        await self._persist_and_publish(job)
        return step

    def on_step_tasks_ended(self, node_name: str, ended: nodes_pb2.StepTasksEnded) -> None:
        """A node's tasks of a step ended; srun, watching the job, takes their exit statuses."""
        job = self.jobs.get(ended.job_id)
        step = None if job is None else next(
            (s for s in job.steps if s.step_id == ended.step_id and s.attempt == ended.attempt), None)
        if job is None or step is None or not steprules.record_remote_exits(step, node_name, ended.tasks):
            return
        asyncio.get_running_loop().create_task(self._persist_and_publish(job))

    def _end_steps(self, job: jobs_pb2.Job, end: float) -> None:
        """The job ended: its steps end with it, their tasks on other nodes too."""
        for step in job.steps:
            if step.state == S.RUNNING:
                self._signal_step_tasks(job, step, steprules.KILL)
        steprules.close_running(job, end)

    def _signal_step_tasks(self, job: jobs_pb2.Job, step: jobs_pb2.JobStep, sig: int) -> None:
        for name in steprules.remote_nodes(step):
            node = self.nodes.get(name)
            if node is not None and node.link is not None:
                node.link.send(nodes_pb2.CtldMessage(signal_step=nodes_pb2.SignalStepTasks(
                    job_id=job.id, attempt=step.attempt, step_id=step.step_id, signal=sig)))

    # -- scheduling -------------------------------------------------------------------

    def kick(self) -> None:
        """Something changed that may let a job start: run a pass soon."""
        self._wake.set()

    async def run_scheduler(self) -> None:
        ctld = self.config.ctld
        last_pass = time.monotonic()
        while True:
            timed = False
            try:
                # A begin time or a retry's backoff that ends before the next periodic
                # pass wakes the loop then, so the job is queued (and may start) on time.
                due = max(0.0, self._next_due - time.time())
                await asyncio.wait_for(self._wake.wait(), timeout=min(ctld.sched_interval, due))
            except TimeoutError:
                timed = True
            self._wake.clear()
            # A full pass costs O(pending). It runs every sched_interval (and when many
            # jobs came since the last one); in between, an event gets a quick pass over
            # the best-ranked jobs only, as Slurm's main scheduler does between backfill
            # passes. While every CPU is taken, an event cannot start anything: no pass.
            full = timed or time.monotonic() - last_pass >= ctld.sched_interval
            free = self._free_cpus()
            if not full and not free:
                continue
            depth: int | None = max(QUICK_PASS_DEPTH, 2 * free)
            if full or len(self._unranked) > depth:
                depth, last_pass = None, time.monotonic()
            try:
                await self.schedule_once(depth)
            except Exception:
                log.exception("scheduling pass failed")
            # Events that come during the pause share the next pass: after an expensive
            # pass (a long queue) the pause is as long, so passes take at most half of
            # ctld's time and each starts more jobs, however fast jobs end.
            await asyncio.sleep(max(ctld.sched_min_interval, self.last_pass_seconds))

    def _free_cpus(self) -> int:
        return sum(max(0, n.hardware.cpus - n.cpus_allocated) for n in self.nodes.values() if n.available)

    def snapshot(self, now: float, depth: int | None = None) -> scheduler.Snapshot:
        """What a pass sees; with `depth`, a quick pass's: only the `depth` best-ranked
        pending jobs (by the last full pass) and those queued since."""
        for job_id in [i for i in self.waiting if jobrules.not_before(self.jobs[i]) <= now]:
            self._enqueue(self.jobs[job_id])
        self._next_due = min((jobrules.not_before(self.jobs[i]) for i in self.waiting), default=float("inf"))
        ctld = self.config.ctld
        nodes = tuple(scheduler.NodeCapacity(
            name=n.name, cpus_total=n.hardware.cpus, cpus_free=n.hardware.cpus - n.cpus_allocated,
            mem_total_mb=n.hardware.memory_mb, mem_free_mb=n.hardware.memory_mb - n.mem_allocated_mb,
            gpus_total=len(n.hardware.gpus), gpus_free=len(n.hardware.gpus) - n.gpus_allocated,
            features=frozenset(n.hardware.features), idle=not n.jobs) for n in self.nodes.values() if n.available)
        queues = {q.name: scheduler.QueuePolicy(
            q.name, frozenset(q.nodes) if q.nodes else None,
            starts_jobs=q.state in (admin_pb2.Queue.UP, admin_pb2.Queue.DRAIN), priority=q.priority,
            allowed_users=frozenset(q.allowed_users) if q.allowed_users else None,
            max_running_per_user=q.max_running_per_user, max_cpus_per_user=q.max_cpus_per_user)
            for q in self.queues.values()}
        weights = scheduler.PriorityWeights(
            age=ctld.priority_weight_age, fairshare=ctld.priority_weight_fairshare,
            job_size=ctld.priority_weight_job_size, queue=ctld.priority_weight_queue,
            max_age=ctld.priority_max_age, favor_small=ctld.priority_favor_small)
        pending = tuple(self.queued.values()) if depth is None else self._best_pending(depth)
        return scheduler.Snapshot(
            pending=pending, nodes=nodes, queues=queues,
            running=tuple(jobrules.running(self.jobs[i]) for i in self.active), licenses=self.licenses,
            phases=self._dependency_phases(pending), weights=weights, usage=self.usage, shares=self.shares,
            reservations=ctld.sched_reservations,
            user_limits=scheduler.UserLimits(ctld.max_running_jobs, ctld.max_running_cpus))

    def _best_pending(self, depth: int) -> tuple[scheduler.JobRequest, ...]:
        ranking, queued = self._ranking, self.queued
        start = self._ranking_start
        while start < len(ranking) and ranking[start] not in queued:
            start += 1  # the best-ranked jobs are the first to start: skip them once for all
        self._ranking_start = start
        best = []
        for job_id in itertools.islice(ranking, start, None):
            if job_id in queued and job_id not in self._unranked:
                best.append(queued[job_id])
                if len(best) == depth:
                    break
        return (*best, *(queued[i] for i in self._unranked if i in queued))

    def _dependency_phases(self, pending: Iterable[scheduler.JobRequest]) -> dict[scheduler.Target, scheduler.Phase]:
        """Where each job that a pending job depends on stands; purged ones are left out."""
        phases = {}
        for request in pending:
            if request.dependency is None:
                continue
            for target in request.dependency.targets():
                phase = self._phase(target)
                if phase is not None:
                    phases[target] = phase
        return phases

    def _phase(self, target: scheduler.Target) -> scheduler.Phase | None:
        """Where a job, a whole array or one array task stands; None when purged."""
        def of(job: jobs_pb2.Job) -> scheduler.Phase:
            return scheduler.Phase.of_state(jobs_pb2.JobState.Name(job.state))
        members = [self.jobs[i] for i in self.array_members.get(target.job_id, ())]
        if not members:
            job = self.jobs.get(target.job_id)
            return of(job) if job is not None and target.task is None else None
        if target.task is None:
            return scheduler.Phase.combine(
                scheduler.Phase.WAITING if m.array_tasks_pending else of(m) for m in members)
        for m in members:
            if m.HasField("array_task_id") and m.array_task_id == target.task:
                return of(m)
        head = self.jobs.get(target.job_id)
        if head is not None and head.array_tasks_pending and \
                target.task in scheduler.IndexSet.parse(head.array_tasks_pending):
            return scheduler.Phase.WAITING
        return None

    def _refuse_dependency_cycle(self, job_id: int, spec: jobs_pb2.JobSpec) -> None:
        wanted = jobrules.dependencies(spec)
        if wanted is None:
            return

        def lookup(other: int) -> scheduler.Dependencies | None:
            job = self.jobs.get(other)
            return jobrules.dependencies(job.spec) if job is not None else None
        if scheduler.find_cycle(job_id, wanted, lookup):
            raise InvalidArgument("BAD_DEPENDENCY", f"dependency: job {job_id} would depend on itself")

    async def schedule_once(self, depth: int | None = None) -> int:
        """One pass: a full one, or with `depth` a quick one (see snapshot)."""
        started_at = time.perf_counter()
        now = time.time()
        decisions = scheduler.schedule(self.snapshot(now, depth), now)
        if depth is None:  # decisions come in priority order
            self._ranking, self._ranking_start = list(dict.fromkeys(d.job_id for d in decisions)), 0
            self._unranked.clear()
        starting: list[jobs_pb2.Job] = []
        abandoned: list[jobs_pb2.Job] = []
        arrays: dict[int, ArrayStarts] = {}     # arrays whose tasks start in this pass
        for d in decisions:
            job = self.jobs[d.job_id]
            if isinstance(d, scheduler.SetReason):
                job.reason, job.priority = d.reason, d.priority
                if d.reason != "DependencyNeverSatisfied" or not self._gives_up_on_dependency(job):
                    continue
                self._dequeue(job)
                self._finish(job, S.CANCELLED, reason="DependencyNeverSatisfied", end=now)
                abandoned.append(job)
            elif isinstance(d, scheduler.Reserve):
                job.planned_start_time = d.start_at
            else:
                if d.array_index is not None:
                    job = self._take_array_task(job, d.array_index, arrays)
                self._dequeue(job)
                job.state, job.reason, job.start_time, job.priority = S.RUNNING, "None", now, d.priority
                job.attempt += 1
                job.session_id = 0
                job.planned_start_time = 0.0
                del job.allocation.slices[:]
                for s in d.slices:
                    job.allocation.slices.add(node=s.node, cpus=s.cpus, mem_mb=s.mem_mb, gpus=s.gpus)
                    self.nodes[s.node].allocate(s.cpus, s.mem_mb, s.gpus, job.id)
                self.active.add(job.id)
                starting.append(job)
        changed = [a for a in arrays.values() if a.head.array_tasks_pending]   # (not taken by its last task)
        for a in changed:
            a.head.array_tasks_pending = str(a.rest.without(a.taken))
            if a.head.id in self.queued:
                self.queued[a.head.id] = jobrules.request(a.head)
        self.passes += 1
        self.last_pass_seconds = time.perf_counter() - started_at
        metrics.on_pass(self.last_pass_seconds, starting)
        if not starting and not abandoned:
            return 0
        # The allocation is durable before any node hears of it, so a restart never
        # launches a job twice: a node that already runs this attempt ignores a repeat.
        rows = [self._row(job) for job in [*starting, *abandoned]]
        rows += [self._row(a.head, pending_tasks=a.count - len(a.taken)) for a in changed]
        if changed:
            rows.append(Put("meta", {"key": "next_job_id", "value": str(self.next_job_id)}))
        await self.store.write(rows)
        for job in abandoned:
            self.watchers.publish(job)
            log.info("job %d cancelled: its dependency can never be satisfied", job.id)
        for job in starting:
            self._launch(job)
            self.watchers.publish(job)
            if job.id in self._cancel_requested:
                self._send_to_nodes(job, nodes_pb2.CtldMessage(kill=nodes_pb2.KillJob(
                    job_id=job.id, attempt=job.attempt, grace_seconds=self.config.ctld.kill_grace)))
        return len(starting)

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
            return head
        task = jobs_pb2.Job()
        task.CopyFrom(a.template())
        task.id, task.array_task_id = self.next_job_id, index
        self.next_job_id += 1
        self.jobs[task.id] = task
        self.array_members[head.id].add(task.id)
        return task

    def _gives_up_on_dependency(self, job: jobs_pb2.Job) -> bool:
        """PBS deletes such a job; Slurm keeps it pending unless kill_invalid_depend."""
        return job.spec.dialect == jobs_pb2.DIALECT_PBS or self.config.ctld.kill_invalid_depend

    def _launch(self, job: jobs_pb2.Job) -> None:
        head = self.nodes.get(job.allocation.slices[0].node)
        if head is not None and head.link is not None:
            head.link.send(nodes_pb2.CtldMessage(launch=nodes_pb2.Launch(
                job=job, cluster=self.cluster, kill_grace_seconds=self.config.ctld.kill_grace)))
        # else: the node registers again and gets the launch then (see on_register)

    def _send_to_nodes(self, job: jobs_pb2.Job, message: nodes_pb2.CtldMessage) -> None:
        if not job.allocation.slices:
            return
        head = self.nodes.get(job.allocation.slices[0].node)
        if head is not None and head.link is not None:
            head.link.send(message)

    # -- node events ------------------------------------------------------------------

    def on_register(self, register: nodes_pb2.Register, link: NodeLink) -> None:
        now = time.time()
        node = self._node(register.name)
        if node.link is not None:
            node.link.close()
        node.link, node.hardware, node.last_seen, node.boot_time = link, register.hardware, now, now
        node.down = False
        if node.reason.startswith("Not responding"):
            node.reason = ""
        asyncio.get_running_loop().create_task(self._persist_node(node))
        reported = {o.job_id: o for o in register.jobs}
        for outcome in register.jobs:
            job = self.jobs.get(outcome.job_id)
            ours = (job is not None and job.state in states.ACTIVE and job.attempt == outcome.attempt
                    and job.allocation.slices and job.allocation.slices[0].node == node.name)
            if not ours:
                # Given up on, or ended and stored: the node must not keep it.
                kind = "kill" if outcome.running else "forget"
                message = nodes_pb2.KillJob(job_id=outcome.job_id, attempt=outcome.attempt, grace_seconds=0) \
                    if outcome.running else nodes_pb2.Forget(job_id=outcome.job_id, attempt=outcome.attempt)
                link.send(nodes_pb2.CtldMessage(**{kind: message}))
            elif outcome.running:
                self.on_job_started(outcome)
            else:
                self.on_job_finished(node.name, outcome)
        for job_id in sorted(node.jobs):
            job = self.jobs[job_id]
            if job_id not in reported and job.allocation.slices[0].node == node.name:
                if job.session_id:
                    # It had started there and the node no longer knows it: lost with the node.
                    self._lose(job, now, "job lost: node restarted without it")
                else:
                    self._launch(job)
        log.info("node %s registered: %d CPUs, %d MiB, %d jobs reported", node.name, node.hardware.cpus,
                 node.hardware.memory_mb, len(register.jobs))
        self.kick()

    async def _persist_node(self, node: NodeRecord) -> None:
        await self.store.write([Put("nodes", {"name": node.name, "record": node.persistent()})])

    def on_heartbeat(self, name: str, heartbeat: nodes_pb2.Heartbeat) -> None:
        node = self.nodes.get(name)
        if node is not None:
            node.last_seen = time.time()
            node.load = heartbeat.load

    def on_disconnect(self, name: str, link: NodeLink) -> None:
        node = self.nodes.get(name)
        if node is not None and node.link is link:
            node.link = None
            log.info("node %s disconnected", name)

    def on_job_started(self, outcome: nodes_pb2.JobOutcome) -> None:
        job = self.jobs.get(outcome.job_id)
        if job is None or job.attempt != outcome.attempt or job.state not in states.ACTIVE:
            return
        if job.session_id == outcome.session_id and outcome.session_id:
            return
        job.session_id = outcome.session_id or 1
        job.start_time = outcome.start_time or job.start_time
        asyncio.get_running_loop().create_task(self._persist_and_publish(job))

    def on_job_finished(self, node_name: str, outcome: nodes_pb2.JobOutcome) -> None:
        job = self.jobs.get(outcome.job_id)
        node = self.nodes.get(node_name)
        if job is None or job.attempt != outcome.attempt or job.state not in states.ACTIVE:
            if node is not None and node.link is not None:
                node.link.send(nodes_pb2.CtldMessage(forget=nodes_pb2.Forget(job_id=outcome.job_id,
                                                                             attempt=outcome.attempt)))
            return
        cancelled = job.id in self._cancel_requested
        state = jobrules.outcome_state(cancelled, outcome.state)
        self._cancel_requested.discard(job.id)
        job.exit_code, job.signal = outcome.exit_code, outcome.signal
        job.cpu_seconds, job.max_rss_kb = outcome.cpu_seconds, outcome.max_rss_kb
        if outcome.start_time:
            job.start_time = outcome.start_time
        if outcome.session_id:  # a quick job's end may come without its start (noded coalesces them)
            job.session_id = outcome.session_id
        self._finish(job, state, reason=outcome.reason or "None", end=outcome.end_time or time.time())
        again = self._run_again(job, cancelled, time.time())
        log.info("job %d of %s ended %s (exit %d, signal %d) on %s%s", job.id, job.user,
                 jobs_pb2.JobState.Name(state), outcome.exit_code, outcome.signal, node_name,
                 f"; {again}" if again else "")
        asyncio.get_running_loop().create_task(self._store_outcome(job, node, outcome.attempt))

    async def _store_outcome(self, job: jobs_pb2.Job, node: NodeRecord | None, attempt: int) -> None:
        await self.store.write([self._row(job)])
        self.watchers.publish(job)
        if node is not None and node.link is not None:
            node.link.forget(job.id, attempt)

    def _finish(self, job: jobs_pb2.Job, state: int, *, reason: str, end: float) -> None:
        if job.id in self.active and job.start_time:
            elapsed = max(0.0, end - job.start_time)
            cpus = sum(s.cpus for s in job.allocation.slices)
            gpus = sum(s.gpus for s in job.allocation.slices)
            self.usage = self.usage.charge(job.user, job.spec.account, cpus * elapsed, gpus * elapsed, now=end)
            self._usage_dirty = True
        self.active.discard(job.id)
        job.state, job.reason, job.end_time = state, reason, end
        self._end_steps(job, end)
        for s in job.allocation.slices:
            node = self.nodes.get(s.node)
            if node is not None:
                node.release(s.cpus, s.mem_mb, s.gpus, job.id)
        self.kick()

    def _lose(self, job: jobs_pb2.Job, now: float, reason: str) -> None:
        """The job's node failed under it: NODE_FAIL, and queued again when it may be."""
        cancelled = job.id in self._cancel_requested
        self._finish(job, S.NODE_FAIL, reason=reason, end=now)
        self._cancel_requested.discard(job.id)
        again = self._run_again(job, cancelled, now)
        log.warning("job %d: %s%s", job.id, reason, f"; {again}" if again else "")
        asyncio.get_running_loop().create_task(self._persist_and_publish(job))

    def _run_again(self, job: jobs_pb2.Job, cancelled: bool, now: float) -> str:
        """After a run ended (_finish): queue the job again, held or after its backoff,
        when scheduler.after_run says so. Returns what was done, for the log ("" if nothing)."""
        ctld = self.config.ctld
        limits = scheduler.RetryLimits(backoff=ctld.retry_backoff, backoff_max=ctld.retry_backoff_max,
                                       max_batch_requeue=ctld.max_batch_requeue)
        outcome = scheduler.after_run(jobrules.run_end(job, job.state, cancelled), limits, now)
        if isinstance(outcome, scheduler.Finish):
            return ""
        job.end_time = 0.0
        if isinstance(outcome, scheduler.Hold):
            job.state, job.reason = S.HELD, outcome.reason
            return f"held ({outcome.reason}) after {job.attempt} runs"
        job.state = S.PENDING
        if outcome.at > now:
            # Eligible again only after the backoff, as a requeued Slurm job's EligibleTime.
            job.retry_time = outcome.at
            job.eligible_time = max(outcome.at, job.spec.begin_time)
        self._enqueue(job, reason=outcome.reason)
        if job.spec.retry.max_attempts > 1:
            return (f"requeued: retry {job.attempt} of {job.spec.retry.max_attempts - 1} "
                    f"in {max(0.0, outcome.at - now):.0f} s")
        return "requeued"

    # -- fair-share and explanations ---------------------------------------------------

    async def set_share(self, account: str, user: str, shares: int) -> None:
        if not account:
            raise InvalidArgument("BAD_SHARE", "share.account: empty")
        accounts = dict(self.shares.accounts)
        users = {a: dict(u) for a, u in self.shares.users.items()}
        if user:
            users.setdefault(account, {})[user] = shares
        else:
            accounts[account] = shares
        await self.store.write([Put("meta", {"key": "shares", "value": json.dumps({"accounts": accounts,
                                                                                   "users": users})})])
        self.shares = scheduler.Shares(accounts=accounts, users=users)
        self.kick()

    def share_rows(self) -> list[tuple[str, str, int, float]]:
        """(account, user, shares, decayed usage) of every configured share."""
        now = time.time()
        rows = [(a, "", n, self.usage.of_account(a, now)) for a, n in sorted(self.shares.accounts.items())]
        rows += [(a, u, n, self.usage.of_user(u, now)) for a, us in sorted(self.shares.users.items())
                 for u, n in sorted(us.items())]
        return rows

    def usage_now(self) -> tuple[dict[str, float], dict[str, float]]:
        """The decayed usage of every user and of every account, as of now."""
        current = self.usage.decay(time.time())
        return dict(current.users), dict(current.accounts)

    def explain(self, job: jobs_pb2.Job) -> scheduler.Explanation | None:
        """Why a queued job waits, from the data a pass would use now; None if it is not pending."""
        if job.id not in self.queued:
            return None
        now = time.time()
        return scheduler.explain(self.snapshot(now), now, job.id)

    async def archive_history(self, every: float = 3600.0) -> None:
        """Finished jobs older than history_days leave memory for the archive table, so
        ctld's working set stays bounded however long it runs."""
        while True:
            await self.archive_once(time.time())
            await asyncio.sleep(every)

    async def archive_once(self, now: float) -> int:
        cutoff = now - self.config.ctld.history_days * 86400
        old = [job for job in self.jobs.values() if states.is_finished(job.state) and 0 < job.end_time < cutoff
               and not (job.array_job_id and self._array_unfinished(job.array_job_id))]
        if not old:
            return 0
        changes: list[Put | Delete] = []
        for job in old:
            row = job_row(job)
            changes += [Put("jobs_archive", row.row), Delete("jobs", job.id)]
        await self.store.write(changes)
        for job in old:
            del self.jobs[job.id]
            members = self.array_members.get(job.array_job_id)
            if members is not None:
                members.discard(job.id)
                if not members:
                    del self.array_members[job.array_job_id]
        log.info("archived %d jobs that ended before %s", len(old), time.strftime("%Y-%m-%d %H:%M", time.gmtime(cutoff)))
        return len(old)

    def _array_unfinished(self, array_id: int) -> bool:
        return any(not states.is_finished(self.jobs[i].state) for i in self.array_members.get(array_id, ()))

    async def persist_usage(self, every: float = 10.0) -> None:
        """Fair-share usage survives restarts; written at most every `every` seconds."""
        while True:
            await asyncio.sleep(every)
            await self.flush_usage()

    async def flush_usage(self) -> None:
        if self._usage_dirty:
            self._usage_dirty = False
            await self.store.write([Put("meta", {"key": "usage", "value": json.dumps(self.usage.to_dict())})])

    async def watch_node_health(self) -> None:
        """Nodes silent for node_timeout go DOWN and their jobs NODE_FAIL."""
        ctld = self.config.ctld
        while True:
            await asyncio.sleep(min(ctld.heartbeat_interval, ctld.node_timeout / 4))
            now = time.time()
            for node in self.nodes.values():
                if node.down or now - node.last_seen < ctld.node_timeout:
                    continue
                node.down, node.reason = True, "Not responding"
                log.warning("node %s is DOWN: silent for %.0f s", node.name, now - node.last_seen)
                if node.link is not None:
                    node.link.close()
                    node.link = None
                for job_id in sorted(node.jobs):
                    self._lose(self.jobs[job_id], now, f"node {node.name} not responding")

    # -- admin ------------------------------------------------------------------------

    async def set_drain(self, name: str, drained: bool, reason: str) -> NodeRecord:
        node = self.nodes.get(name)
        if node is None:
            raise NotFound("UNKNOWN_NODE", f"node {name!r} does not exist")
        node.drained, node.reason = drained, (reason or "drained by admin") if drained else ""
        await self._persist_node(node)
        self.kick()
        return node

    async def remove_node(self, name: str) -> NodeRecord:
        node = self.nodes.get(name)
        if node is None:
            raise NotFound("UNKNOWN_NODE", f"node {name!r} does not exist")
        if node.jobs:
            raise FailedPrecondition("NODE_BUSY", f"node {name} still runs jobs {sorted(node.jobs)}")
        if node.link is not None:
            node.link.close()
        del self.nodes[name]
        await self.store.write([Delete("nodes", name)])
        return node

    async def put_queue(self, queue: admin_pb2.Queue, *, create: bool, fields: Iterable[str] = ()) -> admin_pb2.Queue:
        if not queue.name:
            raise InvalidArgument("BAD_QUEUE", "queue.name: empty")
        existing = self.queues.get(queue.name)
        if create and existing is not None:
            raise AlreadyExists("QUEUE_EXISTS", f"queue {queue.name} already exists")
        if not create:
            if existing is None:
                raise NotFound("UNKNOWN_QUEUE", f"queue {queue.name!r} does not exist")
            merged = admin_pb2.Queue()
            merged.CopyFrom(existing)
            for path in fields:
                _copy_path(queue, merged, path)
            queue = merged
        if queue.state == admin_pb2.Queue.STATE_UNSPECIFIED:
            queue.state = admin_pb2.Queue.UP
        changes = [Put("queues", {"name": queue.name, "record": queue.SerializeToString()})]
        if queue.is_default:
            for other in self.queues.values():
                if other.is_default and other.name != queue.name:
                    other.is_default = False
                    changes.append(Put("queues", {"name": other.name, "record": other.SerializeToString()}))
        await self.store.write(changes)
        self.queues[queue.name] = queue
        self.kick()
        return queue

    async def delete_queue(self, name: str) -> None:
        if name not in self.queues:
            raise NotFound("UNKNOWN_QUEUE", f"queue {name!r} does not exist")
        if any(j.queue == name and not states.is_finished(j.state) for j in self.jobs.values()):
            raise FailedPrecondition("QUEUE_BUSY", f"queue {name} still has jobs")
        await self.store.write([Delete("queues", name)])
        del self.queues[name]


# An array's index list longer than this is not copied into each started task's record.
LONG_INDEX_LIST = 256


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


def _copy_path(source, target, path: str) -> None:  # noqa: ANN001 - any protobuf message
    """Copy one dotted field path from one message to another (a FieldMask, by hand)."""
    head, _, rest = path.partition(".")
    if head not in source.DESCRIPTOR.fields_by_name:
        raise InvalidArgument("BAD_FIELD", f"fields: unknown field {path!r}")
    field = source.DESCRIPTOR.fields_by_name[head]
    if rest:
        _copy_path(getattr(source, head), getattr(target, head), rest)
    elif field.message_type is not None and not field.message_type.GetOptions().map_entry and \
            not field.is_repeated:
        getattr(target, head).CopyFrom(getattr(source, head))
    elif field.is_repeated:
        target.ClearField(head)
        container = getattr(target, head)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            container.update(getattr(source, head))
        elif field.message_type is not None:
            for item in getattr(source, head):
                container.add().CopyFrom(item)
        else:
            container.extend(getattr(source, head))
    else:
        setattr(target, head, getattr(source, head))
