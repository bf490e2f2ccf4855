"""Job steps (srun inside a job) as pure functions of the job record: where a step's
tasks go on the job's allocation, and how a step ends.

The Controller owns the records and persists them; nothing here does I/O.
"""
from __future__ import annotations

import math
import signal
from collections.abc import Iterable

from hpcq import hostlist
from hpcq.api import jobs_pb2
from hpcq.ctld.errors import FailedPrecondition, InvalidArgument, ResourceExhausted
from hpcq.ctld.jobs import MAX_ENVIRONMENT_BYTES, MAX_NAME, MAX_SIGNAL
from hpcq.steplayout import ranks_on

S = jobs_pb2.JobState
KILL = int(signal.SIGKILL)    # what a step's tasks on other nodes get when the step or its job ends
MAX_STEPS = 40_000            # steps of one run of a job, as Slurm's MaxStepCount
MAX_LAUNCH_BYTES = MAX_ENVIRONMENT_BYTES + 1024 * 1024    # srun's environment and a MiB for the rest
OPEN_MODES = ("", "append", "truncate")


def allocation_nodes(job: jobs_pb2.Job) -> list[tuple[str, int]]:
    """(node, CPUs) of the job's allocation, each node once, in order."""
    cpus: dict[str, int] = {}
    for s in job.allocation.slices:
        cpus[s.node] = cpus.get(s.node, 0) + s.cpus
    return list(cpus.items())


