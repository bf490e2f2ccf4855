"""qsub's command line and #PBS directives -> a JobSpec.

The command line wins over directives, resource by resource for ``-l``. Errors are
printed as OpenPBS's qsub prints them (shared/compat/openpbs/errors_and_exit_codes.txt);
an error in a directive is ``qsub: directive error: ...`` and names its line.
"""
from __future__ import annotations

import os
from collections import namedtuple
from collections.abc import Sequence

from hpcq import units
from hpcq.api.lite import jobs_pb2
from hpcq.patterns import Pattern
from hpcq.shims import directives, errors, getopt, values
from hpcq.shims.directives import Directive, DirectiveError, OptionBuilder
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.submit_context import SubmitContext

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime
    from typing import IO

PROG = "qsub"
USAGE = """\
usage: qsub [-a date_time] [-A account_string] [-c interval]
\t[-C directive_prefix] [-e path] [-f ] [-h ] [-I [-X]] [-j oe|eo] [-J X-Y[:Z]]
\t[-k keep] [-l resource_list] [-m mail_options] [-M user_list]
\t[-N jobname] [-o path] [-p priority] [-P project] [-q queue] [-r y|n]
\t[-R o|e|oe] [-S path] [-u user_list] [-W otherattributes=value...]
\t[-v variable_list] [-V ] [-z] [script | -- command [arg1 ...]]
       qsub --version"""
TABLE = OptionTable(short="a:A:c:C:e:fGhIj:J:k:l:m:M:N:o:p:P:q:r:R:S:u:v:VW:Xz")
_COMMAND_KEYS = frozenset({"C", "z", "f"})   # about this run of qsub, not the job
_EXECUTION_TIME = Pattern(r"((?:[0-9][0-9]){2,6})(?:\.([0-9][0-9]))?")     # -a
_ARRAY_RANGE = Pattern(r"([0-9]{1,9})-([0-9]{1,9})(?::([0-9]{1,9}))?(?:%([0-9]{1,9}))?")   # -J
_PRIORITY = Pattern(r"[-+]?[0-9]{1,5}")                                     # -p
_UMASK = Pattern(r"[0-7]{1,4}")                                             # -W umask=

# Resources a job may ask for with -l (or in a select chunk) beyond those mapped onto
# JobSpec fields; they are kept as attributes for display.
_KEPT_RESOURCES = frozenset({"cput", "vmem", "pmem", "pvmem", "file", "software", "host", "arch",
                             "ompthreads", "mpiprocs", "nodect", "pcput", "vnode"})
_CHUNK_RESOURCES = frozenset({"select", "nodes", "ncpus"})

# The PBS_O_* variables qsub sends, from these submit-environment variables.
_PBS_O_FROM_ENV = (("PBS_O_HOME", "HOME"), ("PBS_O_LOGNAME", "LOGNAME"), ("PBS_O_PATH", "PATH"),
                   ("PBS_O_MAIL", "MAIL"), ("PBS_O_SHELL", "SHELL"))


class QsubRequest(namedtuple("QsubRequest", "spec print_id interactive", defaults=(True, False))):
    __slots__ = ()
    spec: jobs_pb2.JobSpec
    print_id: bool
    interactive: bool          # -I: no script; a shell here in the job's allocation (hpcq/shims/pbs/qsub.py)


def usage_error(text: str) -> ShimError:
    return ShimError(f"qsub: {text}\n{USAGE}", 2)


