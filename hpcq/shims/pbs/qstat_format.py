"""qstat's output as pure functions of (jobs, now, cluster): the default table, the
alternate (``-a``, ``-u``...) table, and the full (``-f``) listing.

Widths, truncation marks and wrapping follow OpenPBS 23.06's qstat.c
(shared/compat/openpbs/qstat_*.txt).
"""
from __future__ import annotations

import shlex
import time
from collections import namedtuple
from collections.abc import Sequence

from hpcq import states, units
from hpcq.api.lite import jobs_pb2
from hpcq.shims.values import is_digits

S = jobs_pb2.JobState
Job = jobs_pb2.Job

_TRUNC = "*"
_LINE_LIMIT = 78          # qstat -f cuts a long value after this column
_FIT_LIMIT = 81           # ... and starts a new line for a piece that would not end before this one
_CONTINUED = 9            # the column after a continuation line's tab
_BLANK = " -- "


# -- what qstat shows of a job ---------------------------------------------------------

def job_id(job: Job, cluster: str) -> str:
    """``21.pbshost``, an array ``10[].pbshost``, a subjob ``10[1].pbshost``."""
    if job.HasField("array_task_id"):
        return f"{job.array_job_id or job.id}[{job.array_task_id}].{cluster}"
    if job.spec.array.tasks and not job.HasField("array_task_id"):
        return f"{job.id}[].{cluster}"
    return f"{job.id}.{cluster}"


def is_array(job: Job) -> bool:
    """An array itself (``10[]``), not one of its subjobs (see qstat_arrays.py)."""
    return bool(job.spec.array.tasks) and not job.HasField("array_task_id")


def started(job: Job) -> bool:
    # An array never runs itself: its subjobs do (it shows no CPU time, session or host).
    return job.start_time > 0 and job.state not in states.QUEUED and not is_array(job)


_DEPENDENCY_REASONS = frozenset({"Dependency", "DependencyNeverSatisfied"})


def waits_on_dependency(job: Job) -> bool:
    """PBS puts a job whose dependency is not met on a system hold (state H, Hold_Types s)."""
    return job.state == S.PENDING and job.reason in _DEPENDENCY_REASONS


def never_satisfied(job: Job) -> bool:
    """Deleted because its dependency can never be met (dependencies.txt: F, no Exit_status)."""
    return job.state == S.CANCELLED and job.reason == "DependencyNeverSatisfied"


def state_code(job: Job) -> str:
    """qstat's one-letter state: ``H`` for a job held by its dependency too."""
    if is_array(job) and job.state in states.ACTIVE:
        return "B"              # begun: some subjob has started
    return "H" if waits_on_dependency(job) else states.pbs_code(job.state)


def hold_types(job: Job) -> str:
    if job.state == S.HELD:
        # Past its requeue limit PBS puts a job on a system hold (run_count above 20).
        return {"JobHeldAdmin": "o", "JobHoldMaxRequeue": "s"}.get(job.reason, "u")
    return "s" if waits_on_dependency(job) else "n"


def depend(text: str, cluster: str) -> str:
    """``afterok:11.pbshost@pbshost``: each job id of a ``-W depend=`` list in full, as
    the server stores it."""
    items = []
    for item in text.split(","):
        kind, _, ids = item.partition(":")
        full = []
        for ident in ids.split(":") if ids else []:
            number, _, server = ident.partition(".")
            if not is_digits(number.rstrip("[]")) or "@" in ident:
                full.append(ident)
                continue
            server = server or cluster
            full.append(f"{number}.{server}@{server.split('.')[0]}")
        items.append(":".join([kind, *full]))
    return ",".join(items)


def elapsed(job: Job, now: float) -> float:
    if not started(job):
        return 0.0
    end = job.end_time if job.end_time and states.is_finished(job.state) else now
    return max(0.0, end - job.start_time)


def total_cpus(job: Job) -> int:
    allocated = sum(piece.cpus for piece in job.allocation.slices)
    if allocated:
        return allocated
    r = job.spec.resources
    tasks = r.tasks or (r.nodes or 1) * (r.tasks_per_node or 1)
    return tasks * (r.cpus_per_task or 1)


def node_count(job: Job) -> int:
    return len({piece.node for piece in job.allocation.slices}) or job.spec.resources.nodes or 1


