"""srun inside a batch job: one job step on the job's allocation.

srun asks ctld for the step (Jobs.CreateStep, as the job's owner), starts the step's
tasks on this node with the step environment Slurm gives them (SLURM_STEP_ID,
SLURM_PROCID, SLURM_LOCALID, SLURM_NODEID, ...), relays or files their output, and
reports the end (Jobs.FinishStep); it exits with the highest exit code of its tasks.

Tasks on the job's other nodes are started by those nodes' noded, which ctld tells
(StepLaunch); srun waits for their exit statuses on the job's record. Their output
goes to the --output/--error files, else to the job's own output files: srun relays
only its own node's tasks. Not yet: srun outside a job (Slurm would make an
allocation first).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hpcq.errors import HpcqError
from hpcq.shims import common
from hpcq.shims.common import ShimError

PROG = "srun"
USAGE = """\
Usage: srun [-n ntasks] [-c ncpus] [-N nnodes] [-J name] [-o out] [-e err] [-i in]
            [-u] [-l] [-D dir] [--cpu-bind=type] [--open-mode=append|truncate]
            [--export=ALL|NONE|VARS] [--jobid=id] executable [args...]"""
TRY_HELP = 'Try "srun --help" for more information'

_LONG: dict[str, tuple[str, str]] = {name: (kind, key or name) for name, kind, key in [
    ("ntasks", ":", ""), ("cpus-per-task", ":", ""), ("nodes", ":", ""), ("job-name", ":", ""),
    ("output", ":", ""), ("error", ":", ""), ("input", ":", ""), ("unbuffered", "", ""), ("label", "", ""),
    ("chdir", ":", ""), ("cpu-bind", ":", ""), ("cpu_bind", ":", "cpu-bind"), ("open-mode", ":", ""),
    ("export", ":", ""), ("jobid", ":", ""), ("ntasks-per-node", ":", ""), ("help", "", ""), ("usage", "", ""),
    ("version", "", ""), ("quiet", "", ""), ("verbose", "", ""),
    # Accepted and without effect here: the step runs inside the job's allocation and limits.
    ("mpi", ":", "ignored"), ("overlap", "", "ignored"), ("exact", "", "ignored"),
    ("exclusive", "::", "ignored"), ("kill-on-bad-exit", "::", "ignored"), ("wait", ":", "ignored"),
    ("time", ":", "ignored"), ("partition", ":", "ignored"), ("account", ":", "ignored"),
    ("qos", ":", "ignored"), ("mem", ":", "ignored"), ("mem-per-cpu", ":", "ignored"),
    ("gres", ":", "ignored"), ("gpus", ":", "ignored"), ("gpus-per-task", ":", "ignored"),
    ("distribution", ":", "ignored"), ("propagate", "::", "ignored"), ("hint", ":", "ignored"),
]}
_SHORT_KEYS = {"n": "ntasks", "c": "cpus-per-task", "N": "nodes", "J": "job-name", "o": "output",
               "e": "error", "i": "input", "u": "unbuffered", "l": "label", "D": "chdir", "h": "help",
               "V": "version", "Q": "quiet", "v": "verbose", "K": "ignored", "W": "ignored", "t": "ignored",
               "p": "ignored", "A": "ignored", "m": "ignored"}
_SHORT_ARGS = {"n", "c", "N", "J", "o", "e", "i", "D", "W", "t", "p", "A", "m"}
TABLE = common.OptionTable(
    short="".join(letter + (":" if letter in _SHORT_ARGS else "") for letter in _SHORT_KEYS),
    long=_LONG, aliases=_SHORT_KEYS)

# srun's input environment variables (srun(1)); the command line wins over them.
_ENV_OPTIONS = {
    "SLURM_NTASKS": "ntasks", "SLURM_NPROCS": "ntasks", "SLURM_CPUS_PER_TASK": "cpus-per-task",
    "SLURM_NNODES": "nodes", "SLURM_UNBUFFEREDIO": "unbuffered",
    "SLURM_LABELIO": "label", "SLURM_CPU_BIND": "cpu-bind", "SLURM_OPEN_MODE": "open-mode",
    "SLURM_EXPORT_ENV": "export", "SLURM_NTASKS_PER_NODE": "ntasks-per-node",
}


@dataclass(frozen=True)
class CpuBind:
    """--cpu-bind: "none", "block" (cores, threads, rank, ...: consecutive CPUs of the
    job per task), "map" (CPU ids) or "mask" (hex masks), the last two per local task."""
    kind: str = "none"
    lists: tuple[frozenset[int], ...] = ()
    verbose: bool = False


@dataclass
class StepOptions:
    argv: list[str] = field(default_factory=list)
    ntasks: int = 0                     # 0: not given (1, or nodes * ntasks-per-node)
    cpus_per_task: int = 0
    nodes: int = 0
    ntasks_per_node: int = 0
    job_name: str = ""
    output: str = ""
    error: str = ""
    input: str = ""
    unbuffered: bool = False
    label: bool = False
    chdir: str = ""
    cpu_bind: CpuBind = CpuBind()
    cpu_bind_text: str = ""             # as given, for the tasks other nodes start
    open_mode: str = ""                 # "", "append" or "truncate"
    export: str = "ALL"
    job_id: int = 0
    quiet: bool = False
    verbose: bool = False
    help: bool = False
    version: bool = False

    @property
    def tasks(self) -> int:
        return self.ntasks or (self.nodes * self.ntasks_per_node if self.ntasks_per_node else 1)


def _count(option: str, value: str, *, nodes: bool = False) -> int:
    text = value.strip()
    if nodes and "-" in text:            # -N min-max: the step takes the minimum
        text = text.partition("-")[0]
    number = common.parse_uint(text)
    if not number:
        what = {"ntasks": "number of tasks", "cpus-per-task": "cpus-per-task", "nodes": "node count"}
        raise ShimError(f"{PROG}: error: Invalid {what.get(option, option)} specification: {value}", 1)
    return number


def parse_cpu_bind(value: str) -> CpuBind:
    """``none``, ``cores``/``threads``/``sockets``/``ldoms``/``rank``, ``map_cpu:0,2``,
    ``mask_cpu:0x3,0xc``, each with ``verbose``/``quiet`` before it (``verbose,cores``)."""
    kind, lists, verbose = "none", (), False
    words = value.split(",")
    i = 0
    while i < len(words):
        word = words[i].strip().lower()
        if word in ("verbose", "v"):
            verbose = True
        elif word in ("quiet", "q", ""):
            pass
        elif word in ("none", "no"):
            kind = "none"
        elif word in ("cores", "threads", "sockets", "ldoms", "rank", "boards"):
            kind = "block"
        elif word.startswith(("map_cpu:", "mask_cpu:")):
            name, _, first = word.partition(":")
            items = [first, *words[i + 1:]]
            i = len(words)
            try:
                if name == "map_cpu":
                    kind, lists = "map", tuple(frozenset({int(x, 0)}) for x in items)
                else:
                    kind, lists = "mask", tuple(_mask(int(x, 16)) for x in items)
            except ValueError:
                raise ShimError(f"{PROG}: error: Invalid --cpu-bind argument: {value}", 1) from None
            if not lists or any(not s for s in lists):
                raise ShimError(f"{PROG}: error: Invalid --cpu-bind argument: {value}", 1)
            continue
        else:
            raise ShimError(f"{PROG}: error: Invalid --cpu-bind argument: {value}", 1)
        i += 1
    return CpuBind(kind, lists, verbose)


def _mask(bits: int) -> frozenset[int]:
    return frozenset(i for i in range(bits.bit_length()) if bits >> i & 1)


def parse(argv: Sequence[str], environ: Mapping[str, str]) -> StepOptions:
    """srun's command line over its input environment variables. Raises ShimError."""
    cmdline, operands = common.command_line(PROG, argv, TABLE, permute=False, then=TRY_HELP, exit_code=1)
    given = {key for key, _ in cmdline}
    from_env = [(key, environ[name]) for name, key in _ENV_OPTIONS.items()
                if environ.get(name) and key not in given]
    o = StepOptions(argv=list(operands))
    for key, value in [*from_env, *cmdline]:
        _apply(o, key, value or "")
    if environ.get("SLURM_JOB_ID") and not o.job_id and "jobid" not in given:
        o.job_id = _job_id(environ.get("SLURM_JOB_ID", ""))
    return o


