"""From a submitted JobSpec to a job record: defaults, validation, the scheduler's view."""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable

from hpcq import states
from hpcq.api import admin_pb2, jobs_pb2
from hpcq.ctld import fieldpaths, scheduler
from hpcq.ctld.errors import InvalidArgument
from hpcq.ctld.scheduler import dependencies as deps

S = jobs_pb2.JobState

MAX_SCRIPT_BYTES = 4 * 1024 * 1024
MAX_NAME = 256
# Shell names, and bash's exported functions (`export -f f` sends BASH_FUNC_f%%), which
# Lmod's `module` and RHEL's `which` put into nearly every environment and which Slurm and
# PBS pass on. A function's name is printable ASCII without the characters that would
# make it a path, an assignment or a list separator (qstat's Variable_List).
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|BASH_FUNC_[^\x00-\x20\x7f-\U0010ffff=/%$'\"\\`,]+%%")
MAX_ENVIRONMENT_BYTES = 1024 * 1024
# The script and the environment at their limits, and a MiB for everything else.
MAX_SPEC_BYTES = MAX_SCRIPT_BYTES + MAX_ENVIRONMENT_BYTES + 1024 * 1024
MAX_TIME = 253_402_300_799.0        # 9999-12-31T23:59:59Z: the last time every command can print
MAX_BACKOFF = 365 * 86400.0
MAX_SIGNAL = 64
MAX_SIGNAL_SECONDS = 0xFFFF
# Earlier runs kept on a job's record (Job.runs): a job requeued without end keeps the last ones.
MAX_KEPT_RUNS = 16
# Action keys kept on a job's record (Job.action_keys): a client retries one action at a time.
MAX_ACTION_KEYS = 8
MAX_CPUS_PER_NODE = 10_000_000
MAX_MEM_MB = 2**40                  # an exbibyte per node
# Per request: building a job costs ctld's one event loop ~50 µs, an id one answer and
# one audit entry; a request must not stall every other caller for long.
MAX_SPECS_PER_SUBMIT = 10_000
MAX_JOB_IDS = 100_000
RESOURCE_LIMITS = {"nodes": 100_000, "tasks": 10_000_000, "tasks_per_node": MAX_CPUS_PER_NODE,
                   "cpus_per_task": 100_000, "mem_per_node_mb": MAX_MEM_MB, "mem_per_cpu_mb": MAX_MEM_MB,
                   "gpus_per_node": 100_000}


def shape(spec: jobs_pb2.JobSpec) -> tuple[int, int, int, int]:
    """(nodes, cpus per node, memory per node in MiB, gpus per node) a spec asks for."""
    return resources_shape(spec.resources)


def asks_memory(r: jobs_pb2.Resources) -> bool:
    return bool(r.mem_per_node_mb or r.mem_per_cpu_mb)


def resources_shape(r: jobs_pb2.Resources) -> tuple[int, int, int, int]:
    nodes = max(1, r.nodes)
    tasks = r.tasks or (r.tasks_per_node * nodes if r.tasks_per_node else nodes)
    tasks_per_node = r.tasks_per_node or -(-tasks // nodes)
    cpus = tasks_per_node * max(1, r.cpus_per_task)
    mem = r.mem_per_node_mb or r.mem_per_cpu_mb * cpus
    return nodes, cpus, mem, r.gpus_per_node


_DIALECTS = frozenset(jobs_pb2.Dialect.values())


def validate(spec: jobs_pb2.JobSpec) -> None:
    """Checks that need no cluster state; each error names the field. What passes here
    must be safe for everything after: the scheduler's arithmetic, the store, the
    commands that print it, and the node that runs it."""
    if not spec.script.strip() and not spec.allocation:   # an allocation runs no script
        raise InvalidArgument("BAD_SPEC", "script: empty")
    if len(spec.script.encode()) > MAX_SCRIPT_BYTES:
        raise InvalidArgument("BAD_SPEC", f"script: larger than {MAX_SCRIPT_BYTES} bytes")
    _check_texts(spec)
    for name, value in spec.environment.items():
        if not _ENV_NAME.fullmatch(name):
            raise InvalidArgument("BAD_SPEC", f"environment: invalid variable name {name!r}")
        if "\0" in value:
            raise InvalidArgument("BAD_SPEC", f"environment: {name}: NUL byte in the value")
    if sum(len(k) + len(v) for k, v in spec.environment.items()) > MAX_ENVIRONMENT_BYTES:
        raise InvalidArgument("BAD_SPEC", f"environment: larger than {MAX_ENVIRONMENT_BYTES} bytes")
    if spec.ByteSize() > MAX_SPEC_BYTES:
        raise InvalidArgument("BAD_SPEC", f"spec: larger than {MAX_SPEC_BYTES} bytes in all")
    _check_resources(spec.resources)
    if spec.dialect not in _DIALECTS:
        raise InvalidArgument("BAD_SPEC", f"dialect: {spec.dialect} is not a dialect")
    if not math.isfinite(spec.begin_time) or not 0 <= spec.begin_time <= MAX_TIME:
        raise InvalidArgument("BAD_SPEC", "begin_time: must be a finite, non-negative time before the year 10000")
    for field in ("backoff_seconds", "max_backoff_seconds"):
        value = getattr(spec.retry, field)
        if not math.isfinite(value) or not 0 <= value <= MAX_BACKOFF:
            raise InvalidArgument("BAD_SPEC", f"retry.{field}: must be a number of seconds from 0 to {MAX_BACKOFF}")
    if spec.umask > 0o777:
        raise InvalidArgument("BAD_SPEC", f"umask: {spec.umask:#o} is more than 0o777")
    if spec.kill_signal > MAX_SIGNAL:
        raise InvalidArgument("BAD_SPEC", f"kill_signal: {spec.kill_signal} is not a signal number")
    if spec.kill_signal_seconds > MAX_SIGNAL_SECONDS:
        raise InvalidArgument("BAD_SPEC", f"kill_signal_seconds: {spec.kill_signal_seconds} is more than "
                              f"{MAX_SIGNAL_SECONDS} (Slurm's --signal limit)")
    if spec.dependencies:
        try:
            deps.check(spec.dependencies, spec.dependency_any)
        except deps.DependencyError as e:
            raise InvalidArgument("BAD_DEPENDENCY", str(e)) from None


# Single-line text: a line break would forge a line of `scontrol show job` or a log.
_ONE_LINE_FIELDS = ("name", "queue", "account", "submit_dir", "submit_host", "workdir", "stdout_path", "stderr_path",
                    "interpreter", "mail_events", "mail_users")


_NUL_OR_BREAK = re.compile("[\0\n\r]")
_NUL_OR_BREAK_OR_EQUALS = re.compile("[\0\n\r=]")
_NUL_OR_BREAK_OR_COLON = re.compile("[\0\n\r:]")


def _check_texts(spec: jobs_pb2.JobSpec) -> None:
    """No NUL anywhere (it ends a C string: a file name, an argument, a variable), no
    line break in one-line fields, bounded names."""
    for field in ("name", "queue", "account"):
        if len(getattr(spec, field)) > MAX_NAME:
            raise InvalidArgument("BAD_SPEC", f"{field}: longer than {MAX_NAME} characters")
    values = [getattr(spec, field) for field in _ONE_LINE_FIELDS]
    if _NUL_OR_BREAK.search("\1".join(values)):        # one search for all: on every submit
        field = next(f for f, v in zip(_ONE_LINE_FIELDS, values, strict=True) if _NUL_OR_BREAK.search(v))
        raise InvalidArgument("BAD_SPEC", f"{field}: NUL or line break")
    if spec.submit_dir and not spec.submit_dir.startswith("/"):
        raise InvalidArgument("BAD_SPEC", "submit_dir: must be an absolute path")
    if "\0" in spec.comment:
        raise InvalidArgument("BAD_SPEC", "comment: NUL byte")
    for i, arg in enumerate(spec.argv):
        if "\0" in arg:
            raise InvalidArgument("BAD_SPEC", f"argv[{i}]: NUL byte")
    for key, value in spec.attributes.items():
        if not key or _NUL_OR_BREAK_OR_EQUALS.search(key) or "\0" in value:
            raise InvalidArgument("BAD_SPEC", f"attributes: {key!r}: empty name, NUL, '=' or line break")
    for field in ("features", "exclude_nodes"):
        for i, item in enumerate(getattr(spec.resources, field)):
            if not item or _NUL_OR_BREAK.search(item):
                raise InvalidArgument("BAD_SPEC", f"resources.{field}[{i}]: empty, NUL or line break")
    for name in spec.resources.licenses:
        if not name or _NUL_OR_BREAK_OR_COLON.search(name):
            raise InvalidArgument("BAD_SPEC", f"resources.licenses: {name!r}: empty name, NUL, ':' or line break")


def _check_resources(r: jobs_pb2.Resources) -> None:
    """Bounds that keep every product of these numbers meaningful (and every one of
    them printable as what it is), far beyond any real machine."""
    for field, most in RESOURCE_LIMITS.items():
        value = getattr(r, field)
        if value > most:
            raise InvalidArgument("BAD_SPEC", f"resources.{field}: {value} is more than {most}")
    _, cpus, mem, _ = resources_shape(r)
    if cpus > MAX_CPUS_PER_NODE:
        raise InvalidArgument("BAD_SPEC", f"resources: {cpus} CPUs per node is more than {MAX_CPUS_PER_NODE}")
    if mem > MAX_MEM_MB:
        raise InvalidArgument("BAD_SPEC", f"resources: {mem} MiB per node is more than {MAX_MEM_MB}")


def check_count(where: str, count: int, most: int) -> None:
    """Refuse a request that names more items than it may (see MAX_SPECS_PER_SUBMIT)."""
    if count > most:
        raise InvalidArgument("BAD_REQUEST", f"{where}: {count} in one request; at most {most}")


def check_update_fields(fields: Iterable[str]) -> list[str]:
    """The JobSpec paths an Update names, each one known and changeable: an array's
    tasks are fixed at submit (Slurm updates only its throttle, array.max_running)."""
    paths = fieldpaths.check(jobs_pb2.JobSpec.DESCRIPTOR, fields)
    for i, path in enumerate(paths):
        if path.partition(".")[0] == "array" and path != "array.max_running":
            raise InvalidArgument("BAD_FIELD", f"fields[{i}]: {path!r} cannot be changed (only array.max_running)")
        if path == "allocation":   # a batch job made one would hold its CPUs, with no client, until its walltime
            raise InvalidArgument("BAD_FIELD", f"fields[{i}]: 'allocation' cannot be changed (an allocation is made "
                                  "only through Jobs.Allocate)")
    return paths


def check_retry(spec: jobs_pb2.JobSpec, most: int) -> None:
    """Refuse more runs than the site allows (ctld's retry_max_attempts)."""
    if spec.retry.max_attempts > most:
        raise InvalidArgument("BAD_SPEC", f"retry.max_attempts: {spec.retry.max_attempts} is more than the "
                              f"{most} runs this cluster allows (retry_max_attempts)")


def walltime(spec: jobs_pb2.JobSpec, queue: admin_pb2.Queue) -> int:
    limit = spec.walltime_seconds or queue.default_walltime_seconds
    if queue.max_walltime_seconds and limit > queue.max_walltime_seconds:
        raise InvalidArgument("TIME_LIMIT", f"walltime {limit}s exceeds queue {queue.name}'s maximum "
                              f"{queue.max_walltime_seconds}s")
    return limit


def initial_state(spec: jobs_pb2.JobSpec, now: float) -> tuple[jobs_pb2.JobState, str]:
    if spec.hold:
        return S.HELD, "JobHeldUser"
    if spec.begin_time > now:
        return S.WAITING, "BeginTime"
    return S.PENDING, "None"


MAX_ARRAY_TASKS = 1_000_000


def array_tasks(spec: jobs_pb2.JobSpec) -> scheduler.IndexSet | None:
    """The task indices an array job asks for; None for an ordinary job."""
    if not spec.array.tasks:
        return None
    try:
        tasks = scheduler.IndexSet.parse(spec.array.tasks)
    except ValueError as e:
        raise InvalidArgument("BAD_ARRAY", f"array: {e}") from None
    if len(tasks) > MAX_ARRAY_TASKS or tasks.runs[-1][1] >= 2**32:
        raise InvalidArgument("BAD_ARRAY", f"array: more than {MAX_ARRAY_TASKS} tasks or an index beyond 2^32")
    return tasks


def resolve_dependencies(spec: jobs_pb2.JobSpec) -> None:
    """Turn a shim's dependency text (Slurm --dependency, PBS -W depend) into the API's
    structured form, refusing bad syntax as Slurm does ("Job dependency problem")."""
    text = spec.attributes.get("dependency") or spec.attributes.get("depend")
    if not text or spec.dependencies:
        return
    try:
        parsed = deps.parse_slurm(text) if spec.dialect == jobs_pb2.DIALECT_SLURM else deps.parse_pbs(text)
        messages, any_of = deps.to_proto(parsed)
        deps.check(messages, any_of)   # what the text can say that the structured form may not (job id 0)
    except (deps.DependencyError, ValueError) as e:  # ValueError: an id no job could have (beyond uint64)
        raise InvalidArgument("BAD_DEPENDENCY", f"dependency: {e}") from None
    spec.dependencies.extend(messages)
    spec.dependency_any = any_of


def dependencies(spec: jobs_pb2.JobSpec) -> scheduler.Dependencies | None:
    return deps.from_proto(spec.dependencies, spec.dependency_any) if spec.dependencies else None


def request(job: jobs_pb2.Job) -> scheduler.JobRequest:
    nodes, cpus, mem, gpus = shape(job.spec)
    r = job.spec.resources
    return scheduler.JobRequest(
        id=job.id, user=job.user, queue=job.queue, submit_time=job.submit_time, account=job.spec.account,
        name=job.spec.name, nodes=nodes, cpus_per_node=cpus, mem_per_node_mb=mem, gpus_per_node=gpus,
        walltime=job.walltime_seconds, exclusive=r.exclusive, features=frozenset(r.features),
        exclude=frozenset(r.exclude_nodes), licenses=dict(r.licenses), nice=job.spec.nice,
        admin_priority=job.priority if job.admin_priority_set else None, eligible_time=job.eligible_time,
        dependency=dependencies(job.spec),
        array=scheduler.ArrayTasks(scheduler.IndexSet.parse(job.array_tasks_pending), job.spec.array.max_running)
        if job.array_tasks_pending else None,
        task_of=(job.array_job_id, job.spec.array.max_running) if job.array_job_id and not job.array_tasks_pending
        else None)


def running(job: jobs_pb2.Job) -> scheduler.RunningJob:
    return scheduler.RunningJob(
        id=job.id, user=job.user, queue=job.queue, start_time=job.start_time, walltime=job.walltime_seconds,
        slices=tuple(scheduler.Slice(s.node, s.cpus, s.mem_mb, s.gpus) for s in job.allocation.slices),
        account=job.spec.account, name=job.spec.name, licenses=dict(job.spec.resources.licenses),
        array_job_id=job.array_job_id or None)


def list_filter(request: jobs_pb2.ListJobsRequest) -> Callable[[jobs_pb2.Job], bool]:
    """Whether a List answers with a job: it matches every filter the request gives
    (finished jobs only when asked for, by state or include_finished). Built once per
    request: it runs over every job ctld holds."""
    wanted = set(request.states)
    users, queues, names = set(request.users), set(request.queues), set(request.names)
    include_finished, ended_after = request.include_finished, request.ended_after

    def listed(job: jobs_pb2.Job) -> bool:
        finished = states.is_finished(job.state)
        if wanted:
            if job.state not in wanted:
                return False
        elif finished and not include_finished:
            return False
        if ended_after and finished and job.end_time < ended_after:
            return False
        return not ((users and job.user not in users) or (queues and job.queue not in queues)
                    or (names and job.spec.name not in names))
    return listed


def not_before(job: jobs_pb2.Job) -> float:
    """The earliest start of a queued job: its begin time, or its retry's backoff."""
    return max(job.spec.begin_time, job.retry_time)


def run_end(job: jobs_pb2.Job, state: int, cancelled: bool, requeue_held: bool | None = None) -> scheduler.RunEnd:
    """How a job's run ended and what the job asked for, for scheduler.after_run;
    `requeue_held` not None: somebody asked for a requeue (held, or not)."""
    spec = job.spec
    return scheduler.RunEnd(
        state=S.Name(state), attempt=job.attempt, cancelled=cancelled, requeue=may_requeue(job),
        max_attempts=spec.retry.max_attempts, backoff=spec.retry.backoff_seconds,
        backoff_max=spec.retry.max_backoff_seconds, requeued=requeue_held is not None,
        requeue_held=bool(requeue_held))


def may_requeue(job: jobs_pb2.Job) -> bool:
    """sbatch --requeue / --no-requeue, qsub -r y / n: unset means yes (Slurm's JobRequeue=1)."""
    return job.spec.requeue if job.spec.HasField("requeue") else True


def keep_run(job: jobs_pb2.Job) -> None:
    """Remember the run that just ended in job.runs (the last MAX_KEPT_RUNS of them), before
    the job goes back to the queue and its next run takes over its times and usage."""
    job.runs.add(attempt=job.attempt, state=job.state, reason=job.reason, start_time=job.start_time,
                 end_time=job.end_time, exit_code=job.exit_code, signal=job.signal, allocation=job.allocation,
                 cpu_seconds=job.cpu_seconds, max_rss_kb=job.max_rss_kb)
    if len(job.runs) > MAX_KEPT_RUNS:
        del job.runs[:len(job.runs) - MAX_KEPT_RUNS]


def remember_action_key(job: jobs_pb2.Job, key: str) -> None:
    """An action with this key was done to the job: a retry of it is answered OK."""
    if key not in job.action_keys:
        job.action_keys.append(key)
        if len(job.action_keys) > MAX_ACTION_KEYS:
            del job.action_keys[:len(job.action_keys) - MAX_ACTION_KEYS]


def outcome_state(requested_cancel: bool, state: jobs_pb2.JobState) -> jobs_pb2.JobState:
    """A job killed because somebody cancelled it is CANCELLED whatever the node saw."""
    return S.CANCELLED if requested_cancel and state in (S.FAILED, S.CANCELLED) else state
