"""sacctmgr: ``show|list assoc|user|account|qos [where] [user=... account=... name=...]
[format=...] [withassoc]``, with ``-n``, ``-p``, ``-P`` — enough to list a user's
accounts (``sacctmgr -nP show assoc where user=$USER format=account``).

hpcq has no accounting database: the associations are the fair-share shares ctld holds
and the accounts the jobs it still knows name (see assoc.py). Limits, QOS and priority
columns are empty but a user's MaxJobs, MaxSubmit and GrpTRES, ctld's per-user caps
(QOS ``normal``, without limits); an account's description and organisation are its
name; a user's default account is the account of their latest job that named one, else
their first association. Changes (add, modify, delete) are refused: shares are set
with ``hpcqctl share set``.
"""
from __future__ import annotations

import sys
from collections import namedtuple
from collections.abc import Callable, Sequence

from hpcq.api.lite.jobs_pb2 import Job
from hpcq.shims import getopt, values, versions
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.shim import Shim
from hpcq.shims.slurm import assoc
from hpcq.shims.slurm.assoc import Association, FieldDef

PROG = "sacctmgr"
USAGE = """\
sacctmgr [<OPTION>] [<COMMAND>]
    Valid <OPTION> values are:
     -h or --help: equivalent to "help" command
     -n or --noheader: don't print header when displaying info
     -p or --parsable: output will be '|' delimited with a '|' at the end
     -P or --parsable2: output will be '|' delimited without a '|' at the end
     -s or --associations: with show user/account, also the associations
     -V or --version: equivalent to "version" command

    Valid <COMMAND> values supported by hpcq are:
     list <ENTITY> [<SPECS>]  display info of identified entity, default is all
     show <ENTITY> [<SPECS>]  same as list

    <ENTITY> may be "account", "association", "qos" or "user";
    <SPECS> are "where" and Name=, User=, Account=, Cluster=, Format=, WithAssoc.
    Shares are set with "hpcqctl share set"."""
TABLE = OptionTable(
    short="hiM:nopPQrsvV",
    long={"help": ("", "h"), "usage": ("", "h"), "immediate": ("", "i"), "cluster": (":", "M"),
          "noheader": ("", "n"), "oneliner": ("", "o"), "parsable": ("", "p"), "parsable2": ("", "P"),
          "quiet": ("", "Q"), "readonly": ("", "r"), "associations": ("", "s"), "verbose": ("", "v"),
          "version": ("", "V")})


class Row(namedtuple("Row", "assoc cluster default_account limits", defaults=("", {}))):
    """What a line shows: an association, the cluster, the user's default account, and
    ctld's per-user caps (ServerInfoResponse.settings' ``assoc:`` keys)."""
    __slots__ = ()
    assoc: Association
    cluster: str
    default_account: str
    limits: dict[str, str]


def _user_limit(name: str) -> Callable[[Row], str | None]:
    """A cap ctld applies to every user, on each user's association (Slurm's Assoc*
    reasons, AssocMaxJobsLimit and AssocGrpCpuLimit, are the ones squeue shows for it)."""
    return lambda r: (r.limits.get(f"assoc:{name}") or None) if r.assoc.user else None


def _blank(row: Row) -> None:
    return None


def _admin_level(user: str) -> str:
    """slurmdbd makes root (and SlurmUser) an Administrator; hpcq's admins are certificates,
    not users, so every other user is None."""
    return "Administrator" if user == "root" else "None"


def _parent(row: Row) -> str:
    return "root" if not row.assoc.user and row.assoc.account != "root" else ""


