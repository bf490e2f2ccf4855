"""srun: one job step on a job's allocation — inside a batch job, inside salloc's
allocation, or (outside any job) in an allocation of its own, as Slurm's srun makes one.

srun asks ctld for the step (Jobs.CreateStep, as the job's owner), starts the step's
tasks on this node with the step environment Slurm gives them (SLURM_STEP_ID,
SLURM_PROCID, SLURM_LOCALID, SLURM_NODEID, ...), relays or files their output, and
reports the end (Jobs.FinishStep); it exits with the highest exit code of its tasks.

Tasks on the job's other nodes are started by those nodes' noded, which ctld tells
(StepLaunch); srun waits for their exit statuses on the job's record. Their output
goes to the --output/--error files, else to the job's own output files: srun relays
only its own node's tasks.

From salloc's command, or outside any job, srun is not on one of the job's nodes but on
the submit host: it runs the first node's tasks itself when that node is on this host
(bound to the job's CPUs there), the other nodes' through ctld as above, and refuses
otherwise. Outside a job it first gets an allocation (Jobs.Allocate) with its own size
and limits, and gives it back with the step's exit code; --pty gives the one task srun's
own terminal.
"""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hpcq.api.lite import jobs_pb2
from hpcq.errors import HpcqError
from hpcq.shims import errors, getopt, interactive, output, values, versions
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.getopt import OptionTable
from hpcq.shims.shim import Shim
from hpcq.shims.slurm import options, srun_tasks
from hpcq.shims.slurm.srun_tasks import StepOptions
from hpcq.shims.submit_context import SubmitContext
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
    ("version", "", ""), ("quiet", "", ""), ("verbose", "", ""), ("pty", "", ""),
    # The allocation's, when srun makes one (outside a job); inside one, without effect.
    ("time", ":", ""), ("partition", ":", ""), ("account", ":", ""), ("qos", ":", ""), ("mem", ":", ""),
    ("mem-per-cpu", ":", ""), ("gres", ":", ""), ("gpus", ":", ""),
    # Accepted and without effect here: the step runs inside the job's allocation and limits.
    ("mpi", ":", "ignored"), ("overlap", "", "ignored"), ("exact", "", "ignored"),
    ("exclusive", "::", "ignored"), ("kill-on-bad-exit", "::", "ignored"), ("wait", ":", "ignored"),
    ("gpus-per-task", ":", "ignored"),
    ("distribution", ":", "ignored"), ("propagate", "::", "ignored"), ("hint", ":", "ignored"),
]}
_SHORT_KEYS = {"n": "ntasks", "c": "cpus-per-task", "N": "nodes", "J": "job-name", "o": "output",
               "e": "error", "i": "input", "u": "unbuffered", "l": "label", "D": "chdir", "h": "help",
               "V": "version", "Q": "quiet", "v": "verbose", "K": "ignored", "W": "ignored", "t": "time",
               "p": "partition", "A": "account", "m": "ignored"}
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


# srun's options an allocation of its own takes from it (sbatch's keys, handled by slurm/options.py).
_ALLOCATION_KEYS = frozenset({"time", "partition", "account", "qos", "mem", "mem-per-cpu", "gres", "gpus"})


@dataclass
class SrunOptions(StepOptions):
    """srun's step, and what an allocation of its own asks for beyond the step's size."""
    allocation: list[tuple[str, str]] = field(default_factory=list)
    pty: bool = False


def _count(option: str, value: str, *, nodes: bool = False) -> int:
    text = value.strip()
    if nodes and "-" in text:            # -N min-max: the step takes the minimum
        text = text.partition("-")[0]
    number = values.parse_uint(text)
    if not number:
        what = {"ntasks": "number of tasks", "cpus-per-task": "cpus-per-task", "nodes": "node count"}
        raise ShimError(f"{PROG}: error: Invalid {what.get(option, option)} specification: {value}", 1)
    return number


def parse(argv: Sequence[str], environ: Mapping[str, str]) -> SrunOptions:
    """srun's command line over its input environment variables. Raises ShimError."""
    cmdline, operands = getopt.command_line(PROG, argv, TABLE, permute=False, then=TRY_HELP, exit_code=1)
    given = {key for key, _ in cmdline}
    from_env = [(key, environ[name]) for name, key in _ENV_OPTIONS.items()
                if environ.get(name) and key not in given]
    o = SrunOptions(argv=list(operands))
    for key, value in [*from_env, *cmdline]:
        _apply(o, key, value or "")
    if environ.get("SLURM_JOB_ID") and not o.job_id and "jobid" not in given:
        o.job_id = _job_id(environ.get("SLURM_JOB_ID", ""))
    return o