def parse(argv: Sequence[str], ctx: SubmitContext, stdin: IO[bytes] | None = None) -> QsubRequest:
    """Build the job qsub would submit. Raises ShimError with qsub's words."""
    command: list[str] = []
    cmdline, operands = getopt.command_line(PROG, argv, TABLE, command=command, then=USAGE, exit_code=2)
    keys = {key for key, _ in cmdline}
    if "G" in keys:
        raise ShimError("qsub: -G (a GUI application in an interactive job) is not supported", 2)
    if "X" in keys:
        raise ShimError("qsub: -X (X11 forwarding) is not supported: hpcq's interactive jobs (-I) have no "
                        "display", 2)
    interactive = "I" in keys
    flags = {key: value for key, value in cmdline if key in _COMMAND_KEYS}
    job_options = [(key, value) for key, value in cmdline if key not in _COMMAND_KEYS and key != "I"]
    if len(operands) > 1 or (operands and command):
        raise ShimError(f"qsub: too many arguments: {' '.join(operands[1:] or command)}\n{USAGE}", 2)
    Builder(ctx).apply(job_options)          # command-line errors first

    builder = Builder(ctx)
    if interactive:
        if operands or command:
            raise ShimError(f"qsub: -I takes no script or command: {' '.join(operands or command)}\n{USAGE}", 2)
        builder.apply(job_options)
        spec = builder.finish(script="", default_name="STDIN", submit_arguments=" ".join(argv))
        return QsubRequest(spec, interactive=True)
    if command:
        builder.command = command
        import shlex  # here: with the re it loads, ~3 ms most runs of qsub never use

        script = f"#!/bin/sh\nexec {shlex.join(command)}\n"
        default_name = "STDIN"
    else:
        path = operands[0] if operands else None
        script = _load(path, stdin)
        builder.script_name = path or "STDIN"
        default_name = os.path.basename(path) if path else "STDIN"
        prefix = flags["C"] if "C" in flags else ctx.environ.get("PBS_DPREFIX", "#PBS")
        builder.apply_directives(script, prefix or "")
    builder.apply(job_options)
    spec = builder.finish(script=script, default_name=default_name,
                          submit_arguments=" ".join(argv))
    return QsubRequest(spec, print_id="z" not in flags)


def _load(path: str | None, stdin: IO[bytes] | None) -> str:
    if path is not None and "\0" in path:
        raise ShimError("qsub: script file:: No such file or directory", 1)
    if path is not None and os.path.isdir(path):
        raise ShimError("qsub: script not a file", 1)
    try:
        return directives.read_script(path, stdin)
    except OSError as e:
        raise ShimError(f"qsub: script file:: {e.strerror}", 1) from None
    except ValueError as e:
        raise ShimError(f"qsub: {e}", 1) from None


def parse_execution_time(value: str, now: float) -> float | None:
    """Unix seconds of ``-a [[[[CC]YY]MM]DD]hhmm[.SS]`` (local time); None if malformed.
    A part left out is the nearest one that puts the time in the future (qsub(1B))."""
    from datetime import datetime, timedelta  # here: datetime costs every command ~3 ms

    m = _EXECUTION_TIME.fullmatch(value)
    if not m:
        return None
    digits, second = m[1], int(m[2] or 0)
    fields = [int(digits[i:i + 2]) for i in range(0, len(digits), 2)]
    base = datetime.fromtimestamp(now)
    hour, minute = fields[-2], fields[-1]
    given = fields[:-2]                       # [CC, YY, MM, DD] from the right
    day = given[-1] if len(given) >= 1 else None
    month = given[-2] if len(given) >= 2 else None
    year = None
    if len(given) >= 3:
        year = given[-3] + (given[-4] * 100 if len(given) >= 4 else 2000)
    try:
        moment = datetime(year or base.year, month or base.month, day or base.day, hour, minute, second)
    except ValueError:
        return None
    if moment < base:        # roll the first part left out forward
        if day is None:
            moment += timedelta(days=1)
        elif month is None:
            moment = _next_month(moment)
        elif year is None:
            try:
                moment = moment.replace(year=moment.year + 1)
            except ValueError:
                return None
    return moment.timestamp()


def _next_month(moment: datetime) -> datetime:
    for step in range(1, 13):
        month = (moment.month - 1 + step) % 12 + 1
        year = moment.year + (moment.month - 1 + step) // 12
        try:
            return moment.replace(year=year, month=month)
        except ValueError:           # no such day in that month
            continue
    return moment


# -- resources ---------------------------------------------------------------------------

class Chunks:
    """The nodes x tasks x cpus a job asks for, however it was spelled."""
    __slots__ = ("nodes", "tasks_per_node", "cpus_per_task", "mem_mb", "gpus", "features")

    def __init__(self, nodes: int = 1, tasks_per_node: int = 1, cpus_per_task: int = 1, mem_mb: int = 0,
                 gpus: int = 0, features: list[str] | None = None) -> None:
        self.nodes = nodes
        self.tasks_per_node = tasks_per_node
        self.cpus_per_task = cpus_per_task
        self.mem_mb = mem_mb
        self.gpus = gpus
        self.features: list[str] = [] if features is None else features


def _illegal_value(resource: str) -> ShimError:
    return ShimError(f"qsub: Illegal attribute or resource value Resource_List.{resource}",
                     errors.pbs_exit(errors.PBSE_BADATVAL))


def _unknown_resource(resource: str) -> ShimError:
    return ShimError(f"qsub: Unknown resource Resource_List.{resource}", errors.pbs_exit(errors.PBSE_UNKRESC))


