"""qstat: show PBS jobs — the default table, ``-a``/``-u`` (alternate), ``-f`` (full)."""
from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from hpcq import states
from hpcq.api import jobs_pb2
from hpcq.shims import common
from hpcq.shims.common import ShimError
from hpcq.shims.pbs import qstat_format, qstat_output

PROG = "qstat"
USAGE = """\
usage: 
qstat [-f] [-J] [-p] [-t] [-x] [-E] [-F format | -w] [-D delim] [ job_identifier... | destination... ]
qstat [-a|-i|-r|-H|-T] [-J] [-t] [-u user] [-n] [-s] [-G|-M] [-1] [-w]
\t[ job_identifier... | destination... ]
qstat -Q [-f] [-F format] [-D delim] [ destination... ]
qstat -q [-G|-M] [ destination... ]
qstat -B [-f] [-F format] [-D delim] [ server_name... ]
qstat --version"""
# Every option OpenPBS's qstat knows, so that none is "invalid"; those hpcq does not
# implement yet (-q, -T, -G/-M, -p) are refused by name.
TABLE = common.OptionTable(short="1aBD:EfF:GHiJMnpqQrsTtu:wx", long={"version": ("", "version")})
_UNSUPPORTED = frozenset("GMpqT")
_QUEUE_NAME = re.compile(r"[A-Za-z0-9][\w.-]*")


@dataclass
class Query:
    full: bool = False
    history: bool = False          # -x: finished jobs too
    only_finished: bool = False    # -H
    only_queued: bool = False      # -i
    only_running: bool = False     # -r
    alt: bool = False
    users: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    servers: list[str] = field(default_factory=list)       # destinations' @server parts
    job_ids: list[int] = field(default_factory=list)
    alt_options: qstat_format.AltOptions = qstat_format.AltOptions()
    wide: bool = False
    output: str = ""               # -F: "", "json" or "dsv"
    delimiter: str = "|"           # -D
    status: str = ""               # "queue" (-Q), "server" (-B), or "" for jobs
    version: bool = False


def parse(argv: Sequence[str]) -> Query:
    try:
        options, operands = common.getopt(PROG, argv, TABLE)
    except common.GetoptError as e:
        raise ShimError(f"{e}\n{USAGE}", 2) from None
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
    q.alt = not q.full and bool(letters & set("aiHrnsu1"))
    q.alt_options = qstat_format.AltOptions(nodes="n" in letters, one_line="1" in letters,
                                            comments="s" in letters, wide=q.wide)
    for operand in operands:
        number = qstat_format.parse_job_id(operand)
        if number is not None:
            q.job_ids.append(number)
            continue
        queue, at, server = operand.partition("@")
        if at and server:
            q.servers.append(server)
        if not queue and at and server:
            continue                    # @server: every job of that server
        if not _QUEUE_NAME.fullmatch(queue):
            raise ShimError(f"qstat: Unknown queue destination {operand}",
                            common.pbs_exit(common.PBSE_UNKQUE))
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


def select(q: Query, conn: common.Connection) -> tuple[list[jobs_pb2.Job], list[str], int]:
    """The jobs to show, the error lines for the ids asked for that cannot be shown,
    and the exit code those errors give (the last one's, as qstat)."""
    errors: list[str] = []
    code = 0
    if q.servers:
        cluster = conn.client.server_info().cluster or conn.cluster
        if any(server.split(".")[0] not in (cluster, common.short_hostname()) for server in q.servers):
            raise ShimError(f"Unknown Host.\nqstat: cannot connect to server {cluster} (errno=15008)", 255)
    if q.queues:
        known = {x.name for x in conn.client.queues(q.queues)}
        for name in q.queues:
            if name not in known:
                raise ShimError(f"qstat: Unknown queue destination {name}", common.pbs_exit(common.PBSE_UNKQUE))
    if not q.job_ids:
        jobs = conn.client.list(users=q.users, queues=q.queues, include_finished=q.history)
        return sorted((j for j in jobs if _wanted(j, q)), key=lambda j: j.id), errors, code
    found, _unknown = conn.client.get(q.job_ids)
    by_id = {job.id: job for job in found}
    shown = []
    for number in q.job_ids:
        job = by_id.get(number)
        if job is None:
            errors.append(f"qstat: Unknown Job Id {number}.{conn.cluster}")
            code = common.pbs_exit(common.PBSE_UNKJOBID)
        elif states.is_finished(job.state) and not q.history:
            errors.append(f"qstat: {qstat_format.job_id(job, conn.cluster)} Job has finished, "
                          "use -x or -H to obtain historical job information")
            code = common.pbs_exit(common.PBSE_HISTJOBID)
        elif _wanted(job, q):
            shown.append(job)
    return shown, errors, code


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    conn = common.Connection()
    return common.run(lambda: _show(args, conn), lambda e: common.pbs_failure(PROG, e, server=conn.cluster))


def show_status(q: Query, conn: common.Connection, now: float) -> str:
    """-Q and -B, in the table, ``-f``, ``-F json`` and ``-F dsv`` layouts."""
    client = conn.client
    if q.status == "queue":
        queues = client.queues(q.queues)
        for name in q.queues:
            if name not in {x.name for x in queues}:
                raise ShimError(f"qstat: Unknown queue {name}", common.pbs_exit(common.PBSE_UNKQUE))
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
        sections = [(server, qstat_output.server_attributes(server, info, jobs, common.PBS_VERSION))]
        kind = "Server"
    if q.output == "json":
        grouped = [(name, qstat_output.grouped(items)) for name, items in sections]
        return qstat_output.render_json(grouped, now, conn.cluster, common.PBS_VERSION, kind)
    if q.output == "dsv":
        return qstat_output.dsv_text(kind, sections, q.delimiter)
    return qstat_output.full_text(kind, sections)


def _show(argv: list[str], conn: common.Connection) -> int:
    q = parse(argv)
    if q.version:
        common.write(f"pbs_version = {common.PBS_VERSION}")
        return 0
    now = common.now()
    if q.status:
        sys.stdout.write(show_status(q, conn, now))
        return 0
    jobs, errors, code = select(q, conn)
    for line in errors:
        print(line, file=sys.stderr)
    if q.output == "json":
        text = qstat_output.jobs_json(jobs, now, conn.cluster, common.PBS_VERSION)
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


if __name__ == "__main__":
    sys.exit(main())
