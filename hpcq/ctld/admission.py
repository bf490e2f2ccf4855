"""What a submit or an update must pass before anything is stored: the spec's own checks,
privileged settings, the queue's access and the nodes' sizes, licenses, and the caps of
unfinished work (cluster, user, queue). Nothing here changes state."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from hpcq import confinement, states
from hpcq.api import admin_pb2, jobs_pb2
from hpcq.config import CtldSection
from hpcq.ctld import jobs as jobrules
from hpcq.ctld import privileges
from hpcq.ctld.backlog import units
from hpcq.ctld.errors import FailedPrecondition, InvalidArgument, PermissionDenied, ResourceExhausted
from hpcq.ctld.fieldpaths import copy_path
from hpcq.ctld.jobtable import JobTable
from hpcq.ctld.nodeset import NodeSet
from hpcq.ctld.queueset import QueueSet
from hpcq.indexset import IndexSet


class Admission:
    def __init__(self, settings: CtldSection, table: JobTable, queues: QueueSet, nodes: NodeSet,
                 licenses: Mapping[str, int]) -> None:
        self.settings = settings
        self.table = table
        self.queues = queues
        self.nodes = nodes
        self.licenses = licenses

    def new_jobs(self, user: str, specs: Iterable[jobs_pb2.JobSpec], now: float, staff: bool) -> list[jobs_pb2.Job]:
        """The records `specs` become, or the first refusal."""
        new = [self._new_job(user, spec, now, staff) for spec in specs]
        if not new:
            raise InvalidArgument("BAD_SPEC", "specs: no job given")
        self._check_submit_limits(user, new)
        return new

    def _new_job(self, user: str, spec: jobs_pb2.JobSpec, now: float, staff: bool) -> jobs_pb2.Job:
        jobrules.validate(spec)
        jobrules.check_retry(spec, self.settings.retry_max_attempts)
        privileges.check_spec(spec, staff)
        self._check_licenses(spec)
        queue = self.queues.for_spec(spec)
        self.queues.admits(queue, user)
        if jobrules.asks_memory(spec.resources):
            self._check_memory_enforced(queue)
        spec = self._with_default_memory(spec, queue)
        self._check_fits(spec, queue)
        jobrules.resolve_dependencies(spec)
        tasks = jobrules.array_tasks(spec)
        if tasks:
            self._check_array_size(spec, tasks)
        state, reason = jobrules.initial_state(spec, now)
        job = jobs_pb2.Job(spec=spec, user=user, state=state, reason=reason, submit_time=now,
                           eligible_time=max(now, spec.begin_time), walltime_seconds=jobrules.walltime(spec, queue),
                           queue=queue.name, array_tasks_pending=str(tasks) if tasks else "")
        if spec.HasField("priority"):
            job.priority, job.admin_priority_set = spec.priority, True
        return job

    def updated(self, job: jobs_pb2.Job, spec: jobs_pb2.JobSpec, fields: list[str], staff: bool) -> jobs_pb2.Job:
        """A queued job as an update would leave it (a copy): the same checks as a submit."""
        if job.state not in states.QUEUED:
            raise FailedPrecondition("NOT_QUEUED", f"Job is no longer pending execution: job {job.id} has started")
        changed = jobs_pb2.JobSpec()
        changed.CopyFrom(job.spec)
        for path in fields:
            copy_path(spec, changed, path)
        if "dependencies" in fields:
            self._dependencies_changed(changed, from_text=not spec.dependencies and "attributes" in fields)
        jobrules.validate(changed)
        jobrules.check_retry(changed, self.settings.retry_max_attempts)
        privileges.check_spec(changed, staff, fields)
        self._check_licenses(changed)
        queue = self.queues.for_spec(changed)
        if queue.name != job.queue:
            self.queues.admits(queue, job.user)
            self._check_queue_submit_limit(job.user, queue, units(job))
        if any(p.startswith("resources.mem_") for p in fields) and jobrules.asks_memory(changed.resources):
            self._check_memory_enforced(queue)
        changed = self._with_default_memory(changed, queue)
        self._check_fits(changed, queue)
        if "dependencies" in fields:
            self.table.refuse_dependency_cycle(job.id, changed)
        updated = jobs_pb2.Job()
        updated.CopyFrom(job)
        updated.spec.CopyFrom(changed)
        updated.queue, updated.walltime_seconds = queue.name, jobrules.walltime(changed, queue)
        if "walltime_seconds" in fields and updated.walltime_seconds > job.walltime_seconds and not staff:
            # As Slurm: a user may lower a job's time limit, only staff may raise it.
            raise PermissionDenied("PRIVILEGED", f"Access/permission denied: only operators and administrators "
                                   f"may raise job {job.id}'s time limit ({job.walltime_seconds} s)")
        if "priority" in fields:
            updated.priority, updated.admin_priority_set = changed.priority, changed.HasField("priority")
        return updated

    def _dependencies_changed(self, changed: jobs_pb2.JobSpec, from_text: bool) -> None:
        """New dependencies, given structured or (`from_text`) as a shim's text in the
        attributes, read as at submit; each job they name must be known (Slurm: "Job
        dependency problem")."""
        if from_text:
            changed.dependency_any = False
            jobrules.resolve_dependencies(changed)
        for d in changed.dependencies:
            for job_id in [*d.job_ids, *(t.array_job_id for t in d.tasks)]:
                if self.table.get(job_id) is None:
                    raise InvalidArgument("BAD_DEPENDENCY", f"dependency: job {job_id} does not exist")

    def _check_array_size(self, spec: jobs_pb2.JobSpec, tasks: IndexSet) -> None:
        """[ctld] max_array_size in each dialect's sense: Slurm's MaxArraySize bounds the
        indices (below it), PBS's max_array_size the number of subjobs."""
        limit = self.settings.max_array_size
        if spec.dialect == jobs_pb2.DIALECT_PBS:
            if len(tasks) > limit:
                raise InvalidArgument("BAD_ARRAY", f"array: {len(tasks)} subjobs, more than this cluster allows "
                                                   f"({limit}, [ctld] max_array_size)")
        elif tasks.last() >= limit:
            raise InvalidArgument("BAD_ARRAY", f"array: index {tasks.last()} is beyond the largest this cluster "
                                               f"allows ({limit - 1}, [ctld] max_array_size)")

    def _check_licenses(self, spec: jobs_pb2.JobSpec) -> None:
        """A license the cluster does not have could never be granted (Slurm refuses it too)."""
        for name in spec.resources.licenses:
            if name not in self.licenses:
                raise InvalidArgument("BAD_LICENSE", f"resources.licenses: {name!r} is not a license of this cluster "
                                      f"([ctld] licenses: {', '.join(sorted(self.licenses)) or 'none'})")

    def _with_default_memory(self, spec: jobs_pb2.JobSpec, queue: admin_pb2.Queue) -> jobs_pb2.JobSpec:
        """A spec that asks for no memory gets the queue's, else the cluster's, memory per
        CPU (Slurm's DefMemPerCPU), so that it is allocated, limited and shown as asked."""
        default = queue.default_mem_per_cpu_mb or self.settings.default_mem_per_cpu
        if not default or jobrules.asks_memory(spec.resources):
            return spec
        given = jobs_pb2.JobSpec()
        given.CopyFrom(spec)
        given.resources.mem_per_cpu_mb = default
        return given

    def _check_memory_enforced(self, queue: admin_pb2.Queue) -> None:
        """With [ctld] require_memory_enforcement, a memory request is refused where no node
        of the queue would hold the job to it."""
        if not self.settings.require_memory_enforcement:
            return
        members = [n for n in self.nodes if not queue.nodes or n.name in queue.nodes]
        if not any(confinement.enforces_memory(n.hardware.enforcement) for n in members):
            kinds = sorted({confinement.kind(n.hardware.enforcement) for n in members if n.hardware.cpus})
            raise InvalidArgument("TOO_BIG", f"Memory specification can not be satisfied: no node of queue "
                                  f"{queue.name} enforces memory limits (theirs: {', '.join(kinds) or 'no node'}) "
                                  "and [ctld] require_memory_enforcement is set")

    def _check_fits(self, spec: jobs_pb2.JobSpec, queue: admin_pb2.Queue) -> None:
        """Refuse at submit what no node of the queue could ever run (when nodes are known)."""
        nodes, cpus, mem, gpus = jobrules.shape(spec)
        members = [n for n in self.nodes if n.hardware.cpus and (not queue.nodes or n.name in queue.nodes)]
        if not members:
            return
        fitting = [n for n in members if n.hardware.cpus >= cpus and n.hardware.memory_mb >= mem
                   and len(n.hardware.gpus) >= gpus and set(spec.resources.features) <= set(n.hardware.features)]
        if len(fitting) < nodes:
            biggest = max(members, key=lambda n: n.hardware.cpus)
            raise InvalidArgument("TOO_BIG", f"{nodes} node(s) with {cpus} CPUs, {mem} MiB, {gpus} GPUs each "
                                  f"exceed queue {queue.name}'s nodes (largest: {biggest.hardware.cpus} CPUs, "
                                  f"{biggest.hardware.memory_mb} MiB)")

    def _check_submit_limits(self, user: str, new: list[jobs_pb2.Job]) -> None:
        """Refuse jobs beyond the cluster's, the user's or a queue's cap of unfinished jobs."""
        settings, backlog = self.settings, self.table.backlog
        adding = [(job.queue, units(job)) for job in new]
        count = sum(n for _, n in adding)
        if backlog.total + count > settings.max_pending_jobs:
            raise ResourceExhausted("MAX_JOB_COUNT", f"{backlog.total} jobs are not finished and {count} more were "
                                    f"submitted; the limit is {settings.max_pending_jobs} (max_pending_jobs)")
        if settings.max_submit_jobs and backlog.of_user[user] + count > settings.max_submit_jobs:
            raise ResourceExhausted("SUBMIT_LIMIT", f"user {user} has {backlog.of_user[user]} unfinished jobs and "
                                    f"submitted {count} more; the limit is {settings.max_submit_jobs} "
                                    "(max_submit_jobs)")
        per_queue: dict[str, int] = {}
        for queue, n in adding:
            per_queue[queue] = per_queue.get(queue, 0) + n
        for queue, n in per_queue.items():
            self._check_queue_submit_limit(user, self.queues.queues[queue], n)

    def _check_queue_submit_limit(self, user: str, queue: admin_pb2.Queue, count: int) -> None:
        most = queue.max_submit_per_user
        have = self.table.backlog.of_user_in_queue[(user, queue.name)]
        if most and have + count > most:
            raise ResourceExhausted("SUBMIT_LIMIT", f"user {user} has {have} unfinished jobs in queue {queue.name} "
                                    f"and submitted {count} more; the queue's limit is {most} (max_submit_per_user)")
