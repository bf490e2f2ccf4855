"""scancel: cancel or signal Slurm jobs, by id (``N``, an array task ``N_i``, tasks
``N_[1-3,7]``) or by filter (-u, -t, -n, -p, --me)."""
from __future__ import annotations

import sys
from collections.abc import Sequence

from hpcq.api.lite import jobs_pb2
from hpcq.shims import getopt, jobrefs, output, submit_context, values
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.record import Record
from hpcq.shims.shim import Shim
from hpcq.shims.slurm import squeue

PROG = "scancel"
TRY_HELP = 'Try "scancel --help" for more information'
USAGE = """\
Usage: scancel [-A account] [--batch] [--full] [--interactive] [-n job_name]
               [-p partition] [-Q] [-q qos] [-R reservation] [-s signal | integer]
               [-t PENDING | RUNNING | SUSPENDED] [--usage] [-u user_name]
               [--hurry] [-V] [-v] [-w hosts...] [--wckey=wckey] [--me] [job_id[_array_id]]"""
TABLE = OptionTable(
    short="bfn:p:Qs:t:u:v",
    long={"batch": ("", "b"), "full": ("", "f"), "name": (":", "n"), "jobname": (":", "n"),
          "partition": (":", "p"), "quiet": ("", "Q"), "signal": (":", "s"), "state": (":", "t"),
          "user": (":", "u"), "verbose": ("", "v"), "me": ("", "me"), "hurry": ("", "hurry"),
          "help": ("", "help"), "usage": ("", "usage")})

R = jobs_pb2.JobActionResult
# Refusals scancel only mentions with -v, as Slurm (an unknown or finished job is no failure).
_QUIET_REFUSALS = {R.UNKNOWN_JOB: "Invalid job id specified",
                   R.FINISHED: "Job/step already completing or completed"}
_LOUD_REFUSALS = {R.NOT_PERMITTED: "Access/permission denied",
                  R.INVALID_STATE: "Job is pending execution"}


# ESLURM_ACCESS_DENIED (2002) is what scancel exits with, modulo 256, for a job not yours.
_ACCESS_DENIED_EXIT = 2002 % 256


class Request(Record):
    refs: list[jobrefs.JobRef] = []    # whole jobs and array tasks, in the order given
    operands: list[str] = []           # as typed, for -v
    signal: int = 0                    # 0: cancel
    filters: squeue.Query | None = None
    verbose: bool = False
    help: bool = False


def parse(argv: Sequence[str], user: str = "") -> Request:
    options, operands = getopt.command_line(PROG, argv, TABLE, then=TRY_HELP, exit_code=1)
    r = Request()
    filters = squeue.Query()
    filtered = False
    for key, value in options:
        if key in ("help", "usage"):
            r.help = True
        elif key == "v":
            r.verbose = True
        elif key == "s":
            try:
                r.signal = values.parse_signal(value or "")
            except ValueError:
                raise ShimError(f"scancel: error: Invalid job signal: {value}", 1) from None
        elif key in ("u", "me"):
            filters.users.extend(values.split_list(value) if key == "u" else [user or submit_context.login_name()])
            filtered = True
        elif key == "n":
            filters.names.extend(values.split_list(value))
            filtered = True
        elif key == "p":
            filters.partitions.extend(values.split_list(value))
            filtered = True
        elif key == "t":
            filters.states, filters.all_states = squeue.parse_states(value or "")
            filtered = True
    for operand in operands:
        try:
            refs = jobrefs.parse_slurm(operand, ranges=True, steps=True)
        except jobrefs.JobRefError:
            raise ShimError(f"scancel: error: Invalid job id {operand}", 1) from None
        if any(ref.step for ref in refs):
            raise ShimError(f"scancel: error: cancelling a job step ({operand}) is not supported by hpcq yet", 1)
        r.refs.extend(refs)
        r.operands.append(operand)
    if filtered:
        r.filters = filters
    if not r.refs and not filtered and not r.help:
        raise ShimError("scancel: error: No job identification provided", 1)
    return r


def report(results: Sequence[jobs_pb2.JobActionResult], *, verbose: bool,
           refs: Sequence[jobrefs.JobRef] = ()) -> tuple[list[str], int]:
    """Error lines and exit code for the results of a cancel or signal, in the order of
    `refs` (each job named as the user named it: ``5`` or ``5_7``)."""
    lines, code = [], 0
    for ref, result in jobrefs.in_order(refs, results):
        if result.code in _QUIET_REFUSALS:
            if verbose:
                lines.append(f"scancel: error: Kill job error on job id {ref.slurm()}: "
                             f"{_QUIET_REFUSALS[result.code]}")
        elif result.code != R.OK:
            words = _LOUD_REFUSALS.get(result.code, result.message or "Unspecified error")
            lines.append(f"scancel: error: Kill job error on job id {ref.slurm()}: {words}")
            code = _ACCESS_DENIED_EXIT if result.code == R.NOT_PERMITTED else 1
    return lines, code


def chosen(refs: Sequence[jobrefs.JobRef], matching: Sequence[jobs_pb2.Job]) -> list[jobrefs.JobRef]:
    """The references a filter leaves: with ids, those of the matching jobs (an array task
    by its array's id or its own), else every matching job."""
    if not refs:
        return [jobrefs.JobRef(job.id) for job in matching]
    ids = {job.id for job in matching} | {job.array_job_id for job in matching if job.array_job_id}
    return [ref for ref in refs if ref.job_id in ids]


def _cancel(argv: list[str], conn: Connection) -> int:
    r = parse(argv)
    if r.help:
        output.write(USAGE)
        return 0
    refs, named = r.refs, r.operands
    if r.filters is not None:
        refs = chosen(refs, squeue.select(r.filters, conn))
        named = [ref.slurm() for ref in refs]
    if not refs:
        return 0
    if r.verbose:
        what = f"Signal {r.signal} to job" if r.signal else "Terminating job"
        for text in named:
            print(f"scancel: {what} {text}", file=sys.stderr)
    job_ids, tasks = jobrefs.split(refs)
    if r.signal:
        results = conn.client.signal(job_ids, r.signal, tasks=tasks)
    else:
        results = conn.client.cancel(job_ids, tasks=tasks)
    return output.refusals(*report(results, verbose=r.verbose, refs=refs))


command = Shim.slurm(PROG, _cancel)
main = command.main