# Slurm's order: the first field whose name begins with the word, at least `least` long.
FIELDS = [
    FieldDef("Account", 3, "Account", 10, lambda r: r.assoc.account),
    FieldDef("Acct", 4, "Account", 10, lambda r: r.assoc.account),
    FieldDef("AdminLevel", 2, "Admin", 9, lambda r: _admin_level(r.assoc.user)),
    FieldDef("Clusters", 2, "Cluster", 10, lambda r: r.cluster),
    FieldDef("DefaultAccount", 8, "Def Acct", 10, lambda r: r.default_account),
    FieldDef("DefaultQOS", 8, "Def QOS", 9, _blank),
    FieldDef("Description", 3, "Descr", 20, lambda r: r.assoc.account),
    FieldDef("GrpCPUs", 6, "GrpCPUs", 8, _blank),
    FieldDef("GrpCPUMins", 7, "GrpCPUMins", 11, _blank),
    FieldDef("GrpTRES", 7, "GrpTRES", 13, _user_limit("GrpTRES")),
    FieldDef("GrpTRESMins", 7, "GrpTRESMins", 13, _blank),
    FieldDef("GrpTRESRunMins", 7, "GrpTRESRunMins", 13, _blank),
    FieldDef("GrpJobs", 4, "GrpJobs", 7, _blank),
    FieldDef("GrpMemory", 4, "GrpMem", 7, _blank),
    FieldDef("GrpNodes", 4, "GrpNodes", 8, _blank),
    FieldDef("GrpSubmitJobs", 4, "GrpSubmit", 9, _blank),
    FieldDef("GrpWall", 4, "GrpWall", 11, _blank),
    FieldDef("ID", 2, "ID", 6, _blank),
    FieldDef("MaxCPUMinsPerJob", 7, "MaxCPUMins", 11, _blank),
    FieldDef("MaxCPUsPerJob", 7, "MaxCPUs", 8, _blank),
    FieldDef("MaxTRES", 7, "MaxTRES", 13, _blank),
    FieldDef("MaxTRESPerNode", 11, "MaxTRESPerNode", 14, _blank),
    FieldDef("MaxTRESMinsPerJob", 8, "MaxTRESMins", 13, _blank),
    FieldDef("MaxJobs", 4, "MaxJobs", 7, _user_limit("MaxJobs")),
    FieldDef("MaxNodesPerJob", 4, "MaxNodes", 8, _blank),
    FieldDef("MaxSubmitJobs", 4, "MaxSubmit", 9, _user_limit("MaxSubmitJobs")),
    FieldDef("MaxWallDurationPerJob", 4, "MaxWall", 11, _blank),
    FieldDef("Organization", 1, "Org", 20, lambda r: r.assoc.account),
    FieldDef("ParentName", 7, "Par Name", 10, _parent),
    FieldDef("Partition", 4, "Partition", 10, _blank),
    FieldDef("Priority", 3, "Priority", 10, _blank),
    FieldDef("QOS", 1, "QOS", 20, lambda r: "normal"),
    FieldDef("Share", 1, "Share", 9, lambda r: r.assoc.shares),
    FieldDef("FairShare", 2, "Share", 9, lambda r: r.assoc.shares),
    FieldDef("User", 1, "User", 10, lambda r: r.assoc.user),
]
class Qos(namedtuple("Qos", "name")):
    """A QOS line: hpcq has one, ``normal``, with no limits of its own (ctld's per-user
    caps are shown on the users' associations)."""
    __slots__ = ()
    name: str


