"""qmove: move queued PBS jobs and subjobs to another queue (``qmove workq 23``): ctld's
Update of the job's queue, with the checks of a submit to that queue."""
from __future__ import annotations

import sys
from collections.abc import Sequence

from hpcq.api.lite import jobs_pb2
from hpcq.shims import getopt, jobrefs, versions
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.pbs import actions, qalter
from hpcq.shims.shim import Shim

PROG = "qmove"
USAGE = "usage: qmove destination job_identifier...\n       qmove --version"
TABLE = OptionTable(short="", long={"version": ("", "version")})


def parse(argv: Sequence[str]) -> tuple[str, list[jobrefs.JobRef], bool]:
    """(queue, jobs and subjobs, whether --version was asked). A destination
    ``queue@server`` names the queue; this cluster is the only server."""
    options, operands = getopt.command_line(PROG, argv, TABLE, then=USAGE, exit_code=2)
    if any(key == "version" for key, _ in options):
        return "", [], True
    if len(operands) < 2:
        raise ShimError(USAGE, 2)
    queue = operands[0].partition("@")[0]
    return queue, actions.parse_ids(PROG, operands[1:], USAGE, ranges=False), False


def _move(argv: list[str], conn: Connection) -> int:
    queue, refs, version = parse(argv)
    if versions.pbs_version(version):
        return 0
    code = 0
    for ref in refs:
        try:
            qalter.update(conn, ref, jobs_pb2.JobSpec(queue=queue), ["queue"], PROG)
        except ShimError as e:
            print(e.text, file=sys.stderr)
            code = e.exit_code
    return code


command = Shim.pbs(PROG, _move)
main = command.main
