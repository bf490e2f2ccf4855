"""qdel: delete PBS jobs, by number or full id, arrays (``10[]``) and subjobs (``10[3]``,
``10[1-3]``), several at once."""
from __future__ import annotations

from collections.abc import Sequence

from hpcq.api.lite import jobs_pb2
from hpcq.shims import getopt, jobrefs, output
from hpcq.shims.connection import Connection
from hpcq.shims.getopt import OptionTable
from hpcq.shims.pbs import actions
from hpcq.shims.shim import Shim

PROG = "qdel"
USAGE = """\
usage:
\tqdel [-W force|suppress_email=X] [-x] job_identifier...
\tqdel --version"""
TABLE = OptionTable(short="W:x")


def parse(argv: Sequence[str]) -> tuple[list[jobrefs.JobRef], bool]:
    """The jobs and subjobs to delete, and whether finished jobs' history goes too (-x)."""
    options, operands = getopt.command_line(PROG, argv, TABLE, then=USAGE, exit_code=2)
    return actions.parse_ids(PROG, operands, USAGE), any(key == "x" for key, _ in options)


def report(results: Sequence[jobs_pb2.JobActionResult], cluster: str, *, history: bool,
           refs: Sequence[jobrefs.JobRef] = ()) -> tuple[list[str], int]:
    """The error lines for the refused deletions, in the order given, and the exit code
    (the last refusal's); with -x (`history`) a finished job is deleted, not refused."""
    ignore = frozenset({actions.R.FINISHED}) if history else frozenset()
    return actions.report(PROG, results, cluster, ignore=ignore, finished_with_id=True, refs=refs)


def _delete(argv: list[str], conn: Connection) -> int:
    refs, history = parse(argv)
    job_ids, tasks = jobrefs.split(refs)
    results = conn.client.cancel(job_ids, tasks=tasks)
    return output.refusals(*report(results, conn.cluster, history=history, refs=refs))


command = Shim.pbs(PROG, _delete)
main = command.main
