"""sacct: finished (and live) jobs from ctld's store — ``-j``, ``-X``, ``-n``, ``-p``/``-P``,
``-o``/``--format`` with ``%width``, ``-b``, ``-l``, ``--name``, ``-S``/``-E`` (incl. ``now``),
``-u``, ``-a``, ``-s``, ``-r``."""
from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta

from hpcq import states
from hpcq.api.lite import jobs_pb2
from hpcq.shims import arrays, clock, getopt, jobrefs, submit_context, values, versions
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.record import Record
from hpcq.shims.shim import Shim
from hpcq.shims.slurm import dumps
from hpcq.shims.slurm import sacct_format as sf
from hpcq.shims.slurm import squeue_format as sq

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hpcq.client import Client

PROG = "sacct"
USAGE = """\
Usage: sacct [-a] [-b] [-E time] [-j job(.step)] [-l] [-n] [-o fields] [-p|-P] [-r partition]
             [-s states] [-S time] [-u users] [-X] [--name=names] [--delimiter=c] [-e] [-V]"""
TABLE = OptionTable(
    short="aA:bcC:DeE:hi:j:k:K:lLM:nN:o:pPq:r:s:S:Tu:vVW:xX",
    long={"allusers": ("", "a"), "accounts": (":", "A"), "brief": ("", "b"), "completion": ("", "c"),
          "constraints": (":", "C"), "delimiter": (":", "delimiter"), "duplicates": ("", "D"),
          "helpformat": ("", "e"), "endtime": (":", "E"), "help": ("", "h"), "nnodes": (":", "i"),
          "jobs": (":", "j"), "long": ("", "l"), "allclusters": ("", "L"), "clusters": (":", "M"),
          "noheader": ("", "n"), "nodelist": (":", "N"), "name": (":", "name"), "format": (":", "o"),
          "parsable": ("", "p"), "parsable2": ("", "P"), "qos": (":", "q"), "partition": (":", "r"),
          "state": (":", "s"), "starttime": (":", "S"), "truncate": ("", "T"), "user": (":", "u"),
          "uid": (":", "u"), "verbose": ("", "v"), "version": ("", "V"), "wckeys": (":", "W"),
          "associations": (":", "x"), "allocations": ("", "X"), "usage": ("", "h"),
          "json": ("", "json"), "yaml": ("", "yaml")})
_NOT_YET = {"c": "-c/--completion", "A": "-A/--accounts",
            "C": "-C/--constraints", "q": "-q/--qos", "W": "-W/--wckeys", "x": "-x/--associations",
            "i": "-i/--nnodes", "k": "-k/--timelimit-min", "K": "-K/--timelimit-max", "N": "-N/--nodelist"}


class Query(Record):
    job_ids: list[int] = []
    tasks: list[tuple[int, int]] = []  # array tasks N_i, by (array job id, index)
    users: list[str] = []
    all_users: bool = False
    names: list[str] = []
    partitions: list[str] = []
    states: list[int] = []
    start: float | None = None
    end: float | None = None
    fields: str = sf.DEFAULT_FIELDS
    header: bool = True
    parsable: str = ""
    delimiter: str = "|"
    allocations_only: bool = False
    duplicates: bool = False           # -D: a requeued job's earlier runs too, as REQUEUED records
    steps: dict[int, set[str]] = {}    # -j N.batch, N.0: only these rows of job N (by its own id)
    any_job: bool = False              # -j 0: every job, as no -j (slurmdbd's wildcard id)
    help: bool = False
    help_format: bool = False
    version: bool = False
    dump: str = ""                     # --json or --yaml: the selected jobs, Slurm 22.05's data (dumps.py)


# -- times ------------------------------------------------------------------------------------

_UNITS = {"": 1, "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "mins": 60,
          "minute": 60, "minutes": 60, "h": 3600, "hour": 3600, "hours": 3600, "d": 86400, "day": 86400,
          "days": 86400, "w": 604800, "week": 604800, "weeks": 604800}


