"""squeue's output as pure functions of (jobs, now, cluster): the ``-o`` format
language, its fields, the default and ``-l`` tables, and Slurm's default order.

Widths, headers and spellings follow Slurm 22.05 (shared/compat/slurm/squeue_*.txt).
"""
from __future__ import annotations

import math
import os
import re
import time
from collections import namedtuple
from collections.abc import Callable, Iterable, Sequence

from hpcq import filenames, hostlist, states, units
from hpcq.api.lite import jobs_pb2
from hpcq.shims import values
from hpcq.shims.submit_context import user_ids

S = jobs_pb2.JobState
Job = jobs_pb2.Job

DEFAULT_FORMAT = "%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R"
LONG_FORMAT = "%.18i %.9P %.8j %.8u %.8T %.10M %.9l %.6D %R"
START_FORMAT = "%.18i %.9P %.8j %.8u %.2t %.19S %.6D %20Y %R"

_PRIORITY_SCALE = float(2 ** 32 - 1)


# -- what squeue shows of a job ------------------------------------------------------

def job_id(job: Job) -> str:
    """``11243``, an array task ``11251_1``, the pending rest of an array ``11251_[7-10%2]``."""
    if job.HasField("array_task_id"):
        return f"{job.array_job_id or job.id}_{job.array_task_id}"
    if job.array_tasks_pending:  # ctld keeps the pending rest of an array in Slurm's own form
        limit = f"%{job.spec.array.max_running}" if job.spec.array.max_running else ""
        return f"{job.id}_[{job.array_tasks_pending}{limit}]"
    return str(job.id)


def partition(job: Job) -> str:
    return job.queue or job.spec.queue


def reason(job: Job) -> str:
    """The pending reason, or why it ended as it did; "None" when there is none. ctld
    records no reason for a job that ended by itself: Slurm's words are derived here
    (squeue_t_all_exit3_killsig.txt, scontrol_show_job_timeout.txt)."""
    if job.reason and job.reason != "None":
        return job.reason
    if job.state == S.FAILED:
        # Slurm 22.05 calls a batch script killed by a signal a launch failure.
        return "JobLaunchFailure" if job.signal else "NonZeroExitCode"
    ended = {S.TIMEOUT: "TimeLimit", S.OUT_OF_MEMORY: "OutOfMemory", S.NODE_FAIL: "NodeDown"}
    if job.state in ended:
        return ended[job.state]
    return job.reason or {S.HELD: "JobHeldUser", S.WAITING: "BeginTime"}.get(job.state, "None")


def priority(job: Job) -> int:
    """The priority Slurm shows: 0 for a held job (a hold is priority 0 in Slurm)."""
    return 0 if job.state == S.HELD else max(0, job.priority)


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


_DEPENDENCY_KINDS = {
    jobs_pb2.Dependency.AFTER: "after", jobs_pb2.Dependency.AFTER_OK: "afterok",
    jobs_pb2.Dependency.AFTER_NOT_OK: "afternotok", jobs_pb2.Dependency.AFTER_ANY: "afterany",
    jobs_pb2.Dependency.SINGLETON: "singleton",
}


def dependency(job: Job) -> str:
    """What squeue %E and scontrol's Dependency= show: the dependencies still waited on,
    each with its state (``afterok:11254(unfulfilled)``, ``(failed)`` once it can never
    be met); ``(null)`` when there are none left."""
    spec = job.spec
    if job.state not in states.QUEUED or not (spec.dependencies or spec.attributes.get("dependency")):
        return "(null)"
    status = "failed" if job.reason == "DependencyNeverSatisfied" else "unfulfilled"
    parts = []
    for dep in spec.dependencies:
        kind = _DEPENDENCY_KINDS.get(dep.kind, "after")
        if dep.kind == jobs_pb2.Dependency.SINGLETON:
            parts.append("singleton(unfulfilled)")
        parts += [f"{kind}:{i}({status})" for i in dep.job_ids]
        parts += [f"{kind}:{t.array_job_id}_{t.task}({status})" for t in dep.tasks]
    if not parts:      # not parsed by ctld (yet): the text as given
        return spec.attributes.get("dependency", "(null)")
    return ("?" if spec.dependency_any else ",").join(parts)