def _apply(o: StepOptions, key: str, value: str) -> None:
    if key == "ntasks":
        o.ntasks = _count(key, value)
    elif key == "cpus-per-task":
        o.cpus_per_task = _count(key, value)
    elif key == "nodes":
        o.nodes = _count(key, value, nodes=True)
    elif key == "ntasks-per-node":
        o.ntasks_per_node = _count("ntasks", value)
    elif key == "job-name":
        o.job_name = value
    elif key in ("output", "error", "input"):
        setattr(o, key, value)
    elif key == "unbuffered":
        o.unbuffered = value.lower() not in ("0", "no", "false")
    elif key == "label":
        o.label = value.lower() not in ("0", "no", "false")
    elif key == "chdir":
        o.chdir = value
    elif key == "cpu-bind":
        o.cpu_bind, o.cpu_bind_text = parse_cpu_bind(value), value
    elif key == "open-mode":
        mode = {"a": "append", "append": "append", "t": "truncate", "truncate": "truncate"}.get(value.lower())
        if mode is None:
            raise ShimError(f"{PROG}: error: Invalid --open-mode argument: {value}", 1)
        o.open_mode = mode
    elif key == "export":
        o.export = value
    elif key == "jobid":
        o.job_id = _job_id(value)
    elif key in ("help", "usage"):
        o.help = True
    elif key in ("version", "quiet", "verbose"):
        setattr(o, key, True)


