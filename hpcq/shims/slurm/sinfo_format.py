"""sinfo's output as pure functions of (queues, nodes, now): the ``-o`` format
language, the partition-oriented table (nodes grouped by what the format shows),
the node-oriented one (``-N``), and the summary (``-s``).

Widths, headers and spellings follow Slurm 22.05 (src/sinfo/print.c and
shared/compat/slurm/sinfo_*.txt): ``#`` in a field is "as wide as the longest
partition name or node list, at least 9"; a value is cut to its field's width.
"""
from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable, Sequence

from hpcq import hostlist, units
from hpcq.api.lite import admin_pb2
from hpcq.shims import values, versions
from hpcq.shims.record import Record
from hpcq.shims.slurm.squeue_format import Field, long_header_time

Node = admin_pb2.Node
Queue = admin_pb2.Queue
N = admin_pb2.NodeState

DEFAULT_FORMAT = "%#P %.5a %.10l %.6D %.6t %N"
SUMMARIZE_FORMAT = "%#P %.5a %.10l %.16F %N"
LONG_FORMAT = "%#P %.5a %.10l %.10s %.4r %.8h %.10g %.6D %.11T %N"
NODE_FORMAT = "%#N %.6D %.#P %6t"        # the partition right-justified, as 22.05 prints it
# As 22.05 prints it (sinfo_N_l.txt): the partition right-justified, CPUS left-justified.
NODE_LONG_FORMAT = "%#N %.6D %.#P %.11T %4c %.8z %.6m %.8d %.6w %.8f %20E"
REASONS_FORMAT = "%20E %9u %19H %N"
_OWN_FORMATS = frozenset({DEFAULT_FORMAT, SUMMARIZE_FORMAT, LONG_FORMAT, NODE_FORMAT, NODE_LONG_FORMAT,
                          REASONS_FORMAT})
MIN_HASH_WIDTH = 9        # print.c: MIN_NODE_FIELD_SIZE, MIN_PART_FIELD_SIZE

# hpcq node state -> (sinfo %T, sinfo %t)
_STATES = {
    N.NODE_IDLE: ("idle", "idle"),
    N.NODE_MIXED: ("mixed", "mix"),
    N.NODE_ALLOCATED: ("allocated", "alloc"),
    N.NODE_DOWN: ("down", "down"),
    N.NODE_DRAINING: ("draining", "drng"),
    N.NODE_DRAINED: ("drained", "drain"),
}
_QUEUE_STATES = {Queue.UP: "up", Queue.DOWN: "down", Queue.DRAIN: "drain", Queue.INACTIVE: "inactive"}


def state_long(node: Node) -> str:
    """``mixed``; ``idle*`` for a node that does not answer, as Slurm marks one not responding."""
    name = _STATES.get(node.state, ("unknown", "unk"))[0]
    return name if node.connected else name + "*"


def state_short(node: Node) -> str:
    name = _STATES.get(node.state, ("unknown", "unk"))[1]
    return name if node.connected else name + "*"


def _other(node: Node) -> bool:
    """Counted as "other" in A/I/O/T: down or drained, not available to new jobs."""
    return node.state in (N.NODE_DOWN, N.NODE_DRAINED, N.NODE_DRAINING) or not node.connected


def _allocated(node: Node) -> bool:
    return not _other(node) and node.state in (N.NODE_MIXED, N.NODE_ALLOCATED)


def time_limit(seconds: int) -> str:
    """``infinite`` for none, else Slurm's ``[D-]H:MM:SS`` / ``M:SS``."""
    return units.format_slurm_elapsed(seconds) if seconds else "infinite"


def socket_core_thread(node: Node) -> str:
    hw = node.hardware
    cores = hw.physical_cores if hw.physical_cores and hw.cpus % hw.physical_cores == 0 else hw.cpus
    return f"1:{cores}:{hw.cpus // cores if cores else 1}"


# -- the lines sinfo prints: a partition and some of its nodes ------------------------------