def exit_code(job: Job) -> str:
    """Slurm's ``ExitCode``: the script's status and the signal that ended it, ``3:0``, ``0:15``."""
    return f"{job.exit_code}:{job.signal}"


NO_ARRAY_INDEX = "4294967294"          # Slurm's %a of a job that is no array task (NO_VAL - 1)


def output_path(job: Job, which: str) -> str:
    """The stdout (``"o"``) or stderr (``"e"``) file of a Slurm job as scontrol shows it:
    ``slurm-%j.out`` by default, stderr with stdout, %-patterns expanded, in the job's
    working directory."""
    spec = job.spec
    pattern = spec.stdout_path if which == "o" or spec.join_output or not spec.stderr_path else spec.stderr_path
    # The pending rest of an array is an array record too: its %a is Slurm's "no task".
    array = job.HasField("array_task_id") or bool(job.array_tasks_pending)
    pattern = pattern or ("slurm-%A_%a.out" if array else "slurm-%j.out")
    nodes = node_names(job)
    values = {"j": str(job.id), "J": str(job.id), "x": spec.name, "u": job.user, "N": nodes[0] if nodes else "",
              "n": "0", "t": "0", "s": "4294967294", "A": str(job.array_job_id if array else job.id),
              "a": str(job.array_task_id) if job.HasField("array_task_id") else NO_ARRAY_INDEX}
    path = filenames.expand_slurm(pattern, values)
    directory = spec.workdir or spec.submit_dir
    return path if path.startswith("/") or not directory else f"{directory.rstrip('/')}/{path}"


def _nodelist_or_reason(job: Job) -> str:
    # As squeue: the reason for queued jobs and jobs that ended badly, else the nodes.
    if job.state in states.QUEUED or job.state in (S.FAILED, S.TIMEOUT, S.OUT_OF_MEMORY):
        return f"({reason(job)})"
    return hostlist.compress(node_names(job))


def expected_start(job: Job, now: float) -> float:
    """When a job started, or when it is expected to: its begin time, or the start the
    scheduler reserved for it (``squeue --start``); 0 when nobody knows."""
    if job.start_time and started(job):
        return job.start_time
    if job.state in states.QUEUED:
        if job.spec.begin_time > now or job.state == S.WAITING:
            # A retry waiting its backoff (retry_time) shows as a begin time, as in Slurm.
            return max(job.spec.begin_time, job.retry_time, job.planned_start_time)
        return job.planned_start_time
    return 0.0


def _start_time(job: Job, now: float) -> str:
    start = expected_start(job, now)
    return slurm_time(start) if start else "N/A"


def _end_time(job: Job, now: float) -> str:
    if job.end_time and states.is_finished(job.state):
        return slurm_time(job.end_time)
    start = expected_start(job, now)
    if start:
        limit = time_limit(job)
        return slurm_time(start + math.ceil(limit / 60) * 60) if limit else "NONE"
    return "N/A"


def _time_left(job: Job, now: float) -> str:
    limit = time_limit(job)
    if limit is None:
        return "UNLIMITED"
    # Whole seconds used, as TIME shows them; past the limit (a job not yet killed) INVALID.
    left = math.ceil(limit / 60) * 60 - int(time_used(job, now))
    return units.format_slurm_elapsed(left) if left >= 0 else "INVALID"


def _min_memory(job: Job) -> str:
    r = job.spec.resources
    mib = r.mem_per_node_mb or r.mem_per_cpu_mb
    return units.format_slurm_size(mib) if mib else "0"


def _min_cpus(job: Job) -> str:
    """CPUs a node must have: tasks per node (when asked for) times CPUs per task."""
    r = job.spec.resources
    return str((r.tasks_per_node or 1) * (r.cpus_per_task or 1))


def _array_tasks(job: Job) -> str:
    """%K: a task's index, or the indices still pending with the throttle (``7-10%2``)."""
    if job.HasField("array_task_id"):
        return str(job.array_task_id)
    if job.array_tasks_pending:
        limit = f"%{job.spec.array.max_running}" if job.spec.array.max_running else ""
        return job.array_tasks_pending + limit
    return "N/A"


