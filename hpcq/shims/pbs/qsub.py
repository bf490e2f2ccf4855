"""qsub: submit a PBS job script (or ``-- command``) and print ``<id>.<server>``."""
from __future__ import annotations

import sys

from hpcq.shims import common
from hpcq.shims.pbs import options

PROG = "qsub"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    conn = common.Connection()
    return common.run(lambda: _submit(args, conn),
                      lambda e: common.pbs_failure(PROG, e, server=conn.cluster))


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
