"""What qdel, qhold, qrls, qsig, qrerun, qalter and qmove share: job identifiers (a job
``21``, ``21.server``, an array ``10[]``, a subjob ``10[3]``, subjobs ``10[1-3]``) and
each refusal in PBS's words and exit code (shared/compat/openpbs/qhold_qrls_qalter.txt,
errors_and_exit_codes.txt)."""
from __future__ import annotations

from collections.abc import Sequence

from hpcq.api.lite import jobs_pb2
from hpcq.shims import errors, jobrefs
from hpcq.shims.errors import ShimError

R = jobs_pb2.JobActionResult


def parse_ids(prog: str, operands: Sequence[str], usage: str, *, ranges: bool = True) -> list[jobrefs.JobRef]:
    """The jobs and subjobs the operands name, in order (a range of subjobs where the
    command takes one, `ranges`); PBS's words for anything else."""
    if not operands:
        raise ShimError(usage, 2)
    refs: list[jobrefs.JobRef] = []
    for operand in operands:
        try:
            refs += jobrefs.parse_pbs(operand, ranges=ranges)
        except jobrefs.JobRefError:
            raise ShimError(f"{prog}: illegally formed job identifier: {operand}", 1) from None
    return refs


# Each refusal in PBS's words, the job's id after them, and its PBS error number.
_REFUSALS = {
    R.UNKNOWN_JOB: ("Unknown Job Id", errors.PBSE_UNKJOBID),
    R.FINISHED: ("Job has finished", errors.PBSE_HISTJOBID),
    R.NOT_PERMITTED: ("Unauthorized Request ", errors.PBSE_PERM),
    R.INVALID_STATE: ("Request invalid for state of job", errors.PBSE_BADSTATE),
}


def report(prog: str, results: Sequence[jobs_pb2.JobActionResult], cluster: str, *,
           ignore: frozenset[int] = frozenset(), finished_with_id: bool = False,
           refs: Sequence[jobrefs.JobRef] = ()) -> tuple[list[str], int]:
    """Error lines for the refused jobs, in the order of `refs`, and the exit code (the
    last refusal's). Codes in `ignore` are no error for this command (qrls of a job that
    is not held). A finished job is named only by qdel (`finished_with_id`); qrls 1 says
    "Job has finished"."""
    lines, code = [], 0
    for ref, result in jobrefs.in_order(refs, results):
        if result.code == R.OK or result.code in ignore:
            continue
        words, errno = _REFUSALS.get(result.code, (result.message or "Request failed", 15010))
        named = finished_with_id or result.code != R.FINISHED
        lines.append(f"{prog}: {words} {ref.pbs(cluster)}" if named else f"{prog}: {words}")
        code = errors.pbs_exit(errno)
    return lines, code
