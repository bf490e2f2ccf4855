"""qsub: submit a PBS job script (or ``-- command``) and print ``<id>.<server>``."""
from __future__ import annotations

import sys

from hpcq.errors import HpcqError
from hpcq.shims import common
from hpcq.shims.pbs import options

PROG = "qsub"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    conn = common.Connection()
    return common.run(lambda: _submit(args, conn), lambda e: submission_failure(e, conn.cluster))


def submission_failure(error: HpcqError, server: str) -> common.ShimError:
    if common.script_too_large(error):  # the PBS server's jobscript_max_size refusal
        return common.ShimError("qsub: jobscript size exceeded the jobscript_max_size",
                                common.pbs_exit(common.PBSE_JOBSCRIPTMAXSIZE))
    return common.pbs_failure(PROG, error, server=server)


def _submit(argv: list[str], conn: common.Connection) -> int:
    request = options.parse(argv, common.SubmitContext.current())
    job_ids = conn.client.submit([request.spec])
    if request.print_id:
        brackets = "[]" if request.spec.array.tasks else ""  # an array: 12[].server, as PBS prints it
        common.write(f"{job_ids[0]}{brackets}.{conn.cluster}")
    return 0


command = common.entry_point(main)

if __name__ == "__main__":
    command()
