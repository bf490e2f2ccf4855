"""sacct's output as pure functions of (jobs, now): the field table, the rows of a job
(the allocation, then its ``.batch`` step once it ran), and the three layouts —
fixed-width columns, ``--parsable`` and ``--parsable2``.

Widths, names and spellings follow Slurm 22.05 (src/sacct/sacct.c and
shared/compat/slurm/sacct_*.txt): a positive width right-justifies, a negative one
left-justifies, and a value longer than its column is cut with ``+`` in the last place.
"""
from __future__ import annotations

import math
import re
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence

from hpcq import hostlist, states, units
from hpcq.api.lite import jobs_pb2
from hpcq.shims import values
from hpcq.shims.slurm import squeue_format as sq
from hpcq.shims.slurm.scontrol_format import duration
from hpcq.shims.submit_context import user_ids

S = jobs_pb2.JobState
Job = jobs_pb2.Job

DEFAULT_FIELDS = "JobID,JobName,Partition,Account,AllocCPUS,State,ExitCode"
BRIEF_FIELDS = "JobID,State,ExitCode"
LONG_FIELDS = ("JobID,JobIDRaw,JobName,Partition,MaxVMSize,MaxVMSizeNode,MaxVMSizeTask,AveVMSize,MaxRSS,"
               "MaxRSSNode,MaxRSSTask,AveRSS,MaxPages,MaxPagesNode,MaxPagesTask,AvePages,MinCPU,MinCPUNode,"
               "MinCPUTask,AveCPU,NTasks,AllocCPUS,Elapsed,State,ExitCode,AveCPUFreq,ReqCPUFreqMin,"
               "ReqCPUFreqMax,ReqCPUFreqGov,ReqMem,ConsumedEnergy,MaxDiskRead,MaxDiskReadNode,"
               "MaxDiskReadTask,AveDiskRead,MaxDiskWrite,MaxDiskWriteNode,MaxDiskWriteTask,AveDiskWrite,"
               "ReqTRES,AllocTRES,TRESUsageInAve,TRESUsageInMax,TRESUsageInMaxNode,TRESUsageInMaxTask,"
               "TRESUsageInMin,TRESUsageInMinNode,TRESUsageInMinTask,TRESUsageInTot,TRESUsageOutMax,"
               "TRESUsageOutMaxNode,TRESUsageOutMaxTask,TRESUsageOutAve,TRESUsageOutTot")


class Row(namedtuple("Row", "job step record view requeued", defaults=("", None, None, False))):
    """One line of sacct: a job's allocation, its batch step (``step`` is "batch"), or
    one of its srun steps (``step`` is "0", "1", ...; `record` the step, `view` the job
    as that step saw it, for the fields a step shares with the batch step)."""
    __slots__ = ()
    job: Job
    step: str
    record: jobs_pb2.JobStep | None
    view: Job | None

    @property
    def is_step(self) -> bool:
        return bool(self.step)


def step_view(job: Job, step: jobs_pb2.JobStep) -> Job:
    """The job as one srun step saw it: the step's times, outcome, usage and share of
    the allocation, so that the batch step's field functions read the step."""
    view = Job()
    view.CopyFrom(job)
    view.ClearField("steps")
    view.start_time, view.end_time, view.state = step.start_time, step.end_time, step.state
    view.exit_code, view.signal = step.exit_code, step.signal
    view.cpu_seconds, view.max_rss_kb = step.cpu_seconds, step.max_rss_kb
    view.user_cpu_seconds = view.system_cpu_seconds = 0.0   # a step's CPU is not split
    del view.allocation.slices[:]
    for node, tasks in zip(step.nodes, step.tasks_per_node, strict=False):
        view.allocation.slices.add(node=node, cpus=tasks * (step.cpus_per_task or 1))
    return view


# -- what sacct shows of a job ----------------------------------------------------------------

def job_id(row: Row) -> str:
    job = row.job
    if job.HasField("array_task_id"):
        text = f"{job.array_job_id or job.id}_{job.array_task_id}"
    elif job.spec.array.tasks and job.array_tasks_pending:
        limit = f"%{job.spec.array.max_running}" if job.spec.array.max_running else ""
        text = f"{job.id}_[{job.array_tasks_pending}{limit}]"
    else:
        text = str(job.id)
    return f"{text}.{row.step}" if row.step else text