class Line(Record):
    """One output line: a partition (or none) and the nodes grouped under it."""
    queue: Queue | None
    default: bool
    nodes: list[Node] = []

    @property
    def first(self) -> Node:
        return self.nodes[0]


def _partition(line: Line, star: bool) -> str:
    if line.queue is None:
        return "n/a"
    return line.queue.name + ("*" if star and line.default else "")


def _aiot(nodes: Sequence[Node]) -> str:
    a = sum(_allocated(n) for n in nodes)
    o = sum(_other(n) for n in nodes)
    return f"{a}/{len(nodes) - a - o}/{o}/{len(nodes)}"


def _cpus_aiot(nodes: Sequence[Node]) -> str:
    total = sum(n.hardware.cpus for n in nodes)
    other = sum(n.hardware.cpus for n in nodes if _other(n))
    alloc = sum(min(n.cpus_allocated, n.hardware.cpus) for n in nodes if not _other(n))
    return f"{alloc}/{total - alloc - other}/{other}/{total}"


def _min_plus(values: Sequence[int]) -> str:
    """One value, or the smallest with a ``+`` when they differ, as sinfo."""
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}+"


class FieldDef(namedtuple("FieldDef", "header value per_node", defaults=(False,))):
    __slots__ = ()
    header: str
    value: Callable[[Line], str]
    per_node: bool                 # a node's own value: nodes that differ in it are on separate lines