def _or_null(text: str) -> str:
    return text or "(null)"


class FieldDef(namedtuple("FieldDef", "header value")):
    __slots__ = ()
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
    "E": FieldDef("DEPENDENCY", lambda j, now: dependency(j)),
    "f": FieldDef("FEATURES", lambda j, now: _or_null("&".join(j.spec.resources.features))),
    "F": FieldDef("ARRAY_JOB_ID", lambda j, now: str(j.array_job_id or j.id)),
    "i": FieldDef("JOBID", lambda j, now: job_id(j)),
    "j": FieldDef("NAME", lambda j, now: j.spec.name),
    "k": FieldDef("COMMENT", lambda j, now: _or_null(j.spec.comment)),
    "K": FieldDef("ARRAY_TASK_ID", lambda j, now: _array_tasks(j)),
    "l": FieldDef("TIME_LIMIT", lambda j, now: units.format_slurm_limit(time_limit(j))),
    "L": FieldDef("TIME_LEFT", _time_left),
    "m": FieldDef("MIN_MEMORY", lambda j, now: _min_memory(j)),
    "M": FieldDef("TIME", lambda j, now: units.format_slurm_elapsed(time_used(j, now))),
    "n": FieldDef("REQ_NODES", lambda j, now: j.spec.attributes.get("nodelist", "")),
    "N": FieldDef("NODELIST", lambda j, now: hostlist.compress(node_names(j))),
    "o": FieldDef("COMMAND", lambda j, now: _or_null(j.spec.attributes.get("command", ""))),
    "p": FieldDef("PRIORITY", lambda j, now: f"{priority(j) / _PRIORITY_SCALE:.14f}"),
    "P": FieldDef("PARTITION", lambda j, now: partition(j)),
    "q": FieldDef("QOS", lambda j, now: j.spec.attributes.get("qos", "normal")),
    "Q": FieldDef("PRIORITY", lambda j, now: str(priority(j))),
    "r": FieldDef("REASON", lambda j, now: reason(j)),
    "R": FieldDef("NODELIST(REASON)", lambda j, now: _nodelist_or_reason(j)),
    "S": FieldDef("START_TIME", _start_time),
    "t": FieldDef("ST", lambda j, now: states.slurm_code(j.state)),
    "T": FieldDef("STATE", lambda j, now: states.slurm_name(j.state)),
    "u": FieldDef("USER", lambda j, now: j.user),
    "V": FieldDef("SUBMIT_TIME", lambda j, now: slurm_time(j.submit_time) if j.submit_time else "N/A"),
    "x": FieldDef("EXC_NODES", lambda j, now: hostlist.compress(j.spec.resources.exclude_nodes)),
    "y": FieldDef("NICE", lambda j, now: str(j.spec.nice)),
    "Y": FieldDef("SCHEDNODES", lambda j, now: "(null)"),
    # The rest of %all's columns; hpcq has nothing to put in most.
    "d": FieldDef("MIN_TMP_DISK", lambda j, now: "0"),
    "g": FieldDef("GROUP", lambda j, now: _group(j)[0]),
    "G": FieldDef("GROUP", lambda j, now: _group(j)[1]),
    "h": FieldDef("OVER_SUBSCRIBE", lambda j, now: "NO" if j.spec.resources.exclusive else "OK"),
    "H": FieldDef("SOCKETS_PER_NODE", lambda j, now: "*"),
    "I": FieldDef("CORES_PER_SOCKET", lambda j, now: "*"),
    "J": FieldDef("THREADS_PER_CORE", lambda j, now: "*"),
    "O": FieldDef("CONTIGUOUS", lambda j, now: "0"),
    "s": FieldDef("", lambda j, now: ""),
    "U": FieldDef("UID", lambda j, now: _group(j)[2]),
    "v": FieldDef("RESERVATION", lambda j, now: "(null)"),
    "w": FieldDef("WCKEY", lambda j, now: _or_null(j.spec.attributes.get("wckey", ""))),
    "W": FieldDef("LICENSES", lambda j, now: _or_null(",".join(f"{k}:{v}" for k, v in
                                                               sorted(j.spec.resources.licenses.items())))),
    "X": FieldDef("CORE_SPEC", lambda j, now: "N/A"),
    "z": FieldDef("S:C:T", lambda j, now: "*:*:*"),
    "Z": FieldDef("WORK_DIR", lambda j, now: j.spec.workdir or j.spec.submit_dir),
}