def total_mem_mb(job: Job) -> int:
    r = job.spec.resources
    if r.mem_per_node_mb:
        return r.mem_per_node_mb * (r.nodes or 1)
    return r.mem_per_cpu_mb * total_cpus(job)


def walltime(job: Job) -> int:
    return job.walltime_seconds or job.spec.walltime_seconds


def exit_status(job: Job) -> int | None:
    """PBS's Exit_status: the script's code, 256+signal when killed, -29 past the walltime."""
    if not (states.is_finished(job.state) and job.start_time):
        return None
    if job.state == S.TIMEOUT:
        return -29
    if job.signal:
        return 256 + job.signal
    return job.exit_code


def _trunc(text: str, width: int) -> str:
    """Cut to `width` with qstat's mark in the last column when it does not fit."""
    return text if len(text) <= width else text[:width - 1] + _TRUNC


def _short_id(job: Job, cluster: str) -> str:
    # The default table keeps the sequence number and the first part of the server name.
    number, _, server = job_id(job, cluster).partition(".")
    return f"{number}.{server.split('.')[0]}" if server else number


# -- the default table ----------------------------------------------------------------------

class _Widths(namedtuple("_Widths", "job_id name user queue header")):
    __slots__ = ()
    job_id: int
    name: int
    user: int
    queue: int
    header: str


_DEFAULT = _Widths(17, 16, 16, 16,
                   "Job id            Name             User              Time Use S Queue\n"
                   "----------------  ---------------- ----------------  -------- - -----\n")
_WIDE = _Widths(30, 15, 15, 15,
                "Job id                         Name            User             Time Use S Queue\n"
                "-----------------------------  --------------- ---------------  -------- - ---------------\n")


def render_default(jobs: Sequence[Job], cluster: str, *, wide: bool = False) -> str:
    """``qstat`` / ``qstat -x`` / ``qstat -w``: nothing at all when there are no jobs."""
    if not jobs:
        return ""
    w = _WIDE if wide else _DEFAULT
    out = [w.header]
    for job in jobs:
        name = job.spec.name
        # A name as long as the column is cut too (qstat.c: l >= NAMEL).
        name = name if len(name) < w.name else name[:w.name - 1] + _TRUNC
        cput = units.format_pbs_hms(job.cpu_seconds) if started(job) else "0"
        out.append(f"{_trunc(_short_id(job, cluster), w.job_id):<{w.job_id}} {name:<{w.name}} "
                   f"{_trunc(job.user, w.user):<{w.user}}  {_trunc(cput, 8):>8} {state_code(job)} "
                   f"{_trunc(job.queue or job.spec.queue, w.queue):<{w.queue}}\n")
    return "".join(out)


# -- the alternate table ---------------------------------------------------------------------

class AltOptions(namedtuple("AltOptions", "nodes one_line comments wide est_start", defaults=(False,) * 5)):
    __slots__ = ()
    nodes: bool                # -n: the execution hosts under (or after, with -1) each job
    one_line: bool             # -1
    comments: bool             # -s: the comment under each job
    wide: bool                 # -w
    est_start: bool            # -T: the estimated start instead of the elapsed time, jobs in start order


_WEEK = 7 * 86400


def est_start_time(job: Job, now: float, *, wide: bool = False) -> str:
    """qstat -T's Est Start Time: "--" unless the job is queued (Q) with a planned start
    still ahead; else the short form (15:34 today, "We 15" within a week, "Feb" this
    year, "2031" within 5 years, ">5yrs") or, with -w, the long one ("Today 15:34",
    "Wed 15:34" this week, "Wed Feb 10 15:34" this year, "Wed Feb 10 2031 15:34")."""
    at = job.planned_start_time
    if state_code(job) != "Q" or not at or at < now:
        return "--"
    when, today = time.localtime(at), time.localtime(now)
    same_day = (when.tm_year, when.tm_yday) == (today.tm_year, today.tm_yday)
    if wide:
        # The week begins on Sunday (tm_wday counts from Monday).
        week_start = time.mktime((today.tm_year, today.tm_mon, today.tm_mday - (today.tm_wday + 1) % 7,
                                  0, 0, 0, 0, 0, -1))
        if same_day:
            return time.strftime("Today %H:%M", when)
        if at < week_start + _WEEK:
            return time.strftime("%a %H:%M", when)
        if when.tm_year == today.tm_year:
            return time.strftime("%a %b %d %H:%M", when)
        return time.strftime("%a %b %d %Y %H:%M", when)
    if same_day:
        return time.strftime("%H:%M", when)
    if at - now < _WEEK:
        return time.strftime("%a", when)[:2] + time.strftime(" %H", when)
    if when.tm_year == today.tm_year:
        return time.strftime("%b", when)
    return time.strftime("%Y", when) if when.tm_year - today.tm_year < 5 else ">5yrs"