# sinfo -o letters (sinfo(1), "-o <output_format>"); headers as Slurm prints them.
FIELDS: dict[str, FieldDef] = {
    "a": FieldDef("AVAIL", lambda ln: _QUEUE_STATES.get(ln.queue.state, "up") if ln.queue else "n/a"),
    "A": FieldDef("NODES(A/I)", lambda ln: "/".join(_aiot(ln.nodes).split("/")[:2])),
    "B": FieldDef("MAX_CPUS_PER_NODE", lambda ln: "UNLIMITED"),
    "c": FieldDef("CPUS", lambda ln: _min_plus([n.hardware.cpus for n in ln.nodes]), per_node=True),
    "C": FieldDef("CPUS(A/I/O/T)", lambda ln: _cpus_aiot(ln.nodes)),
    "d": FieldDef("TMP_DISK", lambda ln: "0"),
    "D": FieldDef("NODES", lambda ln: str(len(ln.nodes))),
    "e": FieldDef("FREE_MEM", lambda ln: _min_plus([n.load.free_memory_mb for n in ln.nodes]), per_node=True),
    "E": FieldDef("REASON", lambda ln: ln.first.reason or "none", per_node=True),
    "f": FieldDef("AVAIL_FEATURES", lambda ln: ",".join(ln.first.hardware.features) or "(null)", per_node=True),
    "b": FieldDef("ACTIVE_FEATURES", lambda ln: ",".join(ln.first.hardware.features) or "(null)", per_node=True),
    "F": FieldDef("NODES(A/I/O/T)", lambda ln: _aiot(ln.nodes)),
    "g": FieldDef("GROUPS", lambda ln: ",".join(ln.queue.allowed_groups) if ln.queue and ln.queue.allowed_groups
                  else "all"),
    "G": FieldDef("GRES", lambda ln: f"gpu:{len(ln.first.hardware.gpus)}" if ln.first.hardware.gpus else "(null)",
                  per_node=True),
    "h": FieldDef("OVERSUBSCRIBE", lambda ln: "NO"),
    "H": FieldDef("TIMESTAMP", lambda ln: "Unknown"),
    "l": FieldDef("TIMELIMIT", lambda ln: time_limit(ln.queue.max_walltime_seconds) if ln.queue else "n/a"),
    "L": FieldDef("DEFAULTTIME", lambda ln: time_limit(ln.queue.default_walltime_seconds)
                  if ln.queue and ln.queue.default_walltime_seconds else "n/a"),
    "m": FieldDef("MEMORY", lambda ln: _min_plus([n.hardware.memory_mb for n in ln.nodes]), per_node=True),
    "n": FieldDef("HOSTNAMES", lambda ln: hostlist.compress(n.hardware.hostname or n.name for n in ln.nodes)),
    "N": FieldDef("NODELIST", lambda ln: hostlist.compress(n.name for n in ln.nodes)),
    "o": FieldDef("NODE_ADDR", lambda ln: hostlist.compress(n.name for n in ln.nodes)),
    "O": FieldDef("CPU_LOAD", lambda ln: f"{ln.first.load.load_1m:.2f}", per_node=True),
    "p": FieldDef("PRIO_TIER", lambda ln: str(ln.queue.priority or 1) if ln.queue else "n/a"),
    "P": FieldDef("PARTITION", lambda ln: _partition(ln, star=True)),
    "r": FieldDef("ROOT", lambda ln: "no"),
    "R": FieldDef("PARTITION", lambda ln: _partition(ln, star=False)),
    "s": FieldDef("JOB_SIZE", lambda ln: "1-infinite"),
    "t": FieldDef("STATE", lambda ln: state_short(ln.first), per_node=True),
    "T": FieldDef("STATE", lambda ln: state_long(ln.first), per_node=True),
    "u": FieldDef("USER", lambda ln: "Unknown"),
    "U": FieldDef("USER", lambda ln: "Unknown"),
    "v": FieldDef("VERSION", lambda ln: versions.SLURM_VERSION_LINE.split()[-1]),
    "V": FieldDef("CLUSTER", lambda ln: "N/A"),
    "w": FieldDef("WEIGHT", lambda ln: "1"),
    "I": FieldDef("PRIO_JOB_FACTOR", lambda ln: "1"),
    "M": FieldDef("PREEMPT_MODE", lambda ln: "OFF"),
    "S": FieldDef("ALLOCNODES", lambda ln: "all"),
    "X": FieldDef("SOCKETS", lambda ln: "1", per_node=True),
    "Y": FieldDef("CORES", lambda ln: socket_core_thread(ln.first).split(":")[1], per_node=True),
    "Z": FieldDef("THREADS", lambda ln: socket_core_thread(ln.first).split(":")[2], per_node=True),
    "z": FieldDef("S:C:T", lambda ln: socket_core_thread(ln.first), per_node=True),
}
# -O names sinfo has no letter for (they are reached by name only).
NAMED_ONLY: dict[str, FieldDef] = {
    "allocmem": FieldDef("ALLOCMEM", lambda ln: str(ln.first.memory_allocated_mb), per_node=True),
    "comment": FieldDef("COMMENT", lambda ln: "(null)"),
    "extra": FieldDef("EXTRA", lambda ln: "(null)"),
    "gresused": FieldDef("GRES_USED", lambda ln: "(null)", per_node=True),
    "port": FieldDef("PORT", lambda ln: "0", per_node=True),
    "statecomplete": FieldDef("STATECOMPLETE", lambda ln: state_long(ln.first), per_node=True),
    "": FieldDef("", lambda ln: ""),          # a name sinfo does not know
}
FIELDS.update(NAMED_ONLY)
# sinfo(1) "-O <output_format>": name (any case) -> its field.
NAMED_FIELDS: dict[str, str] = {
    "allocmem": "allocmem", "allocnodes": "S", "available": "a", "cluster": "V", "comment": "comment",
    "cores": "Y", "cpus": "c", "cpusload": "O", "cpusstate": "C", "defaulttime": "L", "disk": "d",
    "extra": "extra", "features": "f", "features_act": "b", "freemem": "e", "gres": "G", "gresused": "gresused",
    "groups": "g", "maxcpuspernode": "B", "memory": "m", "nodeaddr": "o", "nodeai": "A", "nodeaiot": "F",
    "nodehost": "n", "nodelist": "N", "nodes": "D", "oversubscribe": "h", "partition": "P",
    "partitionname": "R", "port": "port", "preemptmode": "M", "priorityjobfactor": "I", "prioritytier": "p",
    "reason": "E", "root": "r", "size": "s", "socketcorethread": "z", "sockets": "X",
    "statecompact": "t", "statelong": "T", "statecomplete": "statecomplete", "threads": "Z", "time": "l",
    "timestamp": "H", "user": "u", "userlong": "U", "version": "v", "weight": "w",
}
# %all (and -O All): every letter, lower case first, "|" after each lower-case one and " |"
# between upper-case ones, as sinfo builds it.
ALL_FORMAT = "|".join(f"%{c}" for c in "abcdefghlmnoprstuvwz") + "|" + \
    " |".join(f"%{c}" for c in "ABCDEFGHILMNOPRSTUVXYZ") + " "
