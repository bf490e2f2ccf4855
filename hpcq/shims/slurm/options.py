"""sbatch's command line, SBATCH_* variables and #SBATCH directives -> a JobSpec.

Precedence is Slurm's: command line, then input environment variables, then the
script's directives. Every error is printed as sbatch prints it (see
shared/compat/slurm/sbatch_*.txt); an error in a directive adds the line it came from.
"""
from __future__ import annotations

import os
from collections import namedtuple
from collections.abc import Mapping, Sequence

from hpcq import hostlist, units
from hpcq.api.lite import jobs_pb2
from hpcq.patterns import Pattern
from hpcq.shims import directives, getopt, values
from hpcq.shims.directives import Directive, DirectiveError, OptionBuilder
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.submit_context import SubmitContext

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO

PROG = "sbatch"
_FATAL = 255            # what sbatch exits with for a bad option (exit(-1))

# long name -> (argument kind, key); "" no argument, ":" required, "::" optional
_LONG: dict[str, tuple[str, str]] = {name: (kind, key or name) for name, kind, key in [
    ("account", ":", ""), ("array", ":", ""), ("begin", ":", ""), ("chdir", ":", ""),
    ("comment", ":", ""), ("constraint", ":", ""), ("cpus-per-task", ":", ""),
    ("dependency", ":", ""), ("error", ":", ""), ("exclude", ":", ""), ("exclusive", "::", ""),
    ("export", ":", ""), ("get-user-env", "::", ""), ("gpus", ":", ""), ("gpus-per-node", ":", ""),
    ("gres", ":", ""), ("help", "", ""), ("hold", "", ""), ("input", ":", ""), ("job-name", ":", ""),
    ("licenses", ":", ""), ("mail-type", ":", ""), ("mail-user", ":", ""), ("mem", ":", ""),
    ("mem-per-cpu", ":", ""), ("nice", "::", ""), ("no-requeue", "", ""), ("nodelist", ":", ""),
    ("nodes", ":", ""), ("ntasks", ":", ""), ("ntasks-per-node", ":", ""), ("open-mode", ":", ""),
    ("output", ":", ""), ("parsable", "", ""), ("partition", ":", ""), ("priority", ":", ""), ("qos", ":", ""),
    ("quiet", "", ""), ("requeue", "", ""), ("signal", ":", ""), ("test-only", "", ""),
    ("time", ":", ""), ("usage", "", ""), ("verbose", "", ""), ("version", "", ""), ("wckey", ":", ""),
    ("wrap", ":", ""),
]}
_SHORT_KEYS = {"a": "array", "A": "account", "b": "begin", "c": "cpus-per-task", "C": "constraint",
               "d": "dependency", "D": "chdir", "e": "error", "G": "gpus", "H": "hold", "h": "help",
               "i": "input", "J": "job-name", "L": "licenses", "n": "ntasks", "N": "nodes",
               "o": "output", "p": "partition", "q": "qos", "Q": "quiet", "t": "time",
               "v": "verbose", "V": "version", "w": "nodelist", "x": "exclude"}
TABLE = OptionTable(
    short="".join(letter + (":" if _LONG[key][0] == ":" else "") for letter, key in _SHORT_KEYS.items()),
    long=_LONG, aliases=_SHORT_KEYS)

# Input environment variables sbatch reads (sbatch(1), INPUT ENVIRONMENT VARIABLES).
_ENV_OPTIONS = {
    "SBATCH_ACCOUNT": "account", "SBATCH_ARRAY_INX": "array", "SBATCH_CONSTRAINT": "constraint",
    "SBATCH_EXCLUSIVE": "exclusive", "SBATCH_EXPORT": "export", "SBATCH_GPUS_PER_NODE": "gpus-per-node",
    "SBATCH_GRES": "gres", "SBATCH_JOB_NAME": "job-name", "SBATCH_MEM_PER_CPU": "mem-per-cpu",
    "SBATCH_MEM_PER_NODE": "mem", "SBATCH_NO_REQUEUE": "no-requeue", "SBATCH_OPEN_MODE": "open-mode",
    "SBATCH_PARTITION": "partition", "SBATCH_QOS": "qos", "SBATCH_REQUEUE": "requeue",
    "SBATCH_SIGNAL": "signal", "SBATCH_TIMELIMIT": "time", "SBATCH_WCKEY": "wckey",
}
# One item of --array: an index, or a range with an optional step.
_ARRAY_ITEM = Pattern(r"([0-9]{1,9})(?:-([0-9]{1,9})(?::([0-9]{1,9}))?)?")
_NICE = Pattern(r"[-+]?[0-9]{1,10}")


