"""Job steps (srun inside a job) as pure functions of the job record: where a step's
tasks go on the job's allocation, and how a step ends.

The Controller owns the records and persists them; nothing here does I/O.
"""
from __future__ import annotations

import signal
from collections.abc import Iterable

from hpcq import hostlist
from hpcq.api import jobs_pb2
from hpcq.ctld.errors import FailedPrecondition

S = jobs_pb2.JobState
KILL = int(signal.SIGKILL)    # what a step's tasks on other nodes get when the step or its job ends


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


def plan(job: jobs_pb2.Job, request: jobs_pb2.CreateStepRequest, now: float) -> jobs_pb2.JobStep:
    """The next step of a running job, as srun asked for it."""
    ntasks = request.ntasks or 1
    cpus_per_task = request.cpus_per_task or 1
    allocated = allocation_nodes(job)
    if not allocated:
        raise FailedPrecondition("JOB_NOT_RUNNING", f"job {job.id} has no allocation")
    if request.nodes > len(allocated):
        raise FailedPrecondition("STEP_TOO_BIG", f"{request.nodes} node(s) requested; job {job.id} has "
                                 f"{len(allocated)} ({hostlist.compress([n for n, _ in allocated])})")
    # More nodes than tasks: Slurm warns and uses as many nodes as tasks.
    count = min(request.nodes or len(allocated), ntasks)
    chosen = allocated[:count]
    tasks = layout(ntasks, cpus_per_task, chosen)
    current = [s for s in job.steps if s.attempt == job.attempt]
    return jobs_pb2.JobStep(
        step_id=len(current), name=request.name, ntasks=ntasks, cpus_per_task=cpus_per_task,
        nodes=[n for n, _ in chosen], tasks_per_node=tasks, state=S.RUNNING, start_time=now,
        attempt=job.attempt, cpus=ntasks * cpus_per_task, launch_node=request.launch.launch_node)


def remote_nodes(step: jobs_pb2.JobStep) -> list[str]:
    """The step's nodes whose tasks ctld has their noded start: all but srun's own;
    none when srun did not say where it runs (it then starts every task itself)."""
    if not step.launch_node:
        return []
    return [n for n, count in zip(step.nodes, step.tasks_per_node) if count and n != step.launch_node]


def ranks_on(step: jobs_pb2.JobStep, node: str) -> list[int]:
    """The global ranks of the step's tasks on a node (block distribution)."""
    first = 0
    for name, count in zip(step.nodes, step.tasks_per_node):
        if name == node:
            return list(range(first, first + count))
        first += count
    return []


def record_remote_exits(step: jobs_pb2.JobStep, node: str, tasks: Iterable[jobs_pb2.TaskExit]) -> bool:
    """Take a node's report of its tasks' ends, once; True if anything was new. Only
    the ranks the step put on that node count."""
    mine = set(ranks_on(step, node))
    known = {e.rank for e in step.remote_exits}
    new = [t for t in tasks if t.rank in mine and t.rank not in known]
    for t in new:
        step.remote_exits.add(rank=t.rank, node=node, wait_status=t.wait_status)
    return bool(new)


def finish(step: jobs_pb2.JobStep, request: jobs_pb2.FinishStepRequest, now: float) -> None:
    """srun's report of how the step ended: the highest exit code of its tasks."""
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
