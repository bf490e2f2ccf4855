"""qsub: submit a PBS job script (or ``-- command``) and print ``<id>.<server>``."""
from __future__ import annotations

from hpcq.errors import HpcqError
from hpcq.shims import errors, output
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.pbs import options
from hpcq.shims.shim import Shim
from hpcq.shims.submit_context import SubmitContext

PROG = "qsub"


def submission_failure(error: HpcqError, server: str) -> ShimError:
    if errors.script_too_large(error):  # the PBS server's jobscript_max_size refusal
        return ShimError("qsub: jobscript size exceeded the jobscript_max_size",
                         errors.pbs_exit(errors.PBSE_JOBSCRIPTMAXSIZE))
    return errors.pbs_failure(PROG, error, server=server)


def _submit(argv: list[str], conn: Connection) -> int:
    request = options.parse(argv, SubmitContext.current())
    job_ids = conn.client.submit([request.spec])
    if request.print_id:
        brackets = "[]" if request.spec.array.tasks else ""  # an array: 12[].server, as PBS prints it
        output.write(f"{job_ids[0]}{brackets}.{conn.cluster}")
    return 0


command = Shim(_submit, lambda error, conn: submission_failure(error, conn.cluster))
main = command.main