def valid_array(value: str) -> bool:
    """Whether --array's value is what Slurm takes: ``0-15``, ``1,3,5-7``, ``0-15:4``, ``1-10%2``."""
    items, _, limit = value.partition("%")
    if "%" in value and not values.parse_uint(limit):
        return False
    for item in items.split(","):
        m = _ARRAY_ITEM.fullmatch(item)
        if not m or (m[2] and int(m[2]) < int(m[1])) or (m[3] and int(m[3]) < 1):
            return False
    return True

# Options that are about this run of sbatch, not the job.
_COMMAND_KEYS = frozenset({"help", "usage", "parsable", "quiet", "verbose", "test-only", "wrap", "version"})

USAGE = """\
Usage: sbatch [-N nnodes] [-n ntasks] [-c ncpus] [-J jobname] [-p partition]
              [-t time] [-o out] [-e err] [-D dir] [-A account] [-H] [-d dependency]
              [-a array] [--mem=MB] [--mem-per-cpu=MB] [--ntasks-per-node=n]
              [--gres=gpu:N] [--gpus-per-node=N] [--begin=time] [--comment=text]
              [--export=ALL|NONE|VARS] [--open-mode=append|truncate]
              [--requeue|--no-requeue] [--parsable] [--wrap=command]
              [script [args...]]"""
TRY_HELP = 'Try "sbatch --help" for more information'


class SbatchRequest(namedtuple("SbatchRequest", "spec parsable test_only quiet help version",
                               defaults=(False,) * 5)):
    """What one sbatch invocation asks for."""
    __slots__ = ()
    spec: jobs_pb2.JobSpec
    parsable: bool
    test_only: bool
    quiet: bool
    help: bool
    version: bool


def parse(argv: Sequence[str], ctx: SubmitContext, stdin: IO[bytes] | None = None) -> SbatchRequest:
    """Build the request sbatch would submit. Raises ShimError with sbatch's words."""
    cmdline, operands = getopt.command_line(PROG, argv, TABLE, permute=False, then=TRY_HELP, exit_code=_FATAL)
    flags = {key: value for key, value in cmdline if key in _COMMAND_KEYS}
    if "help" in flags or "usage" in flags:
        return SbatchRequest(jobs_pb2.JobSpec(), help=True)
    if "version" in flags:
        return SbatchRequest(jobs_pb2.JobSpec(), version=True)
    job_options = [(key, value) for key, value in cmdline if key not in _COMMAND_KEYS]
    _Builder(ctx).apply(job_options)   # command-line errors first, as sbatch

    if "wrap" in flags:
        if operands:
            raise ShimError("sbatch: error: Script arguments not permitted with --wrap option", 1)
        script, script_name, args = f"#!/bin/sh\n{flags['wrap']}\n", "", []
        default_name, command = "wrap", ""
    else:
        path = operands[0] if operands else None
        if path is not None and "\0" in path:
            raise ShimError(f"sbatch: error: Unable to open file {path}", 1)
        script = _load(path, stdin)
        args = operands[1:]
        script_name = path or "standard input"
        default_name = os.path.basename(path) if path else "sbatch"
        command = ctx.path(path) if path else ""

    builder = _Builder(ctx, script_name)
    if "wrap" not in flags:
        builder.apply_directives(script)
    builder.apply(_env_options(ctx.environ))
    builder.apply(job_options)
    spec = builder.finish(script=script, argv=args, default_name=default_name, command=command)
    return SbatchRequest(spec, parsable="parsable" in flags, test_only="test-only" in flags,
                         quiet="quiet" in flags)


def _load(path: str | None, stdin: IO[bytes] | None) -> str:
    try:
        script = directives.read_script(path, stdin)
    except OSError:
        raise ShimError(f"sbatch: error: Unable to open file {path}", 1) from None
    except ValueError as e:
        raise ShimError(f"sbatch: error: {e}", 1) from None
    if not script:
        raise ShimError("sbatch: error: Batch script is empty!", 1)
    if not script.strip():
        raise ShimError("sbatch: error: Batch script contains only whitespace!", 1)
    if not script.startswith("#!"):
        raise ShimError("sbatch: error: This does not look like a batch script.  The first\n"
                        "sbatch: error: line must start with #! followed by the path to an interpreter.\n"
                        "sbatch: error: For instance: #!/bin/sh", 1)
    if "\r\n" in script:
        raise ShimError("sbatch: error: Batch script contains DOS line breaks (\\r\\n)\n"
                        "sbatch: error: instead of expected UNIX line breaks (\\n).", 1)
    return script