def layout(ntasks: int, cpus_per_task: int, nodes: list[tuple[str, int]]) -> list[int]:
    """Slurm's block distribution of a step: every node gets a task, then the nodes are
    filled in order up to what their CPUs hold. Raises FailedPrecondition when the
    tasks do not fit (Slurm: "More processors requested than permitted")."""
    fits = [cpus // cpus_per_task for _, cpus in nodes]
    if any(f == 0 for f in fits) or sum(fits) < ntasks:
        have = sum(cpus for _, cpus in nodes)
        raise FailedPrecondition("STEP_TOO_BIG", f"{ntasks} task(s) of {cpus_per_task} CPU(s) need "
                                 f"{ntasks * cpus_per_task} CPUs on {len(nodes)} node(s); the job has {have} "
                                 f"there ({hostlist.compress([n for n, _ in nodes])})")
    counts = [1] * len(nodes)
    left = ntasks - len(nodes)
    for i, fit in enumerate(fits):
        extra = max(0, min(left, fit - counts[i]))
        counts[i] += extra
        left -= extra
    return counts


def check_request(request: jobs_pb2.CreateStepRequest) -> None:
    """What a step request must be whatever the job: text a node can use as a file
    name, an argument or a variable; a size ctld can pass on to the job's nodes."""
    if len(request.name) > MAX_NAME or any(c in request.name for c in "\0\n\r"):
        raise InvalidArgument("BAD_STEP", f"name: NUL, line break or longer than {MAX_NAME} characters")
    launch = request.launch
    if launch.ByteSize() > MAX_LAUNCH_BYTES:
        raise InvalidArgument("BAD_STEP", f"launch: larger than {MAX_LAUNCH_BYTES} bytes")
    for field in ("launch_node", "cwd", "output", "error", "input", "cpu_bind"):
        if any(c in getattr(launch, field) for c in "\0\n\r"):
            raise InvalidArgument("BAD_STEP", f"launch.{field}: NUL or line break")
    for i, arg in enumerate(launch.argv):
        if "\0" in arg:
            raise InvalidArgument("BAD_STEP", f"launch.argv[{i}]: NUL byte")
    for name, value in launch.environment.items():
        if not name or "=" in name or "\0" in name or "\0" in value:
            raise InvalidArgument("BAD_STEP", f"launch.environment: {name!r}: empty name, '=' or NUL")
    if launch.open_mode not in OPEN_MODES:
        raise InvalidArgument("BAD_STEP", f"launch.open_mode: {launch.open_mode!r} is not append or truncate")


def plan(job: jobs_pb2.Job, request: jobs_pb2.CreateStepRequest, now: float) -> jobs_pb2.JobStep:
    """The next step of a running job, as srun asked for it."""
    check_request(request)
    ntasks = request.ntasks or 1
    cpus_per_task = request.cpus_per_task or 1
    allocated = allocation_nodes(job)
    if not allocated:
        raise FailedPrecondition("JOB_NOT_RUNNING", f"job {job.id} has no allocation")
    launch_node = request.launch.launch_node
    if launch_node and launch_node not in dict(allocated):
        raise InvalidArgument("BAD_STEP", f"launch.launch_node: {launch_node} is not a node of job {job.id} "
                              f"({hostlist.compress([n for n, _ in allocated])})")
    if request.nodes > len(allocated):
        raise FailedPrecondition("STEP_TOO_BIG", f"{request.nodes} node(s) requested; job {job.id} has "
                                 f"{len(allocated)} ({hostlist.compress([n for n, _ in allocated])})")
    # More nodes than tasks: Slurm warns and uses as many nodes as tasks.
    count = min(request.nodes or len(allocated), ntasks)
    chosen = allocated[:count]
    tasks = layout(ntasks, cpus_per_task, chosen)
    current = [s for s in job.steps if s.attempt == job.attempt]
    if len(current) >= MAX_STEPS:
        raise ResourceExhausted("STEP_LIMIT", f"job {job.id} has had {len(current)} steps, the most a job may "
                                "(MaxStepCount)")
    return jobs_pb2.JobStep(
        step_id=len(current), name=request.name, ntasks=ntasks, cpus_per_task=cpus_per_task,
        nodes=[n for n, _ in chosen], tasks_per_node=tasks, state=S.RUNNING, start_time=now,
        attempt=job.attempt, cpus=ntasks * cpus_per_task, launch_node=request.launch.launch_node)


def remote_nodes(step: jobs_pb2.JobStep) -> list[str]:
    """The step's nodes whose tasks ctld has their noded start: all but srun's own;
    none when srun did not say where it runs (it then starts every task itself)."""
    if not step.launch_node:
        return []
    return [n for n, count in zip(step.nodes, step.tasks_per_node, strict=False) if count and n != step.launch_node]


def record_remote_exits(step: jobs_pb2.JobStep, node: str, tasks: Iterable[jobs_pb2.TaskExit]) -> bool:
    """Take a node's report of its tasks' ends, once; True if anything was new. Only
    the ranks the step put on that node count."""
    mine = set(ranks_on(step, node))
    known = {e.rank for e in step.remote_exits}
    new = [t for t in tasks if t.rank in mine and t.rank not in known]
    for t in new:
        step.remote_exits.add(rank=t.rank, node=node, wait_status=t.wait_status)
    return bool(new)


def check_finish(request: jobs_pb2.FinishStepRequest) -> None:
    """srun's report holds what a wait status can: an exit code 0-255, a signal number,
    a finite CPU time."""
    if not 0 <= request.exit_code <= 255:
        raise InvalidArgument("BAD_STEP", f"exit_code: {request.exit_code} is not an exit status (0-255)")
    if not 0 <= request.signal <= MAX_SIGNAL:
        raise InvalidArgument("BAD_STEP", f"signal: {request.signal} is not a signal number")
    if not math.isfinite(request.cpu_seconds) or request.cpu_seconds < 0:
        raise InvalidArgument("BAD_STEP", "cpu_seconds: must be a finite, non-negative number")


def finish(step: jobs_pb2.JobStep, request: jobs_pb2.FinishStepRequest, now: float) -> None:
    """srun's report of how the step ended (check_finish'ed): the highest exit code of its tasks."""
    step.exit_code, step.signal = request.exit_code, request.signal
    step.cpu_seconds, step.max_rss_kb = request.cpu_seconds, request.max_rss_kb
    if request.cancelled:
        step.state = S.CANCELLED
    else:
        step.state = S.COMPLETED if request.exit_code == 0 and request.signal == 0 else S.FAILED
    step.end_time = now


def close_running(job: jobs_pb2.Job, end: float) -> bool:
    """The job ended: steps srun never reported ended with it, cancelled (or lost with
    the node). True if any changed."""
    changed = False
    for step in job.steps:
        if step.state == S.RUNNING:
            step.state = job.state if job.state in (S.NODE_FAIL, S.OUT_OF_MEMORY) else S.CANCELLED
            step.end_time = end
            changed = True
    return changed
