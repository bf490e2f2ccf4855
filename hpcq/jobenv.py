"""What a job sees when it starts: its environment, output files and start directory.

Pure functions of the Job record (and the node, cluster and user it runs as), spelled
the way real OpenPBS 23 and Slurm 22 spell them (see shared/compat/*/job_env_*.txt).
Both dialects' variables are always set, so a script written for either runs
whichever command submitted it.
"""
from __future__ import annotations

import os.path
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hpcq import filenames, hostlist
from hpcq.api.lite import jobs_pb2
from hpcq.indexset import IndexSet

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
# Slurm's %a for a job that is not an array task (NO_VAL - 1).
_SLURM_NO_ARRAY_INDEX = "4294967294"


@dataclass(frozen=True)
class JobUser:
    """The account a job runs as (the fields of a passwd entry that matter)."""

    name: str
    uid: int
    gid: int
    home: str
    shell: str


def is_pbs(job: jobs_pb2.Job) -> bool:
    return job.spec.dialect == jobs_pb2.DIALECT_PBS


def start_directory(job: jobs_pb2.Job, home: str) -> str:
    """PBS starts a job in $HOME, Slurm in the submit directory, unless a workdir was given."""
    spec = job.spec
    if spec.workdir:
        return spec.workdir
    if is_pbs(job):
        return home
    return spec.submit_dir or home


def job_environment(job: jobs_pb2.Job, node_name: str, cluster: str, *, tmpdir: str, nodefile: str,
                    user: JobUser) -> dict[str, str]:
    """The job's environment: what the shim exported, then the login basics, then the
    PBS and the Slurm variables. SLURM_TASK_PID, the job's own pid, is the one left out:
    the supervisor sets it in the job's process (hpcq.noded.jobd)."""
    spec, r = job.spec, job.spec.resources
    slices = _slices(job, node_name)
    here = next((s for s in slices if s.node == node_name), slices[0])
    nodes = [s.node for s in slices]
    tasks = _tasks_per_node(job, slices)
    env = dict(spec.environment)
    env.update(
        HOME=user.home, USER=user.name, LOGNAME=user.name, SHELL=user.shell,
        PATH=env.get("PATH") or DEFAULT_PATH, ENVIRONMENT="BATCH", TMPDIR=tmpdir,
    )

    # --- PBS ---
    array = job.HasField("array_task_id")
    if array:
        env["PBS_JOBID"] = f"{job.array_job_id}[{job.array_task_id}].{cluster}"
        env["PBS_ARRAY_ID"] = f"{job.array_job_id}[].{cluster}"
        env["PBS_ARRAY_INDEX"] = str(job.array_task_id)
    else:
        env["PBS_JOBID"] = f"{job.id}.{cluster}"
    env.update(
        PBS_JOBNAME=spec.name, PBS_QUEUE=job.queue, PBS_O_QUEUE=spec.queue or job.queue,
        PBS_O_WORKDIR=spec.submit_dir, PBS_O_HOST=spec.submit_host, PBS_ENVIRONMENT="PBS_BATCH",
        PBS_NODEFILE=nodefile, PBS_NODENUM="0", PBS_TASKNUM="1", PBS_JOBDIR=user.home,
        NCPUS=str(here.cpus), OMP_NUM_THREADS=str(here.cpus),
        # Not in OpenPBS's own environment (its NCPUS is): for scripts written against it
        # (issue 14), the same count.
        PBS_NCPUS=str(here.cpus),
    )

    # --- Slurm ---
    nodelist = hostlist.compress(nodes)
    ntasks = str(sum(tasks))
    env.update(
        SLURM_JOB_ID=str(job.id), SLURM_JOBID=str(job.id), SLURM_JOB_NAME=spec.name,
        SLURM_SUBMIT_DIR=spec.submit_dir, SLURM_SUBMIT_HOST=spec.submit_host,
        SLURM_JOB_NODELIST=nodelist, SLURM_NODELIST=nodelist,
        SLURM_JOB_NUM_NODES=str(len(nodes)), SLURM_NNODES=str(len(nodes)),
        SLURM_NTASKS=ntasks, SLURM_NPROCS=ntasks, SLURM_CPUS_PER_TASK=str(r.cpus_per_task or 1),
        SLURM_CPUS_ON_NODE=str(here.cpus),
        SLURM_JOB_CPUS_PER_NODE=slurm_counts([s.cpus for s in slices]),
        SLURM_TASKS_PER_NODE=slurm_counts(tasks),
        SLURM_JOB_PARTITION=job.queue, SLURM_JOB_USER=user.name,
        SLURM_JOB_UID=str(user.uid), SLURM_JOB_GID=str(user.gid),
        SLURM_JOB_ACCOUNT=spec.account or user.name,
        SLURMD_NODENAME=node_name, SLURM_CLUSTER_NAME=cluster,
        SLURM_NODEID="0", SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_GTIDS="0",
        SLURM_PRIO_PROCESS="0",
        SLURM_JOB_QOS=spec.attributes.get("qos") or "normal",
    )
    if here.mem_mb:
        env["SLURM_MEM_PER_NODE"] = str(here.mem_mb)
    if r.mem_per_cpu_mb:
        env["SLURM_MEM_PER_CPU"] = str(r.mem_per_cpu_mb)
    if array:
        env.update(SLURM_ARRAY_JOB_ID=str(job.array_job_id), SLURM_ARRAY_TASK_ID=str(job.array_task_id))
        env.update(_slurm_array_range(spec.array))
    if here.gpu_ids:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in here.gpu_ids)
        env["SLURM_GPUS_ON_NODE"] = str(len(here.gpu_ids))
    return env