# Fields whose width "#" stretches: the partition name, or the node list.
_HASH_PARTITION = frozenset("PR")
_HASH_NODES = frozenset("Nno")


class SinfoField(namedtuple("SinfoField", "letter width right suffix")):
    __slots__ = ()
    letter: str
    width: int          # -1: "#", as wide as the longest value of its kind
    right: bool
    suffix: str

    def sized(self, hash_widths: dict[str, int]) -> Field:
        width = self.width
        if width < 0:
            width = hash_widths["P" if self.letter in _HASH_PARTITION else "N"]
        return Field(self.letter, width, self.right, self.suffix)


_WIDTH = re.compile(r"\s*([+-]?\d*)")


def _named_tokens(text: str) -> list[tuple[str, SinfoField]]:
    """-O's comma-separated ``name[:[.][width][suffix]]`` pieces as sinfo parses them: 20
    wide without ``:``, as wide as the value with ``:`` and no width; a name sinfo does
    not know is the empty field "" (it prints only its suffix)."""
    found: list[tuple[str, SinfoField]] = []
    for item in text.split(","):
        if not item:
            continue
        name, colon, rest = item.partition(":")
        key = NAMED_FIELDS.get(name.lower())
        right, width, suffix = False, 20, ""
        if colon:
            right = rest.startswith(".")
            rest = rest[1:] if right else rest
            m = _WIDTH.match(rest)
            assert m is not None
            digits = m[1] if m[1] not in ("", "+", "-") else ""
            width = max(int(digits), 0) if digits else 0
            suffix = rest[m.end():] if digits else rest
        found.append((name, SinfoField(key, width, right, suffix) if key else SinfoField("", 0, False, suffix)))
    return found


def parse_named_format(text: str) -> list[SinfoField]:
    """``NodeList:10,CPUs:.4,StateLong``: the fields sinfo knows; of the others, which it
    names (named_format_errors), only the suffix is printed."""
    return [f for _, f in _named_tokens(text)]


def named_format_errors(text: str) -> list[str]:
    # sic: sinfo 22.05 says "job" here.
    return [f"Invalid job format specification: {name}" for name, f in _named_tokens(text) if not f.letter]


_TOKEN = re.compile(r"(\.?)(#|\d*)(.?)", re.S)


def _tokens(text: str) -> tuple[str, list[tuple[re.Match[str], str]]]:
    """The pieces of a sinfo -o format, each parsed as ``[.][width|#]letter suffix``."""
    return values.percent_pieces(text, _TOKEN)


def _valid(m: re.Match[str], text: str) -> bool:
    # "#" (as wide as the longest value) is for sinfo's own formats: a user's is refused.
    return len(m[3]) == 1 and m[3] in FIELDS and (m[2] != "#" or text in _OWN_FORMATS)


def parse_format(text: str) -> tuple[str, list[SinfoField]]:
    """The text before the first field, and the fields; a piece whose letter is no field
    is printed as written (format_errors says so)."""
    if text == "%all":
        text = ALL_FORMAT
    prefix, tokens = _tokens(text)
    fields = []
    for m, token in tokens:
        if _valid(m, text):
            width = -1 if m[2] == "#" else int(m[2] or 0)
            fields.append(SinfoField(m[3], width, m[1] == ".", token[m.end():]))
        else:
            fields.append(SinfoField("", 0, False, "%" + token))
    return prefix, fields