# -- the -o format language -------------------------------------------------------------

class Field(namedtuple("Field", "letter width right suffix")):
    """One ``%[.][width]letter``: right-justified with the dot, as wide as the value
    without a width, and always cut to the width."""
    __slots__ = ()
    letter: str
    width: int
    right: bool
    suffix: str            # the literal text up to the next field

    def render(self, text: str, *, cut: bool = True) -> str:
        return justify(text, self.width, self.right, cut) + self.suffix


def justify(text: str, width: int, right: bool, cut: bool = True) -> str:
    """A value in its field: padded to the width (none: as it is) and cut to it. "(null)"
    stands for Slurm's NULL string, which printf's "%.Ns" prints as nothing when N < 6."""
    if not width:
        return text
    if text == "(null)" and width < len(text):
        text = ""
    shown = text[:width] if cut else text
    return shown.rjust(width) if right else shown.ljust(width)


# One ``%`` token: ``[.][width]letter`` and the literal text up to the next ``%``.
_TOKEN = re.compile(r"(\.?)(\d*)(.?)", re.S)


class FormatError(ValueError):
    pass


# %all: every field, in Slurm's order (lower case a-z, then upper case), "|" between.
ALL_FORMAT = "|".join(f"%{c}" for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c in FIELDS)


def _group(job: Job) -> tuple[str, str, str]:
    """(group name, gid, uid) of the job's owner on this host."""
    uid, group, gid = user_ids(job.user)
    return group or "(null)", "" if gid is None else str(gid), "" if uid is None else str(uid)


def _tokens(text: str) -> tuple[str, list[tuple[re.Match[str], str]]]:
    """The pieces of a squeue -o format, each parsed as ``[.][width]letter suffix``."""
    return values.percent_pieces(text, _TOKEN)


def parse_format(text: str) -> tuple[str, list[Field]]:
    """The text before the first field, and the fields. ``%all`` is every field. A piece
    whose letter is no field is printed as written (``%!``), as squeue does after saying
    so (format_errors)."""
    if text == "%all":
        text = ALL_FORMAT
    prefix, tokens = _tokens(text)
    fields = []
    for m, token in tokens:
        if m[3] in FIELDS:
            fields.append(Field(m[3], min(int(m[2] or 0), values.MAX_FIELD_WIDTH), m[1] == ".", token[m.end():]))
        else:
            fields.append(Field("", 0, False, "%" + token))
    return prefix, fields


def format_errors(text: str) -> list[str]:
    """squeue's complaint for each piece of a -o format whose letter is no field."""
    if text == "%all":
        return []
    return [f"Invalid job format specification: {m[3]}" for m, _ in _tokens(text)[1] if m[3] not in FIELDS]


# -- tables -------------------------------------------------------------------------------



def sort_jobs(jobs: Iterable[Job]) -> list[Job]:
    """squeue's default order ("P,t,-p"): partition, state, then priority, highest first.
    squeue orders states by their compact names (``CA`` ``CD`` ``F`` ``PD`` ``R`` ``TO``)."""
    return sorted(jobs, key=lambda j: (partition(j), states.slurm_code(j.state), -priority(j),
                                       j.array_job_id or j.id, j.array_task_id, j.id))


def render(jobs: Sequence[Job], now: float, *, fmt: str = DEFAULT_FORMAT, header: bool = True,
           long: bool = False) -> str:
    """The whole of squeue's output for these jobs, in the order given."""
    if long and fmt == DEFAULT_FORMAT:
        fmt = LONG_FORMAT
    prefix, fields = parse_format(fmt)
    lines = []
    if long:
        lines.append(long_header_time(now))
    if header:
        # squeue prints a right-justified NODELIST(REASON) header whole, whatever the width.
        lines.append(prefix + "".join(f.render(FIELDS[f.letter].header if f.letter else "",
                                               cut=not (f.letter == "R" and f.right)) for f in fields))
    for job in jobs:
        lines.append(prefix + "".join(f.render(FIELDS[f.letter].value(job, now) if f.letter else "") for f in fields))
    return "".join(line + "\n" for line in lines)