# sacctmgr's QOS fields, in its order, with its headers and widths (sacctmgr show qos).
QOS_FIELDS = [
    FieldDef("Name", 2, "Name", 10, lambda q: q.name),
    FieldDef("Priority", 2, "Priority", 10, lambda q: 0),
    FieldDef("GraceTime", 2, "GraceTime", 10, lambda q: "00:00:00"),
    FieldDef("Preempt", 7, "Preempt", 10, _blank),
    FieldDef("PreemptExemptTime", 8, "PreemptExemptTime", 19, _blank),
    FieldDef("PreemptMode", 8, "PreemptMode", 11, lambda q: "cluster"),
    FieldDef("Flags", 2, "Flags", 40, _blank),
    FieldDef("UsageThreshold", 6, "UsageThres", 10, _blank),
    FieldDef("UsageFactor", 6, "UsageFactor", 11, lambda q: 1.0),
    FieldDef("GrpTRES", 7, "GrpTRES", 13, _blank),
    FieldDef("GrpTRESMins", 8, "GrpTRESMins", 13, _blank),
    FieldDef("GrpTRESRunMins", 8, "GrpTRESRunMins", 13, _blank),
    FieldDef("GrpJobs", 4, "GrpJobs", 7, _blank),
    FieldDef("GrpSubmitJobs", 4, "GrpSubmit", 9, _blank),
    FieldDef("GrpWall", 4, "GrpWall", 11, _blank),
    FieldDef("MaxTRES", 7, "MaxTRES", 13, _blank),
    FieldDef("MaxTRESPerNode", 11, "MaxTRESPerNode", 14, _blank),
    FieldDef("MaxTRESMins", 8, "MaxTRESMins", 13, _blank),
    FieldDef("MaxWall", 4, "MaxWall", 11, _blank),
    FieldDef("MaxTRESPU", 9, "MaxTRESPU", 13, _blank),
    FieldDef("MaxTRESPerUser", 9, "MaxTRESPU", 13, _blank),
    FieldDef("MaxJobsPU", 8, "MaxJobsPU", 9, _blank),
    FieldDef("MaxJobsPerUser", 8, "MaxJobsPU", 9, _blank),
    FieldDef("MaxSubmitPU", 10, "MaxSubmitPU", 11, _blank),
    FieldDef("MaxSubmitJobsPerUser", 10, "MaxSubmitPU", 11, _blank),
    FieldDef("MaxTRESPA", 9, "MaxTRESPA", 13, _blank),
    FieldDef("MaxJobsPA", 8, "MaxJobsPA", 9, _blank),
    FieldDef("MaxSubmitPA", 10, "MaxSubmitPA", 11, _blank),
    FieldDef("MinTRES", 4, "MinTRES", 13, _blank),
    FieldDef("ID", 2, "ID", 6, lambda q: 1),
    FieldDef("Description", 3, "Descr", 11, lambda q: "Normal QOS default"),
]
QOS_FORMAT = ("Name,Priority,GraceTime,Preempt,PreemptExemptTime,PreemptMode,Flags,UsageThreshold,UsageFactor,"
              "GrpTRES,GrpTRESMins,GrpTRESRunMins,GrpJobs,GrpSubmitJobs,GrpWall,MaxTRES,MaxTRESPerNode,"
              "MaxTRESMins,MaxWall,MaxTRESPU,MaxJobsPU,MaxSubmitPU,MaxTRESPA,MaxJobsPA,MaxSubmitPA,MinTRES")

# The columns that describe an association, not a user or an account: asking for one
# lists associations (as sacctmgr's WithAssoc does).
_ASSOC_COLUMNS = {"Cluster", "Partition", "Share", "Priority", "QOS", "Def QOS", "Par Name", "ID"} | {
    f.header for f in FIELDS if f.header.startswith(("Grp", "Max"))}

ASSOC_FORMAT = ("Cluster,Account,User,Partition,Share,Priority,GrpJobs,GrpTRES,GrpSubmit,GrpWall,GrpTRESMins,"
                "MaxJobs,MaxTRES,MaxTRESPerNode,MaxSubmit,MaxWall,MaxTRESMins,QOS,DefaultQOS,GrpTRESRunMins")
FORMATS = {
    "association": (ASSOC_FORMAT, ASSOC_FORMAT),
    "user": ("User,DefaultAccount,AdminLevel",
             "User,DefaultAccount,AdminLevel,Cluster,Account,Partition,Share,Priority,MaxJobs,MaxNodes,MaxCPUs,"
             "MaxSubmit,MaxWall,MaxCPUMins,QOS,DefaultQOS"),
    "account": ("Account,Description,Organization",
                "Account,Description,Organization,Cluster,ParentName,User,Share,Priority,GrpJobs,GrpNodes,GrpCPUs,"
                "GrpMemory,GrpSubmit,GrpWall,GrpCPUMins,MaxJobs,MaxNodes,MaxCPUs,MaxSubmit,MaxWall,MaxCPUMins,QOS,"
                "DefaultQOS"),
}
# (a word it may be a prefix of, how short, the entity), as sacctmgr matches them
_ENTITY_WORDS = (("associations", 2, "association"), ("accounts", 2, "account"), ("accts", 4, "account"),
                 ("users", 1, "user"), ("qos", 1, "qos"))
