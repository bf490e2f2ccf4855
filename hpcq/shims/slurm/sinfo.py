"""sinfo: partitions and nodes — the default table, ``-s``, ``-l``, ``-N``, ``-R``, ``-o`` and ``-O`` formats."""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from hpcq import hostlist
from hpcq.shims import clock, getopt, values, versions
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.record import Record
from hpcq.shims.shim import Shim
from hpcq.shims.slurm import dumps
from hpcq.shims.slurm import sinfo_format as sf
from hpcq.shims.slurm.squeue_format import FormatError

PROG = "sinfo"
TRY_HELP = 'Try "sinfo --help" for more information'
USAGE = """\
Usage: sinfo [OPTIONS]
  -a, --all                  show all partitions (including hidden and those
                             not accessible)
  -d, --dead                 show only non-responding nodes
  -e, --exact                group nodes only on exact match of configuration
  -h, --noheader             no headers on output
  -l, --long                 long output - displays more information
  -n, --nodes=NODES          report on specific node(s)
  -N, --Node                 Node-centric format
  -o, --format=format        format specification
  -O, --Format=format        long format specification
  -p, --partition=PARTITION  report on specific partition
  -r, --responding           report only responding nodes
  -R, --list-reasons         list reason nodes are down or drained
  -s, --summarize            report state summary only
  -t, --states=node_state    specify the what states of nodes to view
  -V, --version              output version information and exit"""
TABLE = OptionTable(
    short="adehln:No:O:p:rRst:TvV",
    long={"all": ("", "a"), "dead": ("", "d"), "exact": ("", "e"), "noheader": ("", "h"), "long": ("", "l"),
          "nodes": (":", "n"), "Node": ("", "N"), "format": (":", "o"), "partition": (":", "p"),
          "responding": ("", "r"), "list-reasons": ("", "R"), "summarize": ("", "s"), "states": (":", "t"),
          "verbose": ("", "v"), "version": ("", "V"), "help": ("", "help"), "usage": ("", "usage"),
          "json": ("", "json"), "yaml": ("", "yaml"), "Format": (":", "O"), "noconvert": ("", "noconvert"),
          "reservation": ("", "T"), "hide": ("", "hide"), "local": ("", "local"), "federation": ("", "federation")})

# -t words and the hpcq states they name (sinfo accepts long and short spellings).
_STATE_WORDS = {
    "IDLE": {"idle"}, "MIX": {"mixed"}, "MIXED": {"mixed"}, "ALLOC": {"allocated"}, "ALLOCATED": {"allocated"},
    "DOWN": {"down"}, "DRAIN": {"drained", "draining"}, "DRAINED": {"drained"}, "DRAINING": {"draining"},
    "DRNG": {"draining"}, "UNK": {"unknown"}, "UNKNOWN": {"unknown"},
}


# As sinfo lists them after a state it does not know.
_VALID_STATES = ("unknown,down,idle,allocated,?,mixed,future,drain,drained,draining,no_respond,reserved,perfctrs,"
                 "cloud,completing,powering_down,powered_down,power_down,powering_up,fail,maint,reboot,reboot^,unknown")


class Query(Record):
    header: bool = True
    long: bool = False
    node_oriented: bool = False
    summarize: bool = False
    reasons: bool = False
    fmt: str = ""
    named_format: str = ""        # -O's text: the table is -O's fields
    partitions: list[str] = []
    node_names: list[str] = []
    states: set[str] = set()      # sinfo %T words, without "*"
    responding: bool | None = None
    help: bool = False
    version: bool = False
    dump: str = ""                # --json or --yaml: every node, Slurm 22.05's data (dumps.py)
    reservations: bool = False    # -T: hpcq has none

    def format(self) -> str:
        if self.fmt:
            return self.fmt
        if self.reasons:
            return sf.REASONS_FORMAT
        if self.summarize:
            return sf.SUMMARIZE_FORMAT
        if self.node_oriented:
            return sf.NODE_LONG_FORMAT if self.long else sf.NODE_FORMAT
        return sf.LONG_FORMAT if self.long else sf.DEFAULT_FORMAT