def _env_options(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    found = []
    for variable, key in _ENV_OPTIONS.items():
        if variable in environ:
            found.append((key, environ[variable] if _LONG[key][0] else None))
    return found


# -- applying options ------------------------------------------------------------------

def _bad(text: str, exit_code: int = _FATAL) -> ShimError:
    return ShimError(f"sbatch: error: {text}", exit_code)


def _count(option: str, value: str) -> int:
    """A count a JobSpec field (uint32) holds; sbatch's words for anything else."""
    number = values.parse_uint(value.strip())
    if number is None:
        raise _bad(f'Invalid numeric value "{value}" for {option}.')
    return number


def _gpu_count(option: str, value: str) -> int:
    """``N`` or ``type:N``, as --gpus-per-node and --gpus take."""
    return _count(option, value.rsplit(":", 1)[-1])


class _Builder(OptionBuilder):
    """Accumulates options into a JobSpec; a later option overrides an earlier one."""

    def __init__(self, ctx: SubmitContext, script_name: str = "") -> None:
        self.ctx = ctx
        self.script_name = script_name
        self.spec = jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM)
        self.export_mode = "ALL"
        self.name = ""

    def directive_error(self, error: ShimError, directive: Directive) -> ShimError:
        return error.with_line(f"sbatch: error: line {directive.line} of {self.script_name}: {directive.text}")

    def apply_directives(self, script: str) -> None:
        try:
            scanned = directives.directive_options(PROG, script, "#SBATCH", TABLE, comments=True, permute=False)
        except DirectiveError as e:
            if e.reason.startswith(PROG + ":"):          # getopt refused an option
                raise ShimError(e.reason, _FATAL).with_line(
                    f"sbatch: error: line {e.line} of {self.script_name}: {e.text}") from None
            raise _bad(f"line {e.line} of {self.script_name}: {e.text}: {e.reason}") from None
        for directive, options, operands in scanned:
            if operands:
                raise self.directive_error(_bad(f"Invalid directive found in batch script: {operands[0]}"),
                                           directive)
            self.apply([(k, v) for k, v in options if k not in _COMMAND_KEYS], directive)

    def finish(self, *, script: str, argv: Sequence[str], default_name: str, command: str) -> jobs_pb2.JobSpec:
        spec = self.spec
        spec.script = script
        spec.argv.extend(argv)
        spec.name = self.name or default_name
        spec.submit_dir = self.ctx.cwd
        spec.submit_host = self.ctx.host
        spec.environment.update(export_environment(self.export_mode, self.ctx.environ))
        if self.export_mode.upper() != "ALL":
            spec.attributes["export"] = self.export_mode
        if command:
            spec.attributes["command"] = command
        return spec

    # One method per option; `value` is "" for flags.

    def job_name(self, value: str) -> None:
        self.name = value

    def partition(self, value: str) -> None:
        self.spec.queue = value

    def account(self, value: str) -> None:
        self.spec.account = value

    def time(self, value: str) -> None:
        try:
            seconds = units.parse_slurm_time(value)
        except ValueError:
            raise _bad("Invalid --time specification") from None
        self.spec.walltime_seconds = seconds or 0
        if seconds is None:
            self.spec.attributes["time_limit"] = "UNLIMITED"
        else:
            self.spec.attributes.pop("time_limit", None)

    def nodes(self, value: str) -> None:
        low, dash, high = value.partition("-")
        least, most = values.parse_uint(low), values.parse_uint(high) if dash else 0
        if not least or most is None:
            raise _bad(f"invalid node count `{value}'")
        self.spec.resources.nodes = least
        if high:
            self.spec.attributes["max_nodes"] = high

    def ntasks(self, value: str) -> None:
        self.spec.resources.tasks = _count("--ntasks", value)

    def cpus_per_task(self, value: str) -> None:
        self.spec.resources.cpus_per_task = _count("--cpus-per-task", value)

    def ntasks_per_node(self, value: str) -> None:
        self.spec.resources.tasks_per_node = _count("--ntasks-per-node", value)

    def mem(self, value: str) -> None:
        # --mem and --mem-per-cpu exclude each other; the one given later (command
        # line over directives) wins.
        self.spec.resources.mem_per_node_mb = self._mib(value)
        self.spec.resources.mem_per_cpu_mb = 0

    def mem_per_cpu(self, value: str) -> None:
        self.spec.resources.mem_per_cpu_mb = self._mib(value)
        self.spec.resources.mem_per_node_mb = 0

    @staticmethod
    def _mib(value: str) -> int:
        try:
            return units.parse_slurm_size(value)
        except ValueError:
            raise _bad(f"invalid memory constraint {value}") from None

    def output(self, value: str) -> None:
        self.spec.stdout_path = value

    def error(self, value: str) -> None:
        self.spec.stderr_path = value

    def input(self, value: str) -> None:
        self.spec.attributes["input"] = value

    def chdir(self, value: str) -> None:
        try:
            self.spec.workdir = self.ctx.path(value)
        except ValueError as e:
            raise _bad(f"Invalid --chdir specification: {e}") from None

    def export(self, value: str) -> None:
        self.export_mode = value or "ALL"

    def hold(self, value: str) -> None:
        self.spec.hold = True

    def begin(self, value: str) -> None:
        try:
            self.spec.begin_time = units.parse_slurm_timestamp(value, self.ctx.now)
        except ValueError:
            raise _bad("Invalid --begin specification") from None

    def comment(self, value: str) -> None:
        self.spec.comment = value

    def requeue(self, value: str) -> None:
        self.spec.requeue = True

    def no_requeue(self, value: str) -> None:
        self.spec.requeue = False

    def open_mode(self, value: str) -> None:
        mode = value.lower()
        if mode in ("a", "append"):
            self.spec.append_output = True
        elif mode in ("t", "truncate"):
            self.spec.append_output = False
        else:
            raise _bad(f"Invalid --open-mode argument: {value}")

    def gres(self, value: str) -> None:
        others = []
        for item in filter(None, value.split(",")):
            parts = item.split(":")
            count = values.parse_uint(parts[-1]) if len(parts) > 1 else None
            if parts[0] != "gpu":
                others.append(item)
            elif len(parts) == 1 or (len(parts) == 2 and not values.is_digits(parts[1])):
                self.spec.resources.gpus_per_node = 1          # gpu, gpu:type
            elif count is not None and len(parts) <= 3:
                self.spec.resources.gpus_per_node = count      # gpu:N, gpu:type:N
            else:
                raise _bad("Invalid generic resource (gres) specification", 1)
        if others:
            self.spec.attributes["gres"] = ",".join(others)

    def gpus_per_node(self, value: str) -> None:
        self.spec.resources.gpus_per_node = _gpu_count("--gpus-per-node", value)

    def gpus(self, value: str) -> None:
        # hpcq has no job-wide GPU count: it is taken as a per-node request, which is
        # what it means on the single node most --gpus jobs use.
        self.spec.resources.gpus_per_node = _gpu_count("--gpus", value)
        self.spec.attributes["gpus"] = value

    def dependency(self, value: str) -> None:
        self.spec.attributes["dependency"] = value

    def array(self, value: str) -> None:
        if not valid_array(value):
            raise _bad("Batch job submission failed: Invalid job array specification", 1)
        tasks, _, limit = value.partition("%")
        self.spec.array.tasks = tasks
        self.spec.array.max_running = int(limit) if limit else 0

    def qos(self, value: str) -> None:
        self.spec.attributes["qos"] = value

    def wckey(self, value: str) -> None:
        self.spec.attributes["wckey"] = value

    def nice(self, value: str) -> None:
        # Slurm's range is +/-2147483645 (NICE_OFFSET - 3).
        m = _NICE.fullmatch(value) if value else None
        nice = int(value) if m else 100 if not value else None
        if nice is None or abs(nice) > values.INT32_MAX - 2:
            raise _bad(f"Invalid --nice value: {value}")
        self.spec.nice = nice

    def priority(self, value: str) -> None:
        # A fixed priority, for operators and admins only: ctld refuses it from a user.
        priority = values.parse_uint(value, values.INT32_MAX)   # 5,000 digits: refused, not int()'s error
        if priority is None:
            raise _bad(f"Invalid --priority value: {value}")
        self.spec.priority = priority

    def mail_type(self, value: str) -> None:
        known = {"NONE", "BEGIN", "END", "FAIL", "REQUEUE", "ALL", "INVALID_DEPEND", "STAGE_OUT",
                 "TIME_LIMIT", "TIME_LIMIT_90", "TIME_LIMIT_80", "TIME_LIMIT_50", "ARRAY_TASKS"}
        words = [w.upper() for w in value.split(",")]
        if not all(w in known for w in words):
            raise _bad(f"--mail-type={value} invalid")
        self.spec.mail_events = ",".join(words)

    def mail_user(self, value: str) -> None:
        self.spec.mail_users = value

    def exclude(self, value: str) -> None:
        del self.spec.resources.exclude_nodes[:]
        self.spec.resources.exclude_nodes.extend(self._hosts("--exclude", value))

    def nodelist(self, value: str) -> None:
        self._hosts("--nodelist", value)
        self.spec.attributes["nodelist"] = value

    @staticmethod
    def _hosts(option: str, value: str) -> list[str]:
        try:
            return hostlist.expand(value)
        except ValueError as e:
            raise _bad(f"Invalid {option} specification: {e}") from None

    def constraint(self, value: str) -> None:
        del self.spec.resources.features[:]
        self.spec.resources.features.extend(f for f in value.replace("&", ",").split(",") if f)

    def exclusive(self, value: str) -> None:
        self.spec.resources.exclusive = True

    def licenses(self, value: str) -> None:
        self.spec.resources.licenses.clear()
        for item in filter(None, value.split(",")):
            name, _, count = item.replace("*", ":").partition(":")
            self.spec.resources.licenses[name] = _count("--licenses", count or "1")

    def signal(self, value: str) -> None:
        text = value.split(":", 1)[1] if value[:2].upper() in ("B:", "R:") else value
        name, _, seconds = text.partition("@")
        due = values.parse_uint(seconds, 0xFFFF) if seconds else 60     # Slurm keeps it in 16 bits
        try:
            self.spec.kill_signal = values.parse_signal(name)
        except ValueError:
            due = None
        if due is None:
            raise _bad("Invalid --signal specification")
        self.spec.kill_signal_seconds = due

    def ignored(self, value: str) -> None:
        """Accepted for compatibility; nothing in hpcq depends on it."""


