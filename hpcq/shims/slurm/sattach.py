"""sattach: follow a running job step's output — ``sattach N.S`` (an srun step) or
``sattach N.batch`` (the batch script) — until the step ends; ``-Q``, ``-v``, ``-V``.

hpcq reads the output where it is written, on the job's node, through ctld (Jobs.Output):
a step's tasks write to srun's output, which is the job's output file unless srun was
given --output, so the job's file is what sattach shows, from its first byte. Lines
reach sattach within a second of their printing. Options that need per-task streams
(--input-filter, --output-filter, --error-filter, -l/--label, --layout) are refused:
hpcq keeps a step's output as the file holds it. Error texts are Slurm 22.05's.
"""
from __future__ import annotations

import re
import sys

from hpcq.errors import HpcqError
from hpcq.shims import getopt, versions
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.shim import Shim

PROG = "sattach"
USAGE = "Usage: sattach [options] <jobid.stepid>\n"
HELP = """\
Usage: sattach [options] <jobid.stepid>
      --input-filter=taskid  send stdin to only the specified task
      --output-filter=taskid only print stdout from the specified task
      --error-filter=taskid  only print stderr from the specified task
  -l, --label        prepend task number to lines of stdout & stderr
      --layout       print task layout info and exit (does not attach to tasks)
  -Q, --quiet        quiet mode (suppress informational messages)
  -v, --verbose      verbose mode (multiple -v's increase verbosity)
  -V, --version      print the Slurm version and exit

Help options:
  -h, --help         print this help message
  -u, --usage        print a brief usage message
"""
TABLE = OptionTable(
    short="hlQuvV",
    long={"input-filter": (":", "input-filter"), "output-filter": (":", "output-filter"),
          "error-filter": (":", "error-filter"), "label": ("", "l"), "layout": ("", "layout"),
          "quiet": ("", "Q"), "verbose": ("", "v"), "version": ("", "V"), "help": ("", "h"), "usage": ("", "u")})
_UNSUPPORTED = {"input-filter": "--input-filter", "output-filter": "--output-filter",
                "error-filter": "--error-filter", "l": "--label", "layout": "--layout"}
_STEP = re.compile(r"([0-9]+)\.([0-9]+|batch)")

# What sattach prints after "Could not get job step info: ", by ctld's token or status.
_STEP_INFO = {
    "UNKNOWN_JOB": "Invalid job id specified",
    "UNKNOWN_STEP": "Invalid job id specified",
    "JOB_PENDING": "Job is pending execution",
    "JOB_NOT_RUNNING": "Job/step already completing or completed",
    "PERMISSION_DENIED": "Access/permission denied",
}


def parse(argv: list[str]) -> tuple[int, int | None] | None:
    """(job id, step id or None for the batch step); None when only help or the version was asked."""
    options, operands = getopt.command_line(PROG, argv, TABLE, then=USAGE.rstrip("\n"), exit_code=1)
    keys = [key for key, _ in options]
    if "h" in keys or "u" in keys:
        sys.stdout.write(HELP if "h" in keys else USAGE)
        return None
    if versions.slurm_help_or_version(False, "V" in keys, USAGE):
        return None
    for key in keys:
        if key in _UNSUPPORTED:
            raise ShimError(f"{PROG}: error: {_UNSUPPORTED[key]} is not supported by hpcq", 1)
    if len(operands) != 1:   # Slurm's own words, for none as for several
        raise ShimError(f"{PROG}: error: too many parameters\n{USAGE.rstrip()}", 1)
    m = _STEP.fullmatch(operands[0])
    if m is None:
        if operands[0].isdigit():
            raise ShimError(f"{PROG}: error: Failed to parse stepid from command line options\n{USAGE.rstrip()}", 1)
        raise ShimError(f"{PROG}: error: Could not get job step info: Invalid job id specified", 1)
    return int(m[1]), None if m[2] == "batch" else int(m[2])


def _attach(argv: list[str], conn: Connection) -> int:
    step = parse(argv)
    if step is None:
        return 0
    job_id, step_id = step
    out = sys.stdout.buffer
    try:
        for data in conn.client.output(job_id, step_id=step_id, follow=True):
            out.write(data)
            out.flush()
    except HpcqError as e:
        token = e.message.partition(": ")[0]
        words = _STEP_INFO.get(token) or _STEP_INFO.get(e.code)
        if words is None:
            raise
        raise ShimError(f"{PROG}: error: Could not get job step info: {words}", 1) from None
    return 0


command = Shim.slurm(PROG, _attach)
main = command.main
