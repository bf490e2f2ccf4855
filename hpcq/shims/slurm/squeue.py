"""squeue: show Slurm jobs — the default table, ``-l``, ``-o`` formats, ``-j/-u/-t/--me`` filters."""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from hpcq import hostlist, slurmconf, states
from hpcq.api.lite import jobs_pb2
from hpcq.shims import arrays, clock, getopt, jobrefs, submit_context, values, versions
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.record import Record
from hpcq.shims.shim import Shim
from hpcq.shims.slurm import dumps, squeue_format

PROG = "squeue"
TRY_HELP = 'Try "squeue --help" for more information'
USAGE = """\
Usage: squeue [-A account] [--clusters names] [-i seconds] [--job jobid]
              [-n name] [-o format] [-p partitions] [--qos qos]
              [--reservation reservation] [--sort fields] [--start]
              [--step step_id] [-t states] [-u user_name] [--usage]
              [-L licenses] [-w nodes] [--federation] [--local] [--sibling]
\t      [-ahjlrsv]"""     # sic: squeue's own usage starts its last line with a tab
TABLE = OptionTable(
    short="A:ahj:lL:n:o:O:p:q:rR:S:t:u:vVw:",
    long={"all": ("", "a"), "array": ("", "r"), "noheader": ("", "h"), "format": (":", "o"),
          "Format": (":", "O"), "jobs": ("::", "j"), "long": ("", "l"), "name": (":", "n"),
          "partition": (":", "p"), "sort": (":", "S"), "start": ("", "start"), "states": (":", "t"),
          "user": (":", "u"), "verbose": ("", "v"), "version": ("", "V"), "me": ("", "me"),
          "help": ("", "help"), "usage": ("", "usage"), "json": ("", "json"), "yaml": ("", "yaml"),
          "noconvert": ("", "noconvert"), "account": (":", "A"), "qos": (":", "q"), "licenses": (":", "L"),
          "reservation": (":", "R"), "nodelist": (":", "w"),
          # One cluster, nothing hidden: accepted, and nothing to do.
          "hide": ("", "hide"), "local": ("", "local"), "federation": ("", "federation"),
          "sibling": ("", "sibling")})

# Every state name squeue accepts with -t, hpcq's or not (a state hpcq never has matches nothing).
_SLURM_STATES = {"PENDING": "PD", "RUNNING": "R", "SUSPENDED": "S", "COMPLETING": "CG", "COMPLETED": "CD",
                 "CONFIGURING": "CF", "CANCELLED": "CA", "FAILED": "F", "TIMEOUT": "TO", "PREEMPTED": "PR",
                 "NODE_FAIL": "NF", "BOOT_FAIL": "BF", "DEADLINE": "DL", "OUT_OF_MEMORY": "OOM",
                 "REQUEUED": "RQ", "RESIZING": "RS", "REVOKED": "RV", "SIGNALING": "SI",
                 "SPECIAL_EXIT": "SE", "STAGE_OUT": "SO", "STOPPED": "ST"}


# As squeue lists them after a state it does not know (job_state_string order).
_VALID_STATES = ("PENDING,RUNNING,SUSPENDED,COMPLETED,CANCELLED,FAILED,TIMEOUT,NODE_FAIL,PREEMPTED,BOOT_FAIL,"
                 "DEADLINE,OUT_OF_MEMORY,COMPLETING,CONFIGURING,RESIZING,RESV_DEL_HOLD,REQUEUED,REQUEUE_FED,"
                 "REQUEUE_HOLD,REVOKED,SIGNALING,SPECIAL_EXIT,STAGE_OUT,STOPPED")


class Query(Record):
    job_ids: list[int] = []
    tasks: list[tuple[int, int]] = []    # array tasks N_i, by (array job id, index)
    unmatched: list[int] = []            # jobs named with a task part that names no task (N_x)
    jobs_named: bool = False             # -j given, even empty (-j '': no job at all)
    users: list[str] = []
    partitions: list[str] = []
    names: list[str] = []
    states: list[int] = []   # empty: every unfinished state
    all_states: bool = False
    header: bool = True
    long: bool = False
    fmt: str = squeue_format.DEFAULT_FORMAT
    named: list[squeue_format.NamedField] = []    # -O
    named_format: str = ""                        # -O's text (or SQUEUE_FORMAT2's): the table is -O's
    accounts: list[str] = []                      # -A, -q, -L, -R, -w: more filters
    qos: list[str] = []
    licenses: list[str] = []
    reservations: list[str] = []
    nodes: list[str] = []
    sort: list[tuple[str, bool]] = []             # -S
    start: bool = False
    expand: bool = False                 # -r: a pending array as one line per task
    help: bool = False
    version: bool = False
    dump: str = ""                       # --json or --yaml: every job, Slurm 22.05's data (dumps.py)