_REFUSED_VERBS = ("add", "create", "modify", "update", "delete", "remove", "archive", "dump", "load",
                  "reconfigure", "shutdown")


class Command:
    """A parsed command line (a small class, not a dataclass: see hpcq/shims/record.py)."""
    entity: str = ""                          # association, user, account
    fmt: str = ""
    with_assoc: bool = False
    header: bool = True
    parsable: str = ""                        # "p" or "P"

    def __init__(self, verb: str, entity: str = "", **options: object) -> None:
        self.verb = verb                      # show, help, version
        self.entity = entity
        self.users: list[str] = []
        self.accounts: list[str] = []
        self.names: list[str] = []
        vars(self).update(options)


def _entity(word: str) -> str:
    lower = word.lower()
    for name, least, entity in _ENTITY_WORDS:
        if len(lower) >= least and name.startswith(lower):
            return entity
    raise ShimError('No valid entity in list command\nInput line must include "Account", "Association", '
                    '"QOS" or "User" (the entities hpcq keeps)', 1)


# The conditions a command may give, and which list of the command each fills.
_CONDITIONS = {"user": "users", "users": "users", "account": "accounts", "accounts": "accounts",
               "acct": "accounts", "accts": "accounts", "name": "names", "names": "names"}
# Conditions that narrow nothing in hpcq: one cluster, no partitions or QOS in associations.
_NO_EFFECT = frozenset({"cluster", "clusters", "partition", "partitions", "qos", "defaultaccount"})
_FLAGS = frozenset({"where", "set", "tree", "withdeleted", "withcoord", "withrawqoslevel"})


def _unknown(word: str) -> ShimError:
    return ShimError(f" Unknown condition: {word}\n Use keyword 'where' to modify condition", 1)


def _spec(cmd: Command, word: str) -> None:
    key, eq, value = word.partition("=")
    lower = key.lower()
    if not eq:
        if lower.startswith("withas"):
            cmd.with_assoc = True
        elif lower not in _FLAGS:
            if cmd.entity == "association":
                raise _unknown(word)
            cmd.names.extend(values.split_list(word))       # show user alice,bob
    elif lower in _CONDITIONS:
        getattr(cmd, _CONDITIONS[lower]).extend(values.split_list(value.strip("'\"")))
    elif lower in ("format", "formats"):
        cmd.fmt = f"{cmd.fmt},{value}" if cmd.fmt else value
    elif lower not in _NO_EFFECT:
        raise _unknown(word)


def parse(argv: Sequence[str]) -> Command:
    options, words = getopt.command_line(
        PROG, argv, TABLE, then="Try \"sacctmgr --help\" for more information", exit_code=1)
    keys = {key for key, _ in options}
    if "h" in keys or (words and words[0].lower() == "help"):
        return Command("help")
    if "V" in keys or (words and words[0].lower() == "version"):
        return Command("version")
    if not words:
        raise ShimError(f"{PROG}: error: hpcq's sacctmgr has no interactive mode\n{USAGE}", 1)
    verb = words[0].lower()
    if verb in _REFUSED_VERBS:
        raise ShimError(f"{PROG}: error: {words[0]} is not supported by hpcq: it keeps no accounting database "
                        "(shares are set with hpcqctl share set)", 1)
    if verb not in ("show", "list"):
        raise ShimError(f"Invalid command entered.\n{USAGE}", 1)
    if len(words) < 2:
        raise ShimError('No entity given\nInput line must include "Account", "Association" or "User"', 1)
    cmd = Command("show", _entity(words[1]), with_assoc="s" in keys, header="n" not in keys,
                  parsable="P" if "P" in keys else "p" if "p" in keys else "")
    for word in words[2:]:
        _spec(cmd, word)
    return cmd