def slurm_time(seconds: float, now: float | None = None) -> str:
    """A time as Slurm's commands print it, after SLURM_TIME_FORMAT: ``standard`` (the
    default, ``2026-11-23T13:08:05``), ``relative`` (``13:08:05`` today, ``Tomorr 13:08``,
    ``Ystday 13:08``, ``Mon 13:08`` within a week, ``23 Nov 13:08``, ``23 Nov 2027``), or a
    strftime format. Local time."""
    fmt = os.environ.get("SLURM_TIME_FORMAT", "standard")
    t = time.localtime(seconds)
    if fmt == "relative":
        today = time.localtime(time.time() if now is None else now)
        days = _day_number(t) - _day_number(today)
        if days == 0:
            fmt = "%H:%M:%S"
        elif days in (1, -1):
            fmt = ("Tomorr" if days == 1 else "Ystday") + " %H:%M"
        elif -7 < days < 7:
            fmt = "%a %H:%M"
        else:
            fmt = f"{t.tm_mday} %b %H:%M" if t.tm_year == today.tm_year else f"{t.tm_mday} %b %Y"
    elif "%" not in fmt:
        fmt = "%Y-%m-%dT%H:%M:%S"
    return time.strftime(fmt, t)


def _day_number(t: time.struct_time) -> int:
    """Days since the epoch of a local date (noon of it: no daylight-saving edge); the
    commands import no datetime (tests/unit/test_startup_imports.py)."""
    return int(time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 12, 0, 0, 0, 0, -1)) // 86400)


def long_header_time(now: float) -> str:
    """The date line of squeue -l and sinfo -l: ctime's fields, the day zero-padded
    (``Sat Dec 05 23:31:38 2026``), as Slurm's slurm_ctime2 prints it."""
    return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(now))


def sort_by_start(jobs: Iterable[Job], now: float) -> list[Job]:
    """``squeue --start``: jobs with a known start first, soonest first; then the others;
    equal starts by job id (squeue sorts by start time alone, over slurmctld's id order)."""
    return sorted(jobs, key=lambda j: (expected_start(j, now) == 0, expected_start(j, now), j.array_job_id or j.id,
                                       j.array_task_id, j.id))


# -- -S: sorting by fields ------------------------------------------------------------------

# %i sorts by the record's own id (an array task's is its own, as in Slurm).
_NUMERIC_SORT = {"i": lambda j: j.id, "A": lambda j: j.id,
                 "F": lambda j: j.array_job_id or j.id, "p": lambda j: j.priority, "Q": lambda j: j.priority,
                 "D": node_count, "C": cpu_count, "y": lambda j: j.spec.nice}
# (t and T sort by their text, as squeue compares state names.)


def parse_sort(text: str) -> list[tuple[str, bool]]:
    """``-S``'s list: field letters, each with an optional ``+`` (ascending) or ``-``."""
    keys = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        descending = item.startswith("-")
        letter = item.lstrip("+-")
        if len(letter) != 1 or letter not in FIELDS:
            raise FormatError(f"Invalid sort specification: {item}")
        keys.append((letter, descending))
    return keys


def sort_by(jobs: Iterable[Job], keys: Sequence[tuple[str, bool]], now: float) -> list[Job]:
    """Jobs ordered by these fields, the first the most significant."""
    out = list(jobs)
    for letter, descending in reversed(keys):
        value = _NUMERIC_SORT.get(letter)
        key = (lambda j, v=value: v(j)) if value else (lambda j, f=FIELDS[letter]: f.value(j, now))
        out.sort(key=key, reverse=descending)
    return out


# -- -O / --Format: fields by name ----------------------------------------------------------------

def _named(letter: str) -> Callable[[Job, float], str]:
    return FIELDS[letter].value


def _iso_or_na(seconds: float) -> str:
    return slurm_time(seconds) if seconds else "N/A"


def eligible(job: Job) -> str:
    """When the job became eligible to run: N/A while held, waiting on a dependency or a
    throttle, or never considered (the pending rest of an array)."""
    if job.state == S.HELD or job.array_tasks_pending or job.reason in _NOT_ELIGIBLE:
        return "N/A"
    if states.is_finished(job.state) and not job.start_time:
        return "N/A"
    return _iso_or_na(job.eligible_time or job.submit_time)