def positive(resource: str, value: str) -> int:
    """A count of at least 1 that a JobSpec field (uint32) holds."""
    number = values.parse_uint(value)
    if not number:
        raise _illegal_value(resource)
    return number


def size_mib(resource: str, value: str) -> int:
    try:
        return units.parse_pbs_size(value)
    except ValueError:
        raise _illegal_value(resource) from None


def parse_select(value: str) -> Chunks:
    """``N:ncpus=C:mem=M[:mpiprocs=P][:ngpus=G][:feature=true]``, one kind of chunk, one per node."""
    if "+" in value:
        raise ShimError("qsub: Illegal attribute or resource value Resource_List.select\n"
                        "qsub: hpcq runs one kind of chunk per job; select with '+' is not supported",
                        errors.pbs_exit(errors.PBSE_BADATVAL))
    parts = value.split(":")
    chunks = Chunks()
    if values.is_digits(parts[0]):
        chunks.nodes = positive("select", parts.pop(0))
    ncpus, mpiprocs = 1, 1
    for part in parts:
        name, eq, item = part.partition("=")
        if not eq or not item:
            raise _illegal_value("select")
        if name == "ncpus":
            ncpus = positive("select", item)
        elif name == "mpiprocs":
            mpiprocs = positive("select", item)
        elif name == "mem":
            chunks.mem_mb = size_mib("select", item)
        elif name == "ngpus":
            gpus = values.parse_uint(item)
            if gpus is None:
                raise _illegal_value("select")
            chunks.gpus = gpus
        elif item.lower() == "true":
            chunks.features.append(name)
        elif name not in _KEPT_RESOURCES:
            raise _unknown_resource(name)
    # PBS gives each chunk mpiprocs ranks sharing its ncpus (OMP_NUM_THREADS = ncpus/mpiprocs);
    # an uneven split is rounded up so that no rank gets less than PBS would give it.
    chunks.tasks_per_node = mpiprocs
    chunks.cpus_per_task = -(-ncpus // mpiprocs)
    return chunks


def parse_nodes(value: str) -> Chunks:
    """Torque's ``nodes=N[:ppn=P][:gpus=G][:feature]``."""
    parts = value.split(":")
    chunks = Chunks(nodes=positive("nodes", parts[0]))
    for part in parts[1:]:
        name, eq, item = part.partition("=")
        if name == "ppn" and eq:
            chunks.tasks_per_node = positive("nodes", item)
        elif name == "gpus" and eq:
            chunks.gpus = positive("nodes", item)
        elif not eq and part:
            chunks.features.append(part)
        else:
            raise _illegal_value("nodes")
    return chunks


# -- applying options -----------------------------------------------------------------------

class Builder(OptionBuilder):
    """Accumulates qsub options; a later option overrides an earlier one. qalter uses
    its handlers too, so that a value is checked and spelled the same way."""

    def __init__(self, ctx: SubmitContext) -> None:
        self.ctx = ctx
        self.script_name = ""
        self.command: list[str] = []
        self.spec = jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_PBS)
        self.resources: dict[str, str] = {}     # -l name -> value, the chunk spelling under "chunk"
        self.variables: dict[str, str] = {}
        self.export_all = False
        self.name = ""

    def directive_error(self, error: ShimError, directive: Directive) -> ShimError:
        reason = error.text.splitlines()[0].removeprefix("qsub: ")
        text = directive.text.split(None, 1)[1] if " " in directive.text else directive.text
        return ShimError(f"qsub: directive error: {text}\n"
                         f"qsub: line {directive.line} of {self.script_name}: {reason}", 2)

    def apply_directives(self, script: str, prefix: str) -> None:
        try:
            scanned = directives.directive_options(PROG, script, prefix, TABLE, comments=False, permute=True)
        except DirectiveError as e:
            text = e.text[len(prefix):].strip()
            raise ShimError(f"qsub: directive error: {text}\n"
                            f"qsub: line {e.line} of {self.script_name}: {e.reason.removeprefix('qsub: ')}",
                            2) from None
        for directive, options, operands in scanned:
            if operands:
                raise self.directive_error(ShimError(f"qsub: unexpected argument {operands[0]!r}", 2), directive)
            if any(key in ("I", "X", "G") for key, _ in options):
                raise self.directive_error(ShimError("qsub: interactive jobs are not supported", 2), directive)
            self.apply([(k, v) for k, v in options if k not in _COMMAND_KEYS], directive)

    def finish(self, *, script: str, default_name: str, submit_arguments: str) -> jobs_pb2.JobSpec:
        spec = self.spec
        spec.script = script
        spec.name = self.name or default_name
        spec.submit_dir = self.ctx.cwd
        spec.submit_host = self.ctx.host
        self._resources()
        self._check_user_list()
        spec.environment.update(self._environment())
        spec.attributes["submit_arguments"] = submit_arguments
        if self.command:
            spec.attributes["executable"] = self.command[0]
            if len(self.command) > 1:
                import shlex

                spec.attributes["argument_list"] = shlex.join(self.command[1:])
        return spec

    def _check_user_list(self) -> None:
        """-u: a job runs as whoever submits it (ctld knows the caller from the agent or the
        certificate, never from the request), so another user's name is refused as the PBS
        server refuses it; root's list is kept as PBS keeps it, for display."""
        user_list = self.spec.attributes.get("user_list")
        if not user_list or self.ctx.uid == 0:
            return
        me = self.ctx.account_name()
        if any(entry.partition("@")[0].strip() != me for entry in user_list.split(",")):
            raise ShimError("qsub: Bad UID for job execution", errors.pbs_exit(errors.PBSE_BADUSER))

    def _environment(self) -> dict[str, str]:
        environ = self.ctx.environ
        env = dict(environ) if self.export_all else {}
        for name, value in self.variables.items():
            env[name] = value
        for target, source in _PBS_O_FROM_ENV:
            if source in environ:
                env[target] = environ[source]
        if "PBS_O_LOGNAME" not in env:
            env["PBS_O_LOGNAME"] = self.ctx.user
        env["PBS_O_WORKDIR"] = self.ctx.cwd
        env["PBS_O_SYSTEM"] = os.uname().sysname
        if self.spec.queue:
            env["PBS_O_QUEUE"] = self.spec.queue
        env["PBS_O_HOST"] = self.ctx.host
        return env

    def _resources(self) -> None:
        r = self.spec.resources
        kind, _, value = self.resources.get("chunk", "ncpus=1").partition("=")
        if kind == "select":
            chunks = parse_select(value)
            self.spec.attributes["select"] = value
        elif kind == "nodes":
            chunks = parse_nodes(value)
            self.spec.attributes["nodes"] = value
        else:
            chunks = Chunks(cpus_per_task=positive("ncpus", value))
        r.nodes = chunks.nodes
        r.tasks_per_node = chunks.tasks_per_node
        r.cpus_per_task = chunks.cpus_per_task
        r.features.extend(chunks.features)
        r.mem_per_node_mb = chunks.mem_mb
        if not r.mem_per_node_mb and "mem" in self.resources:
            # A job-wide mem= is spread over the nodes, rounded up.
            r.mem_per_node_mb = -(-size_mib("mem", self.resources["mem"]) // chunks.nodes)
        r.gpus_per_node = chunks.gpus
        if not r.gpus_per_node and "ngpus" in self.resources:
            r.gpus_per_node = positive("ngpus", self.resources["ngpus"])
        place = self.resources.get("place", "")
        if place:
            self.spec.attributes["place"] = place
            r.exclusive = "excl" in place.split(":")
        for name, value in self.resources.items():
            if name in _KEPT_RESOURCES:
                self.spec.attributes[f"Resource_List.{name}"] = value

    # One method per option letter; `value` is "" for flags.

    def a(self, value: str) -> None:
        when = parse_execution_time(value, self.ctx.now)
        if when is None:
            raise usage_error("illegal -a value")
        self.spec.begin_time = when
        self.spec.attributes["execution_time"] = value

    def A(self, value: str) -> None:
        self.spec.account = value

    def c(self, value: str) -> None:
        self.spec.attributes["checkpoint"] = value

    def e(self, value: str) -> None:
        self.spec.stderr_path = self._path("e", value)

    def o(self, value: str) -> None:
        self.spec.stdout_path = self._path("o", value)

    def _path(self, letter: str, value: str) -> str:
        host, colon, path = value.partition(":")
        if colon and "/" not in host:
            value = path          # host:path; the host is where PBS copies to, always the submit host here
        try:
            absolute = self.ctx.path(value)
        except ValueError:
            raise usage_error(f"illegal -{letter} value") from None
        # A trailing slash says "a directory: put the default name in it".
        return absolute + ("/" if value.endswith("/") else "")

    def h(self, value: str) -> None:
        self.spec.hold = True

    def j(self, value: str) -> None:
        if value not in ("oe", "eo", "n"):
            raise usage_error("illegal -j value")
        # hpcq joins stderr into stdout's file; which name the joined file takes
        # (eo: the error path) is kept for the job's supervisor.
        self.spec.join_output = value != "n"
        if value == "eo":
            self.spec.attributes["join"] = "eo"
        else:
            self.spec.attributes.pop("join", None)

    def J(self, value: str) -> None:
        m = _ARRAY_RANGE.fullmatch(value)
        if not m or int(m[1]) >= int(m[2]) or (m[3] is not None and int(m[3]) < 1):
            raise usage_error("illegal -J value")
        self.spec.array.tasks = f"{m[1]}-{m[2]}" + (f":{m[3]}" if m[3] else "")
        self.spec.array.max_running = int(m[4]) if m[4] else 0

    def k(self, value: str) -> None:
        self.spec.attributes["keep"] = value

    def l(self, value: str) -> None:  # noqa: E743 - the option's own letter
        items = [item.partition("=") for item in value.split(",")]
        if any(not eq or not name.strip() or not setting for name, eq, setting in items):
            raise usage_error("illegal -l value")
        for name, _, setting in items:
            name = name.strip()
            if name == "walltime":
                try:
                    self.spec.walltime_seconds = units.parse_pbs_time(setting)
                except ValueError:
                    raise _illegal_value("walltime") from None
            elif name in _CHUNK_RESOURCES:
                self.resources["chunk"] = f"{name}={setting}"
                # Check now, so that the error names the option or line it came from.
                {"select": parse_select, "nodes": parse_nodes}.get(name, lambda v: positive("ncpus", v))(setting)
            elif name == "mem":
                size_mib("mem", setting)
                self.resources[name] = setting
            elif name in ("ngpus", "place") or name in _KEPT_RESOURCES:
                self.resources[name] = setting
            else:
                raise _unknown_resource(name)

    def m(self, value: str) -> None:
        if not (value == "n" or (value and set(value) <= set("abej"))):
            raise usage_error("illegal -m value")
        self.spec.mail_events = value

    def M(self, value: str) -> None:
        self.spec.mail_users = value

    def N(self, value: str) -> None:
        if not value or len(value) > 236 or any(ch.isspace() or not ch.isprintable() for ch in value):
            raise usage_error("illegal -N value")
        self.name = value

    def p(self, value: str) -> None:
        priority = int(value) if _PRIORITY.fullmatch(value) else 9999
        if not -1024 <= priority <= 1023:
            raise usage_error("illegal -p value")
        # PBS priority runs the other way from nice: higher runs sooner.
        self.spec.nice = -priority

    def P(self, value: str) -> None:
        self.spec.attributes["project"] = value

    def q(self, value: str) -> None:
        self.spec.queue = value.partition("@")[0]

    def r(self, value: str) -> None:
        if value not in ("y", "n"):
            raise usage_error("illegal -r value")
        self.spec.requeue = value == "y"

    def R(self, value: str) -> None:
        self.spec.attributes["remove_files"] = value

    def S(self, value: str) -> None:
        self.spec.interpreter = value.split(",")[0].partition("@")[0]

    def u(self, value: str) -> None:
        self.spec.attributes["user_list"] = value

    def v(self, value: str) -> None:
        for item in _split_variables(value):
            name, eq, setting = item.partition("=")
            if not name:
                raise usage_error("illegal -v value")
            if eq:
                self.variables[name] = setting
            elif name in self.ctx.environ:
                self.variables[name] = self.ctx.environ[name]

    def V(self, value: str) -> None:
        self.export_all = True

    def W(self, value: str) -> None:
        name, eq, setting = value.partition("=")
        name = name.strip()
        if not eq or not name:
            raise usage_error("illegal -W value")
        if name == "depend":
            self.spec.attributes["depend"] = setting
        elif name == "umask":
            if not _UMASK.fullmatch(setting):
                raise usage_error("illegal -W value")
            self.spec.umask = int(setting, 8)
        else:
            self.spec.attributes[name] = setting


Builder.handlers = {letter: getattr(Builder, letter) for letter in TABLE.short.replace(":", "")
                     if letter not in _COMMAND_KEYS and letter not in "IXG"}


def _split_variables(value: str) -> list[str]:
    """``a=1,b="x,y",c``: commas inside quotes belong to the value; the quotes go."""
    items, current, quote = [], [], ""
    for ch in value:
        if quote:
            if ch == quote:
                quote = ""
            else:
                current.append(ch)
        elif ch in "'\"":
            quote = ch
        elif ch == ",":
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    return [item for item in items if item]
