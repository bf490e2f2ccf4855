"""qhold: hold queued jobs (``-h u`` a user hold, ``o`` an operator's, ``s`` the
system's — the last two for administrators only). qrls shares this module."""
from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence

from hpcq.shims import errors, getopt, jobrefs, output, versions
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.pbs import actions
from hpcq.shims.shim import Shim

TABLE = OptionTable(short="h:", long={"version": ("", "version")})
_USAGE = "usage: {prog} [-h hold_list] job_identifier ...\n       {prog} --version"


class Request(namedtuple("Request", "refs holds admin version", defaults=("u", False, False))):
    __slots__ = ()
    refs: list[jobrefs.JobRef]    # jobs and subjobs (10[3], 10[1-3])
    holds: str
    admin: bool                    # -h o or s: an operator's hold
    version: bool


def parse(prog: str, argv: Sequence[str]) -> Request:
    usage = _USAGE.format(prog=prog)
    options, operands = getopt.command_line(prog, argv, TABLE, then=usage, exit_code=2)
    if any(key == "version" for key, _ in options):
        return Request([], version=True)
    holds = "u"
    for key, value in options:
        if key == "h":
            holds = value or ""
            if not holds or set(holds) - set("uosnp"):
                raise ShimError(f"{prog}: illegal -h value\n{usage}", 2)
    return Request(actions.parse_ids(prog, operands, usage), holds, admin=bool(set(holds) & set("os")))


def act(prog: str, argv: list[str], conn: Connection) -> int:
    request = parse(prog, argv)
    if versions.pbs_version(request.version):
        return 0
    if request.admin and conn.client.server_info().caller_role not in ("operator", "admin"):
        # Operator and system holds are the administrator's, as in PBS; ctld would quietly
        # make a user's operator hold a user hold instead.
        denied = [f"{prog}: Unauthorized Request  {ref.pbs(conn.cluster)}" for ref in request.refs]
        return output.refusals(denied, errors.pbs_exit(errors.PBSE_PERM))
    job_ids, tasks = jobrefs.split(request.refs)
    if prog == "qhold":
        results = conn.client.hold(job_ids, admin=request.admin, tasks=tasks)
        # PBS accepts a hold on a running job (it applies if the job is rerun); hpcq
        # has nothing to hold then, and says nothing either.
        ignore = frozenset({actions.R.INVALID_STATE})
    else:
        results = conn.client.release(job_ids, tasks=tasks)
        ignore = frozenset({actions.R.INVALID_STATE})        # releasing a job that is not held
    return output.refusals(*actions.report(prog, results, conn.cluster, ignore=ignore, refs=request.refs))


command = Shim.pbs("qhold", lambda argv, conn: act("qhold", argv, conn))
main = command.main
