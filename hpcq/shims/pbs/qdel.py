"""qdel: delete PBS jobs, by number or full id, several at once."""
from __future__ import annotations

import sys
from collections.abc import Sequence

from hpcq.api.lite import jobs_pb2
from hpcq.shims import common
from hpcq.shims.common import ShimError
from hpcq.shims.pbs import qstat_format

PROG = "qdel"
USAGE = """\
usage:
\tqdel [-W force|suppress_email=X] [-x] job_identifier...
\tqdel --version"""
TABLE = common.OptionTable(short="W:x")

R = jobs_pb2.JobActionResult
# How qdel reports each refusal: message (with the job id after it) and PBS error number.
_REFUSALS = {
    R.UNKNOWN_JOB: ("Unknown Job Id", common.PBSE_UNKJOBID),
    R.FINISHED: ("Job has finished", common.PBSE_HISTJOBID),
    R.NOT_PERMITTED: ("Unauthorized Request ", common.PBSE_PERM),
    R.INVALID_STATE: ("Request invalid for state of job", common.PBSE_BADSTATE),
}


def parse(argv: Sequence[str]) -> tuple[list[int], bool]:
    """The job numbers to delete, and whether finished jobs' history goes too (-x)."""
    options, operands = common.command_line(PROG, argv, TABLE, then=USAGE, exit_code=2)
    if not operands:
        raise ShimError(USAGE, 2)
    numbers = []
    for operand in operands:
        number = qstat_format.parse_job_id(operand)
        if number is None:
            raise ShimError(f"qdel: illegally formed job identifier: {operand}", 1)
        numbers.append(number)
    return numbers, any(key == "x" for key, _ in options)


def report(results: Sequence[jobs_pb2.JobActionResult], cluster: str, *, history: bool) -> tuple[list[str], int]:
    """The error lines for the refused deletions, in the order given, and the exit code
    (the last refusal's)."""
    lines, code = [], 0
    for result in results:
        if result.code == R.OK or (result.code == R.FINISHED and history):
            continue
        words, errno = _REFUSALS.get(result.code, (result.message or "Request failed", 15010))
        lines.append(f"qdel: {words} {result.job_id}.{cluster}")
        code = common.pbs_exit(errno)
    return lines, code


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    conn = common.Connection()
    return common.run(lambda: _delete(args, conn), lambda e: common.pbs_failure(PROG, e, server=conn.cluster))


def _delete(argv: list[str], conn: common.Connection) -> int:
    numbers, history = parse(argv)
    lines, code = report(conn.client.cancel(numbers), conn.cluster, history=history)
    for line in lines:
        print(line, file=sys.stderr)
    return code


command = common.entry_point(main)

if __name__ == "__main__":
    command()
