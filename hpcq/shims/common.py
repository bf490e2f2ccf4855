"""What every PBS and Slurm shim shares: option scanning as GNU getopt does it,
directive lines, reading the script, the submit context, the client, and turning a
failed call into the dialect's message and exit code.

Nothing here imports grpc: the client is opened lazily, when a command makes its call.
Nor typing or dataclasses, which would cost each command ~15 ms at start-up: the
records here are named tuples and small classes (see hpcq/protolite.py). For the same
reason getpass, socket and signal (~5 ms together) are not imported to learn the user,
the host name or a signal's number, nor shlex (and re) unless a script has directives.
"""
from __future__ import annotations

import os
import sys
import time
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence

from hpcq.errors import HpcqError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any, NoReturn

    from hpcq.client import Client


# The releases whose output the shims reproduce (shared/compat/); `--version` prints them
# as those releases do, since tools compare the number to decide which flags to use.
SLURM_VERSION_LINE = "slurm-wlm 22.05.8"
PBS_VERSION = "23.06.06"
PBS_VERSION_LINE = f"pbs_version = {PBS_VERSION}"


class ShimError(Exception):
    """A command fails: `text` goes to stderr as it stands (one or more lines), and the
    command exits with `exit_code`."""

    def __init__(self, text: str, exit_code: int) -> None:
        super().__init__(text)
        self.text = text
        self.exit_code = exit_code

    def with_line(self, line: str) -> "ShimError":
        return ShimError(f"{self.text}\n{line}", self.exit_code)


class Record:
    """Plain data, as a dataclass is, without importing dataclasses (inspect with it:
    ~8 ms of every command's start-up). A subclass declares its fields as annotated
    class attributes, most with a default; Record(*values, **fields) sets them in that
    order or by name, and each record gets its own copy of a list, set or dict default.
    Immutable records are named tuples instead."""

    def __init__(self, *values: Any, **fields: Any) -> None:
        names = type(self).__annotations__
        if len(values) > len(names):
            raise TypeError(f"{type(self).__name__} takes {len(names)} fields, not {len(values)}")
        given = dict(zip(names, values))
        for name, value in fields.items():
            if name not in names or name in given:
                raise TypeError(f"{type(self).__name__}: unknown or repeated field {name!r}")
            given[name] = value
        for name in names:
            if name in given:
                value = given[name]
            elif hasattr(type(self), name):
                value = getattr(type(self), name)
                if isinstance(value, (list, set, dict)):
                    value = value.copy()
            else:
                raise TypeError(f"{type(self).__name__}: field {name!r} not given")
            setattr(self, name, value)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    __hash__ = None  # type: ignore[assignment]  # mutable, as a dataclass with eq

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


# -- option scanning -----------------------------------------------------------------

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


# -- directives ------------------------------------------------------------------------

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


# -- the script ---------------------------------------------------------------------

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


# -- where and by whom a job is submitted ---------------------------------------------

class SubmitContext(namedtuple("SubmitContext", "cwd host user environ now uid", defaults=(None,))):
    """The facts about the submitting process a JobSpec records; a parameter so that
    parsing is a pure function in tests. `uid` is the real uid (None: not known)."""
    __slots__ = ()
    cwd: str
    host: str
    user: str
    environ: Mapping[str, str]
    now: float
    uid: int | None

    @classmethod
    def current(cls) -> "SubmitContext":
        return cls(cwd=os.getcwd(), host=short_hostname(), user=login_name(),
                   environ=submit_environment(), now=time.time(), uid=os.getuid())

    def account_name(self) -> str:
        """The login name of the real uid (what ctld will know the caller as), else `user`."""
        if self.uid is None:
            return self.user
        import pwd
        try:
            return pwd.getpwuid(self.uid).pw_name
        except KeyError:
            return self.user

    def path(self, value: str) -> str:
        """An absolute path, relative ones taken from the submit directory. Raises
        ValueError for a path no system call would take (a NUL byte)."""
        if "\0" in value:
            raise ValueError(f"{value!r}: a path cannot hold a NUL byte")
        return os.path.normpath(os.path.join(self.cwd, os.path.expanduser(value)))


def user_ids(user: str) -> tuple[int | None, str, int | None]:
    """(uid, primary group name, gid) of a login name on this host, None where unknown
    (the job's owner may have no account here)."""
    import grp
    import pwd
    try:
        entry = pwd.getpwnam(user)
    except (KeyError, ValueError):
        return None, "", None
    try:
        group = grp.getgrgid(entry.pw_gid).gr_name
    except KeyError:
        group = str(entry.pw_gid)
    return entry.pw_uid, group, entry.pw_gid


def short_hostname() -> str:
    return os.uname().nodename.split(".")[0]      # what gethostname() returns