def est_start_order(jobs: Sequence[Job], now: float) -> list[Job]:
    """qstat -T's order: jobs that started first, by start time; then queued jobs by
    planned start; those with none (or one already past) last, in their given order."""
    def key(job: Job) -> tuple[int, float]:
        if started(job):
            return 0, job.start_time
        at = job.planned_start_time
        return (1, at) if at >= now else (2, 0.0)
    return sorted(jobs, key=key)


def render_alt(jobs: Sequence[Job], now: float, cluster: str, options: AltOptions = AltOptions()) -> str:
    """``qstat -a`` (and -u, -i, -r, -H, -n, -s): nothing at all when there are no jobs."""
    if not jobs:
        return ""
    wide = options.wide
    last = "Start" if options.est_start else "Elap"
    est = (f"{'':<99}{'Est':>18}\n" if wide else f"{'':<75}Est\n") if options.est_start else ""
    if options.est_start:
        jobs = est_start_order(jobs, now)
    if wide:
        # job id 30, user 15, queue 15, name 15, session 8, nodes 4, tasks 5
        out = [f"\n{cluster}: \n{est}{'':<99}Req'd  Req'd   {last}\n"
               f"{'Job ID':<30} {'Username':<15} {'Queue':<15} {'Jobname':<15} {'SessID':<8} {'NDS':<4} "
               f"{'TSK':<5} Memory Time  S Time\n"
               f"{'-' * 30} {'-' * 15} {'-' * 15} {'-' * 15} {'-' * 8} {'-' * 4} {'-' * 5} ------ ----- - -----\n"]
    else:
        out = [f"\n{cluster}: \n{est}{'':<60}Req'd  Req'd   {last}\n"
               "Job ID          Username Queue    Jobname    SessID NDS TSK Memory Time  S Time\n"
               "--------------- -------- -------- ---------- ------ --- --- ------ ----- - -----\n"]
    for job in jobs:
        session = str(job.session_id) if job.session_id and started(job) else _BLANK
        mem = units.format_pbs_size(total_mem_mb(job)) if total_mem_mb(job) else _BLANK
        req_time = units.format_pbs_hm(walltime(job)) if walltime(job) else _BLANK
        elap = units.format_pbs_hm(elapsed(job, now)) if started(job) else _BLANK
        if options.est_start:
            elap = est_start_time(job, now, wide=wide)
        queue = job.queue or job.spec.queue
        if wide:
            row = (f"{_trunc(job_id(job, cluster), 30):<30} {_trunc(job.user, 15):<15} {_trunc(queue, 15):<15} "
                   f"{_trunc(job.spec.name, 15):<15} {_trunc(session, 8):>8} {_trunc(str(node_count(job)), 4):>4} "
                   f"{_trunc(str(total_cpus(job)), 5):>5} ")
        else:
            row = (f"{_trunc(job_id(job, cluster), 15):<15} {_trunc(job.user, 8):<8} {_trunc(queue, 8):<8} "
                   f"{_trunc(job.spec.name, 10):<10} {_trunc(session, 6):>6} {_trunc(str(node_count(job)), 3):>3} "
                   f"{_trunc(str(total_cpus(job)), 3):>3} ")
        row += f"{mem[:6]:>6} {req_time[:5]:>5} {state_code(job)} " + \
            (elap if wide and options.est_start else f"{elap[:5]:>5}")
        out.append(row + (" " if options.one_line else "\n"))
        if options.nodes:
            hosts = exec_host(job) or _BLANK
            out.append(hosts + "\n" if options.one_line else f"   {hosts}\n")
        elif options.one_line:
            out.append("\n")
        if options.comments:
            text = comment(job, now) or _BLANK
            limit = 114 if wide else 74
            out.append(f"   {text if len(text) <= limit else text[:limit - 3] + '...'}\n")
    return "".join(out)


