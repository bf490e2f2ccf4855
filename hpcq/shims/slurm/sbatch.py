"""sbatch: submit a batch script and print ``Submitted batch job N`` (``N`` with --parsable)."""
from __future__ import annotations

import sys

from hpcq.errors import HpcqError
from hpcq.shims import errors, mailcheck, output, versions
from hpcq.shims.connection import Connection, slurm_retry_notice
from hpcq.shims.errors import ShimError
from hpcq.shims.shim import Shim
from hpcq.shims.slurm import options
from hpcq.shims.submit_context import SubmitContext

PROG = "sbatch"
FAILED = "sbatch: error: Batch job submission failed: "

# ctld's refusals in slurm_strerror()'s words; True: ctld's detail goes on a line of its
# own before them, as sbatch prints "Memory specification can not be satisfied" before
# "Requested node configuration is not available" (sbatch_too_much_mem.txt).
_REFUSALS = {
    "TOO_BIG": ("Requested node configuration is not available", True),
    "TIME_LIMIT": ("Requested time limit is invalid (missing or exceeds some limit)", True),
    "QUEUE_CLOSED": ("Required partition not available (inactive or drain)", True),
    "QUEUE_ACCESS": ("Access/permission denied", True),
    "MAX_JOB_COUNT": ("Resource temporarily unavailable", True),
    "SUBMIT_LIMIT": ("Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)", False),
    "PRIVILEGED": ("Access/permission denied", False),
    "BAD_LICENSE": ("Invalid license specification", True),
    "BAD_DEPENDENCY": ("Job dependency problem", False),      # sbatch_dependency_bad_syntax.txt
    "BAD_ARRAY": ("Invalid job array specification", False),  # beyond MaxArraySize ([ctld] max_array_size)
    "BAD_SPEC": ("Invalid job specification", True),
}


def submission_failure(error: HpcqError, partition: str) -> ShimError:
    """A refused submit as sbatch prints it (sbatch_unknown_partition.txt, ..._too_much_mem.txt)."""
    if errors.script_too_large(error):  # slurmctld's max_script_size refusal (ESLURM_PATHNAME_TOO_LONG)
        return ShimError(f"{FAILED}Pathname of a file, directory or other parameter too long", 1)
    token, detail = errors.error_token(error)
    if token == "UNKNOWN_QUEUE":
        first = f"invalid partition specified: {partition}" if partition else detail
        return ShimError(f"sbatch: error: {first}\n{FAILED}Invalid partition name specified", 1)
    if token in _REFUSALS:
        words, with_detail = _REFUSALS[token]
        lead = f"sbatch: error: {detail}\n" if with_detail and detail else ""
        return ShimError(f"{lead}{FAILED}{words}", 1)
    return errors.slurm_failure(PROG, error, FAILED)


def _submit(argv: list[str], conn: Connection) -> int:
    request = options.parse(argv, SubmitContext.current())
    if request.help:
        output.write(options.USAGE)
        return 0
    if request.version:
        output.write(versions.SLURM_VERSION_LINE)          # sbatch_version.txt
        return 0
    try:
        job_ids = conn.client.submit([request.spec], test_only=request.test_only)
    except HpcqError as e:
        raise submission_failure(e, request.spec.queue) from None
    if request.test_only:
        partition = request.spec.queue or "(default)"
        print(f"sbatch: Job {job_ids[0] if job_ids else 0} can be submitted to partition {partition}; "
              "hpcq gives no start estimate", file=sys.stderr)
    elif request.parsable:
        output.write(str(job_ids[0]))
    elif not request.quiet:
        output.write(f"Submitted batch job {job_ids[0]}")
    if request.spec.mail_events not in ("", "NONE") and not request.test_only:
        mailcheck.warn_if_unsent(conn, "sbatch", f"--mail-type={request.spec.mail_events}")
    return 0


# _submit words a refused submit itself, with the partition asked for.
command = Shim(_submit, lambda error, conn: submission_failure(error, ""), slurm_retry_notice("sbatch"))
main = command.main
