"""qselect: the ids of the PBS jobs that match every criterion given (qselect.txt):
``-s`` states, ``-u``, ``-N``, ``-q``, ``-A``, ``-P``, ``-r``, ``-h`` hold types,
``-l resource.op.value``, ``-p [op]priority``, ``-x`` (finished jobs too), ``-J``, ``-T``."""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from hpcq import states, units
from hpcq.api.lite import jobs_pb2
from hpcq.shims import errors, getopt, values, versions
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.pbs import qstat_format as qf
from hpcq.shims.record import Record
from hpcq.shims.shim import Shim

PROG = "qselect"
USAGE = """\
usage: qselect [-a [op]date_time] [-A account_string] [-c [op]interval]
\t[-h hold_list] [-H] [-J] [-l resource_list] [-N name] [-p [op]priority]
\t[-q destination] [-r y|n] [-s states] [-t subopt[op]date_time] [-T] [-P project_name]
\t[-x] [-u user_name]
       qselect --version"""
TABLE = OptionTable(short="a:A:c:h:HJl:N:p:P:q:r:s:t:Tu:x", long={"version": ("", "version")})
_NOT_YET = {"a": "-a", "c": "-c", "t": "-t"}
_STATES = frozenset("BEFHMQRSTUWX")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "ge": lambda a, b: a >= b,
    "gt": lambda a, b: a > b, "le": lambda a, b: a <= b, "lt": lambda a, b: a < b}


class Selection(Record):
    states: set[str] = set()
    users: list[str] = []
    names: list[str] = []
    queue: str = ""
    account: str = ""
    project: str = ""
    rerunnable: bool | None = None
    holds: set[str] = set()
    resources: list[tuple[str, str, float]] = []   # (name, op, value)
    priority: tuple[str, int] | None = None
    history: bool = False
    arrays_only: bool = False
    version: bool = False


def _illegal(letter: str) -> ShimError:
    return ShimError(f"qselect: illegal -{letter} value\n{USAGE}", 2)


def _resource_value(name: str, text: str) -> float:
    if name in ("walltime", "cput"):
        return units.parse_pbs_time(text)
    if name in ("mem", "vmem"):
        return units.parse_pbs_size(text)
    number = values.parse_uint(text)
    if number is None:
        raise ValueError(text)
    return number


def parse(argv: Sequence[str]) -> Selection:
    options, operands = getopt.command_line(PROG, argv, TABLE, then=USAGE, exit_code=2)
    if operands:
        raise ShimError(USAGE, 2)
    sel = Selection()
    for key, value in options:
        value = value or ""
        if key == "version":
            sel.version = True
        elif key in _NOT_YET:
            raise ShimError(f"qselect: {_NOT_YET[key]} is not supported by hpcq yet", 2)
        elif key == "s":
            if not value or set(value) - _STATES:
                raise _illegal("s")
            sel.states |= set(value)
        elif key == "u":
            sel.users += [u.partition("@")[0] for u in value.split(",") if u]
        elif key == "N":
            sel.names.append(value)
        elif key == "q":
            sel.queue = value.partition("@")[0]
        elif key == "A":
            sel.account = value
        elif key == "P":
            sel.project = value
        elif key == "r":
            if value not in ("y", "n"):
                raise _illegal("r")
            sel.rerunnable = value == "y"
        elif key == "h":
            if not value or set(value) - set("uosnp"):
                raise _illegal("h")
            sel.holds |= set(value)
        elif key == "l":
            for item in value.split(","):
                m = re.fullmatch(r"([A-Za-z_]+)\.(eq|ne|ge|gt|le|lt)\.(.+)", item.strip())
                if not m:
                    raise _illegal("l")
                try:
                    sel.resources.append((m[1], m[2], _resource_value(m[1], m[3])))
                except ValueError:
                    raise _illegal("l") from None
        elif key == "p":
            m = re.fullmatch(r"(?:\.?(eq|ne|ge|gt|le|lt)\.)?([-+]?[0-9]{1,5})", value)
            if not m:
                raise _illegal("p")
            sel.priority = (m[1] or "eq", int(m[2]))
        elif key in ("x", "H"):
            sel.history = True
        elif key == "J":
            sel.arrays_only = True
    return sel


def _resource(job: jobs_pb2.Job, name: str) -> float | None:
    r = job.spec.resources
    return {"walltime": qf.walltime(job) or None, "ncpus": qf.total_cpus(job), "nodect": qf.node_count(job),
            "mem": qf.total_mem_mb(job) or None, "ngpus": r.gpus_per_node * (r.nodes or 1)}.get(name)


def matches(job: jobs_pb2.Job, sel: Selection) -> bool:
    code = qf.state_code(job)
    if states.is_finished(job.state) and not sel.history:
        return False
    if sel.states and code not in sel.states:
        return False
    if sel.users and job.user not in sel.users:
        return False
    if sel.names and job.spec.name not in sel.names:
        return False
    if sel.queue and (job.queue or job.spec.queue) != sel.queue:
        return False
    if sel.account and job.spec.account != sel.account:
        return False
    if sel.project and job.spec.attributes.get("project", "_pbs_project_default") != sel.project:
        return False
    if sel.rerunnable is not None:
        rerunnable = not (job.spec.HasField("requeue") and not job.spec.requeue)
        if rerunnable != sel.rerunnable:
            return False
    if sel.holds and qf.hold_types(job) not in sel.holds:
        return False
    for name, op, value in sel.resources:
        have = _resource(job, name)
        if have is None or not _OPS[op](have, value):
            return False
    if sel.priority is not None and not _OPS[sel.priority[0]](-job.spec.nice, sel.priority[1]):
        return False
    return not sel.arrays_only or bool(job.spec.array.tasks)


def select(sel: Selection, jobs: Sequence[jobs_pb2.Job], cluster: str) -> list[str]:
    return [qf.job_id(job, cluster) for job in sorted(jobs, key=lambda j: j.id) if matches(job, sel)]


def _select(argv: list[str], conn: Connection) -> int:
    sel = parse(argv)
    if versions.pbs_version(sel.version):
        return 0
    client = conn.client
    if sel.queue and not client.queues([sel.queue]):
        raise ShimError("qselect: Unknown queue destination", errors.pbs_exit(errors.PBSE_UNKQUE))
    jobs = client.list(users=sel.users, queues=[sel.queue] if sel.queue else [], include_finished=sel.history)
    for ident in select(sel, jobs, conn.cluster):
        print(ident)
    return 0


command = Shim.pbs(PROG, _select)
main = command.main
