"""qstat: show PBS jobs — the default table, ``-a``/``-u`` (alternate), ``-f`` (full)."""
from __future__ import annotations

import re
import sys
from collections.abc import Sequence

from hpcq import states
from hpcq.api.lite import jobs_pb2
from hpcq.shims import clock, errors, getopt, jobrefs, submit_context, versions
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.pbs import qstat_arrays, qstat_format, qstat_output
from hpcq.shims.record import Record
from hpcq.shims.shim import Shim

PROG = "qstat"
USAGE = """\
usage: 
qstat [-f] [-J] [-p] [-t] [-x] [-E] [-F format | -w] [-D delim] [ job_identifier... | destination... ]
qstat [-a|-i|-r|-H|-T] [-J] [-t] [-u user] [-n] [-s] [-G|-M] [-1] [-w]
\t[ job_identifier... | destination... ]
qstat -Q [-f] [-F format] [-D delim] [ destination... ]
qstat -q [-G|-M] [ destination... ]
qstat -B [-f] [-F format] [-D delim] [ server_name... ]
qstat --version"""  # noqa: W291 - OpenPBS prints "usage: " with its space
# Every option OpenPBS's qstat knows, so that none is "invalid"; those hpcq does not
# implement yet (-q, -G/-M, -p) are refused by name.
TABLE = OptionTable(short="1aBD:EfF:GHiJMnpqQrsTtu:wx", long={"version": ("", "version")})
_UNSUPPORTED = frozenset("GMpq")
_QUEUE_NAME = re.compile(r"[A-Za-z0-9][\w.-]*")


class Query(Record):
    full: bool = False
    history: bool = False          # -x: finished jobs too
    only_finished: bool = False    # -H
    only_queued: bool = False      # -i
    only_running: bool = False     # -r
    alt: bool = False
    users: list[str] = []
    queues: list[str] = []
    servers: list[str] = []       # destinations' @server parts
    job_ids: list[int] = []
    indices: list[int | None] = []  # per job id: the subjob it names (10[1]), or None
    alt_options: qstat_format.AltOptions = qstat_format.AltOptions()
    wide: bool = False
    output: str = ""               # -F: "", "json" or "dsv"
    delimiter: str = "|"           # -D
    status: str = ""               # "queue" (-Q), "server" (-B), or "" for jobs
    version: bool = False
    subjobs: bool = False          # -t: an array's subjobs too
    arrays_only: bool = False      # -J


def parse(argv: Sequence[str]) -> Query:
    options, operands = getopt.command_line(PROG, argv, TABLE, then=USAGE, exit_code=2)
    letters = {key for key, _ in options}
    if "version" in letters:
        return Query(version=True)
    refused = sorted(letters & _UNSUPPORTED)
    if refused:
        raise ShimError(f"qstat: option -{refused[0]} is not supported by hpcq yet\n{USAGE}", 2)
    q = Query(full="f" in letters, history="x" in letters or "H" in letters, only_finished="H" in letters,
              only_queued="i" in letters, only_running="r" in letters, wide="w" in letters,
              status="queue" if "Q" in letters else "server" if "B" in letters else "")
    for key, value in options:
        if key == "u":
            q.users.extend(u.partition("@")[0] for u in (value or "").split(",") if u)
        elif key == "F":
            q.output = (value or "").lower()
            if q.output not in ("json", "dsv"):
                raise ShimError(f"qstat: invalid -F format: {value}\n{USAGE}", 2)
            q.full = True
        elif key == "D":
            q.delimiter = value or "|"
    if q.status:
        q.queues = [operand.partition("@")[0] for operand in operands if operand.partition("@")[0]]
        return q
    q.alt = not q.full and bool(letters & set("aiHrnsTu1"))
    q.alt_options = qstat_format.AltOptions(nodes="n" in letters, one_line="1" in letters,
                                            comments="s" in letters, wide=q.wide, est_start="T" in letters)
    q.subjobs, q.arrays_only = "t" in letters, "J" in letters
    for operand in operands:
        try:
            ref = jobrefs.parse_pbs(operand)[0]
        except jobrefs.JobRefError:
            ref = None                  # not a job: a destination
        if ref is not None:
            q.job_ids.append(ref.job_id)
            q.indices.append(ref.task)
            continue
        queue, at, server = operand.partition("@")
        if at and server:
            q.servers.append(server)
        if not queue and at and server:
            continue                    # @server: every job of that server
        if not _QUEUE_NAME.fullmatch(queue):
            raise ShimError(f"qstat: Unknown queue destination {operand}",
                            errors.pbs_exit(errors.PBSE_UNKQUE))
        q.queues.append(queue)
    return q


def _wanted(job: jobs_pb2.Job, q: Query) -> bool:
    finished = states.is_finished(job.state)
    if finished and not q.history:
        return False
    if q.only_finished and not finished:
        return False
    if q.only_queued and job.state not in states.QUEUED:
        return False
    if q.only_running and job.state not in states.ACTIVE:
        return False
    if q.users and job.user not in q.users:
        return False
    return not q.queues or (job.queue or job.spec.queue) in q.queues


