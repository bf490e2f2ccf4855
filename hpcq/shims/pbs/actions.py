"""What qhold, qrls and qsig share: job identifiers, the call per job list, and each
refusal in PBS's words and exit code (shared/compat/openpbs/qhold_qrls_qalter.txt,
errors_and_exit_codes.txt)."""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from hpcq.api.lite import jobs_pb2
from hpcq.shims import common
from hpcq.shims.common import ShimError
from hpcq.shims.pbs import qstat_format

R = jobs_pb2.JobActionResult


def parse_ids(prog: str, operands: Sequence[str], usage: str) -> list[int]:
    """Job numbers of ``21``, ``21.pbshost``; qdel's words for anything else."""
    if not operands:
        raise ShimError(usage, 2)
    numbers = []
    for operand in operands:
        number = qstat_format.parse_job_id(operand)
        if number is None:
            raise ShimError(f"{prog}: illegally formed job identifier: {operand}", 1)
        numbers.append(number)
    return numbers


def report(prog: str, results: Sequence[jobs_pb2.JobActionResult], cluster: str, *,
           ignore: frozenset[int] = frozenset()) -> tuple[list[str], int]:
    """Error lines for the refused jobs, in order, and the exit code (the last refusal's).
    Codes in `ignore` are no error for this command (qrls of a job that is not held)."""
    lines, code = [], 0
    for result in results:
        if result.code == R.OK or result.code in ignore:
            continue
        ident = f"{result.job_id}.{cluster}"
        if result.code == R.UNKNOWN_JOB:
            text, errno = f"Unknown Job Id {ident}", common.PBSE_UNKJOBID
        elif result.code == R.FINISHED:
            text, errno = "Job has finished", common.PBSE_HISTJOBID        # qrls 1: no id (as PBS)
        elif result.code == R.NOT_PERMITTED:
            text, errno = f"Unauthorized Request  {ident}", common.PBSE_PERM
        elif result.code == R.INVALID_STATE:
            text, errno = f"Request invalid for state of job {ident}", common.PBSE_BADSTATE
        else:
            text, errno = f"{result.message or 'Request failed'} {ident}", 15010
        lines.append(f"{prog}: {text}")
        code = common.pbs_exit(errno)
    return lines, code


def run(prog: str, argv: list[str] | None, body: Callable[[list[str], common.Connection], int]) -> int:
    args = sys.argv[1:] if argv is None else argv
    conn = common.Connection()
    return common.run(lambda: body(args, conn), lambda e: common.pbs_failure(prog, e, server=conn.cluster))


def print_report(lines: Sequence[str]) -> None:
    for line in lines:
        print(line, file=sys.stderr)