def parse(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Query:
    environ = os.environ if environ is None else environ
    options, _ignored = getopt.command_line(PROG, argv, TABLE, then=TRY_HELP, exit_code=1)
    # sinfo ignores words that are no option.
    q = Query(fmt=environ.get("SINFO_FORMAT", ""))
    for key, value in options:
        value = value or ""
        if key in ("help", "usage"):
            q.help = True
        elif key in ("json", "yaml"):
            q.dump = key
        elif key == "V":
            q.version = True
        elif key == "T":
            q.reservations = True
        elif key == "h":
            q.header = False
        elif key == "l":
            q.long = True
        elif key == "N":
            q.node_oriented = True
        elif key == "s":
            q.summarize = True
        elif key == "R":
            q.reasons = True
        elif key == "o":
            q.fmt, q.named_format = value, ""
        elif key == "O":
            q.named_format = value
            if value.split(":")[0].lower() == "all":       # -O All is %all
                q.fmt, q.named_format = "%all", ""
        elif key == "p":
            q.partitions.extend(values.split_list(value))
        elif key == "n":
            try:
                q.node_names.extend(hostlist.expand(value))
            except ValueError as e:
                raise ShimError(f"sinfo: error: {e}", 1) from None
        elif key == "t":
            for word in values.split_list(value):
                if word.upper() not in _STATE_WORDS:
                    raise ShimError(f'sinfo: error: Bad state string: "{word}"\nsinfo: error: valid states: '
                                    f"{_VALID_STATES}", 1)
                q.states |= _STATE_WORDS[word.upper()]
        elif key == "r":
            q.responding = True
        elif key == "d":
            q.responding = False
    try:
        sf.parse_format(q.format())
    except FormatError as e:
        raise ShimError(f"sinfo: error: {e}", 1) from None
    return q


def select(q: Query, queues: Sequence[sf.Queue], nodes: Sequence[sf.Node]) -> tuple[list[sf.Queue], list[sf.Node]]:
    """The partitions and nodes the query asks about, in sinfo's order (default partition first)."""
    wanted_queues = [x for x in queues if not q.partitions or x.name in q.partitions]
    wanted_queues.sort(key=lambda x: (not x.is_default, x.name))
    kept = []
    for node in sorted(nodes, key=lambda n: n.name):
        if q.node_names and node.name not in q.node_names:
            continue
        if q.states and sf.state_long(node).rstrip("*") not in q.states:
            continue
        if q.responding is not None and node.connected != q.responding:
            continue
        if q.reasons and not (node.reason or sf.state_long(node).rstrip("*") in ("down", "drained", "draining")):
            continue
        kept.append(node)
    if q.partitions or q.reasons:
        # Only the nodes of the partitions asked for; -R lists nodes, not partitions.
        kept = [n for n in kept if any(sf.member(x, n) for x in wanted_queues)]
    return wanted_queues, kept


def render(q: Query, queues: Sequence[sf.Queue], nodes: Sequence[sf.Node], now: float) -> str:
    wanted_queues, kept = select(q, queues, nodes)
    if q.reasons:
        # One line per reason and state, whatever the partition.
        groups: dict[tuple[str, str], list[sf.Node]] = {}
        for node in kept:
            groups.setdefault((node.reason or "none", sf.state_long(node)), []).append(node)
        pseudo = [sf.Queue(name="", nodes=[n.name for n in group]) for group in groups.values()]
        return sf.render(pseudo, kept, now, fmt=q.format(), header=q.header, long=q.long)
    if not q.node_oriented and (q.states or q.node_names or q.responding is not None):
        # A partition none of whose nodes are left is not shown.
        wanted_queues = [x for x in wanted_queues if not x.nodes or set(x.nodes) & {n.name for n in kept}]
    named = sf.parse_named_format(q.named_format) if q.named_format else None
    return sf.render(wanted_queues, kept, now, fmt=q.format(), header=q.header, long=q.long,
                     node_oriented=q.node_oriented, summarize=q.summarize, named=named)


def _show(argv: list[str], conn: Connection) -> int:
    q = parse(argv)
    if versions.slurm_help_or_version(q.help, q.version, USAGE):
        return 0
    if q.dump:
        sys.stdout.write(dumps.sinfo(q.dump, conn))
        return 0
    if q.reservations:
        print("No reservations in the system")
        return 0
    for error in sf.named_format_errors(q.named_format):
        print(f"sinfo: error: {error}", file=sys.stderr)
    for error in [] if q.named_format else sf.format_errors(q.format()):
        print(error, file=sys.stderr)
    client = conn.client
    sys.stdout.write(render(q, client.queues(), client.nodes(), clock.now()))
    return 0


command = Shim.slurm(PROG, _show, lead="slurm_load_partitions: ")
main = command.main
