"""seff: a job's CPU and memory efficiency, as Slurm's contrib/seff prints it, from the
job's record (what sacct reads: TotalCPU, MaxRSS, Elapsed, AllocCPUS, the memory allocated)."""
from __future__ import annotations

import math
import sys

from hpcq import states
from hpcq.api.lite import jobs_pb2
from hpcq.shims import clock, values
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.shim import Shim
from hpcq.shims.slurm import sacct_format as sf
from hpcq.shims.slurm import squeue_format as sq
from hpcq.shims.submit_context import user_ids

PROG = "seff"
VERSION = "seff Version 2.1\n"
USAGE = """\
Usage: seff [Options] <Jobid>
       Options:
       -h    Help menu
       -v    Version
       -d    Debug mode: display raw Slurm data
"""
S = jobs_pb2.JobState


def time2str(seconds: float) -> str:
    """``HH:MM:SS``, ``D-HH:MM:SS`` (seff's time2str)."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text


def kbytes2str(kb: float) -> str:
    """``876.69 MB``: the largest binary unit of at least 1 (seff's kbytes2str)."""
    if kb <= 0:
        return "0.00 MB"
    exponent = min(int(math.log(kb) / math.log(1024)), 5)
    return f"{kb / 1024 ** exponent:.2f} {'KMGTPE'[exponent]}B"


def report(job: jobs_pb2.Job, cluster: str, now: float) -> str:
    state = states.slurm_name(job.state)
    cpus, nodes = sq.cpu_count(job), sq.node_count(job)
    group = user_ids(job.user)[1] or job.user
    lines = [f"Job ID: {job.id}"]
    if job.HasField("array_task_id"):
        lines.append(f"Array Job ID: {job.array_job_id}_{job.array_task_id}")
    lines += [f"Cluster: {cluster}", f"User/Group: {job.user}/{group}",
              f"State: {state}" if job.state in states.QUEUED or job.state == S.RUNNING
              else f"State: {state} (exit code {job.exit_code})"]
    lines += [f"Cores: {cpus}"] if cpus == 1 else [f"Nodes: {nodes}", f"Cores per node: {cpus // nodes}"]
    if job.state not in states.QUEUED:
        wall = sf.elapsed(job, now)
        core_wall = wall * cpus
        efficiency = 100 * job.cpu_seconds / core_wall if core_wall else 0.0
        lines += [f"CPU Utilized: {time2str(job.cpu_seconds)}",
                  f"CPU Efficiency: {efficiency:.2f}% of {time2str(core_wall)} core-walltime",
                  f"Job Wall-clock time: {time2str(wall)}",
                  f"Memory Utilized: {kbytes2str(job.max_rss_kb)}"]
        r = job.spec.resources
        allocated_kb = (sum(s.mem_mb for s in job.allocation.slices) or
                        (r.mem_per_cpu_mb * cpus if r.mem_per_cpu_mb else r.mem_per_node_mb * nodes)) << 10
        used = 100 * job.max_rss_kb / allocated_kb if allocated_kb else 0.0
        share = (f"{kbytes2str(r.mem_per_cpu_mb << 10)}/core" if r.mem_per_cpu_mb
                 else f"{kbytes2str(allocated_kb / nodes)}/node")
        lines.append(f"Memory Efficiency: {used:.2f}% of {kbytes2str(allocated_kb)} ({share})")
    if job.state == S.RUNNING:
        lines.append("WARNING: Efficiency statistics may be misleading for RUNNING jobs.")
    return "".join(line + "\n" for line in lines)


def _seff(argv: list[str], conn: Connection) -> int:
    options = [a for a in argv if a.startswith("-") and a != "-"]
    operands = [a for a in argv if a not in options]
    if "-v" in options:
        sys.stdout.write(VERSION)
        return 1
    unknown = [o for o in options if o not in ("-h", "-d")]
    if unknown:
        raise ShimError(f"Unknown option: {unknown[0].lstrip('-')}\n{USAGE.rstrip()}", 1)
    if "-h" in options or len(operands) != 1:
        sys.stdout.write(USAGE)
        return 1
    job_id = values.parse_uint(operands[0].partition(".")[0], values.UINT64_MAX)
    jobs = conn.client.get([job_id])[0] if job_id is not None else []
    if not jobs:
        raise ShimError("Job not found.", 2)
    sys.stdout.write(report(jobs[0], conn.cluster, clock.now()))
    return 0


command = Shim.slurm(PROG, _seff)
main = command.main