def ran(job: Job) -> bool:
    return job.start_time > 0 and job.state not in states.QUEUED


def cancelled_by(job: Job) -> str:
    """``CANCELLED by 0``: the uid of who cancelled, as Slurm records it (the name when
    this host does not know the user)."""
    if not job.cancelled_by:
        return "CANCELLED"
    uid = user_ids(job.cancelled_by)[0]
    return f"CANCELLED by {job.cancelled_by if uid is None else uid}"


def state(row: Row) -> str:
    job = row.job
    if row.record is not None:
        return states.slurm_name(row.record.state)
    if row.is_step:
        # The batch step of a job that was killed (cancelled, walltime, a signal) was cancelled.
        if job.state in (S.CANCELLED, S.TIMEOUT) or job.signal:
            return "CANCELLED"
        return states.slurm_name(job.state)
    if row.requeued:
        return "REQUEUED"
    if job.state == S.CANCELLED:
        return cancelled_by(job)
    return states.slurm_name(job.state)


def exit_code(row: Row) -> str:
    """The step shows the signal that killed it; the job only when the job itself died of
    it, not when Slurm sent it (cancel, walltime)."""
    job = row.job
    if row.record is not None:
        return f"{row.record.exit_code}:{row.record.signal}"
    if row.requeued:
        return "0:0"
    if row.is_step or job.state not in (S.CANCELLED, S.TIMEOUT):
        return f"{job.exit_code}:{job.signal}"
    return f"{job.exit_code}:0"


def elapsed(job: Job, now: float) -> float:
    if not ran(job):
        return 0.0
    end = job.end_time if states.is_finished(job.state) and job.end_time else now
    return max(0.0, end - job.start_time)


def _date(seconds: float) -> str:
    return sq.slurm_time(seconds) if seconds else "Unknown"


def _start(job: Job) -> str:
    if ran(job):
        return _date(job.start_time)
    if states.is_finished(job.state):
        return _date(job.end_time)       # never ran: start = end, as Slurm records it
    return "Unknown"


def _end(job: Job) -> str:
    return _date(job.end_time) if states.is_finished(job.state) else "Unknown"


def _eligible(job: Job) -> str:
    if job.state == S.HELD or job.reason in ("Dependency", "DependencyNeverSatisfied") or job.array_tasks_pending:
        return "Unknown"
    return _date(max(job.eligible_time, job.spec.begin_time) or job.submit_time)


def _timelimit(job: Job) -> str:
    limit = sq.time_limit(job)
    return duration(math.ceil(limit / 60) * 60) if limit else "UNLIMITED"


def _req_mem(job: Job) -> str:
    r = job.spec.resources
    if r.mem_per_cpu_mb:
        return f"{units.format_slurm_size(r.mem_per_cpu_mb)}c"
    return units.format_slurm_size(r.mem_per_node_mb) if r.mem_per_node_mb else "0"


def _tres(job: Job, allocated: bool, *, billing: bool = True) -> str:
    """``billing=1,cpu=1,node=1`` (a step's has no billing)."""
    if allocated and not ran(job):
        return ""
    cpus, nodes = sq.cpu_count(job), sq.node_count(job)
    r = job.spec.resources
    mem = sum(p.mem_mb for p in job.allocation.slices) if allocated else \
        (r.mem_per_node_mb * nodes or r.mem_per_cpu_mb * cpus)
    # A step's allocation names its memory even when it is none (mem=0), the job's only some.
    parts = ([f"billing={cpus}"] if billing else []) + [f"cpu={cpus}"] + \
        ([f"mem={units.format_slurm_size(mem)}"] if mem else [] if billing or not allocated else ["mem=0"])
    return ",".join(parts + [f"node={nodes}"])


def _uid(job: Job) -> str:
    uid = user_ids(job.user)[0]
    return "" if uid is None else str(uid)


def _group(job: Job) -> tuple[str, str]:
    _, group, gid = user_ids(job.user)
    return group, "" if gid is None else str(gid)


