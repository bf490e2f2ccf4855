"""scancel: cancel or signal Slurm jobs, by id or by filter (-u, -t, -n, -p, --me)."""
from __future__ import annotations

import sys
from collections.abc import Sequence

from hpcq.api.lite import jobs_pb2
from hpcq.shims import getopt, output, submit_context, values
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
               [--hurry] [-V] [-v] [-w hosts...] [--wckey=wckey] [--me] [job_id[_array_id][.step_id]]"""
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


class Request(Record):
    job_ids: list[int] = []
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
        number = values.parse_uint(operand, values.UINT64_MAX)
        if number is None:
            raise ShimError(f"scancel: error: Invalid job id {operand}", 1)
        r.job_ids.append(number)
    if filtered:
        r.filters = filters
    if not r.job_ids and not filtered and not r.help:
        raise ShimError("scancel: error: No job identification provided", 1)
    return r


def report(results: Sequence[jobs_pb2.JobActionResult], *, verbose: bool) -> tuple[list[str], int]:
    """Error lines and exit code for the results of a cancel or signal."""
    lines, code = [], 0
    for result in results:
        if result.code in _QUIET_REFUSALS:
            if verbose:
                lines.append(f"scancel: error: Kill job error on job id {result.job_id}: "
                             f"{_QUIET_REFUSALS[result.code]}")
        elif result.code != R.OK:
            words = _LOUD_REFUSALS.get(result.code, result.message or "Unspecified error")
            lines.append(f"scancel: error: Kill job error on job id {result.job_id}: {words}")
            code = 1
    return lines, code


def _cancel(argv: list[str], conn: Connection) -> int:
    r = parse(argv)
    if r.help:
        output.write(USAGE)
        return 0
    job_ids = r.job_ids
    if r.filters is not None:
        matching = [job.id for job in squeue.select(r.filters, conn)]
        job_ids = [i for i in job_ids if i in matching] if job_ids else matching
    if not job_ids:
        return 0
    if r.verbose:
        for job_id in job_ids:
            what = f"Signal {r.signal} to job" if r.signal else "Terminating job"
            print(f"scancel: {what} {job_id}", file=sys.stderr)
    results = conn.client.signal(job_ids, r.signal) if r.signal else conn.client.cancel(job_ids)
    return output.refusals(*report(results, verbose=r.verbose))


command = Shim.slurm(PROG, _cancel)
main = command.main