def select(q: Query, conn: Connection) -> tuple[list[jobs_pb2.Job], list[str], int]:
    """The jobs to show, the error lines for the ids asked for that cannot be shown,
    and the exit code those errors give (the last one's, as qstat)."""
    not_shown: list[str] = []
    code = 0
    if q.servers:
        cluster = conn.client.server_info().cluster or conn.cluster
        if any(server.split(".")[0] not in (cluster, submit_context.short_hostname()) for server in q.servers):
            raise ShimError(f"Unknown Host.\nqstat: cannot connect to server {cluster} (errno=15008)", 255)
    if q.queues:
        known = {x.name for x in conn.client.queues(q.queues)}
        for name in q.queues:
            if name not in known:
                raise ShimError(f"qstat: Unknown queue destination {name}", errors.pbs_exit(errors.PBSE_UNKQUE))
    if not q.job_ids:
        jobs = sorted(conn.client.list(users=q.users, queues=q.queues, include_finished=q.history),
                      key=lambda j: j.id)
        jobs = qstat_arrays.view(_with_members(jobs, conn, complete=q.history), subjobs_too=q.subjobs,
                                 arrays_only=q.arrays_only)
        return [j for j in jobs if _wanted(j, q)], not_shown, code
    found, _unknown = conn.client.get(q.job_ids)
    by_id = {job.id: job for job in found}
    members = _members(found, conn)
    shown = []
    for number, index in zip(q.job_ids, q.indices, strict=True):   # one index per job id
        job, subjobs = by_id.get(number), []
        if job is not None and number in members:
            # An array: itself (with -t its subjobs), or the one subjob asked for.
            rows = qstat_arrays.view(members[number], subjobs_too=True, arrays_only=False)
            job, subjobs = rows[0], (rows[1:] if q.subjobs else [])
            if index is not None:
                job, subjobs = next((r for r in rows[1:] if r.array_task_id == index), None), []
        elif index is not None:
            job = None
        if job is None:
            asked = f"{number}[{index}]" if index is not None else str(number)
            not_shown.append(f"qstat: Unknown Job Id {asked}.{conn.cluster}")
            code = errors.pbs_exit(errors.PBSE_UNKJOBID)
        elif states.is_finished(job.state) and not q.history:
            not_shown.append(f"qstat: {qstat_format.job_id(job, conn.cluster)} Job has finished, "
                             "use -x or -H to obtain historical job information")
            code = errors.pbs_exit(errors.PBSE_HISTJOBID)
        elif _wanted(job, q):
            alone = not (subjobs and q.arrays_only)          # -Jt: the subjobs without their array
            shown += [job] * alone + [j for j in subjobs if _wanted(j, q)]
    return shown, not_shown, code


def _members(found: Sequence[jobs_pb2.Job], conn: Connection) -> dict[int, list[jobs_pb2.Job]]:
    """The records of each array among `found` (asked for by its number), by array."""
    wanted = {j.id for j in found if qstat_arrays.is_member(j) and j.id == j.array_job_id}
    if not wanted:
        return {}
    groups: dict[int, list[jobs_pb2.Job]] = {}
    for job in sorted(conn.client.list(include_finished=True), key=lambda j: j.id):
        if job.array_job_id in wanted:
            groups.setdefault(job.array_job_id, []).append(job)
    return groups


def _with_members(jobs: list[jobs_pb2.Job], conn: Connection, *, complete: bool) -> list[jobs_pb2.Job]:
    """`jobs` and the finished records of the arrays among them, which an array's
    counts include (qstat -f: array_state_count); `complete` when they are there."""
    arrays = {j.array_job_id for j in jobs if qstat_arrays.is_member(j)}
    if not arrays or complete:
        return jobs
    have = {j.id for j in jobs}
    extra = [j for j in conn.client.list(include_finished=True)
             if j.array_job_id in arrays and j.id not in have]
    return sorted(jobs + extra, key=lambda j: j.id) if extra else jobs


def show_status(q: Query, conn: Connection, now: float) -> str:
    """-Q and -B, in the table, ``-f``, ``-F json`` and ``-F dsv`` layouts."""
    client = conn.client
    if q.status == "queue":
        queues = client.queues(q.queues)
        for name in q.queues:
            if name not in {x.name for x in queues}:
                raise ShimError(f"qstat: Unknown queue {name}", errors.pbs_exit(errors.PBSE_UNKQUE))
        jobs = client.list()
        if not q.full:
            return qstat_output.queue_table(queues, jobs)
        sections = [(x.name, qstat_output.queue_attributes(x, jobs)) for x in queues]
        kind = "Queue"
    else:
        info = client.server_info()
        jobs = client.list(include_finished=True)
        server = conn.cluster
        if not q.full:
            return qstat_output.server_table(server, jobs)
        sections = [(server, qstat_output.server_attributes(server, info, jobs, versions.PBS_VERSION))]
        kind = "Server"
    if q.output == "json":
        grouped = [(name, qstat_output.grouped(items)) for name, items in sections]
        return qstat_output.render_json(grouped, now, conn.cluster, versions.PBS_VERSION, kind)
    if q.output == "dsv":
        return qstat_output.dsv_text(kind, sections, q.delimiter)
    return qstat_output.full_text(kind, sections)


def _show(argv: list[str], conn: Connection) -> int:
    q = parse(argv)
    if versions.pbs_version(q.version):
        return 0
    now = clock.now()
    if q.status:
        sys.stdout.write(show_status(q, conn, now))
        return 0
    jobs, not_shown, code = select(q, conn)
    for line in not_shown:
        print(line, file=sys.stderr)
    if q.output == "json":
        text = qstat_output.jobs_json(jobs, now, conn.cluster, versions.PBS_VERSION)
    elif q.output == "dsv":
        text = qstat_output.jobs_dsv(jobs, now, conn.cluster, q.delimiter)
    elif q.full:
        text = qstat_format.render_full(jobs, now, conn.cluster)
    elif q.alt:
        text = qstat_format.render_alt(jobs, now, conn.cluster, q.alt_options)
    else:
        text = qstat_format.render_default(jobs, conn.cluster, wide=q.wide)
    sys.stdout.write(text)
    return code


command = Shim.pbs(PROG, _show)
main = command.main