def _nodes(job: Job) -> str:
    names = sq.node_names(job)
    return hostlist.compress(names) if names else "None assigned"


def _rss(job: Job) -> str:
    return f"{job.max_rss_kb}K" if job.max_rss_kb else ""


def _sampled(value: Callable[[Job], str]) -> Callable[[Job, float], str]:
    """A usage statistic of the batch step: blank unless the node reported usage, as
    sacct leaves a step's statistics blank when none were gathered."""
    return lambda j, now: value(j) if j.max_rss_kb else ""


def user_cpu(job: Job) -> float:
    """UserCPU: TotalCPU less SystemCPU, so that the two add up to TotalCPU also for a
    record that has no split (an srun step's, or one stored before the split was kept)."""
    return max(0.0, job.cpu_seconds - job.system_cpu_seconds)


def _first_node(job: Job) -> str:
    return (sq.node_names(job) or [""])[0]


def _cpu_time(seconds: float) -> str:
    """TotalCPU's ``MM:SS.mmm`` / ``HH:MM:SS`` / ``D-HH:MM:SS``."""
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{int(minutes):02d}:{rest:06.3f}"
    return duration(seconds)


class FieldDef(namedtuple("FieldDef", "name width job step", defaults=(None,))):
    __slots__ = ()
    name: str
    width: int                                        # negative: left-justified
    job: Callable[[Job, float], str]                  # the allocation's value
    step: Callable[[Job, float], str] | None          # the batch step's; None: blank


def _f(name: str, width: int, job: Callable[[Job, float], str],
       step: Callable[[Job, float], str] | str | None = "same") -> FieldDef:
    return FieldDef(name, width, job, job if step == "same" else step)  # type: ignore[arg-type]


_BLANK: Callable[[Job, float], str] = lambda j, now: ""  # noqa: E731

