"""srun's side of a job step: what srun was asked for, the step created at ctld, this
node's tasks run (hpcq/stepexec.py), the other nodes' tasks waited for (ctld has their
noded start them), and the end reported to ctld.
"""
from __future__ import annotations

import os
import resource
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from hpcq.api.lite import jobs_pb2
from hpcq.errors import HpcqError
from hpcq.shims.values import compress_indices
from hpcq.stepexec import ENDING_SIGNALS, TaskOptions, Tasks, exported
from hpcq.steplayout import node_ranks, ranks_on

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hpcq.client import Client


@dataclass
class StepOptions(TaskOptions):
    """srun's command line: the step's size and the command's own flags over how its tasks run."""
    ntasks: int = 0                     # 0: not given (1, or nodes * ntasks-per-node)
    cpus_per_task: int = 0
    nodes: int = 0
    ntasks_per_node: int = 0
    job_name: str = ""
    cpu_bind_text: str = ""             # as given, for the tasks other nodes start
    job_id: int = 0
    quiet: bool = False
    verbose: bool = False
    help: bool = False
    version: bool = False

    @property
    def tasks(self) -> int:
        return self.ntasks or (self.nodes * self.ntasks_per_node if self.ntasks_per_node else 1)


def exit_report(statuses: Mapping[int, tuple[str, int]]) -> tuple[int, int, int, list[str]]:
    """(srun's exit code, the step's exit code, its signal, srun's error lines) from each
    rank's (node, wait status): the highest code wins; a signal counts as 128 + its number."""
    code = step_code = step_signal = 0
    groups: dict[tuple[str, str], list[int]] = {}
    for rank, (node, status) in sorted(statuses.items()):
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            step_signal = max(step_signal, sig)
            code = max(code, 128 + sig)
            groups.setdefault((node, signal.strsignal(sig) or f"Signal {sig}"), []).append(rank)
        else:
            exit_code = os.waitstatus_to_exitcode(status)
            step_code, code = max(step_code, exit_code), max(code, exit_code)
            if exit_code:
                groups.setdefault((node, f"Exited with exit code {exit_code}"), []).append(rank)
    lines = []
    for (node, what), ranks in groups.items():
        many = len(ranks) > 1
        lines.append(f"srun: error: {node}: task{'s' if many else ''} {compress_indices(ranks)}: {what}")
    return code, step_code, step_signal, lines


# -- running a step ------------------------------------------------------------------------

class _Interrupted(Exception):
    def __init__(self, sig: int) -> None:
        super().__init__(sig)
        self.sig = sig


def launch_spec(o: StepOptions, node: str, environ: Mapping[str, str]) -> jobs_pb2.StepLaunch:
    """What the job's other nodes need to start their tasks as srun would here."""
    return jobs_pb2.StepLaunch(
        launch_node=node, argv=o.argv, environment=exported(environ, o.export),
        cwd=os.path.abspath(o.chdir or os.getcwd()), output=o.output, error=o.error, input=o.input,
        open_mode=o.open_mode, cpu_bind=o.cpu_bind_text)


def run_step(o: StepOptions, client: Client, node: str, environ: Mapping[str, str]) -> int:
    """Create the step, run this node's tasks, wait for the other nodes' (ctld has
    their noded start them), report the end; srun's exit code."""
    name = o.job_name or os.path.basename(o.argv[0])
    reply = client.create_step(o.job_id, name=name, ntasks=o.tasks, cpus_per_task=o.cpus_per_task or 1,
                               nodes=o.nodes, launch=launch_spec(o, node, environ))
    step, job = reply.step, reply.job
    node_index, ranks = node_ranks(step, node)
    try:
        runner = Tasks(o, job, step, node, node_index, ranks, environ)
        statuses = {rank: (node, status) for rank, status in runner.run().items()}
        cancelled = runner.cancelled
        if not cancelled and len(ranks) < step.ntasks:
            statuses.update(_remote_statuses(client, job.id, step))
    except _Interrupted as e:
        client.finish_step(job.id, step.step_id, exit_code=0, signal=e.sig, cancelled=True, attempt=step.attempt)
        return 128 + e.sig
    except BaseException:
        client.finish_step(job.id, step.step_id, exit_code=1, cancelled=True, attempt=step.attempt)
        raise
    code, step_code, step_signal, lines = exit_report(statuses)
    for line in lines:
        print(line, file=sys.stderr)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        client.finish_step(job.id, step.step_id, exit_code=step_code, signal=step_signal,
                           cancelled=cancelled, cpu_seconds=usage.ru_utime + usage.ru_stime,
                           max_rss_kb=usage.ru_maxrss, attempt=step.attempt)
    except HpcqError as e:
        print(f"srun: error: could not record the end of step {job.id}.{step.step_id}: {e.message}",
              file=sys.stderr)
    return code


def _remote_statuses(client: Client, job_id: int, step: jobs_pb2.JobStep) -> dict[int, tuple[str, int]]:
    """Wait on the job's record until the other nodes have reported their tasks' ends
    (or the step or the job has ended without them: those tasks count as killed)."""
    def interrupt(sig: int, frame: object) -> None:
        raise _Interrupted(sig)
    previous = {sig: signal.signal(sig, interrupt) for sig in ENDING_SIGNALS}
    local_ranks = set(ranks_on(step, step.launch_node))
    remote = step.ntasks - len(local_ranks)
    found: dict[int, tuple[str, int]] = {}
    events = client.watch([job_id], send_initial=True)
    try:
        for job in events:
            current = next((s for s in job.steps if s.step_id == step.step_id and s.attempt == step.attempt), None)
            if current is not None:
                found = {e.rank: (e.node, e.wait_status) for e in current.remote_exits}
            if len(found) >= remote or current is None or current.state != jobs_pb2.RUNNING or \
                    job.state not in (jobs_pb2.RUNNING, jobs_pb2.COMPLETING):
                break
    finally:
        events.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for rank in range(step.ntasks):
        if rank not in found and rank not in local_ranks:
            node = next(n for n in step.nodes if rank in ranks_on(step, n))
            found[rank] = (node, signal.SIGKILL)
    return found
