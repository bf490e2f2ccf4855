"""squeue's output as pure functions of (jobs, now, cluster): the ``-o`` format
language, its fields, the default and ``-l`` tables, and Slurm's default order.

Widths, headers and spellings follow Slurm 22.05 (shared/compat/slurm/squeue_*.txt).
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from hpcq import hostlist, states, units
from hpcq.api import jobs_pb2
from hpcq.shims.common import compress_indices

S = jobs_pb2.JobState
Job = jobs_pb2.Job

DEFAULT_FORMAT = "%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R"
LONG_FORMAT = "%.18i %.9P %.8j %.8u %.8T %.10M %.9l %.6D %R"

_PRIORITY_SCALE = float(2 ** 32 - 1)


# -- what squeue shows of a job ------------------------------------------------------

def job_id(job: Job) -> str:
    """``11243``, an array task ``11251_1``, the pending rest of an array ``11251_[7-10%2]``."""
    if job.HasField("array_task_id"):
        return f"{job.array_job_id or job.id}_{job.array_task_id}"
    if job.spec.array.indices:
        limit = f"%{job.spec.array.max_running}" if job.spec.array.max_running else ""
        return f"{job.id}_[{compress_indices(job.spec.array.indices)}{limit}]"
    return str(job.id)


def partition(job: Job) -> str:
    return job.queue or job.spec.queue


def reason(job: Job) -> str:
    """The pending reason, or why it ended as it did; "None" when there is none."""
    if job.reason:
        return job.reason
    return {S.HELD: "JobHeldUser", S.WAITING: "BeginTime"}.get(job.state, "None")


def started(job: Job) -> bool:
    return job.start_time > 0 and job.state not in states.QUEUED


def node_names(job: Job) -> list[str]:
    seen: list[str] = []
    for piece in job.allocation.slices:
        if piece.node not in seen:
            seen.append(piece.node)
    return seen


def requested_tasks(resources: jobs_pb2.Resources) -> int:
    if resources.tasks:
        return resources.tasks
    if resources.tasks_per_node:
        return (resources.nodes or 1) * resources.tasks_per_node
    return 1


def node_count(job: Job) -> int:
    return len(node_names(job)) or job.spec.resources.nodes or 1


def cpu_count(job: Job) -> int:
    allocated = sum(piece.cpus for piece in job.allocation.slices)
    if allocated:
        return allocated
    r = job.spec.resources
    return requested_tasks(r) * (r.cpus_per_task or 1)


def time_used(job: Job, now: float) -> float:
    """Seconds the job has run: 0 while queued, up to now while running."""
    if not started(job):
        return 0.0
    end = job.end_time if job.end_time and states.is_finished(job.state) else now
    return max(0.0, end - job.start_time)


def time_limit(job: Job) -> int | None:
    """Seconds, or None for no limit."""
    return job.walltime_seconds or job.spec.walltime_seconds or None


def _nodelist_or_reason(job: Job) -> str:
    # As squeue: the reason for queued jobs and jobs that ended badly, else the nodes.
    if job.state in states.QUEUED or job.state in (S.FAILED, S.TIMEOUT, S.OUT_OF_MEMORY):
        return f"({reason(job)})"
    return hostlist.compress(node_names(job))


def _start_time(job: Job, now: float) -> str:
    if job.start_time and started(job):
        return units.format_iso(job.start_time)
    if job.spec.begin_time > now:
        return units.format_iso(job.spec.begin_time)
    return "N/A"


def _end_time(job: Job, now: float) -> str:
    if job.end_time and states.is_finished(job.state):
        return units.format_iso(job.end_time)
    if started(job):
        limit = time_limit(job)
        return units.format_iso(job.start_time + limit) if limit else "NONE"
    return "N/A"


def _time_left(job: Job, now: float) -> str:
    limit = time_limit(job)
    if limit is None:
        return "UNLIMITED"
    return units.format_slurm_elapsed(max(0, math.ceil(limit / 60) * 60 - time_used(job, now)))


def _min_memory(job: Job) -> str:
    r = job.spec.resources
    mib = r.mem_per_node_mb or r.mem_per_cpu_mb
    return units.format_slurm_size(mib) if mib else "0"


def _min_cpus(job: Job) -> str:
    r = job.spec.resources
    return str((r.tasks_per_node or 1) * (r.cpus_per_task or 1))


def _or_null(text: str) -> str:
    return text or "(null)"


@dataclass(frozen=True)
class FieldDef:
    header: str
    value: Callable[[Job, float], str]


# squeue -o letters (squeue(1), "-o <output_format>"); headers as Slurm prints them.
FIELDS: dict[str, FieldDef] = {
    "a": FieldDef("ACCOUNT", lambda j, now: _or_null(j.spec.account)),
    "A": FieldDef("JOBID", lambda j, now: str(j.id)),
    "b": FieldDef("TRES_PER_NODE", lambda j, now: f"gres:gpu:{j.spec.resources.gpus_per_node}"
                  if j.spec.resources.gpus_per_node else "N/A"),
    "B": FieldDef("EXEC_HOST", lambda j, now: (node_names(j) or ["n/a"])[0]),
    "c": FieldDef("MIN_CPUS", lambda j, now: _min_cpus(j)),
    "C": FieldDef("CPUS", lambda j, now: str(cpu_count(j))),
    "D": FieldDef("NODES", lambda j, now: str(node_count(j))),
    "e": FieldDef("END_TIME", _end_time),
    "E": FieldDef("DEPENDENCY", lambda j, now: _or_null(j.spec.attributes.get("dependency", ""))),
    "f": FieldDef("FEATURES", lambda j, now: _or_null("&".join(j.spec.resources.features))),
    "F": FieldDef("ARRAY_JOB_ID", lambda j, now: str(j.array_job_id or j.id)),
    "i": FieldDef("JOBID", lambda j, now: job_id(j)),
    "j": FieldDef("NAME", lambda j, now: j.spec.name),
    "k": FieldDef("COMMENT", lambda j, now: _or_null(j.spec.comment)),
    "K": FieldDef("ARRAY_TASK_ID", lambda j, now: str(j.array_task_id) if j.HasField("array_task_id")
                  else (compress_indices(j.spec.array.indices) or "N/A")),
    "l": FieldDef("TIME_LIMIT", lambda j, now: units.format_slurm_limit(time_limit(j))),
    "L": FieldDef("TIME_LEFT", _time_left),
    "m": FieldDef("MIN_MEMORY", lambda j, now: _min_memory(j)),
    "M": FieldDef("TIME", lambda j, now: units.format_slurm_elapsed(time_used(j, now))),
    "n": FieldDef("REQ_NODES", lambda j, now: j.spec.attributes.get("nodelist", "")),
    "N": FieldDef("NODELIST", lambda j, now: hostlist.compress(node_names(j))),
    "o": FieldDef("COMMAND", lambda j, now: _or_null(j.spec.attributes.get("command", ""))),
    "p": FieldDef("PRIORITY", lambda j, now: f"{max(0, j.priority) / _PRIORITY_SCALE:.14f}"),
    "P": FieldDef("PARTITION", lambda j, now: partition(j)),
    "q": FieldDef("QOS", lambda j, now: j.spec.attributes.get("qos", "normal")),
    "Q": FieldDef("PRIORITY", lambda j, now: str(j.priority)),
    "r": FieldDef("REASON", lambda j, now: reason(j)),
    "R": FieldDef("NODELIST(REASON)", lambda j, now: _nodelist_or_reason(j)),
    "S": FieldDef("START_TIME", _start_time),
    "t": FieldDef("ST", lambda j, now: states.slurm_code(j.state)),
    "T": FieldDef("STATE", lambda j, now: states.slurm_name(j.state)),
    "u": FieldDef("USER", lambda j, now: j.user),
    "V": FieldDef("SUBMIT_TIME", lambda j, now: units.format_iso(j.submit_time) if j.submit_time else "N/A"),
    "x": FieldDef("EXC_NODES", lambda j, now: hostlist.compress(j.spec.resources.exclude_nodes)),
    "y": FieldDef("NICE", lambda j, now: str(j.spec.nice)),
    "Z": FieldDef("WORK_DIR", lambda j, now: j.spec.workdir or j.spec.submit_dir),
}


# -- the -o format language -------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    """One ``%[.][width]letter``: right-justified with the dot, as wide as the value
    without a width, and always cut to the width."""
    letter: str
    width: int
    right: bool
    suffix: str            # the literal text up to the next field

    def render(self, text: str) -> str:
        if not self.width:
            return text + self.suffix
        cut = text[:self.width]
        return (cut.rjust(self.width) if self.right else cut.ljust(self.width)) + self.suffix


_SPEC = re.compile(r"%(\.?)-?(\d*)([A-Za-z])")   # "%-8j" is left-justified, as "%8j"


class FormatError(ValueError):
    pass


def parse_format(text: str) -> tuple[str, list[Field]]:
    """The text before the first field, and the fields. Raises FormatError naming an
    unknown field letter."""
    matches = list(_SPEC.finditer(text))
    fields = []
    for i, m in enumerate(matches):
        if m[3] not in FIELDS:
            raise FormatError(f"Invalid job format specification: {m[3]}")
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        fields.append(Field(m[3], int(m[2] or 0), m[1] == ".", text[m.end():end]))
    prefix = text[:matches[0].start()] if matches else text
    return prefix, fields


# -- tables -------------------------------------------------------------------------------

# Slurm's job_states order, which the default sort uses (pending first).
_STATE_ORDER = {S.PENDING: 0, S.HELD: 0, S.WAITING: 0, S.RUNNING: 1, S.COMPLETING: 1,
                S.COMPLETED: 3, S.CANCELLED: 4, S.FAILED: 5, S.TIMEOUT: 6, S.NODE_FAIL: 7,
                S.OUT_OF_MEMORY: 11}


def sort_jobs(jobs: Iterable[Job]) -> list[Job]:
    """squeue's default order ("P,t,-p"): partition, state, then priority, highest first."""
    return sorted(jobs, key=lambda j: (partition(j), _STATE_ORDER.get(j.state, 9), -j.priority,
                                       j.array_job_id or j.id, j.array_task_id, j.id))


def render(jobs: Sequence[Job], now: float, *, fmt: str = DEFAULT_FORMAT, header: bool = True,
           long: bool = False) -> str:
    """The whole of squeue's output for these jobs, in the order given."""
    if long and fmt == DEFAULT_FORMAT:
        fmt = LONG_FORMAT
    prefix, fields = parse_format(fmt)
    lines = []
    if long:
        lines.append(units.format_ctime(now))
    if header:
        lines.append(prefix + "".join(f.render(FIELDS[f.letter].header) for f in fields))
    for job in jobs:
        lines.append(prefix + "".join(f.render(FIELDS[f.letter].value(job, now)) for f in fields))
    return "".join(line + "\n" for line in lines)
