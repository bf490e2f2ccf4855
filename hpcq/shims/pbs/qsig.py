"""qsig: send a signal to running PBS jobs (``-s`` a name or number; SIGTERM by default)."""
from __future__ import annotations

from collections.abc import Sequence

from hpcq.shims import errors, getopt, output, values, versions
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.pbs import actions
from hpcq.shims.shim import Shim

PROG = "qsig"
USAGE = "usage: qsig [-s signal] job_identifier...\n       qsig --version"
TABLE = OptionTable(short="s:", long={"version": ("", "version")})
_NOT_YET = frozenset({"suspend", "resume", "admin-suspend", "admin-resume"})


def parse(argv: Sequence[str]) -> tuple[int, list[int]]:
    """(signal, job numbers); signal 0 asks for the version."""
    options, operands = getopt.command_line(PROG, argv, TABLE, then=USAGE, exit_code=2)
    if any(key == "version" for key, _ in options):
        return 0, []
    signal = 15
    for key, value in options:
        if key == "s":
            name = value or ""
            if name.lower() in _NOT_YET:
                raise ShimError(f"qsig: -s {name} is not supported by hpcq yet", 2)
            try:
                signal = values.parse_signal(name)
            except ValueError:
                ids = " ".join(operands)
                raise ShimError(f"qsig: Unknown signal {name} {ids}".rstrip(),
                                errors.pbs_exit(errors.PBSE_UNKSIG)) from None
    return signal, actions.parse_ids(PROG, operands, USAGE)


def _signal(argv: list[str], conn: Connection) -> int:
    signal, job_ids = parse(argv)
    if versions.pbs_version(not signal):
        return 0
    return output.refusals(*actions.report(PROG, conn.client.signal(job_ids, signal), conn.cluster))


command = Shim.pbs(PROG, _signal)
main = command.main