# -- the full listing ---------------------------------------------------------------------

def exec_host(job: Job) -> str:
    """``pbshost/0`` or ``n1/0*2+n2/0*2``: node, first CPU, CPUs when more than one."""
    parts = []
    for piece in job.allocation.slices:
        first = piece.cpu_ids[0] if piece.cpu_ids else 0
        parts.append(f"{piece.node}/{first}" + (f"*{piece.cpus}" if piece.cpus > 1 else ""))
    return "+".join(parts)


def exec_vnode(job: Job) -> str:
    """``(pbshost:mem=204800kb:ncpus=1)`` for each slice, joined by +."""
    parts = []
    for piece in job.allocation.slices:
        resources = []
        if piece.mem_mb:
            resources.append(f"mem={piece.mem_mb * 1024}kb")
        resources.append(f"ncpus={piece.cpus}")
        if piece.gpus:
            resources.append(f"ngpus={piece.gpus}")
        parts.append(f"({piece.node}:{':'.join(resources)})")
    return "+".join(parts)


def comment(job: Job, now: float) -> str:
    """What PBS's scheduler and server write in a job's comment."""
    if is_array(job) and job.start_time:
        return f"Job Array Began at {time.strftime('%a %b %d at %H:%M', time.localtime(job.start_time))}"
    if started(job):
        text = f"Job run at {time.strftime('%a %b %d at %H:%M', time.localtime(job.start_time))} on {exec_vnode(job)}"
        ending = {S.COMPLETED: " and finished", S.FAILED: " and failed", S.NODE_FAIL: " and failed",
                  S.OUT_OF_MEMORY: " and failed", S.CANCELLED: " and terminated",
                  S.TIMEOUT: " and exceeded resource walltime"}
        return text + ending.get(job.state, "")
    why = job.reason
    if job.state == S.HELD or why in ("", "None") or why in _DEPENDENCY_REASONS:
        return ""
    text = "Not Running: " + ("Not enough free nodes available" if why == "Resources" else why)
    return text + (" and terminated" if job.state == S.CANCELLED else "")


# Where PBS's qstat puts the variables qsub sets; the others follow, sorted.
_PBS_O_ORDER = ("PBS_O_HOME", "PBS_O_LOGNAME", "PBS_O_PATH", "PBS_O_MAIL", "PBS_O_SHELL",
                "PBS_O_INTERACTIVE_AUTH_METHOD", "PBS_O_INTERACTIVE_ENCRYPT_METHOD", "PBS_O_WORKDIR",
                "PBS_O_SYSTEM", "PBS_O_QUEUE", "PBS_O_HOST")
_SUBSTATE = {S.PENDING: 10, S.HELD: 20, S.WAITING: 30, S.RUNNING: 42, S.COMPLETING: 50,
             S.COMPLETED: 92, S.CANCELLED: 91}


def variables(job: Job) -> list[tuple[str, str]]:
    """The job's Variable_List, in qstat's order: qsub's PBS_O_* first, then the rest sorted."""
    env = dict(job.spec.environment)
    env.setdefault("PBS_O_QUEUE", job.queue or job.spec.queue)
    names = [n for n in _PBS_O_ORDER if n in env] + sorted(n for n in env if n not in _PBS_O_ORDER)
    return [(n, env[n]) for n in names]


def _variable_list(job: Job) -> str:
    return ",".join(f"{n}={v}".replace(",", "\\,") for n, v in variables(job))


def _output_path(job: Job, letter: str) -> str:
    spec = job.spec
    path = spec.stdout_path if letter == "o" else spec.stderr_path
    if not path:
        directory = spec.submit_dir or spec.workdir
        if spec.dialect == jobs_pb2.DIALECT_SLURM:
            path = f"{directory}/slurm-{job.id}.out"
        elif spec.array.tasks:
            # An array's files are named for its number and each subjob's index.
            index = job.array_task_id if job.HasField("array_task_id") else "^array_index^"
            path = f"{directory}/{spec.name}.{letter}{job.array_job_id or job.id}.{index}"
        else:
            path = f"{directory}/{spec.name}.{letter}{job.id}"
    return f"{spec.submit_host}:{path}" if spec.submit_host else path