def nodefile_lines(job: jobs_pb2.Job, node_name: str) -> list[str]:
    """PBS_NODEFILE: one line per task slot (PBS's mpiprocs) on each node. A
    `select=1:ncpus=2` job gets one line, as in shared/compat/openpbs/output_files.txt."""
    slices = _slices(job, node_name)
    return [s.node for s, n in zip(slices, _tasks_per_node(job, slices), strict=True) for _ in range(n)]


def slurm_counts(values: Sequence[int]) -> str:
    """Slurm's compact per-node list: [4, 4, 2] -> "4(x2),2"."""
    parts: list[str] = []
    i = 0
    while i < len(values):
        j = i
        while j < len(values) and values[j] == values[i]:
            j += 1
        parts.append(str(values[i]) if j - i == 1 else f"{values[i]}(x{j - i})")
        i = j
    return ",".join(parts)


def _slices(job: jobs_pb2.Job, node_name: str) -> list[jobs_pb2.Allocation.Slice]:
    """The allocation; a job launched without one (tests, hand-made records) gets what it asked for, here."""
    if job.allocation.slices:
        return list(job.allocation.slices)
    r = job.spec.resources
    cpus = (r.cpus_per_task or 1) * (r.tasks or r.tasks_per_node or 1)
    return [jobs_pb2.Allocation.Slice(node=node_name, cpus=cpus, mem_mb=r.mem_per_node_mb)]


