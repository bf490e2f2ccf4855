"""qsig: send a signal to running PBS jobs and subjobs (``-s`` a name or number; SIGTERM by
default); ``-s suspend`` and ``-s resume`` stop a job where it is and let it run on, as
OpenPBS (operators and administrators)."""
from __future__ import annotations

from collections.abc import Sequence

from hpcq.errors import HpcqError
from hpcq.shims import errors, getopt, jobrefs, output, values, versions
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.pbs import actions
from hpcq.shims.shim import Shim

PROG = "qsig"
USAGE = "usage: qsig [-s signal] job_identifier...\n       qsig --version"
TABLE = OptionTable(short="s:", long={"version": ("", "version")})
SUSPEND, RESUME = -1, -2           # not signals: the Suspend and Resume calls
_VERBS = {"suspend": SUSPEND, "resume": RESUME}
_NOT_YET = frozenset({"admin-suspend", "admin-resume"})


def parse(argv: Sequence[str]) -> tuple[int, list[jobrefs.JobRef]]:
    """(signal, jobs and subjobs); signal 0 asks for the version, SUSPEND and RESUME
    name those calls."""
    options, operands = getopt.command_line(PROG, argv, TABLE, then=USAGE, exit_code=2)
    if any(key == "version" for key, _ in options):
        return 0, []
    signal = 15
    for key, value in options:
        if key == "s":
            name = value or ""
            if name.lower() in _NOT_YET:
                raise ShimError(f"qsig: -s {name} is not supported by hpcq yet", 2)
            if name.lower() in _VERBS:
                signal = _VERBS[name.lower()]
                continue
            try:
                signal = values.parse_signal(name)
            except ValueError:
                ids = " ".join(operands)
                raise ShimError(f"qsig: Unknown signal {name} {ids}".rstrip(),
                                errors.pbs_exit(errors.PBSE_UNKSIG)) from None
    return signal, actions.parse_ids(PROG, operands, USAGE)


def _signal(argv: list[str], conn: Connection) -> int:
    signal, refs = parse(argv)
    if versions.pbs_version(not signal):
        return 0
    job_ids, tasks = jobrefs.split(refs)
    if signal not in (SUSPEND, RESUME):
        results = conn.client.signal(job_ids, signal, tasks=tasks)
        return output.refusals(*actions.report(PROG, results, conn.cluster, refs=refs))
    try:
        call = conn.client.suspend if signal == SUSPEND else conn.client.resume
        results = call(job_ids, tasks=tasks)
    except HpcqError as e:
        if e.code != "PERMISSION_DENIED":
            raise
        # Suspending is an operator's: PBS refuses each job as it refuses an operator hold.
        denied = [f"{PROG}: Unauthorized Request  {ref.pbs(conn.cluster)}" for ref in refs]
        return output.refusals(denied, errors.pbs_exit(errors.PBSE_PERM))
    return output.refusals(*actions.report(PROG, results, conn.cluster, refs=refs))


command = Shim.pbs(PROG, _signal)
main = command.main