def _job_id(value: str) -> int:
    number = common.parse_uint(value.strip().partition("_")[0].partition(".")[0], common.UINT64_MAX)
    if not number:
        raise ShimError(f"{PROG}: error: Invalid job id specified: {value}", 1)
    return number


def exported(environ: Mapping[str, str], export: str) -> dict[str, str]:
    """--export: ALL (the default), NONE (the SLURM_* variables only), or names and
    NAME=value pairs, with ALL among them to keep the rest."""
    items = [i for i in export.split(",") if i]
    upper = [i.upper() for i in items]
    env = dict(environ) if "ALL" in upper or not items else \
        {k: v for k, v in environ.items() if k.startswith(("SLURM_", "SLURMD_"))}
    for item in items:
        if item.upper() in ("ALL", "NONE"):
            continue
        name, eq, value = item.partition("=")
        if eq:
            env[name] = value
        elif name in environ:
            env[name] = environ[name]
    return env


# ctld's refusals of a step in slurm_strerror()'s words.
_REFUSALS = {
    "STEP_TOO_BIG": "More processors requested than permitted",
    "STEP_NODE_DOWN": "Required node not available (down, drained or reserved)",
    "JOB_NOT_RUNNING": "Job/step already completing or completed",
    "UNKNOWN_JOB": "Invalid job id specified",
}


def step_failure(error: HpcqError, job_id: int) -> ShimError:
    """A refused step as srun prints it, ctld's detail on a line of its own."""
    lead = f"{PROG}: error: Unable to create step for job {job_id or '(none)'}: "
    token, detail = common.error_token(error)
    if token in _REFUSALS:
        return ShimError(f"{lead}{_REFUSALS[token]}\n{PROG}: error: {detail}", 1)
    return common.slurm_failure(PROG, error, lead)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    conn = common.Connection()
    job_id = os.environ.get("SLURM_JOB_ID", "")
    return common.run(lambda: _run(args, conn), lambda e: step_failure(e, int(job_id) if job_id.isdigit() else 0))


def _run(argv: list[str], conn: common.Connection) -> int:
    o = parse(argv, os.environ)
    if o.help:
        common.write(USAGE)
        return 0
    if o.version:
        common.write(common.SLURM_VERSION_LINE)
        return 0
    if not o.argv:
        raise ShimError(f"{PROG}: fatal: No command given to execute.", 1)
    if not o.job_id:
        raise ShimError(f"{PROG}: error: hpcq runs srun only inside a batch job (SLURM_JOB_ID is not set): "
                        "submit a script that calls srun with sbatch", 1)
    node = os.environ.get("SLURMD_NODENAME", "")
    if not node or str(o.job_id) != os.environ.get("SLURM_JOB_ID"):
        raise ShimError(f"{PROG}: error: hpcq runs a step of job {o.job_id} only from inside that job, "
                        "on one of its nodes", 1)
    from hpcq.shims.slurm import srun_tasks
    return srun_tasks.run_step(o, conn.client, node, dict(os.environ))


command = common.entry_point(main)

if __name__ == "__main__":
    command()