def login_name() -> str:
    """getpass.getuser()'s answer: $LOGNAME, $USER, $LNAME or $USERNAME, else the
    password database's name of this uid (else the uid)."""
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if os.environ.get(variable):
            return os.environ[variable]
    import pwd
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def submit_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment to send with a job: every variable whose name and value are
    text (protobuf strings cannot carry the undecodable bytes os.environ keeps)."""
    source = os.environ if environ is None else environ
    out = {}
    for name, value in source.items():
        try:
            name.encode("utf-8")
            value.encode("utf-8")
        except UnicodeEncodeError:
            continue
        out[name] = value
    return out


# -- small shared parsers and formatters -----------------------------------------------

def now() -> float:
    """The time commands print against (elapsed times, "now" headers); one place for
    tests to set it."""
    return time.time()


UINT32_MAX = 2**32 - 1     # the largest count a JobSpec field holds
UINT64_MAX = 2**64 - 1
INT32_MAX = 2**31 - 1


def is_digits(text: str) -> bool:
    """ASCII decimal digits only: str.isdigit() takes '²' (which int() refuses) and
    '１' (which int() takes), neither of which a scheduler option means."""
    return text.isascii() and text.isdigit()


def parse_uint(text: str, maximum: int = UINT32_MAX) -> int | None:
    """The value of an unsigned decimal of ASCII digits, or None when the text is not
    one or the value is beyond `maximum` (the field it goes to could not hold it)."""
    if not is_digits(text) or len(text) > 30:
        return None
    number = int(text)
    return number if number <= maximum else None


def parse_signal(value: str) -> int:
    """A signal by number or name, with or without SIG: ``9``, ``KILL``, ``SIGUSR1``."""
    import signal as _signal

    text = value.strip().upper()
    if text.isdigit():             # any digits: '²' is a bad number, not a bad name
        number = parse_uint(text)
        if number is not None and 0 < number < _signal.NSIG:
            return number
        raise ValueError(f"invalid signal {value!r}")
    name = text if text.startswith("SIG") else "SIG" + text
    try:
        return int(_signal.Signals[name])
    except KeyError:
        raise ValueError(f"invalid signal {value!r}") from None


def split_list(value: str | None) -> list[str]:
    """The items of a comma-separated option value, empty ones dropped."""
    return [item for item in (value or "").split(",") if item]


def compress_indices(indices: Iterable[int]) -> str:
    """``1-3,7,9-10`` for array indices."""
    numbers = sorted(set(indices))
    parts: list[str] = []
    i = 0
    while i < len(numbers):
        j = i
        while j + 1 < len(numbers) and numbers[j + 1] == numbers[j] + 1:
            j += 1
        parts.append(str(numbers[i]) if i == j else f"{numbers[i]}-{numbers[j]}")
        i = j + 1
    return ",".join(parts)


# -- the client and its errors ----------------------------------------------------------

def open_client() -> "Client":
    """A client for the configured cluster. grpc is imported here, not before."""
    from hpcq.client import Client
    from hpcq.errors import ConfigError
    try:
        return Client.connect()
    except ConfigError as e:
        raise HpcqError("FAILED_PRECONDITION", str(e)) from None


class Connection:
    """The client of one command, opened at its first use; remembers the cluster name
    for messages that need it even when opening failed."""

    def __init__(self) -> None:
        self._client: Client | None = None

    @property
    def client(self) -> "Client":
        if self._client is None:
            self._client = open_client()
        return self._client

    @property
    def cluster(self) -> str:
        return (self._client.cluster if self._client else "") or short_hostname()


# How Slurm words the failures hpcq reports as gRPC codes; other codes show ctld's message.
_SLURM_TEXT = {
    "UNAVAILABLE": "Unable to contact slurm controller (connect failure)",
    "DEADLINE_EXCEEDED": "Socket timed out on send/recv operation",
    "PERMISSION_DENIED": "Access/permission denied",
}


def error_token(error: HpcqError) -> tuple[str, str]:
    """ctld's stable token and the rest of its message: ("UNKNOWN_QUEUE", "queue 'x' does not exist");
    ("", message) when the message carries no token."""
    token, sep, rest = error.message.partition(": ")
    if sep and token.isupper() and token.replace("_", "").isalpha():
        return token, rest
    return "", error.message


def script_too_large(error: HpcqError) -> bool:
    """A submit refused for its size, whatever the size: ctld's script limit (BAD_SPEC:
    "script: larger than ..."), or a request too large to travel at all (the agent's frame
    limit, grpc's message limit: TOO_LARGE)."""
    from hpcq.wire import TOO_LARGE

    token, detail = error_token(error)
    return token == TOO_LARGE or (token == "BAD_SPEC" and detail.startswith("script: larger than"))


def slurm_failure(prog: str, error: HpcqError, lead: str) -> ShimError:
    """A failed call as Slurm prints it: `lead` + Slurm's words, then ctld's own detail
    on a line of its own (what a user acts on), exit 1."""
    words = _SLURM_TEXT.get(error.code)
    if words is None:
        return ShimError(f"{lead}{error.message}", 1)
    lines = [f"{lead}{words}"]
    if error.message:
        lines.append(f"{prog}: error: {error.message}")
    return ShimError("\n".join(lines), 1)


# PBS error numbers (pbs_error.h); a command exits with the number modulo 256.
PBSE_UNKJOBID = 15001
PBSE_PERM = 15007
PBSE_BADATVAL = 15014
PBSE_BADSTATE = 15016
PBSE_UNKQUE = 15018
PBSE_BADCRED = 15019
PBSE_UNKRESC = 15035
PBSE_EXCQRESC = 15036
PBSE_HISTJOBID = 15139
PBSE_UNKSIG = 15013
PBSE_QUNOENB = 15021
PBSE_QACESS = 15022
PBSE_BADUSER = 15023
PBSE_NOSUP = 15029
PBSE_MAXQUED = 15046
PBSE_BADDEPEND = 15054
PBSE_UNKNODE = 15062
PBSE_JOBSCRIPTMAXSIZE = 15175
PBSE_ENTLIMCT = 15142

_PBS_ERRNO = {
    "NOT_FOUND": PBSE_UNKJOBID,
    "PERMISSION_DENIED": PBSE_PERM,
    "INVALID_ARGUMENT": PBSE_BADATVAL,
    "FAILED_PRECONDITION": PBSE_BADSTATE,
    "UNAUTHENTICATED": PBSE_BADCRED,
    "RESOURCE_EXHAUSTED": PBSE_EXCQRESC,
}


def pbs_exit(errno: int) -> int:
    return errno % 256


# ctld's refusals as PBS words them (pbse_to_txt) and their error numbers; True: ctld's
# detail follows on a line of its own, where PBS's words alone would not say what to fix.
_PBS_REFUSALS = {
    "UNKNOWN_QUEUE": ("Unknown queue", PBSE_UNKQUE, False),
    "TOO_BIG": ("Job exceeds queue and/or server resource limits", PBSE_EXCQRESC, True),
    "TIME_LIMIT": ("Job exceeds queue and/or server resource limits", PBSE_EXCQRESC, True),
    "QUEUE_CLOSED": ("Queue is not enabled", PBSE_QUNOENB, False),
    "QUEUE_ACCESS": ("Access to queue is denied", PBSE_QACESS, False),
    "MAX_JOB_COUNT": ("Maximum number of jobs already in queue", PBSE_MAXQUED, True),
    "SUBMIT_LIMIT": ("would exceed the per-user limit of jobs", PBSE_ENTLIMCT, True),
    "BAD_LICENSE": ("Unknown resource", PBSE_UNKRESC, True),
    "BAD_DEPENDENCY": ("Invalid dependency", PBSE_BADDEPEND, True),
    "BAD_SPEC": ("Illegal attribute or resource value", PBSE_BADATVAL, True),
}


def pbs_failure(prog: str, error: HpcqError, *, server: str) -> ShimError:
    """A failed call as PBS prints it. An unreachable server is ``cannot connect to
    server`` (exit 255, as qstat @nosuchserver); a refusal ctld names by its token is
    PBS's words and number; other failures show ctld's message with the exit code of
    the nearest PBS error."""
    token, detail = error_token(error)
    if token in _PBS_REFUSALS:
        words, errno, with_detail = _PBS_REFUSALS[token]
        text = f"{prog}: {words}" + (f"\n{prog}: {detail}" if with_detail and detail else "")
        return ShimError(text, pbs_exit(errno))
    if error.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
        lines = [f"{prog}: cannot connect to server {server} (errno=15010)"]
        if error.message:
            lines.append(f"{prog}: {error.message}")
        return ShimError("\n".join(lines), 255)
    if error.code == "PERMISSION_DENIED" and not error.message:
        return ShimError(f"{prog}: Unauthorized Request ", pbs_exit(PBSE_PERM))
    return ShimError(f"{prog}: {error.message}", pbs_exit(_PBS_ERRNO.get(error.code, 15010)) or 1)


def run(body: Callable[[], int], on_rpc_error: Callable[[HpcqError], ShimError]) -> int:
    """Run a command's body: print a ShimError or a failed call in the dialect's words
    and return the exit code."""
    try:
        return body()
    except HpcqError as e:
        failure = on_rpc_error(e)
        _print_stderr(failure.text)
        return failure.exit_code
    except ShimError as e:
        _print_stderr(e.text)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (squeue | head): not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def entry_point(main: Callable[[], int]) -> Callable[[], NoReturn]:
    """The installed command (pyproject.toml's scripts): `main`, its output flushed, then
    an exit that skips the interpreter's teardown of every loaded module — ~3.5 ms of a
    ~27 ms sbatch here (measured against os._exit), and nothing a command leaves needs it.
    Tests call `main` itself."""
    def command() -> NoReturn:
        code = main()
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BrokenPipeError:  # the reader went away (squeue | head)
            code = 141
        os._exit(code or 0)
    return command


def _print_stderr(text: str) -> None:
    if text:
        print(text, file=sys.stderr)


def slurm_help_or_version(help: bool, version: bool, usage: str) -> bool:
    """Print what `--help` / `-V` ask of a Slurm command; True when the command is done."""
    if help:
        write(usage)
    elif version:
        write(SLURM_VERSION_LINE)
    return help or version


def write(text: str) -> None:
    """Write command output; lines end with a newline, nothing is added to empty output."""
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