def _apply(o: SrunOptions, key: str, value: str) -> None:
    if key in _ALLOCATION_KEYS:
        o.allocation.append((key, value))
    elif key == "pty":
        o.pty = True
    elif key == "ntasks":
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
    if o.pty and o.tasks > 1:
        raise ShimError(f"{PROG}: error: --pty is only supported with one task", 1)
    if not o.job_id:
        return _in_own_allocation(o, conn)
    node = os.environ.get("SLURMD_NODENAME", "")
    if str(o.job_id) != os.environ.get("SLURM_JOB_ID"):
        raise ShimError(f"{PROG}: error: hpcq runs a step of job {o.job_id} only from inside that job "
                        "(its batch script, or salloc's command)", 1)
    if not node:     # salloc's command, on the submit host
        jobs, _ = conn.client.get([o.job_id])
        return _from_submit_host(o, conn, jobs[0] if jobs else jobs_pb2.Job(id=o.job_id), dict(os.environ))
    return srun_tasks.run_step(o, conn.client, node, dict(os.environ))


def _from_submit_host(o: SrunOptions, conn: Connection, job: jobs_pb2.Job, environ: Mapping[str, str]) -> int:
    """A step of a job srun is not inside: its first node's tasks run here, if that node is
    this host, bound to the job's CPUs there (the tasks are the user's, as the job's are)."""
    if job.state != jobs_pb2.RUNNING or not job.allocation.slices:
        raise step_failure(HpcqError("FAILED_PRECONDITION", f"JOB_NOT_RUNNING: job {job.id} is not running"), job.id)
    node = interactive.head_node_here(conn.client, job)
    if not node:
        raise ShimError(f"{PROG}: error: hpcq starts a step of job {job.id} from a host only when the job's first "
                        f"node ({job.allocation.slices[0].node}) runs there", 1)
    from hpcq.stepexec import available_cpus
    try:
        os.sched_setaffinity(0, available_cpus(job, node))
    except OSError:
        pass   # the CPU ids are the node's, not this host's: the tasks run unbound
    return srun_tasks.run_step(o, conn.client, node, environ)


def _in_own_allocation(o: SrunOptions, conn: Connection) -> int:
    """srun outside a job: an allocation of srun's size and limits, the step in it, the
    allocation given back with the step's exit code (Slurm prints nothing of it unless it
    has to wait)."""
    size = [("ntasks", str(o.ntasks)), ("cpus-per-task", str(o.cpus_per_task)), ("nodes", str(o.nodes)),
            ("ntasks-per-node", str(o.ntasks_per_node)), ("job-name", o.job_name)]
    try:
        spec = options.allocation_spec([*o.allocation, *((k, v) for k, v in size if v and v != "0")],
                                       SubmitContext.current(), os.path.basename(o.argv[0]))
    except ShimError as e:
        raise ShimError(e.text.replace("sbatch: ", f"{PROG}: "), 1) from None
    waited: list[int] = []

    def on_waiting(job: jobs_pb2.Job) -> None:
        waited.append(job.id)
        if not o.quiet:
            print(f"{PROG}: job {job.id} queued and waiting for resources", file=sys.stderr, flush=True)
    try:
        held = interactive.Held.request(conn.client, spec)
        try:
            job = held.granted(on_waiting)
        except KeyboardInterrupt:
            held.close()
            print(f"{PROG}: error: Unable to allocate resources: Job aborted due to signal", file=sys.stderr)
            return 1
    except HpcqError as e:
        raise allocation_failure(e, spec.queue) from None
    if job.state != jobs_pb2.RUNNING:
        held.close()
        raise ShimError(f"{PROG}: error: Unable to allocate resources: Job allocation {job.id} has been revoked", 1)

    def on_end(ended: jobs_pb2.Job) -> None:
        if not held.releasing:   # cancelled or out of time: the step ends as srun's on TERM
            os.kill(os.getpid(), signal.SIGTERM)
    status = 1
    try:
        if waited and not o.quiet:
            print(f"{PROG}: job {job.id} has been allocated resources", file=sys.stderr, flush=True)
        held.watch_end(on_end)
        o.job_id = job.id
        environ = {**os.environ, **interactive.allocation_environment(job, conn.cluster,
                                                                      interactive.SLURM_ALLOCATION_VARIABLES)}
        status = _from_submit_host(o, conn, job, environ)
    finally:
        held.release(status)
    return status


def allocation_failure(error: HpcqError, partition: str) -> ShimError:
    """A refused allocation in sbatch's words for the same refusal, as srun prints them."""
    from hpcq.shims.slurm import sbatch
    failure = sbatch.submission_failure(error, partition)
    return ShimError(failure.text.replace(sbatch.FAILED, f"{PROG}: error: Unable to allocate resources: ")
                     .replace("sbatch: ", f"{PROG}: "), 1)


command = Shim(_run, _failure)
main = command.main