def parse_states(value: str) -> tuple[list[int], bool]:
    """-t's list: hpcq states, and whether it said ``all``."""
    found: list[int] = []
    for word in values.split_list(value):
        upper = word.upper()
        if upper == "ALL":
            return [], True
        if upper not in _SLURM_STATES and upper not in _SLURM_STATES.values():
            raise ShimError(f"squeue: error: Invalid job state specified: {word}\n"
                            f"squeue: error: Valid job states include: {_VALID_STATES}\n", 1)
        found.extend(s for s in states.from_slurm_name(upper) if s not in found)
    return found, False


def parse(argv: Sequence[str], environ: dict[str, str] | None = None, user: str = "") -> Query:
    environ = os.environ if environ is None else environ
    options, operands = getopt.command_line(PROG, argv, TABLE, then=TRY_HELP, exit_code=1)
    q = Query(fmt=environ.get("SQUEUE_FORMAT", squeue_format.DEFAULT_FORMAT))
    if environ.get("SQUEUE_STATES"):   # -t's default
        q.states, q.all_states = parse_states(environ["SQUEUE_STATES"])
    if environ.get("SQUEUE_USERS"):    # -u's default
        q.users = values.split_list(environ["SQUEUE_USERS"])
    if environ.get("SQUEUE_SORT"):     # -S's default
        try:
            q.sort = squeue_format.parse_sort(environ["SQUEUE_SORT"])
        except squeue_format.FormatError as e:
            raise ShimError(f"squeue: error: {e}", 1) from None
    if environ.get("SQUEUE_FORMAT2") and not environ.get("SQUEUE_FORMAT"):
        q.named_format = environ["SQUEUE_FORMAT2"]
        q.named = squeue_format.parse_named_format(q.named_format)
    for key, value in options:
        if key in ("help", "usage"):
            q.help = True
        elif key in ("json", "yaml"):
            q.dump = key
        elif key == "V":
            q.version = True
        elif key == "start":
            q.start = True
        elif key in ("O", "S"):
            try:
                if key == "O":
                    q.named_format = value or ""
                    q.named = squeue_format.parse_named_format(q.named_format)
                else:
                    q.sort = squeue_format.parse_sort(value or "")
            except squeue_format.FormatError as e:
                raise ShimError(f"squeue: error: {e}", 1) from None
        elif key == "h":
            q.header = False
        elif key == "r":
            q.expand = True
        elif key == "l":
            q.long = True
        elif key == "o":
            q.fmt, q.named_format, q.named = value or "", "", []
        elif key == "j":
            q.jobs_named = True
            for item in values.split_list(value):
                _add_job_id(q, item)
        elif key == "u":
            q.users.extend(values.split_list(value))
        elif key == "me":
            q.users.append(user or submit_context.login_name())
        elif key == "p":
            q.partitions.extend(values.split_list(value))
        elif key in ("A", "q", "L", "R", "w"):
            filters = {"A": q.accounts, "q": q.qos, "L": q.licenses, "R": q.reservations, "w": q.nodes}
            filters[key].extend(hostlist.expand(value or "") if key == "w" else values.split_list(value))
        elif key == "n":
            q.names.extend(values.split_list(value))
        elif key == "t":
            q.states, q.all_states = parse_states(value or "")
    for operand in operands:   # squeue takes job ids as arguments too (squeue 42)
        try:
            _add_job(q, jobrefs.parse_slurm(operand)[0])
        except jobrefs.JobRefError:
            print(USAGE)         # as squeue: the usage on stdout, the complaint on stderr
            raise ShimError(f"squeue: error: Unrecognized option: {operand}", 1) from None
    given = {key for key, _ in options}
    if q.long and "o" not in given:
        q.fmt = squeue_format.LONG_FORMAT
    if q.start:
        # --start: pending jobs only, with their expected start.
        if "o" not in given:
            q.fmt = squeue_format.START_FORMAT
        if not q.states and not q.all_states:
            q.states = [s for s in states.QUEUED]
    try:
        squeue_format.parse_format(q.fmt)
    except squeue_format.FormatError as e:
        raise ShimError(f"squeue: error: {e}", 1) from None
    return q


