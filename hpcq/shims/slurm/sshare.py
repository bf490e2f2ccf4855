"""sshare: fair-share of accounts and users — the default table, ``-l``, ``-a``, ``-u``,
``-U``, ``-A``, ``-o/--format``, ``-p``/``-P``, ``-n``.

Rows come from ctld's shares and decayed usage (Admin ListShares) and the accounts of the
jobs waiting or running (the associations the scheduler weighs): see assoc.py.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

from hpcq.shims import getopt, submit_context, values, versions
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.shim import Shim
from hpcq.shims.slurm import assoc
from hpcq.shims.slurm.assoc import FieldDef, ShareRow

PROG = "sshare"
USAGE = """\
Usage:  sshare [OPTION]
  Valid OPTIONs are:
    -a or --all            list all users
    -A or --accounts=      display specific accounts (comma separated list)
    -l or --long           include normalized usage in output
    -n or --noheader       omit header from output
    -o or --format=        comma separated list of fields
    -p or --parsable       '|' delimited output with a trailing '|'
    -P or --parsable2      '|' delimited output without a trailing '|'
    -u or --users=         display specific users (comma separated list)
    -U or --Users          display only user information
    -V or --version        display tool version number
        --help             display this usage description"""
TABLE = OptionTable(
    short="aA:hlM:m:no:pPu:UvV",
    long={"all": ("", "a"), "accounts": (":", "A"), "long": ("", "l"), "clusters": (":", "M"),
          "partition": ("", "m"), "noheader": ("", "n"), "format": (":", "o"), "parsable": ("", "p"),
          "parsable2": ("", "P"), "users": (":", "u"), "Users": ("", "U"), "verbose": ("", "v"),
          "version": ("", "V"), "help": ("", "h"), "usage": ("", "h")})

DEFAULT_FORMAT = "Account,User,RawShares,NormShares,RawUsage,EffectvUsage,FairShare"
LONG_FORMAT = ("Account,User,RawShares,NormShares,RawUsage,NormUsage,EffectvUsage,FairShare,LevelFS,"
               "GrpTRESMins,TRESRunMins")


def _account(row: ShareRow) -> str:
    """The account, indented by its depth in the tree (root, account, user)."""
    return " " * row.depth + row.assoc.account


def _level_fs(row: ShareRow) -> float | None:
    return None if row.depth == 0 else row.level_fs


# Slurm's order: a format name is the first of these it begins.
FIELDS = [
    FieldDef("Account", 1, "Account", -20, _account),
    FieldDef("Cluster", 1, "Cluster", 10, lambda r: None),
    FieldDef("EffectvUsage", 1, "EffectvUsage", 13, lambda r: r.effective_usage),
    FieldDef("FairShare", 1, "FairShare", 10, lambda r: r.fairshare),
    FieldDef("LevelFS", 1, "LevelFS", 10, _level_fs),
    FieldDef("ID", 1, "ID", 6, lambda r: None),
    FieldDef("NormShares", 1, "NormShares", 11, lambda r: r.norm_shares),
    FieldDef("NormUsage", 1, "NormUsage", 11, lambda r: r.norm_usage),
    FieldDef("Partition", 1, "Partition", 12, lambda r: None),
    FieldDef("RawShares", 1, "RawShares", 10, lambda r: r.assoc.shares if r.depth else None),
    FieldDef("RawUsage", 1, "RawUsage", 11, lambda r: int(r.raw_usage)),
    FieldDef("User", 1, "User", 10, lambda r: r.assoc.user or None),
    FieldDef("GrpTRESMins", 1, "GrpTRESMins", 30, lambda r: None),
    FieldDef("TRESRunMins", 1, "TRESRunMins", 30, lambda r: None),
]


class Query:
    """sshare's options, parsed (a small class, not a dataclass: see hpcq/shims/record.py)."""
    all_users: bool = False
    users_only: bool = False       # -U
    header: bool = True
    parsable: str = ""             # "p" or "P"
    fmt: str = DEFAULT_FORMAT
    help: bool = False
    version: bool = False

    def __init__(self) -> None:
        self.users: list[str] = []
        self.accounts: list[str] = []


def parse(argv: Sequence[str]) -> Query:
    options, operands = getopt.command_line(PROG, argv, TABLE, then=USAGE, exit_code=1)
    if operands:
        raise ShimError(f"{PROG}: error: Unknown arguments: {' '.join(operands)}\n{USAGE}", 1)
    q = Query()
    given = ""
    for key, value in options:
        if key == "h":
            q.help = True
        elif key == "V":
            q.version = True
        elif key == "a":
            q.all_users = True
        elif key == "A":
            q.accounts.extend(values.split_list(value))
        elif key == "l" and not given:
            q.fmt = LONG_FORMAT
        elif key == "n":
            q.header = False
        elif key == "o":
            given = f"{given},{value}" if given else (value or "")
        elif key in ("p", "P"):
            q.parsable = key
        elif key == "u":
            q.users.extend(values.split_list(value))
        elif key == "U":
            q.users_only = True
    if given:
        q.fmt = given
    return q


def wanted(row: ShareRow, q: Query, me: str) -> bool:
    """Account lines always (unless -U); user lines of everybody (-a), of -u's users,
    or else of the caller. -A keeps those accounts only."""
    if q.accounts and row.depth and row.assoc.account not in q.accounts:
        return False
    if row.depth < 2:
        return not q.users_only and not (q.accounts and row.depth == 0)
    return q.all_users or row.assoc.user in (q.users or [me])


def columns(q: Query, cluster: str = "") -> list[assoc.Column]:
    try:
        found = assoc.parse_format(q.fmt, FIELDS, prefix_any=True)
    except assoc.FieldError as e:
        raise ShimError(f"{PROG}: error: {e}", 1) from None
    found = [assoc.Column(c.name, c.width, lambda r: cluster) if c.name == "Cluster" else c for c in found]
    if q.users_only:      # users' lines alone: no tree to indent
        found = [assoc.Column(c.name, c.width, lambda r: r.assoc.account) if c.value is _account else c
                 for c in found]
    return found


def render(q: Query, rows: Sequence[ShareRow], me: str, cluster: str = "") -> str:
    return assoc.render(columns(q, cluster), [r for r in rows if wanted(r, q, me)], header=q.header,
                        parsable=q.parsable)


def _show(argv: list[str], conn: Connection) -> int:
    q = parse(argv)
    if versions.slurm_help_or_version(q.help, q.version, USAGE):
        return 0
    columns(q)                           # a bad -o fails before any call
    reply = conn.client.share_usage()
    jobs = conn.client.list()            # the jobs waiting or running: the scheduler's associations
    rows = assoc.share_rows(assoc.associations(reply, jobs), reply)
    sys.stdout.write(render(q, rows, submit_context.login_name(), conn.cluster))
    return 0


command = Shim.slurm(PROG, _show)
main = command.main
