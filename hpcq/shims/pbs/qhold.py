"""qhold: hold queued jobs (``-h u`` a user hold, ``o`` an operator's, ``s`` the
system's — the last two for administrators only). qrls shares this module."""
from __future__ import annotations

import sys
from collections import namedtuple
from collections.abc import Sequence

from hpcq.shims import common
from hpcq.shims.common import ShimError
from hpcq.shims.pbs import actions

TABLE = common.OptionTable(short="h:", long={"version": ("", "version")})
_USAGE = "usage: {prog} [-h hold_list] job_identifier ...\n       {prog} --version"


class Request(namedtuple("Request", "job_ids holds admin version", defaults=("u", False, False))):
    __slots__ = ()
    job_ids: list[int]
    holds: str
    admin: bool                    # -h o or s: an operator's hold
    version: bool


def parse(prog: str, argv: Sequence[str]) -> Request:
    usage = _USAGE.format(prog=prog)
    options, operands = common.command_line(prog, argv, TABLE, then=usage, exit_code=2)
    if any(key == "version" for key, _ in options):
        return Request([], version=True)
    holds = "u"
    for key, value in options:
        if key == "h":
            holds = value or ""
            if not holds or set(holds) - set("uosnp"):
                raise ShimError(f"{prog}: illegal -h value\n{usage}", 2)
    return Request(actions.parse_ids(prog, operands, usage), holds, admin=bool(set(holds) & set("os")))


def main(argv: list[str] | None = None) -> int:
    return actions.run("qhold", argv, lambda args, conn: act("qhold", args, conn))


def act(prog: str, argv: list[str], conn: common.Connection) -> int:
    request = parse(prog, argv)
    if request.version:
        common.write(common.PBS_VERSION_LINE)
        return 0
    if request.admin and conn.client.server_info().caller_role not in ("operator", "admin"):
        # Operator and system holds are the administrator's, as in PBS; ctld would quietly
        # make a user's operator hold a user hold instead.
        for job_id in request.job_ids:
            print(f"{prog}: Unauthorized Request  {job_id}.{conn.cluster}", file=sys.stderr)
        return common.pbs_exit(common.PBSE_PERM)
    if prog == "qhold":
        results = conn.client.hold(request.job_ids, admin=request.admin)
        # PBS accepts a hold on a running job (it applies if the job is rerun); hpcq
        # has nothing to hold then, and says nothing either.
        ignore = frozenset({actions.R.INVALID_STATE})
    else:
        results = conn.client.release(request.job_ids)
        ignore = frozenset({actions.R.INVALID_STATE})        # releasing a job that is not held
    lines, code = actions.report(prog, results, conn.cluster, ignore=ignore)
    actions.print_report(lines)
    return code


command = common.entry_point(main)

if __name__ == "__main__":
    command()