def _resource_list(job: Job) -> list[tuple[str, str]]:
    r, attrs = job.spec.resources, job.spec.attributes
    nodes = r.nodes or 1
    chunk = [f"ncpus={total_cpus(job) // nodes or 1}"]
    if r.mem_per_node_mb:
        chunk.insert(0, f"mem={units.format_pbs_size(r.mem_per_node_mb)}")
    if r.gpus_per_node:
        chunk.append(f"ngpus={r.gpus_per_node}")
    if r.tasks_per_node > 1:
        chunk.append(f"mpiprocs={r.tasks_per_node}")
    found = {
        "ncpus": str(total_cpus(job)),
        "nodect": str(nodes),
        "place": attrs.get("place", "pack" if nodes == 1 else "scatter"),
        "select": attrs.get("select") or f"{nodes}:" + ":".join(chunk),
    }
    if total_mem_mb(job):
        found["mem"] = units.format_pbs_size(total_mem_mb(job))
    if r.gpus_per_node:
        found["ngpus"] = str(r.gpus_per_node * nodes)
    if walltime(job):
        found["walltime"] = units.format_pbs_hms(walltime(job))
    for key, value in attrs.items():
        if key.startswith("Resource_List."):
            found[key.removeprefix("Resource_List.")] = value
    return [(f"Resource_List.{name}", found[name]) for name in sorted(found)]


def full_attributes(job: Job, now: float, cluster: str) -> list[tuple[str, str]]:
    """Every (attribute, value) ``qstat -f`` shows of a job, in qstat's order."""
    spec, attrs = job.spec, job.spec.attributes
    ran = started(job)
    finished = states.is_finished(job.state)
    owner = f"{job.user}@{spec.submit_host}" if spec.submit_host else job.user
    a: list[tuple[str, str]] = [("Job_Name", spec.name), ("Job_Owner", owner)]
    if ran:
        used = elapsed(job, now)
        a += [("resources_used.cpupercent", str(int(100 * job.cpu_seconds / used) if used else 0)),
              ("resources_used.cput", units.format_pbs_hms(job.cpu_seconds)),
              ("resources_used.mem", f"{job.max_rss_kb}kb"),
              ("resources_used.ncpus", str(total_cpus(job))),
              ("resources_used.walltime", units.format_pbs_hms(used))]
    a += [("job_state", state_code(job)), ("queue", job.queue or spec.queue), ("server", cluster)]
    if spec.account:
        a.append(("Account_Name", spec.account))
    subjob = job.HasField("array_task_id") and bool(spec.array.tasks)    # takes these from its array
    if not subjob:
        a.append(("Checkpoint", attrs.get("checkpoint", "u")))
    a.append(("ctime", units.format_ctime(job.submit_time)))
    if attrs.get("depend") and not ran:
        # The server drops a dependency once it released the job (dependencies.txt).
        a.append(("depend", depend(attrs["depend"], cluster)))
    elif attrs.get("dependency"):
        a.append(("depend", attrs["dependency"]))
    a.append(("Error_Path", _output_path(job, "e")))
    if job.allocation.slices:
        a += [("exec_host", exec_host(job)), ("exec_vnode", exec_vnode(job))]
    if spec.begin_time or (job.retry_time and job.state == S.WAITING):
        # A retry waiting its backoff is a job whose execution time lies ahead (state W).
        a.append(("Execution_Time", units.format_ctime(max(spec.begin_time, job.retry_time))))
    join = attrs.get("join", "oe") if spec.join_output else "n"
    a += [] if subjob else [("Hold_Types", hold_types(job))]
    a += [("Join_Path", join),
          ("Keep_Files", attrs.get("keep", "n")), ("Mail_Points", spec.mail_events or "a")]
    if spec.mail_users:
        a.append(("Mail_Users", spec.mail_users))
    a += [("mtime", units.format_ctime(max(job.submit_time, job.start_time, job.end_time))),
          ("Output_Path", _output_path(job, "o")), ("Priority", spec.attributes.get("priority") or str(-spec.nice)),
          ("qtime", units.format_ctime(job.submit_time)),
          ("Rerunable", "False" if spec.HasField("requeue") and not spec.requeue else "True")]
    a += _resource_list(job)
    if is_array(job) and job.start_time:
        a.append(("stime", units.format_ctime(job.start_time)))
    if ran:
        a.append(("stime", units.format_ctime(job.start_time)))
        if finished and job.end_time:
            a.append(("obittime", units.format_ctime(job.end_time)))
        if job.session_id:
            a.append(("session_id", str(job.session_id)))
    if spec.interpreter:
        a.append(("Shell_Path_List", spec.interpreter))
    if ran and "PBS_O_HOME" in spec.environment:
        a.append(("jobdir", spec.environment["PBS_O_HOME"]))
    substate = _SUBSTATE.get(job.state, 93)
    if waits_on_dependency(job):
        substate = 22           # JOB_SUBSTATE_DEPNHOLD
    elif never_satisfied(job):
        substate = 92
    elif is_array(job) and job.state in states.ACTIVE:
        substate = 70           # JOB_SUBSTATE_BEGUN
    a += [("substate", str(substate)), ("Variable_List", _variable_list(job))]
    text = comment(job, now)
    if text:
        a.append(("comment", text))
    if job.state != S.HELD:     # a held job is not eligible yet
        a.append(("etime", units.format_ctime(job.eligible_time or job.submit_time)))
    # A job queued again after a run keeps its count; an array has none of its own.
    if ran or (job.attempt and job.start_time and not is_array(job)):
        a.append(("run_count", str(job.attempt or 1)))
    status = exit_status(job)
    if status is not None:
        a.append(("Exit_status", str(status)))
    if "submit_arguments" in attrs:
        a.append(("Submit_arguments", attrs["submit_arguments"]))
    if is_array(job):
        a += [("array", "True"), ("array_state_count", attrs.get("array_state_count", "")),
              ("array_indices_submitted", spec.array.tasks),
              ("array_indices_remaining", attrs.get("array_indices_remaining", job.array_tasks_pending or "-"))]
    elif job.HasField("array_task_id"):
        a.append(("array_id", f"{job.array_job_id}[].{cluster}"))
        a.append(("array_index", str(job.array_task_id)))
    if "executable" in attrs:
        a.append(("executable", f"<jsdl-hpcpa:Executable>{attrs['executable']}</jsdl-hpcpa:Executable>"))
        if "argument_list" in attrs:
            a.append(("argument_list", "".join(f"<jsdl-hpcpa:Argument>{word}</jsdl-hpcpa:Argument>"
                                               for word in shlex.split(attrs["argument_list"]))))
    a += [("project", attrs.get("project", "_pbs_project_default")), ("Submit_Host", spec.submit_host)]
    return a