def _accrue(job: Job) -> str:
    """When the job began to accrue age priority; an array's tasks do not."""
    if job.HasField("array_task_id") or job.array_tasks_pending:
        return "N/A"
    return eligible(job)


_NOT_ELIGIBLE = {"Dependency", "DependencyNeverSatisfied", "BeginTime", "JobArrayTaskLimit"}


def _pending_seconds(job: Job, now: float) -> str:
    """PendingTime: seconds from eligible to start (or to now while pending)."""
    since = job.eligible_time or job.submit_time
    if eligible(job) == "N/A" or not since:
        return "0"
    end = job.start_time if job.start_time else (0 if states.is_finished(job.state) else now)
    return str(max(0, int(end - since))) if end else "0"


def _batch_host(job: Job) -> str:
    return (node_names(job) or ["n/a"])[0]


def _exit_status(job: Job) -> str:
    """-O exit_code: the wait status, as the kernel reports it (3 << 8, or the signal)."""
    return str((job.exit_code << 8) | job.signal)


def _named_output_path(job: Job, which: str) -> str:
    """-O STDOUT/STDERR: as scontrol's, but a job that named no file shows squeue's own
    default, ``slurm-<its record id>.out``, array or not."""
    spec = job.spec
    if spec.stdout_path or (which == "e" and spec.stderr_path and not spec.join_output):
        return output_path(job, which)
    directory = spec.workdir or spec.submit_dir
    return f"{directory.rstrip('/')}/slurm-{job.id}.out" if directory else f"slurm-{job.id}.out"


def _constant(text: str) -> Callable[[Job, float], str]:
    return lambda j, now: text


