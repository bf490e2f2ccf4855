"""A launch plan: everything a job's supervisor needs to start it, worked out in noded.

A supervisor is forked from the launcher (and runs job after job), and a forked Python
process pays for every page it touches (copy-on-write) and for every page the launcher has
mapped (fork and exit). So noded, which has the Job at hand and runs warm, does the thinking:
the user, the environment, the command, the files' contents and paths. The launcher and
the supervisors import neither protobuf nor jobenv; they carry out this plan, plain JSON.
"""
from __future__ import annotations

import os
import pwd
from typing import Any

from hpcq import jobenv
from hpcq.api import jobs_pb2
from hpcq.noded import enforce, spool

# Slurm's words (task/cgroup), {count} and {s} filled in by the supervisor.
SLURM_OOM_MESSAGE = ("slurmstepd: error: Detected {count} oom_kill event{s} in StepId=%s.batch. "
                     "Some of the step tasks have been OOM Killed.\n")

# What an allocation's job runs: nothing but waiting to be ended.
ALLOCATION_HOLD = "exec sleep infinity\n"


class Refused(Exception):
    """The job cannot start on this node; the message is the reason the user will read."""


def make(job: jobs_pb2.Job, cluster: str, node_name: str, directory: spool.AttemptDir, *, tmp_dir: str,
         kill_grace_seconds: int, allow_root: bool, enforcement: enforce.Enforcement | None = None) -> dict[str, Any]:
    user, groups = _user(job.user, node_name, allow_root)
    spec = job.spec
    script = directory.script
    if spec.interpreter:
        argv = [spec.interpreter, script, *spec.argv]
    elif spec.script.startswith("#!"):
        argv = [script, *spec.argv]
    else:
        argv = ["/bin/sh", script, *spec.argv]
    pbs = jobenv.is_pbs(job)
    probes: list[str]
    outputs: list[list[Any]]
    if spec.allocation:
        # salloc, srun outside a job, qsub -I: no script and no output files; the job's
        # process holds the allocation (its cgroup, walltime, cancel) until ctld ends it.
        argv, probes, outputs = ["/bin/sh", script], [], [[[], os.devnull, None]]
    else:
        probes, outputs = _outputs(job, node_name)
    plan: dict[str, Any] = {
        "dir": str(directory.path), "job_id": job.id, "attempt": job.attempt,
        "uid": user.uid, "gid": user.gid, "groups": groups,
        # The submitter's umask when the shim sent one; else PBS's 077, Slurm's usual 022.
        "umask": spec.umask or (0o077 if pbs else 0o022),
        "script": ALLOCATION_HOLD if spec.allocation else spec.script, "argv": argv,
        "nodefile": "".join(f"{n}\n" for n in jobenv.nodefile_lines(job, node_name)),
        "env": jobenv.job_environment(job, node_name, cluster, tmpdir="", nodefile=directory.nodefile,
                                      user=user),
        "tmp_dir": tmp_dir, "workdir": jobenv.start_directory(job, user.home),
        "probes": probes, "outputs": outputs, "append": spec.append_output, "output_mode": 0o600 if pbs else 0o666,
        "walltime": job.walltime_seconds, "grace": kill_grace_seconds,
    }
    if enforcement is not None:
        here = next((s for s in job.allocation.slices if s.node == node_name), None)
        if here is not None:
            plan["confine"] = enforcement.job_limits(job.id, job.attempt, list(here.cpu_ids), here.mem_mb,
                                                     list(here.gpu_ids))
        if not pbs:
            plan["oom_message"] = SLURM_OOM_MESSAGE % job.id
    return plan


def _user(name: str, node_name: str, allow_root: bool) -> tuple[jobenv.JobUser, list[int] | None]:
    """The job's account, and its groups when the supervisor must switch to it (None: it need not)."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.getuid())
        if name != entry.pw_name:
            raise Refused(f"node runs in user mode for {entry.pw_name}; job belongs to {name}")
    else:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise Refused(f"user {name} unknown on node {node_name}") from None
        if entry.pw_uid == 0 and not allow_root:
            raise Refused(f"node {node_name} does not run jobs of root ([noded] allow_root_jobs is false)")
    groups = os.getgrouplist(entry.pw_name, entry.pw_gid) if os.geteuid() != entry.pw_uid else None
    user = jobenv.JobUser(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_shell or "/bin/sh")
    return user, groups


def _outputs(job: jobs_pb2.Job, node_name: str) -> tuple[list[str], list[list[Any]]]:
    """The output paths for every answer to "is this a directory?" (a PBS -o/-e may name
    one), which only the supervisor can ask, as the job's user: the paths it must probe,
    and rows of [the probed paths that are directories, stdout, stderr or None]."""
    asked: list[str] = []

    def ask(path: str) -> bool:
        asked.append(path)
        return False
    jobenv.output_paths(job, node_name, is_dir=ask)
    probes = sorted(set(asked))
    rows = []
    for mask in range(1 << len(probes)):
        dirs = [p for i, p in enumerate(probes) if mask >> i & 1]
        rows.append([dirs, *jobenv.output_paths(job, node_name, is_dir=set(dirs).__contains__)])
    return probes, rows