# sacct.c's fields[] (22.05): name, width, value. Fields hpcq has no data for print blank.
FIELDS: list[FieldDef] = [
    _f("Account", 10, lambda j, now: j.spec.account),
    _f("AdminComment", 15, _BLANK),
    _f("AllocCPUS", 10, lambda j, now: str(sq.cpu_count(j))),
    _f("AllocNodes", 10, lambda j, now: str(sq.node_count(j)) if ran(j) else "0"),
    _f("AllocTRES", 10, lambda j, now: _tres(j, True), lambda j, now: _tres(j, True, billing=False)),
    _f("AssocID", 7, _BLANK),
    _f("AveCPU", 10, _BLANK, _sampled(lambda j: duration(j.cpu_seconds))),
    _f("AveCPUFreq", 10, _BLANK, lambda j, now: "0"),
    _f("AveDiskRead", 14, _BLANK),
    _f("AveDiskWrite", 14, _BLANK),
    _f("AvePages", 10, _BLANK),
    _f("AveRSS", 10, _BLANK, lambda j, now: _rss(j)),
    _f("AveVMSize", 10, _BLANK),
    _f("BlockID", 16, _BLANK),
    _f("Cluster", 10, _BLANK),
    _f("Comment", 14, lambda j, now: j.spec.comment, None),
    _f("Constraints", 19, lambda j, now: "&".join(j.spec.resources.features), None),
    _f("ConsumedEnergy", 14, _BLANK, lambda j, now: "0"),
    _f("ConsumedEnergyRaw", 17, _BLANK, lambda j, now: "0"),
    _f("Container", 19, _BLANK),
    _f("CPUTime", 10, lambda j, now: duration(elapsed(j, now) * sq.cpu_count(j))),
    _f("CPUTimeRAW", 10, lambda j, now: str(int(elapsed(j, now)) * sq.cpu_count(j))),
    _f("DerivedExitCode", 15, lambda j, now: "0:0", None),
    _f("Elapsed", 10, lambda j, now: duration(elapsed(j, now))),
    _f("ElapsedRaw", 10, lambda j, now: str(int(elapsed(j, now)))),
    _f("Eligible", 19, lambda j, now: _eligible(j)),
    _f("End", 19, lambda j, now: _end(j)),
    _f("ExitCode", 8, _BLANK),                      # per row: see exit_code()
    _f("Flags", 19, lambda j, now: "SchedMain", lambda j, now: ""),
    _f("GID", 6, lambda j, now: _group(j)[1], None),           # a step's are blank
    _f("Group", 9, lambda j, now: _group(j)[0], None),
    _f("JobID", -12, _BLANK),                       # per row: see job_id()
    _f("JobIDRaw", -12, _BLANK),
    _f("JobName", 10, lambda j, now: j.spec.name, lambda j, now: "batch"),
    _f("Layout", 9, _BLANK, lambda j, now: "Unknown"),
    _f("MaxDiskRead", 12, _BLANK),
    _f("MaxDiskReadNode", 15, _BLANK),
    _f("MaxDiskReadTask", 15, _BLANK),
    _f("MaxDiskWrite", 12, _BLANK),
    _f("MaxDiskWriteNode", 16, _BLANK),
    _f("MaxDiskWriteTask", 16, _BLANK),
    _f("MaxPages", 8, _BLANK),
    _f("MaxPagesNode", 12, _BLANK),
    _f("MaxPagesTask", 14, _BLANK),
    _f("MaxRSS", 10, _BLANK, lambda j, now: _rss(j)),
    _f("MaxRSSNode", 10, _BLANK, _sampled(_first_node)),
    _f("MaxRSSTask", 10, _BLANK, _sampled(lambda j: "0")),
    _f("MaxVMSize", 10, _BLANK),
    _f("MaxVMSizeNode", 14, _BLANK),
    _f("MaxVMSizeTask", 14, _BLANK),
    _f("McsLabel", 12, _BLANK),
    _f("MinCPU", 10, _BLANK, _sampled(lambda j: duration(j.cpu_seconds))),
    _f("MinCPUNode", 10, _BLANK, _sampled(_first_node)),
    _f("MinCPUTask", 10, _BLANK, _sampled(lambda j: "0")),
    _f("NCPUS", 10, lambda j, now: str(sq.cpu_count(j))),
    _f("NNodes", 8, lambda j, now: str(sq.node_count(j))),
    _f("NodeList", 15, lambda j, now: _nodes(j)),
    _f("NTasks", 8, _BLANK, lambda j, now: "1"),
    _f("Priority", 10, lambda j, now: str(sq.priority(j)), None),
    _f("Partition", 10, lambda j, now: sq.partition(j), None),
    _f("QOS", 10, lambda j, now: j.spec.attributes.get("qos", "normal"), None),
    _f("QOSRAW", 6, lambda j, now: "1", None),
    _f("Reason", 22, lambda j, now: j.reason or "None", None),      # as recorded: no derived words
    _f("ReqCPUFreq", 10, lambda j, now: "Unknown", lambda j, now: "0"),
    _f("ReqCPUFreqMin", 13, lambda j, now: "Unknown", lambda j, now: "0"),
    _f("ReqCPUFreqMax", 13, lambda j, now: "Unknown", lambda j, now: "0"),
    _f("ReqCPUFreqGov", 13, lambda j, now: "Unknown", lambda j, now: "0"),
    _f("ReqCPUS", 8, lambda j, now: str(sq.cpu_count(j))),
    _f("ReqGRES", 12, _BLANK),
    _f("ReqMem", 10, lambda j, now: _req_mem(j), None),
    _f("ReqNodes", 8, lambda j, now: str(j.spec.resources.nodes or 1)),
    _f("ReqTRES", 10, lambda j, now: _tres(j, False), None),
    _f("Reservation", 20, _BLANK),
    _f("ReservationId", 8, _BLANK),
    _f("Reserved", 10, lambda j, now: duration(max(0.0, (j.start_time or now) - (j.eligible_time or j.submit_time)))
       if j.submit_time else "", None),
    _f("ResvCPU", 10, _BLANK),
    _f("ResvCPURAW", 10, _BLANK),
    _f("Start", 19, lambda j, now: _start(j)),
    _f("State", 10, _BLANK),                        # per row: see state()
    _f("Submit", 19, lambda j, now: _date(j.submit_time)),
    _f("SubmitLine", 20, _BLANK),       # hpcq does not keep the submitting command line
    _f("Suspended", 10, lambda j, now: "00:00:00"),
    _f("SystemCPU", 10, lambda j, now: _cpu_time(j.system_cpu_seconds)),
    _f("SystemComment", 15, _BLANK),
    _f("Timelimit", 10, lambda j, now: _timelimit(j), None),
    _f("TimelimitRaw", 10, lambda j, now: str(math.ceil((sq.time_limit(j) or 0) / 60)) if sq.time_limit(j)
       else "UNLIMITED", None),
    _f("TotalCPU", 10, lambda j, now: _cpu_time(j.cpu_seconds)),
    _f("TRESUsageInAve", 14, _BLANK),
    _f("TRESUsageInMax", 14, _BLANK),
    _f("TRESUsageInMaxNode", 18, _BLANK),
    _f("TRESUsageInMaxTask", 18, _BLANK),
    _f("TRESUsageInMin", 14, _BLANK),
    _f("TRESUsageInMinNode", 18, _BLANK),
    _f("TRESUsageInMinTask", 18, _BLANK),
    _f("TRESUsageInTot", 14, _BLANK),
    _f("TRESUsageOutAve", 15, _BLANK),
    _f("TRESUsageOutMax", 15, _BLANK),
    _f("TRESUsageOutMaxNode", 19, _BLANK),
    _f("TRESUsageOutMaxTask", 19, _BLANK),
    _f("TRESUsageOutMin", 15, _BLANK),
    _f("TRESUsageOutMinNode", 19, _BLANK),
    _f("TRESUsageOutMinTask", 19, _BLANK),
    _f("TRESUsageOutTot", 15, _BLANK),
    _f("UID", 6, lambda j, now: _uid(j), None),
    _f("User", 9, lambda j, now: j.user, None),
    _f("UserCPU", 10, lambda j, now: _cpu_time(user_cpu(j))),
    _f("WCKey", 10, lambda j, now: j.spec.attributes.get("wckey", ""), None),
    _f("WCKeyID", 10, lambda j, now: "0", None),
    _f("WorkDir", 20, lambda j, now: j.spec.workdir or j.spec.submit_dir, None),
]
_BY_ROW: dict[str, Callable[[Row, float], str]] = {
    "JobID": lambda r, now: job_id(r),
    "JobIDRaw": lambda r, now: f"{r.job.id}.{r.step}" if r.step else str(r.job.id),
    "State": lambda r, now: state(r),
    "ExitCode": lambda r, now: exit_code(r),
}