# squeue(1) "-O <output_format>": name -> (header, value), every documented name; names
# are case-insensitive. Fields for what hpcq has no notion of (burst buffers, federation,
# boards, switches) print what Slurm prints for a job that uses none.
NAMED_FIELDS: dict[str, tuple[str, Callable[[Job, float], str]]] = {
    "account": ("ACCOUNT", _named("a")),
    "accruetime": ("ACCRUE_TIME", lambda j, now: _accrue(j)),
    "admin_comment": ("ADMIN_COMMENT", _constant("(null)")),
    "allocnodes": ("ALLOC_NODES", lambda j, now: j.spec.submit_host or "localhost"),
    "allocsid": ("ALLOC_SID", _constant("0")),
    "arrayjobid": ("ARRAY_JOB_ID", _named("F")),
    "arraytaskid": ("ARRAY_TASK_ID", _named("K")),
    "associd": ("ASSOC_ID", _constant("0")),
    "batchflag": ("BATCH_FLAG", _constant("1")),
    "batchhost": ("EXEC_HOST", lambda j, now: _batch_host(j)),
    "boardspernode": ("BOARDS_PER_NODE", _constant("0")),
    "burstbuffer": ("BURST_BUFFER", _constant("(null)")),
    "burstbufferstate": ("BURST_BUFFER_STATE", _constant("(null)")),
    "cluster": ("CLUSTER", _constant("")),      # render_named's cluster
    "clusterfeature": ("CLUSTER_FEATURES", _constant("(null)")),
    "command": ("COMMAND", _named("o")),
    "comment": ("COMMENT", _named("k")),
    "contiguous": ("CONTIGUOUS", _constant("0")),
    "container": ("CONTAINER", _constant("(null)")),
    "cores": ("CORES_PER_SOCKET", _constant("*")),
    "corespec": ("CORE_SPEC", _constant("N/A")),
    "cpus-per-task": ("CPUS_PER_TASK", lambda j, now: str(j.spec.resources.cpus_per_task or 1)),
    "cpuspertask": ("CPUS_PER_TASK", lambda j, now: str(j.spec.resources.cpus_per_task or 1)),
    "deadline": ("DEADLINE", _constant("N/A")),
    "delayboot": ("DELAY_BOOT", _constant("0:00")),
    "dependency": ("DEPENDENCY", _named("E")),
    "derivedec": ("DERIVED_EC", _constant("0")),
    "eligibletime": ("ELIGIBLE_TIME", lambda j, now: eligible(j)),
    "endtime": ("END_TIME", _named("e")),
    "exit_code": ("EXIT_CODE", lambda j, now: _exit_status(j)),
    "feature": ("FEATURES", _named("f")),
    "groupid": ("GROUP", _named("G")),
    "groupname": ("GROUP", _named("g")),
    "hetjobid": ("HET_JOB_ID", _constant("N/A")),
    "hetjobidset": ("HET_JOB_ID_SET", _constant("N/A")),
    "hetjoboffset": ("HET_JOB_OFFSET", _constant("N/A")),
    "jobarrayid": ("JOBID", _named("i")),
    "jobid": ("JOBID", lambda j, now: str(j.id)),
    "lastschedeval": ("LAST_SCHED_EVAL", lambda j, now: _iso_or_na(j.start_time or j.submit_time)),
    "licenses": ("LICENSES", _named("W")),
    "maxcpus": ("MAX_CPUS", lambda j, now: _min_cpus(j)),
    "maxnodes": ("MAX_NODES", lambda j, now: str(j.spec.resources.nodes or 1)),
    "mcslabel": ("MCSLABEL", _constant("(null)")),
    "mincpus": ("MIN_CPUS", _named("c")),
    "minmemory": ("MIN_MEMORY", _named("m")),
    "mintime": ("TIME_MIN", _constant("0:00")),
    "mintmpdisk": ("MIN_TMP_DISK", _named("d")),
    "name": ("NAME", _named("j")),
    "network": ("NETWORK", _constant("(null)")),
    "nice": ("NICE", _named("y")),
    "nodelist": ("NODELIST", _named("N")),
    "ntperboard": ("NTASKS_PER_BOARD", _constant("0")),
    "ntpercore": ("NTASKS_PER_CORE", _constant("N/A")),
    "ntpernode": ("NTASKS_PER_NODE", lambda j, now: str(j.spec.resources.tasks_per_node)),
    "ntpersocket": ("NTASKS_PER_SOCKET", _constant("N/A")),
    "numcpus": ("CPUS", _named("C")),
    "numnodes": ("NODES", _named("D")),
    "numtasks": ("TASKS", lambda j, now: str(requested_tasks(j.spec.resources))),
    "origin": ("ORIGIN", _constant("NA")),
    "originraw": ("ORIGIN_RAW", _constant("NA")),
    "oversubscribe": ("OVER_SUBSCRIBE", _named("h")),
    "partition": ("PARTITION", _named("P")),
    "pendingtime": ("PENDING_TIME", _pending_seconds),
    "preempttime": ("PREEMPT_TIME", _constant("N/A")),
    "prefer": ("PREFER", _constant("(null)")),
    "priority": ("PRIORITY", _named("p")),
    "prioritylong": ("PRIORITY", _named("Q")),
    "profile": ("PROFILE", _constant("NotSet")),
    "qos": ("QOS", _named("q")),
    "reason": ("REASON", _named("r")),
    "reasonlist": ("NODELIST(REASON)", _named("R")),
    "reboot": ("REBOOT", _constant("0")),
    "reqnodes": ("REQ_NODES", _named("n")),
    "reqswitch": ("REQ_SWITCH", _constant("0")),
    "requeue": ("REQUEUE", lambda j, now: "0" if j.spec.HasField("requeue") and not j.spec.requeue else "1"),
    "reservation": ("RESERVATION", _named("v")),
    "resizetime": ("RESIZE_TIME", _constant("N/A")),
    "restartcnt": ("RESTART_COUNT", lambda j, now: str(max(0, j.attempt - 1))),
    "schednodes": ("SCHEDNODES", _named("Y")),
    "sct": ("S:C:T", _named("z")),
    "selectjobinfo": ("", _constant("")),
    "siblingsactive": ("ACTIVE_SIBLINGS", _constant("NA")),
    "siblingsactiveraw": ("ACTIVE_SIBLINGS_RAW", _constant("NA")),
    "siblingsviable": ("VIABLE_SIBLINGS", _constant("NA")),
    "siblingsviableraw": ("VIALBLE_SIBLINGS_RAW", _constant("NA")),   # sic, as squeue spells it
    "sockets": ("SOCKETS_PER_NODE", _named("H")),
    "sperboard": ("SOCKETS_PER_BOARD", _constant("0")),
    "starttime": ("START_TIME", _named("S")),
    "state": ("STATE", _named("T")),
    "statecompact": ("ST", _named("t")),
    "stderr": ("STDERR", lambda j, now: _named_output_path(j, "e")),
    "stdin": ("STDIN", lambda j, now: j.spec.attributes.get("input") or "/dev/null"),
    "stdout": ("STDOUT", lambda j, now: _named_output_path(j, "o")),
    "submittime": ("SUBMIT_TIME", _named("V")),
    "system_comment": ("SYSTEM_COMMENT", _constant("(null)")),
    "threads": ("THREADS_PER_CORE", _named("J")),
    "timeleft": ("TIME_LEFT", _named("L")),
    "timelimit": ("TIME_LIMIT", _named("l")),
    "timeused": ("TIME", _named("M")),
    "userid": ("UID", _named("U")),
    "username": ("USER", _named("u")),
    "wait4switch": ("WAIT4SWITCH", _constant("0:00")),
    "wckey": ("WCKEY", _named("w")),
    "workdir": ("WORK_DIR", _named("Z")),
}
NAMED_DEFAULT_WIDTH = 20