_IGNORED_KEYS = frozenset({"get-user-env"})
_Builder.handlers = {
    key: _Builder.ignored if key in _IGNORED_KEYS else getattr(_Builder, key.replace("-", "_"))
    for _, key in _LONG.values() if key not in _COMMAND_KEYS
}


def export_environment(export: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables ``--export`` sends: ALL (the default) every one, NONE none, else
    the named ones (``A``, ``A=1``), on top of everything when ALL is among them."""
    items = [item for item in export.split(",") if item]
    words = {item.upper() for item in items if "=" not in item}
    env = dict(environ) if "ALL" in words else {}
    for item in items:
        name, eq, value = item.partition("=")
        if eq:
            env[name] = value
        elif name.upper() not in ("ALL", "NONE") and name in environ:
            env[name] = environ[name]
    return env


# -- allocations (salloc, srun outside a job) ------------------------------------------

# sbatch's options about a batch script's files and runs: an allocation has no script.
_BATCH_ONLY = frozenset({"array", "output", "error", "input", "open-mode", "requeue", "no-requeue", "export"})


def allocation_table(extra: Mapping[str, tuple[str, str]]) -> OptionTable:
    """salloc's options: sbatch's that shape a job's resources and place, and `extra` ones."""
    aliases = {letter: key for letter, key in _SHORT_KEYS.items() if key not in _BATCH_ONLY}
    return OptionTable(
        short="".join(letter + (":" if _LONG[key][0] == ":" else "") for letter, key in aliases.items()),
        long={**{name: v for name, v in _LONG.items() if v[1] not in _BATCH_ONLY}, **extra}, aliases=aliases)


def allocation_spec(job_options: Sequence[tuple[str, str | None]], ctx: SubmitContext,
                    default_name: str) -> jobs_pb2.JobSpec:
    """The job an allocation asks for, from sbatch's job options (salloc's, srun's sizes and
    limits); sbatch's words for a bad value. No script, no environment: its command runs here."""
    builder = _Builder(ctx)
    builder.apply(job_options)
    spec = builder.finish(script="", argv=(), default_name=default_name, command="")
    spec.ClearField("environment")
    return spec
