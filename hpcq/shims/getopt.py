"""Option scanning as GNU getopt_long does it, with glibc's messages: the table of
what a command knows, the scan, and the scan as a command's first step."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from hpcq.shims.errors import ShimError


class GetoptError(ValueError):
    """An argument list GNU getopt would refuse; the message is glibc's, prog included."""


class OptionTable:
    """Which options a command knows, in getopt's terms.

    `short` is a getopt string (``"N:q:hV"``); `long` maps a long name to "" (no
    argument), ":" (required) or "::" (optional, only as ``--name=value``), and to the
    key the command handles it under. Short options are handled under their letter
    unless `aliases` names a key for them.
    """
    __slots__ = ("short", "long", "aliases")

    def __init__(self, short: str, long: Mapping[str, tuple[str, str]] | None = None,
                 aliases: Mapping[str, str] | None = None) -> None:
        self.short = short
        self.long: Mapping[str, tuple[str, str]] = long or {}
        self.aliases: Mapping[str, str] = aliases or {}

    def short_arg(self, letter: str) -> str | None:
        """"" for a flag, ":" for one that takes an argument, None if unknown."""
        i = self.short.find(letter)
        if i < 0 or letter == ":":
            return None
        return ":" if self.short[i + 1:i + 2] == ":" else ""

    def short_key(self, letter: str) -> str:
        return self.aliases.get(letter, letter)


def getopt(prog: str, argv: Sequence[str], table: OptionTable, *, permute: bool = True,
           command: list[str] | None = None) -> tuple[list[tuple[str, str | None]], list[str]]:
    """(key, value) pairs in order and the operands, as glibc's getopt_long scans them.

    With `permute` (glibc's default) options may follow operands; without it (a leading
    ``+``, as sbatch) the first operand ends the options. ``--`` always ends them; the
    words after it go to `command` when given (qsub's ``-- command args``), else to
    the operands.
    """
    options: list[tuple[str, str | None]] = []
    operands: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            (operands if command is None else command).extend(argv[i:])
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            long_name = _match_long(prog, arg, name, table)
            kind, key = table.long[long_name]
            if kind == "" and eq:
                raise GetoptError(f"{prog}: option '--{long_name}' doesn't allow an argument")
            if kind == ":" and not eq:
                if i >= len(argv):
                    raise GetoptError(f"{prog}: option '--{long_name}' requires an argument")
                value, i = argv[i], i + 1
            options.append((key, value if (eq or kind == ":") else None))
            continue
        if arg.startswith("-") and arg != "-":
            j = 1
            while j < len(arg):
                letter = arg[j]
                kind = table.short_arg(letter)
                if kind is None:
                    raise GetoptError(f"{prog}: invalid option -- '{letter}'")
                if kind == "":
                    options.append((table.short_key(letter), None))
                    j += 1
                    continue
                if j + 1 < len(arg):
                    value = arg[j + 1:]
                elif i < len(argv):
                    value, i = argv[i], i + 1
                else:
                    raise GetoptError(f"{prog}: option requires an argument -- '{letter}'")
                options.append((table.short_key(letter), value))
                break
            continue
        operands.append(arg)
        if not permute:
            operands.extend(argv[i:])
            break
    return options, operands


def command_line(prog: str, argv: Sequence[str], table: OptionTable, *, then: str, exit_code: int,
                 permute: bool = True, command: list[str] | None = None
                 ) -> tuple[list[tuple[str, str | None]], list[str]]:
    """getopt for a command: an argument list getopt refuses is the command's failure,
    glibc's message followed by `then` (its usage, or a "Try ... --help" line)."""
    try:
        return getopt(prog, argv, table, permute=permute, command=command)
    except GetoptError as e:
        raise ShimError(f"{e}\n{then}", exit_code) from None


def _match_long(prog: str, arg: str, name: str, table: OptionTable) -> str:
    if name in table.long:
        return name
    candidates = [n for n in table.long if n.startswith(name)] if name else []
    # Abbreviations of one option under several names (--mem, --mem-per-cpu) are
    # ambiguous only when they lead to different keys, as in glibc.
    if len({table.long[c][1] for c in candidates}) == 1:
        return candidates[0]
    if candidates:
        listed = " ".join(f"'--{c}'" for c in candidates)
        raise GetoptError(f"{prog}: option '{arg.partition('=')[0]}' is ambiguous; possibilities: {listed}")
    raise GetoptError(f"{prog}: unrecognized option '{arg}'")