# -- which rows ------------------------------------------------------------------------

def default_accounts(assocs: Sequence[Association], jobs: Sequence[Job]) -> dict[str, str]:
    """Each user's default account: their latest job's (that named one), else their
    first association's."""
    found: dict[str, str] = {}
    for a in assocs:
        if a.user:
            found.setdefault(a.user, a.account)
    for job in sorted((j for j in jobs if j.spec.account), key=lambda j: (j.submit_time, j.id)):
        found[job.user] = job.spec.account
    return found


def columns(cmd: Command) -> tuple[list[assoc.Column], bool]:
    """The columns to print, and whether the rows are associations."""
    plain, with_assoc = FORMATS[cmd.entity]
    text = cmd.fmt or (with_assoc if cmd.with_assoc else plain)
    try:
        found = assoc.parse_format(text, FIELDS)
    except assoc.FieldError as e:
        raise ShimError(f"{PROG}: error: {e}", 1) from None
    names = {c.name for c in found}
    per_assoc = cmd.entity == "association" or cmd.with_assoc or bool(names & _ASSOC_COLUMNS) or (
        (cmd.entity == "user" and "Account" in names) or (cmd.entity == "account" and "User" in names))
    return found, per_assoc


def rows(cmd: Command, assocs: Sequence[Association], jobs: Sequence[Job], cluster: str,
         per_assoc: bool, limits: dict[str, str] | None = None) -> list[Row]:
    defaults = default_accounts(assocs, jobs)
    users = set(cmd.users) | (set(cmd.names) if cmd.entity == "user" else set())
    accounts = set(cmd.accounts) | (set(cmd.names) if cmd.entity == "account" else set())
    out = []
    for a in assocs:
        if accounts and a.account not in accounts:
            continue
        if not a.user and (cmd.entity == "user" or (cmd.entity == "association" and users)):
            continue              # an account's own association: no user to show or match
        if users and a.user not in users:
            continue
        if cmd.entity == "account" and not per_assoc and a.user:
            continue
        out.append(Row(a, cluster, defaults.get(a.user, ""), limits or {}))
    if cmd.entity == "user" and not per_assoc:
        seen: dict[str, Row] = {}
        for row in out:
            seen.setdefault(row.assoc.user, Row(Association("", row.assoc.user), cluster, row.default_account))
        out = [seen[u] for u in sorted(seen)]
    return out


def show_qos(cmd: Command) -> str:
    """``show qos [name]``: hpcq's one QOS."""
    try:
        found = assoc.parse_format(cmd.fmt or QOS_FORMAT, QOS_FIELDS)
    except assoc.FieldError as e:
        raise ShimError(f"{PROG}: error: {e}", 1) from None
    wanted = set(cmd.names)
    shown = [Qos("normal")] if not wanted or "normal" in wanted else []
    return assoc.render(found, shown, header=cmd.header, parsable=cmd.parsable)


def _run(argv: list[str], conn: Connection) -> int:
    cmd = parse(argv)
    if versions.slurm_help_or_version(cmd.verb == "help", cmd.verb == "version", USAGE):
        return 0
    if cmd.entity == "qos":
        sys.stdout.write(show_qos(cmd))
        return 0
    found, per_assoc = columns(cmd)
    reply = conn.client.share_usage()
    users = sorted(set(cmd.users) | (set(cmd.names) if cmd.entity == "user" else set()))
    jobs = conn.client.list(include_finished=True, users=users)
    assocs = assoc.associations(reply, jobs)
    limits = dict(conn.client.server_info().settings) if per_assoc else {}
    shown = rows(cmd, assocs, jobs, conn.cluster, per_assoc, limits)
    sys.stdout.write(assoc.render(found, shown, header=cmd.header, parsable=cmd.parsable))
    return 0


command = Shim.slurm(PROG, _run)
main = command.main