def _tasks_per_node(job: jobs_pb2.Job, slices: Sequence[jobs_pb2.Allocation.Slice]) -> list[int]:
    """Slurm's block distribution: every node gets one task, then nodes are filled in
    order up to what fits (tasks_per_node, else cpus / cpus_per_task); what still does
    not fit is dealt round-robin. With no task count, one task per node."""
    r = job.spec.resources
    n = len(slices)
    total = r.tasks or n * (r.tasks_per_node or 1)
    fits = [r.tasks_per_node or max(1, s.cpus // (r.cpus_per_task or 1)) for s in slices]
    counts = [1 if i < total else 0 for i in range(n)]
    left = total - sum(counts)
    for i in range(n):
        extra = max(0, min(left, fits[i] - counts[i]))
        counts[i] += extra
        left -= extra
    for i in range(left):
        counts[i % n] += 1
    return counts


def _slurm_array_range(array: jobs_pb2.ArraySpec) -> dict[str, str]:
    if not array.tasks:
        return {}
    indices = IndexSet.parse(array.tasks)
    out = {"SLURM_ARRAY_TASK_COUNT": str(array.task_count or len(indices)),
           "SLURM_ARRAY_TASK_MIN": str(indices.first()), "SLURM_ARRAY_TASK_MAX": str(indices.last())}
    # Slurm names a step only for an evenly spaced range (a long list is summarised as
    # first-last with its task_count, and is not one).
    if len(indices.runs) == 1 and not array.task_count:
        out["SLURM_ARRAY_TASK_STEP"] = str(indices.runs[0][2])
    return out


# --- output files ---------------------------------------------------------------------------



def output_paths(job: jobs_pb2.Job, node_name: str, *,
                 is_dir: Callable[[str], bool] = os.path.isdir) -> tuple[str, str | None]:
    """(stdout path, stderr path), the stderr path None when it goes to the stdout file.
    `is_dir` is asked whether a PBS path names a directory (call it as the job's user)."""
    if is_pbs(job):
        return _pbs_paths(job, is_dir)
    return _slurm_paths(job, node_name)


def _pbs_paths(job: jobs_pb2.Job, is_dir: Callable[[str], bool]) -> tuple[str, str | None]:
    """PBS: `<name>.o<id>` in the submit directory; a directory gets that name inside it;
    an array task's name ends `.o<array id>.<index>` and ^array_index^ is replaced."""
    spec = job.spec
    array = job.HasField("array_task_id")
    ident = f"{job.array_job_id}.{job.array_task_id}" if array else str(job.id)

    def resolve(given: str, letter: str) -> str:
        default = f"{spec.name}.{letter}{ident}"
        if not given:
            return os.path.join(spec.submit_dir, default)
        if array:
            given = given.replace("^array_index^", str(job.array_task_id))
        path = os.path.join(spec.submit_dir, given)
        if given.endswith("/") or is_dir(path):
            return os.path.join(path, default)
        return path

    stdout = resolve(spec.stdout_path, "o")
    if spec.join_output:
        return stdout, None
    stderr = resolve(spec.stderr_path, "e")
    return stdout, (None if stderr == stdout else stderr)


def slurm_file_name(job: jobs_pb2.Job, pattern: str, node_name: str, *, step: str = "batch", task: int = 0,
                    node_index: int = 0, directory: str | None = None) -> str:
    """A Slurm --output/--error pattern expanded for one task of a job (sbatch's batch
    step, or a task of an srun step): %j %J %s %t %n %N %u %x %A %a %%, each with an
    optional zero-padding width (%3t); a relative name is taken from `directory`, by
    default the job's start directory."""
    array = job.HasField("array_task_id")
    values = {
        "j": str(job.id), "J": str(job.id) if step == "batch" else f"{job.id}.{step}", "s": step,
        "x": job.spec.name, "u": job.user, "N": node_name, "n": str(node_index), "t": str(task),
        "A": str(job.array_job_id if array else job.id),
        "a": str(job.array_task_id) if array else _SLURM_NO_ARRAY_INDEX,
    }
    base = start_directory(job, "") if directory is None else directory
    return os.path.join(base, filenames.expand_slurm(pattern, values))


def _slurm_paths(job: jobs_pb2.Job, node_name: str) -> tuple[str, str | None]:
    """Slurm: `slurm-%j.out` (arrays `slurm-%A_%a.out`) in the start directory; stderr
    joins stdout unless --error names another file; %-patterns expand everywhere."""
    spec = job.spec
    array = job.HasField("array_task_id")
    first_node = job.allocation.slices[0].node if job.allocation.slices else node_name

    def expand(pattern: str) -> str:
        return slurm_file_name(job, pattern, first_node)

    stdout = expand(spec.stdout_path or ("slurm-%A_%a.out" if array else "slurm-%j.out"))
    if spec.join_output or not spec.stderr_path:
        return stdout, None
    stderr = expand(spec.stderr_path)
    return stdout, (None if stderr == stdout else stderr)
