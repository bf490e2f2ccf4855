"""The job script: reading it, its ``#PBS`` / ``#SBATCH`` directive lines, and applying
options from them and from the command line in order, the later one winning.

shlex (and re with it) is imported only when a script has directives."""
from __future__ import annotations

import sys
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping

from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import GetoptError, OptionTable, getopt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any


class Directive(namedtuple("Directive", "line text args")):
    """One ``#PBS`` / ``#SBATCH`` line: where it is (`line`), what it says (`text`), and
    its words (`args`, a tuple)."""
    __slots__ = ()
    line: int
    text: str
    args: tuple[str, ...]


class DirectiveError(ValueError):
    """A directive line that cannot be split into words."""

    def __init__(self, line: int, text: str, reason: str) -> None:
        super().__init__(f"line {line}: {text}: {reason}")
        self.line = line
        self.text = text
        self.reason = reason


def directives(script: str, prefix: str, *, comments: bool) -> list[Directive]:
    """The directive lines before the first command line of a script.

    Blank lines and comments (the shebang too) do not end the directives; the first
    other line does. Words split as a shell would, so values may be quoted. With
    `comments` (Slurm) an unquoted ``#`` starts a comment; PBS has none.
    """
    found: list[Directive] = []
    if not prefix:
        return found
    for number, raw in enumerate(script.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("#"):
            break
        if not line.startswith(prefix):
            continue
        rest = line[len(prefix):]
        if rest and not rest[0].isspace():
            continue   # "#SBATCHfoo" is a comment, not a directive
        try:
            import shlex

            words = shlex.split(rest, comments=comments)
        except ValueError as e:
            raise DirectiveError(number, line, str(e).lower()) from None
        if words:
            found.append(Directive(number, line, tuple(words)))
    return found


def directive_options(prog: str, script: str, prefix: str, table: OptionTable, *, comments: bool,
                      permute: bool) -> list[tuple[Directive, list[tuple[str, str | None]], list[str]]]:
    """Each directive line scanned as options: (directive, options, operands).

    Raises DirectiveError for a line that is not words, or for options getopt refuses
    (the reason then is getopt's message)."""
    scanned = []
    for directive in directives(script, prefix, comments=comments):
        try:
            options, operands = getopt(prog, directive.args, table, permute=permute)
        except GetoptError as e:
            raise DirectiveError(directive.line, directive.text, str(e)) from None
        scanned.append((directive, options, operands))
    return scanned


class OptionBuilder:
    """Applies (key, value) options through one handler per key, in order, so that a
    later source overrides an earlier one (directives, then the command line).

    Handlers raise ShimError in the dialect's words; an error from a directive gets
    `directive_error` to say which line it came from."""

    handlers: Mapping[str, Callable[[Any, str], None]] = {}

    def apply(self, options: Iterable[tuple[str, str | None]], directive: Directive | None = None) -> None:
        for key, value in options:
            try:
                self.handlers[key](self, value or "")
            except ShimError as e:
                if directive is None:
                    raise
                raise self.directive_error(e, directive) from None

    def directive_error(self, error: ShimError, directive: Directive) -> ShimError:
        return error.with_line(f"line {directive.line}: {directive.text}")


def read_script(path: str | None, stdin: IO[bytes] | None = None) -> str:
    """The text of the script at `path`, or of standard input when `path` is None.

    Raises OSError as open() does, and ValueError for text that is not UTF-8 (the
    script travels as a protobuf string)."""
    if path is None:
        data = (stdin or sys.stdin.buffer).read()
        where = "standard input"
    else:
        with open(path, "rb") as f:
            data = f.read()
        where = path
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{where}: not UTF-8 text (byte {e.start})") from None
