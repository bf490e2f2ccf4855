"""What qdel, qhold, qrls and qsig share: job identifiers and each refusal in PBS's
words and exit code (shared/compat/openpbs/qhold_qrls_qalter.txt,
errors_and_exit_codes.txt)."""
from __future__ import annotations

from collections.abc import Sequence

from hpcq.api.lite import jobs_pb2
from hpcq.shims import errors, values
from hpcq.shims.errors import ShimError
from hpcq.shims.pbs import qstat_format

R = jobs_pb2.JobActionResult


def parse_ids(prog: str, operands: Sequence[str], usage: str) -> list[int]:
    """Job numbers of ``21``, ``21.pbshost``; qdel's words for anything else."""
    if not operands:
        raise ShimError(usage, 2)
    numbers = []
    for operand in operands:
        number = qstat_format.parse_job_id(operand)
        if number is None or number > values.UINT64_MAX:   # a job id is a uint64 on the wire
            raise ShimError(f"{prog}: illegally formed job identifier: {operand}", 1)
        numbers.append(number)
    return numbers


# Each refusal in PBS's words, the job's id after them, and its PBS error number.
_REFUSALS = {
    R.UNKNOWN_JOB: ("Unknown Job Id", errors.PBSE_UNKJOBID),
    R.FINISHED: ("Job has finished", errors.PBSE_HISTJOBID),
    R.NOT_PERMITTED: ("Unauthorized Request ", errors.PBSE_PERM),
    R.INVALID_STATE: ("Request invalid for state of job", errors.PBSE_BADSTATE),
}


def report(prog: str, results: Sequence[jobs_pb2.JobActionResult], cluster: str, *,
           ignore: frozenset[int] = frozenset(), finished_with_id: bool = False) -> tuple[list[str], int]:
    """Error lines for the refused jobs, in order, and the exit code (the last refusal's).
    Codes in `ignore` are no error for this command (qrls of a job that is not held). A
    finished job is named only by qdel (`finished_with_id`); qrls 1 says "Job has finished"."""
    lines, code = [], 0
    for result in results:
        if result.code == R.OK or result.code in ignore:
            continue
        words, errno = _REFUSALS.get(result.code, (result.message or "Request failed", 15010))
        named = finished_with_id or result.code != R.FINISHED
        lines.append(f"{prog}: {words} {result.job_id}.{cluster}" if named else f"{prog}: {words}")
        code = errors.pbs_exit(errno)
    return lines, code
