"""qrerun: put running or finished PBS jobs and subjobs back in the queue for another run
(ctld's Requeue: the job keeps its id, and sacct and qstat -f count the attempt)."""
from __future__ import annotations

from collections.abc import Sequence

from hpcq.shims import getopt, jobrefs, output, versions
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.pbs import actions
from hpcq.shims.shim import Shim

PROG = "qrerun"
USAGE = "usage: qrerun [-W force] job_identifier...\n       qrerun --version"
TABLE = OptionTable(short="W:", long={"version": ("", "version")})


def parse(argv: Sequence[str]) -> tuple[list[jobrefs.JobRef], bool]:
    """(jobs and subjobs, whether --version was asked)."""
    options, operands = getopt.command_line(PROG, argv, TABLE, then=USAGE, exit_code=2)
    if any(key == "version" for key, _ in options):
        return [], True
    for key, value in options:
        # -W force: accepted; ctld requeues the same way with or without it.
        if key == "W" and value != "force":
            raise ShimError(f"{PROG}: illegal -W value\n{USAGE}", 2)
    return actions.parse_ids(PROG, operands, USAGE), False


def _rerun(argv: list[str], conn: Connection) -> int:
    refs, version = parse(argv)
    if versions.pbs_version(version):
        return 0
    job_ids, tasks = jobrefs.split(refs)
    results = conn.client.requeue(job_ids, tasks=tasks)
    return output.refusals(*actions.report(PROG, results, conn.cluster, refs=refs, finished_with_id=True))


command = Shim.pbs(PROG, _rerun)
main = command.main