def _add_job_id(q: Query, item: str) -> None:
    """One -j item. As squeue, a step (N.0) names its job, and a task part that is no
    index (N_x, N_[1-2]) names none of the job's records (but the job is still looked up)."""
    try:
        ref = jobrefs.parse_slurm(item, steps=True)[0]
    except jobrefs.JobRefError:
        number, underscore, _ = item.partition("_")
        if not underscore or values.parse_uint(number, values.UINT64_MAX) is None:
            raise ShimError(f"squeue: error: Invalid job id: {item}", 1) from None
        q.unmatched.append(int(number))
        return
    if ref.job_id == 0:
        raise ShimError(f"squeue: error: Invalid job id: {item}", 1)
    _add_job(q, ref)


def _add_job(q: Query, ref: jobrefs.JobRef) -> None:
    if ref.task is None:
        q.job_ids.append(ref.job_id)
    else:
        q.tasks.append((ref.job_id, ref.task))


def _wanted(job: jobs_pb2.Job, q: Query) -> bool:
    if q.states:
        if job.state not in q.states:
            return False
    elif not q.all_states and states.is_finished(job.state):
        return False
    if q.users and job.user not in q.users:
        return False
    if q.partitions and squeue_format.partition(job) not in q.partitions:
        return False
    if q.accounts and job.spec.account not in q.accounts:
        return False
    if q.qos and job.spec.attributes.get("qos", "normal") not in q.qos:
        return False
    if q.licenses and not set(q.licenses) & set(job.spec.resources.licenses):
        return False
    if q.reservations:      # hpcq has no reservations: no job is in one
        return False
    if q.nodes and not set(q.nodes) & set(squeue_format.node_names(job)):
        return False
    return not q.names or job.spec.name in q.names


def select(q: Query, conn: Connection) -> list[jobs_pb2.Job]:
    if q.job_ids or q.tasks or q.unmatched:
        jobs = _named(q, conn)
    elif q.jobs_named:
        jobs = []            # -j with an empty list names no job
    else:
        jobs = conn.client.list(states=q.states, users=q.users, queues=q.partitions, names=q.names,
                                include_finished=q.all_states)
    now = clock.now()       # a finished job leaves squeue MinJobAge after its end, as it leaves slurmctld
    wanted = [j for j in jobs if _wanted(j, q) and slurmconf.in_view(j.state, j.end_time, now)]
    if q.expand:
        wanted = arrays.expand(wanted)
    if q.sort:
        return squeue_format.sort_by(squeue_format.sort_jobs(wanted), q.sort, clock.now())
    if q.start:
        return squeue_format.sort_by_start(wanted, clock.now())
    return squeue_format.sort_jobs(wanted)


def _named(q: Query, conn: Connection) -> list[jobs_pb2.Job]:
    """The jobs -j names: each job, each array with its tasks, each array task N_i (a task
    the array does not have, as squeue, names nothing)."""
    whole = set(q.job_ids)
    loaded = list(dict.fromkeys([*q.job_ids, *(a for a, _ in q.tasks), *q.unmatched]))
    records, unknown = conn.client.get(loaded)
    # As squeue: asking for one job (or tasks of one) loads that job, and an unknown id is
    # an error; asking for several filters the whole list.
    if len(loaded) == 1 and unknown:
        raise ShimError("slurm_load_jobs error: Invalid job id specified", 1)
    heads = {j.id for j in records if j.array_job_id == j.id}
    if heads:
        # An array's id names its tasks too, each a record of its own once started.
        records += [j for j in conn.client.list(include_finished=q.all_states or bool(q.states))
                    if j.array_job_id in heads and j.id not in heads]
    jobs = [j for j in records if j.id in whole or (j.array_job_id in whole and j.array_job_id in heads)]
    for array_job_id, index in q.tasks:
        task = arrays.find_task(records, array_job_id, index)
        if task is not None and task not in jobs:
            jobs.append(task)
    return jobs


def _show(argv: list[str], conn: Connection) -> int:
    q = parse(argv)
    if versions.slurm_help_or_version(q.help, q.version, USAGE):
        return 0
    if q.dump:
        sys.stdout.write(dumps.squeue(q.dump, conn))
        return 0
    # As squeue: a field it does not know is said, and left out (-O) or printed as written (-o).
    errors = squeue_format.named_format_errors(q.named_format) if q.named_format else \
        squeue_format.format_errors(q.fmt)
    for error in errors:
        print(f"squeue: error: {error}", file=sys.stderr)
    jobs = select(q, conn)
    if q.named_format:
        sys.stdout.write(squeue_format.render_named(jobs, clock.now(), q.named, header=q.header,
                                                    cluster=conn.cluster))
    else:
        sys.stdout.write(squeue_format.render(jobs, clock.now(), fmt=q.fmt, header=q.header, long=q.long))
    return 0


command = Shim.slurm(PROG, _show, lead="slurm_load_jobs error: ")
main = command.main