def wrap_attribute(name: str, value: str) -> str:
    """One ``    name = value`` entry, broken as qstat breaks it: at commas when a piece
    would not fit, and inside a piece that runs past column 78.

    The limits are those that reproduce OpenPBS 23.06's output in the captures: a piece
    fits while it ends before column 81 on a continued line, and before column 80 on
    the attribute's first line (Submit_arguments and comment lines of dependencies.txt
    and exit_status.txt, Variable_List of qstat_f_running.txt); a line continues after
    a tab."""
    out = [f"    {name} = "]
    column = len(name) + 7
    first_line = True
    pieces = [p for p in value.split(",") if p]    # strtok: empty pieces vanish
    for i, piece in enumerate(pieces):
        if len(piece) + column < _FIT_LIMIT - first_line:
            out.append(piece)
            column += len(piece)
        else:
            if i:
                out.append("\n\t")
                column, first_line = _CONTINUED, False
            for ch in piece:
                out.append(ch)
                column += 1
                if column > _LINE_LIMIT:
                    column, first_line = _CONTINUED, False
                    out.append("\n\t")
        if i + 1 < len(pieces):
            out.append(",")
    return "".join(out)


def render_full(jobs: Sequence[Job], now: float, cluster: str) -> str:
    """``qstat -f``: each job's attributes, a blank line after each job."""
    out = []
    for job in jobs:
        out.append(f"Job Id: {job_id(job, cluster)}\n")
        for name, value in full_attributes(job, now, cluster):
            out.append(wrap_attribute(name, value) + "\n")
        out.append("\n")
    return "".join(out)
