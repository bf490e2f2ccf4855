"""squeue: show Slurm jobs — the default table, ``-l``, ``-o`` formats, ``-j/-u/-t/--me`` filters."""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from hpcq import states
from hpcq.api import jobs_pb2
from hpcq.shims import common
from hpcq.shims.common import ShimError
from hpcq.shims.slurm import squeue_format

PROG = "squeue"
TRY_HELP = 'Try "squeue --help" for more information'
USAGE = """\
Usage: squeue [-A account] [--clusters names] [-i seconds] [--job jobid]
              [-n name] [-o format] [-p partitions] [--qos qos]
              [--reservation reservation] [--sort fields] [--start]
              [--step step_id] [-t states] [-u user_name] [--usage]
              [-L licenses] [-w nodes] [--federation] [--local] [--sibling]
              [--json=data_parser] [--yaml=data_parser]
              [-ahjlrsv]"""
TABLE = common.OptionTable(
    short="aho:j:ln:p:rt:u:v",
    long={"all": ("", "a"), "array": ("", "r"), "noheader": ("", "h"), "format": (":", "o"),
          "jobs": ("::", "j"), "long": ("", "l"), "name": (":", "n"), "partition": (":", "p"),
          "states": (":", "t"), "user": (":", "u"), "verbose": ("", "v"), "me": ("", "me"),
          "help": ("", "help"), "usage": ("", "usage")})

# Every state name squeue accepts with -t, hpcq's or not (a state hpcq never has matches nothing).
_SLURM_STATES = {"PENDING": "PD", "RUNNING": "R", "SUSPENDED": "S", "COMPLETING": "CG", "COMPLETED": "CD",
                 "CONFIGURING": "CF", "CANCELLED": "CA", "FAILED": "F", "TIMEOUT": "TO", "PREEMPTED": "PR",
                 "NODE_FAIL": "NF", "BOOT_FAIL": "BF", "DEADLINE": "DL", "OUT_OF_MEMORY": "OOM",
                 "REQUEUED": "RQ", "RESIZING": "RS", "REVOKED": "RV", "SIGNALING": "SI",
                 "SPECIAL_EXIT": "SE", "STAGE_OUT": "SO", "STOPPED": "ST"}


@dataclass
class Query:
    job_ids: list[int] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    partitions: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    states: list[int] = field(default_factory=list)   # empty: every unfinished state
    all_states: bool = False
    header: bool = True
    long: bool = False
    fmt: str = squeue_format.DEFAULT_FORMAT
    help: bool = False


def parse_states(value: str) -> tuple[list[int], bool]:
    """-t's list: hpcq states, and whether it said ``all``."""
    found: list[int] = []
    for word in common.split_list(value):
        upper = word.upper()
        if upper == "ALL":
            return [], True
        if upper not in _SLURM_STATES and upper not in _SLURM_STATES.values():
            raise ShimError(f"squeue: error: Invalid job state specified: {word}\n"
                            f"squeue: error: Valid job states include: {','.join(_SLURM_STATES)}", 1)
        found.extend(s for s in states.from_slurm_name(upper) if s not in found)
    return found, False


def parse(argv: Sequence[str], environ: dict[str, str] | None = None, user: str = "") -> Query:
    environ = os.environ if environ is None else environ
    try:
        options, operands = common.getopt(PROG, argv, TABLE)
    except common.GetoptError as e:
        raise ShimError(f"{e}\n{TRY_HELP}", 1) from None
    q = Query(fmt=environ.get("SQUEUE_FORMAT", squeue_format.DEFAULT_FORMAT))
    for key, value in options:
        if key in ("help", "usage"):
            q.help = True
        elif key == "h":
            q.header = False
        elif key == "l":
            q.long = True
        elif key == "o":
            q.fmt = value or ""
        elif key == "j":
            for item in common.split_list(value):
                if not item.isdigit():
                    raise ShimError(f"squeue: error: Invalid job id: {item}", 1)
                q.job_ids.append(int(item))
        elif key == "u":
            q.users.extend(common.split_list(value))
        elif key == "me":
            q.users.append(user or common.login_name())
        elif key == "p":
            q.partitions.extend(common.split_list(value))
        elif key == "n":
            q.names.extend(common.split_list(value))
        elif key == "t":
            q.states, q.all_states = parse_states(value or "")
    for operand in operands:   # squeue takes job ids as arguments too (squeue 42)
        if not operand.isdigit():
            raise ShimError(f"squeue: error: Unrecognized option: {operand}\n{USAGE}", 1)
        q.job_ids.append(int(operand))
    if q.long and "o" not in {key for key, _ in options}:
        q.fmt = squeue_format.LONG_FORMAT
    try:
        squeue_format.parse_format(q.fmt)
    except squeue_format.FormatError as e:
        raise ShimError(f"squeue: error: {e}", 1) from None
    return q


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
    return not q.names or job.spec.name in q.names


def select(q: Query, conn: common.Connection) -> list[jobs_pb2.Job]:
    if q.job_ids:
        jobs, unknown = conn.client.get(q.job_ids)
        # As squeue: asking for one job loads that job, and an unknown id is an error;
        # asking for several filters the whole list.
        if len(set(q.job_ids)) == 1 and unknown:
            raise ShimError("slurm_load_jobs error: Invalid job id specified", 1)
    else:
        jobs = conn.client.list(states=q.states, users=q.users, queues=q.partitions, names=q.names,
                                include_finished=q.all_states)
    return squeue_format.sort_jobs(j for j in jobs if _wanted(j, q))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    conn = common.Connection()
    return common.run(lambda: _show(args, conn),
                      lambda e: common.slurm_failure(PROG, e, "slurm_load_jobs error: "))


def _show(argv: list[str], conn: common.Connection) -> int:
    q = parse(argv)
    if q.help:
        common.write(USAGE)
        return 0
    jobs = select(q, conn)
    sys.stdout.write(squeue_format.render(jobs, time.time(), fmt=q.fmt, header=q.header, long=q.long))
    return 0


if __name__ == "__main__":
    sys.exit(main())