# Where an srun step differs from the batch step.
_BY_SRUN_STEP: dict[str, Callable[[jobs_pb2.JobStep], str]] = {
    "JobName": lambda s: s.name,
    "NTasks": lambda s: str(s.ntasks),
    "Layout": lambda s: "Block",
}


class Column(namedtuple("Column", "field width")):
    __slots__ = ()
    field: FieldDef
    width: int

    def value(self, row: Row, now: float) -> str:
        if self.field.name in _BY_ROW:
            return _BY_ROW[self.field.name](row, now)
        if row.record is not None and self.field.name in _BY_SRUN_STEP:
            return _BY_SRUN_STEP[self.field.name](row.record)
        getter = self.field.step if row.is_step else self.field.job
        return getter(row.view or row.job, now) if getter is not None else ""


class FieldError(ValueError):
    pass


def parse_fields(text: str) -> list[Column]:
    """``JobID,JobName%20,state``: each name (or a prefix of one, any case) and an
    optional ``%width``; Slurm's table order decides what a prefix names."""
    columns = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        name, percent, width = item.partition("%")
        found = next((f for f in FIELDS if f.name.lower().startswith(name.lower())), None) if name else None
        if found is None:
            raise FieldError(f'Invalid field requested: "{name}"')
        if not percent:
            columns.append(Column(found, found.width))
            continue
        # atoi's reading of what follows the %: "%.4" and "%x" are 0, a column printed empty.
        m = re.match(r"\s*([+-]?\d+)", width)
        size = int(m[1]) if m else 0
        columns.append(Column(found, max(-values.MAX_FIELD_WIDTH, min(size, values.MAX_FIELD_WIDTH))))
    return columns