def parse_time(value: str, now: float) -> float:
    """Unix seconds of sacct's -S/-E: ``now[{+|-}N[unit]]``, ``YYYY-MM-DD[THH:MM[:SS]]``,
    ``MM/DD[/YY][-HH:MM[:SS]]``, ``MMDD[YY]``, ``HH:MM[:SS]`` (today), ``today``,
    ``midnight``, ``noon``, ``teatime``, ``tomorrow``. Local time, as Slurm."""
    text = value.strip().lower()
    base = datetime.fromtimestamp(now)
    today = base.replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        m = re.fullmatch(r"now(?:([+-])([0-9]{1,9})([a-z]*))?", text)
        if m:
            if not m[1]:
                return now
            if m[3] not in _UNITS:
                raise ValueError
            offset = int(m[2]) * _UNITS[m[3]]
            return now + offset if m[1] == "+" else now - offset
        named = {"today": today, "midnight": today, "tomorrow": today + timedelta(days=1),
                 "noon": today.replace(hour=12), "teatime": today.replace(hour=16)}
        if text in named:
            return named[text].timestamp()
        m = re.fullmatch(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:t([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?)?", text)
        if m:
            return datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4] or 0), int(m[5] or 0),
                            int(m[6] or 0)).timestamp()
        m = re.fullmatch(r"([0-9]{1,2})/([0-9]{1,2})(?:/([0-9]{2}))?(?:-([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?)?",
                         text)
        if m:
            year = 2000 + int(m[3]) if m[3] else base.year
            return datetime(year, int(m[1]), int(m[2]), int(m[4] or 0), int(m[5] or 0),
                            int(m[6] or 0)).timestamp()
        m = re.fullmatch(r"([0-9]{2})([0-9]{2})([0-9]{2})?", text)
        if m:
            year = 2000 + int(m[3]) if m[3] else base.year
            return datetime(year, int(m[1]), int(m[2])).timestamp()
        m = re.fullmatch(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?", text)
        if m:
            return today.replace(hour=int(m[1]), minute=int(m[2]), second=int(m[3] or 0)).timestamp()
    except (ValueError, OverflowError, OSError):
        pass
    raise ShimError(f"Invalid time specification (pos=0): {value}", 1)     # sacct's words, no "error:"


# -- options -----------------------------------------------------------------------------------

def parse(argv: Sequence[str], now: float, *, user: str = "", root: bool | None = None) -> Query:
    try:
        options, operands = getopt.command_line(PROG, argv, TABLE, then="", exit_code=1)
    except ShimError as e:      # sacct says only what getopt says, without a "Try" line
        raise ShimError(e.text.rstrip("\n"), e.exit_code) from None
    if operands:
        raise ShimError(f"{PROG}: error: Unknown arguments: {' '.join(operands)}", 1)
    q = Query(fields=os.environ.get("SACCT_FORMAT") or sf.DEFAULT_FIELDS)    # -o's default
    fields_given = ""
    for key, value in options:
        value = value or ""
        if key in _NOT_YET:
            raise ShimError(f"{PROG}: error: {_NOT_YET[key]} is not supported by hpcq yet", 1)
        if key == "h":
            q.help = True
        elif key in ("json", "yaml"):
            q.dump = key
        elif key == "e":
            q.help_format = True
        elif key == "V":
            q.version = True
        elif key == "a":
            q.all_users = True
        elif key == "b":
            q.fields = sf.BRIEF_FIELDS
        elif key == "l":
            q.fields = sf.LONG_FIELDS
        elif key == "o":
            fields_given = f"{fields_given},{value}" if fields_given else value
        elif key == "n":
            q.header = False
        elif key in ("p", "P"):
            q.parsable = key
        elif key == "delimiter":
            q.delimiter = value
        elif key == "X":
            q.allocations_only = True
        elif key == "D":
            q.duplicates = True
        elif key == "j":
            for item in values.split_list(value):
                try:
                    ref = jobrefs.parse_slurm(item, steps=True)[0]      # a step selects its job
                except jobrefs.JobRefError:
                    raise ShimError(f"{PROG}: fatal: {_bad_id(item)}", 1) from None
                if ref.job_id == 0 and ref.task is None:
                    q.any_job = True
                    continue
                if ref.step:
                    q.steps.setdefault(ref.job_id, set()).add(ref.step)
                if ref.task is None:
                    q.job_ids.append(ref.job_id)
                else:
                    q.tasks.append((ref.job_id, ref.task))
        elif key == "u":
            q.users.extend(_user_name(u) for u in values.split_list(value))
        elif key == "name":
            q.names.extend(values.split_list(value))
        elif key == "r":
            q.partitions.extend(values.split_list(value))
        elif key == "s":
            for word in values.split_list(value):
                found = states.from_slurm_name(word)
                if not found:
                    raise ShimError(f"{PROG}: fatal: unrecognized job state value '{word}'", 1)
                q.states.extend(found)
        elif key == "S":
            q.start = parse_time(value, now)
        elif key == "E":
            q.end = parse_time(value, now)
    if fields_given:
        q.fields = fields_given
    try:
        sf.parse_fields(q.fields)
    except sf.FieldError as e:
        raise ShimError(f"{PROG}: error: {e}", 1) from None
    is_root = os.geteuid() == 0 if root is None else root
    if not q.users and not q.all_users and not is_root:
        q.users = [user or submit_context.login_name()]          # as sacct: your own jobs unless -a
    if q.start is None and not q.job_ids and not q.tasks and not q.states and not q.any_job:
        # "Default is 00:00:00 of the current day", unless -j or -s say which jobs.
        q.start = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    return q


def _bad_id(item: str) -> str:
    """Slurm 22.05's words for a -j item that is no job, task or step."""
    number = item.partition("_")[0].partition(".")[0]
    if not values.is_digits(number):
        return f"Bad job/step specified: {item}"
    return f"Bad job array element specified: {number}" if item[len(number)] == "_" else \
        f"Bad step specified: {number}"


def _user_name(text: str) -> str:
    """-u takes names or uids; one this host does not know is sacct's error."""
    import pwd
    try:
        return pwd.getpwuid(int(text)).pw_name if values.is_digits(text) else pwd.getpwnam(text).pw_name
    except (KeyError, OverflowError):
        raise ShimError(f"{PROG}: error: Invalid user id: {text}", 1) from None


# -- which jobs -----------------------------------------------------------------------------

def wanted(job: jobs_pb2.Job, q: Query, now: float) -> bool:
    if q.users and job.user not in q.users:
        return False
    if q.names and job.spec.name not in q.names:
        return False
    if q.partitions and (job.queue or job.spec.queue) not in q.partitions:
        return False
    if q.states and job.state not in q.states:
        return False
    if not (q.job_ids or q.tasks) and job.state in states.QUEUED and sq.eligible(job) == "N/A":
        return False      # a window holds the jobs eligible in it: not one held, or waiting on others
    start = q.start or 0.0
    end = now if q.end is None else q.end
    if states.is_finished(job.state) and job.end_time and job.end_time < start:
        return False
    return not job.submit_time or job.submit_time <= end


def select(q: Query, client: Client, now: float) -> list[jobs_pb2.Job]:
    if q.job_ids or q.tasks:
        jobs = _named(q, client)
    else:
        jobs = client.list(include_finished=True, ended_after=q.start or 0.0, users=q.users, names=q.names,
                           queues=q.partitions)
    return sorted((j for j in jobs if wanted(j, q, now)), key=sf.sort_key)


def _named(q: Query, client: Client) -> list[jobs_pb2.Job]:
    """The jobs -j names: a job, an array with all its tasks (each a record of its own),
    an array task N_i."""
    arrays_of_tasks = {a for a, _ in q.tasks}
    jobs, _unknown = client.get(list(dict.fromkeys([*q.job_ids, *arrays_of_tasks])))
    if any(job.array_job_id in q.job_ids or job.array_job_id in arrays_of_tasks for job in jobs):
        seen = {job.id for job in jobs}
        jobs += [job for job in client.list(include_finished=True)
                 if (job.array_job_id in q.job_ids or job.array_job_id in arrays_of_tasks) and job.id not in seen]
    named = [job for job in jobs if job.id in q.job_ids or job.array_job_id in q.job_ids]
    for array_job_id, index in q.tasks:
        task = arrays.find_task(jobs, array_job_id, index)
        if task is not None and task not in named:
            named.append(task)
    return named


def render(q: Query, jobs: Sequence[jobs_pb2.Job], now: float, cluster: str = "") -> str:
    return sf.render(jobs, now, sf.parse_fields(q.fields), header=q.header, parsable=q.parsable,
                     delimiter=q.delimiter, allocations_only=q.allocations_only, cluster=cluster,
                     duplicates=q.duplicates, steps=q.steps)


def help_format() -> str:
    """-e: every field name, as sacct lists them (four to a line)."""
    names = [f.name for f in sf.FIELDS]
    return "".join("".join(f"{n:<20}" for n in names[i:i + 4]).rstrip() + "\n" for i in range(0, len(names), 4))


def _show(argv: list[str], conn: Connection) -> int:
    now = clock.now()
    q = parse(argv, now)
    if versions.slurm_help_or_version(q.help, q.version, USAGE):
        return 0
    if q.help_format:
        sys.stdout.write(help_format())
        return 0
    if q.dump:
        sys.stdout.write(dumps.sacct(q.dump, select(q, conn.client, now), conn.cluster, now,
                                     with_steps=not q.allocations_only))
        return 0
    jobs = select(q, conn.client, now)
    sys.stdout.write(render(q, jobs, now, conn.cluster))
    return 0


command = Shim.slurm(PROG, _show)
main = command.main