class NamedField(namedtuple("NamedField", "name width right suffix")):
    """One ``name[:[.][width][suffix]]`` of -O: 20 wide without a ``:``, as wide as the
    value with ``:`` and no width; cut to the width; the suffix after it."""
    __slots__ = ()
    name: str
    width: int
    right: bool
    suffix: str

    def render(self, text: str, *, cut: bool = True) -> str:
        return justify(text, self.width, self.right, cut) + self.suffix


_WIDTH = re.compile(r"\s*([+-]?\d*)")


def _named_tokens(text: str) -> list[tuple[str, NamedField]]:
    """Each comma-separated piece (empty ones skipped) as squeue parses it: the name up to
    the first ``:``, then ``.`` to right-justify, a number (strtol's) and the suffix."""
    found = []
    for item in text.split(","):
        if not item:
            continue
        name, colon, rest = item.partition(":")
        if not colon:
            found.append((name, NamedField(name.lower(), NAMED_DEFAULT_WIDTH, False, "")))
            continue
        right = rest.startswith(".")
        rest = rest[1:] if right else rest
        m = _WIDTH.match(rest)
        assert m is not None
        digits = m[1] if m[1] not in ("", "+", "-") else ""
        width = min(max(int(digits), 0), values.MAX_FIELD_WIDTH) if digits else 0
        suffix = rest[m.end():] if digits else rest
        found.append((name, NamedField(name.lower(), width, right, suffix)))
    return found


def parse_named_format(text: str) -> list[NamedField]:
    """``JobID,State:10,Reason:.30|``: the fields squeue knows; of the others, which it
    names (named_format_errors), only the suffix is printed."""
    return [f if f.name in NAMED_FIELDS else NamedField("", 0, False, f.suffix) for _, f in _named_tokens(text)]


def named_format_errors(text: str) -> list[str]:
    return [f"Invalid job format specification: {name}" for name, f in _named_tokens(text)
            if f.name not in NAMED_FIELDS]


def render_named(jobs: Sequence[Job], now: float, fields: Sequence[NamedField], *, header: bool = True,
                 cluster: str = "") -> str:
    """``squeue -O``'s output (squeue_O_JobID_State_Reason.txt): every column padded, the last
    too. `cluster`: the Cluster field's value."""
    def value(f: NamedField, job: Job) -> str:
        if not f.name:
            return ""
        return cluster if f.name == "cluster" else NAMED_FIELDS[f.name][1](job, now)

    lines = []
    if header:
        lines.append("".join(f.render(NAMED_FIELDS[f.name][0] if f.name else "",
                                      cut=not (f.name == "reasonlist" and f.right)) for f in fields))
    for job in jobs:
        lines.append("".join(f.render(value(f, job)) for f in fields))
    return "".join(line + "\n" for line in lines)