def run_view(job: Job, run: jobs_pb2.JobRun) -> Job:
    """The job as it stood when an earlier run of it ended (Job.runs): that run's times,
    outcome, nodes and usage."""
    view = Job()
    view.CopyFrom(job)
    view.ClearField("runs")
    view.attempt, view.state, view.reason = run.attempt, run.state, run.reason
    view.start_time, view.end_time = run.start_time, run.end_time
    view.exit_code, view.signal = run.exit_code, run.signal
    view.allocation.CopyFrom(run.allocation)
    view.cpu_seconds, view.max_rss_kb = run.cpu_seconds, run.max_rss_kb
    view.user_cpu_seconds = view.system_cpu_seconds = 0.0   # a run's CPU is not split
    return view


def rows(jobs: Sequence[Job], *, allocations_only: bool = False, duplicates: bool = False,
         steps: Mapping[int, set[str]] | None = None) -> list[Row]:
    """The rows of these jobs: each job, then its batch step once it has run, then its
    srun steps (those of its latest run); with `duplicates` (sacct -D), each earlier run
    of a requeued job first, as a REQUEUED record with its own steps. `steps` (sacct -j
    N.batch): of job N, only the rows of these steps."""
    if steps:
        return [row for row in rows(jobs, allocations_only=allocations_only, duplicates=duplicates)
                if row.job.id not in steps or row.step in steps[row.job.id]]
    out = []
    for job in jobs:
        runs = [run_view(job, run) for run in job.runs] if duplicates else []
        for record in [*runs, job]:
            out.append(Row(record, requeued=record is not job))
            if not allocations_only and ran(record):
                out.append(Row(record, "batch"))
                out += [Row(record, str(s.step_id), s, step_view(record, s))
                        for s in record.steps if s.attempt == record.attempt]
    return out


# How sacct prints a value longer than its column: durations whole (print_fields_time),
# dates cut short without a mark, the rest cut with "+" in the last place.
_WHOLE = frozenset({"CPUTime", "Elapsed", "Reserved", "ResvCPU", "Suspended", "TotalCPU", "UserCPU", "SystemCPU",
                    "AveCPU", "MinCPU"})
_CUT_PLAIN = frozenset({"Eligible", "End", "Start", "Submit"})


def cell(text: str, width: int, mark: str = "+", *, whole: bool = False) -> str:
    """A value in its column: cut with `mark` in the last place when too long (or not cut)."""
    size = abs(width)
    if not size:
        return " "
    if len(text) > size and not whole:
        text = text[:size - len(mark)] + mark
    return (text.rjust(size) if width > 0 else text.ljust(size)) + " "


def render(jobs: Sequence[Job], now: float, columns: Sequence[Column], *, header: bool = True,
           parsable: str = "", delimiter: str = "|", allocations_only: bool = False, cluster: str = "",
           duplicates: bool = False, steps: Mapping[int, set[str]] | None = None) -> str:
    """The whole of sacct's output. `parsable` is "" (columns), "p" (``--parsable``: the
    delimiter after every field) or "P" (``--parsable2``: between fields)."""
    lines = []
    table = [[cluster if c.field.name == "Cluster" else c.value(row, now) for c in columns]
             for row in rows(jobs, allocations_only=allocations_only, duplicates=duplicates, steps=steps)]
    names = [c.field.name for c in columns]
    if parsable:
        end = delimiter if parsable == "p" else ""
        if header:
            lines.append(delimiter.join(names) + end)
        lines += [delimiter.join(values) + end for values in table]
    else:
        if header:
            lines.append("".join(cell(n, c.width, "") for n, c in zip(names, columns, strict=True)))
            lines.append("".join("-" * abs(c.width) + " " for c in columns))
        lines += ["".join(cell(v, c.width, "" if c.field.name in _CUT_PLAIN else "+", whole=c.field.name in _WHOLE)
                          for v, c in zip(values, columns, strict=True)) for values in table]
    return "".join(line + "\n" for line in lines)


def sort_key(job: Job) -> tuple[int, int, int]:
    """sacct's order: by job, array tasks by index, the pending rest of an array after them."""
    task = job.array_task_id if job.HasField("array_task_id") else (1 << 32 if job.array_tasks_pending else -1)
    return (job.array_job_id or job.id, task, job.id)
