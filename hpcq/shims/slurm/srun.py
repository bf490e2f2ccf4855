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
from collections.abc import Mapping, Sequence

from hpcq.errors import HpcqError
from hpcq.shims import errors, getopt, output, values, versions
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.shim import Shim
from hpcq.shims.slurm import srun_tasks
from hpcq.shims.slurm.srun_tasks import StepOptions
from hpcq.steplayout import parse_cpu_bind

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
TABLE = OptionTable(
    short="".join(letter + (":" if letter in _SHORT_ARGS else "") for letter in _SHORT_KEYS),
    long=_LONG, aliases=_SHORT_KEYS)

# srun's input environment variables (srun(1)); the command line wins over them.
_ENV_OPTIONS = {
    "SLURM_NTASKS": "ntasks", "SLURM_NPROCS": "ntasks", "SLURM_CPUS_PER_TASK": "cpus-per-task",
    "SLURM_NNODES": "nodes", "SLURM_UNBUFFEREDIO": "unbuffered",
    "SLURM_LABELIO": "label", "SLURM_CPU_BIND": "cpu-bind", "SLURM_OPEN_MODE": "open-mode",
    "SLURM_EXPORT_ENV": "export", "SLURM_NTASKS_PER_NODE": "ntasks-per-node",
}


def _count(option: str, value: str, *, nodes: bool = False) -> int:
    text = value.strip()
    if nodes and "-" in text:            # -N min-max: the step takes the minimum
        text = text.partition("-")[0]
    number = values.parse_uint(text)
    if not number:
        what = {"ntasks": "number of tasks", "cpus-per-task": "cpus-per-task", "nodes": "node count"}
        raise ShimError(f"{PROG}: error: Invalid {what.get(option, option)} specification: {value}", 1)
    return number


def parse(argv: Sequence[str], environ: Mapping[str, str]) -> StepOptions:
    """srun's command line over its input environment variables. Raises ShimError."""
    cmdline, operands = getopt.command_line(PROG, argv, TABLE, permute=False, then=TRY_HELP, exit_code=1)
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
        try:
            o.cpu_bind, o.cpu_bind_text = parse_cpu_bind(value), value
        except ValueError:
            raise ShimError(f"{PROG}: error: Invalid --cpu-bind argument: {value}", 1) from None
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
    number = values.parse_uint(value.strip().partition("_")[0].partition(".")[0], values.UINT64_MAX)
    if not number:
        raise ShimError(f"{PROG}: error: Invalid job id specified: {value}", 1)
    return number


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
    token, detail = errors.error_token(error)
    if token in _REFUSALS:
        return ShimError(f"{lead}{_REFUSALS[token]}\n{PROG}: error: {detail}", 1)
    return errors.slurm_failure(PROG, error, lead)


def _failure(error: HpcqError, conn: Connection) -> ShimError:
    job_id = os.environ.get("SLURM_JOB_ID", "")
    return step_failure(error, int(job_id) if job_id.isdigit() else 0)


def _run(argv: list[str], conn: Connection) -> int:
    o = parse(argv, os.environ)
    if o.help:
        output.write(USAGE)
        return 0
    if o.version:
        output.write(versions.SLURM_VERSION_LINE)
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
    return srun_tasks.run_step(o, conn.client, node, dict(os.environ))


command = Shim(_run, _failure)
main = command.main
