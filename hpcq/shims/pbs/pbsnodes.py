"""pbsnodes: the nodes (``-a``, ``-av``, names, ``-F json``, ``-l``), and, for an
administrator, ``-o`` (offline: drain) and ``-r`` (back online) with ``-C`` comment.

Changing a node needs the administrator's own certificate ([client] in the config):
the host agent acts for users, and a user may not drain nodes. Without one, pbsnodes
answers as PBS answers a user (``Unauthorized Request``, exit 159).
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

from hpcq.errors import ConfigError, HpcqError
from hpcq.shims import clock, errors, getopt, versions
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.pbs import pbsnodes_format as fmt
from hpcq.shims.record import Record
from hpcq.shims.shim import Shim

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hpcq.client import Client

PROG = "pbsnodes"
USAGE = """\
usage:
\tpbsnodes [-o|-r] [-C comment] [-s server] host host ...
\tpbsnodes -l [-s server] [host host ...]
\tpbsnodes -a [-v] [-F format] [-s server]
\tpbsnodes -v [-F format] [-s server] host host ...
\tpbsnodes --version"""
TABLE = OptionTable(short="aC:F:lors:Sv", long={"version": ("", "version")})


class Request(Record):
    action: str = "show"          # show, list, offline, online, version
    names: list[str] = []
    comment: str = ""
    json: bool = False


def parse(argv: Sequence[str]) -> Request:
    options, operands = getopt.command_line(PROG, argv, TABLE, then=USAGE, exit_code=1)
    letters = {key for key, _ in options}
    r = Request(names=list(operands))
    if "version" in letters:
        r.action = "version"
        return r
    if "S" in letters:
        raise ShimError("pbsnodes: -S is not supported by hpcq yet", 1)
    for key, value in options:
        if key == "F":
            if (value or "").lower() != "json":
                raise ShimError(f"pbsnodes: invalid -F format: {value}\n{USAGE}", 1)
            r.json = True
        elif key == "C":
            r.comment = value or ""
    if "o" in letters and "r" in letters:
        raise ShimError(USAGE, 1)
    if "o" in letters or "r" in letters:
        if not operands:
            raise ShimError(USAGE, 1)
        r.action = "offline" if "o" in letters else "online"
    elif "l" in letters:
        r.action = "list"
    elif not operands and "a" not in letters:
        raise ShimError(USAGE, 1)
    return r


def _admin_client() -> Client | None:
    """A client acting with the administrator's certificate, or PBS's refusal."""
    from hpcq.client import Client
    try:
        return Client.from_config(use_agent=False)
    except (ConfigError, HpcqError):
        return None


def change(r: Request, conn: Connection) -> int:
    client = _admin_client()
    code = 0
    for name in r.names:
        try:
            if client is None:
                raise HpcqError("PERMISSION_DENIED", "")
            if r.action == "offline":
                client.drain_node(name, r.comment)
            else:
                client.resume_node(name)
        except HpcqError as e:
            if e.code in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
                text, errno = f"Unauthorized Request  {name}", errors.PBSE_PERM
            elif e.code == "NOT_FOUND":
                text, errno = f"Unknown node  {name}", errors.PBSE_UNKNODE
            else:
                raise
            print(f"{PROG}: {text}", file=sys.stderr)
            code = errors.pbs_exit(errno)
    return code


def show(r: Request, conn: Connection) -> int:
    client = conn.client
    nodes = sorted(client.nodes(r.names), key=lambda n: n.name)
    code = 0
    for name in r.names:
        if name not in {n.name for n in nodes}:
            print(f"{PROG}: Unknown node  {name}", file=sys.stderr)
            code = errors.pbs_exit(errors.PBSE_UNKNODE)
    if r.action == "list":
        sys.stdout.write(fmt.render_list(nodes))
        return code
    wanted = sorted({j for n in nodes for j in n.job_ids})
    jobs = {job.id: job for job in client.get(wanted)[0]} if wanted else {}
    server = conn.cluster
    if r.json:
        sys.stdout.write(fmt.render_json(nodes, jobs, server, clock.now(), versions.PBS_VERSION))
    else:
        sys.stdout.write(fmt.render_text(nodes, jobs, server))
    return code


def _run(argv: list[str], conn: Connection) -> int:
    r = parse(argv)
    if versions.pbs_version(r.action == "version"):
        return 0
    if r.action in ("offline", "online"):
        return change(r, conn)
    return show(r, conn)


command = Shim.pbs(PROG, _run)
main = command.main
