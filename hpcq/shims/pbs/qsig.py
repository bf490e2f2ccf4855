"""qsig: send a signal to running PBS jobs (``-s`` a name or number; SIGTERM by default)."""
from __future__ import annotations

from collections.abc import Sequence

from hpcq.shims import common
from hpcq.shims.common import ShimError
from hpcq.shims.pbs import actions

PROG = "qsig"
USAGE = "usage: qsig [-s signal] job_identifier...\n       qsig --version"
TABLE = common.OptionTable(short="s:", long={"version": ("", "version")})
_NOT_YET = frozenset({"suspend", "resume", "admin-suspend", "admin-resume"})


def parse(argv: Sequence[str]) -> tuple[int, list[int]]:
    """(signal, job numbers); signal 0 asks for the version."""
    options, operands = common.command_line(PROG, argv, TABLE, then=USAGE, exit_code=2)
    if any(key == "version" for key, _ in options):
        return 0, []
    signal = 15
    for key, value in options:
        if key == "s":
            name = value or ""
            if name.lower() in _NOT_YET:
                raise ShimError(f"qsig: -s {name} is not supported by hpcq yet", 2)
            try:
                signal = common.parse_signal(name)
            except ValueError:
                ids = " ".join(operands)
                raise ShimError(f"qsig: Unknown signal {name} {ids}".rstrip(),
                                common.pbs_exit(common.PBSE_UNKSIG)) from None
    return signal, actions.parse_ids(PROG, operands, USAGE)


def main(argv: list[str] | None = None) -> int:
    return actions.run(PROG, argv, _signal)


def _signal(argv: list[str], conn: common.Connection) -> int:
    signal, job_ids = parse(argv)
    if not signal:
        common.write(common.PBS_VERSION_LINE)
        return 0
    lines, code = actions.report(PROG, conn.client.signal(job_ids, signal), conn.cluster)
    actions.print_report(lines)
    return code


command = common.entry_point(main)

if __name__ == "__main__":
    command()