def format_errors(text: str) -> list[str]:
    """sinfo's complaint (on stderr, without its name) for each piece of a -o format whose
    letter is no field; a piece without one names the NUL character, as sinfo prints it."""
    if text == "%all":
        return []
    return [f"Invalid node format specification: {'#' if m[2] == '#' else m[3] or chr(0)}"
            for m, _ in _tokens(text)[1] if not _valid(m, text)]


# -- grouping ---------------------------------------------------------------------------

def member(queue: Queue, node: Node) -> bool:
    """Whether a node is in a partition; an empty node list means every node."""
    return not queue.nodes or node.name in queue.nodes


def members(queue: Queue, nodes: Sequence[Node]) -> list[Node]:
    """A partition's nodes, in node order."""
    return [n for n in nodes if member(queue, n)]


def lines(queues: Sequence[Queue], nodes: Sequence[Node], fields: Sequence[SinfoField], *,
          node_oriented: bool = False, summarize: bool = False) -> list[Line]:
    """The lines sinfo prints: per partition, its nodes grouped by every per-node value
    the format shows (one line per node with -N; one line per partition with -s)."""
    per_node = [f.letter for f in fields if FIELDS[f.letter].per_node]
    out: list[Line] = []
    if node_oriented:
        for node in nodes:
            owners = [q for q in queues if member(q, node)]
            for q in owners or [None]:
                out.append(Line(q, bool(q and q.is_default), [node]))
        return out
    for q in queues:
        groups: dict[tuple[str, ...], Line] = {}
        for node in members(q, nodes):
            key = () if summarize else tuple(FIELDS[letter].value(Line(q, q.is_default, [node]))
                                             for letter in per_node)
            groups.setdefault(key, Line(q, q.is_default)).nodes.append(node)
        out.extend(groups.values())
        if not groups and not node_oriented:
            out.append(Line(q, q.is_default))        # a partition without nodes is still listed
    return out


def _value(letter: str, line: Line) -> str:
    if not line.nodes and FIELDS[letter].per_node:
        return "n/a"
    if not line.nodes and letter in "NnoDFAC":
        return {"D": "0", "F": "0/0/0/0", "A": "0/0", "C": "0/0/0/0"}.get(letter, "")
    return FIELDS[letter].value(line)


def _starred(field: Field, value: str) -> str:
    """The default partition's name cut to its field keeps its star (``ba*``), as sinfo cuts it."""
    if field.letter == "P" and field.width and len(value) > field.width and value.endswith("*"):
        return value[:field.width - 1] + "*"
    return value


def render(queues: Sequence[Queue], nodes: Sequence[Node], now: float, *, fmt: str = DEFAULT_FORMAT,
           header: bool = True, long: bool = False, node_oriented: bool = False,
           summarize: bool = False, named: Sequence[SinfoField] | None = None) -> str:
    """The whole of sinfo's output for these partitions and nodes; `named`: -O's fields,
    instead of the format."""
    prefix, spec = ("", list(named)) if named is not None else parse_format(fmt)
    rows = lines(queues, nodes, spec, node_oriented=node_oriented, summarize=summarize)
    hash_widths = {
        "P": max([MIN_HASH_WIDTH] + [len(_partition(r, star=True)) for r in rows]),
        "N": max([MIN_HASH_WIDTH] + [len(_value("N", r)) for r in rows]),
    }
    fields = [f.sized(hash_widths) for f in spec]
    out = []
    if long:
        out.append(long_header_time(now))
    if header:
        out.append(prefix + "".join(f.render(FIELDS[f.letter].header) for f in fields))
    for row in rows:
        out.append(prefix + "".join(f.render(_starred(f, _value(f.letter, row))) for f in fields))
    return "".join(line + "\n" for line in out)
