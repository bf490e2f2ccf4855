"""salloc: get a job allocation, run a command (by default the user's shell) in it here,
and give the allocation back when the command ends.

The command runs on this host, as Slurm's salloc runs it, with the allocation's SLURM_*
variables; `srun` inside it runs a step on the allocation's nodes. The allocation ends
when the command does (COMPLETED, or FAILED with its exit status), or earlier if it is
cancelled or reaches its time limit: salloc then says it was revoked, and with
--kill-command signals the command. salloc exits with the command's exit status.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from hpcq.api.lite import jobs_pb2
from hpcq.errors import HpcqError
from hpcq.shims import getopt, interactive, output, values, versions
from hpcq.shims.connection import Connection
from hpcq.shims.errors import ShimError
from hpcq.shims.shim import Shim
from hpcq.shims.slurm import options
from hpcq.shims.submit_context import SubmitContext

PROG = "salloc"
FAILED = "salloc: error: Job submit/allocate failed: "
DEFAULT_NAME = "interactive"      # Slurm 22.05's salloc names its job so, whatever the command
USAGE = """\
Usage: salloc [-N nnodes] [-n ntasks] [-c ncpus] [-J jobname] [-p partition]
              [-t time] [-A account] [-H] [--mem=MB] [--mem-per-cpu=MB]
              [--ntasks-per-node=n] [--gres=gpu:N] [--begin=time]
              [--kill-command[=signal]] [command [args...]]"""
TRY_HELP = 'Try "salloc --help" for more information'
TABLE = options.allocation_table({"kill-command": ("::", "kill-command")})
_COMMAND_KEYS = frozenset({"help", "usage", "version", "quiet", "verbose", "kill-command", "parsable",
                           "test-only", "wrap"})


@dataclass
class SallocRequest:
    spec: jobs_pb2.JobSpec
    command: list[str] = field(default_factory=list)   # empty: the user's shell
    kill_signal: int = 0                                # --kill-command: sent to the command when revoked
    quiet: bool = False
    help: bool = False
    version: bool = False


def parse(argv: Sequence[str], ctx: SubmitContext) -> SallocRequest:
    """salloc's command line; sbatch's words for a bad job option, with salloc's name."""
    cmdline, operands = getopt.command_line(PROG, argv, TABLE, permute=False, then=TRY_HELP, exit_code=1)
    flags = {key: value for key, value in cmdline if key in _COMMAND_KEYS}
    if "help" in flags or "usage" in flags:
        return SallocRequest(jobs_pb2.JobSpec(), help=True)
    if "version" in flags:
        return SallocRequest(jobs_pb2.JobSpec(), version=True)
    if {"parsable", "test-only", "wrap"} & set(flags):
        option = next(k for k in ("parsable", "test-only", "wrap") if k in flags)
        raise ShimError(f"{PROG}: unrecognized option '--{option}'\n{TRY_HELP}", 1)
    kill_signal = 0
    if "kill-command" in flags:
        try:
            kill_signal = values.parse_signal(flags["kill-command"] or "TERM")
        except ValueError:
            raise ShimError(f"{PROG}: error: Invalid --kill-command specification", 1) from None
    try:
        spec = options.allocation_spec([(k, v) for k, v in cmdline if k not in _COMMAND_KEYS], ctx, DEFAULT_NAME)
    except ShimError as e:
        raise ShimError(e.text.replace("sbatch: ", f"{PROG}: "), 1) from None
    return SallocRequest(spec, list(operands), kill_signal, quiet="quiet" in flags)


# -- what salloc prints (Slurm 22.05's words) -------------------------------------------------

def pending_lines(job_id: int) -> list[str]:
    return [f"{PROG}: Pending job allocation {job_id}", f"{PROG}: job {job_id} queued and waiting for resources"]


def granted_lines(job_id: int, waited: bool) -> list[str]:
    return ([f"{PROG}: job {job_id} has been allocated resources"] if waited else []) + \
        [f"{PROG}: Granted job allocation {job_id}"]


def ended_line(job: jobs_pb2.Job) -> str:
    """What salloc says when the allocation ends before its command (scancel, the time limit)."""
    if job.state == jobs_pb2.TIMEOUT:
        return f"{PROG}: Job {job.id} has exceeded its time limit and its allocation has been revoked."
    return f"{PROG}: Job allocation {job.id} has been revoked."


def relinquish_line(job_id: int) -> str:
    return f"{PROG}: Relinquishing job allocation {job_id}"


def allocation_failure(error: HpcqError, partition: str) -> ShimError:
    """A refused allocation in sbatch's words for the same refusal, as salloc prints them."""
    from hpcq.shims.slurm import sbatch
    failure = sbatch.submission_failure(error, partition)
    return ShimError(failure.text.replace(sbatch.FAILED, FAILED).replace("sbatch: ", f"{PROG}: "), 1)


# -- the run -----------------------------------------------------------------------------------

def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _run(argv: list[str], conn: Connection) -> int:
    request = parse(argv, SubmitContext.current())
    if request.help:
        output.write(USAGE)
        return 0
    if request.version:
        output.write(versions.SLURM_VERSION_LINE)
        return 0
    say = (lambda line: None) if request.quiet else _say
    try:
        held = interactive.Held.request(conn.client, request.spec)
        waited: list[int] = []

        def on_waiting(job: jobs_pb2.Job) -> None:
            waited.append(job.id)
            for line in pending_lines(job.id):
                say(line)
        try:
            job = held.granted(on_waiting)
        except KeyboardInterrupt:
            held.close()
            if waited:
                _say(f"{PROG}: Job allocation {waited[0]} has been revoked.")
            _say(f"{PROG}: Job aborted due to signal")
            return 1
    except HpcqError as e:
        raise allocation_failure(e, request.spec.queue) from None
    if job.state != jobs_pb2.RUNNING:
        held.close()
        _say(ended_line(job))
        return 1
    started: list[subprocess.Popen[bytes]] = []

    def on_end(ended: jobs_pb2.Job) -> None:
        if held.releasing:
            return   # our own release
        _say(ended_line(ended))
        if request.kill_signal and started:
            started[0].send_signal(request.kill_signal)
    try:
        for line in granted_lines(job.id, bool(waited)):
            say(line)
        held.watch_end(on_end)
        env = {**os.environ, **interactive.allocation_environment(job, conn.cluster,
                                                                  interactive.SLURM_ALLOCATION_VARIABLES)}
        status = interactive.run_command(request.command or interactive.default_shell(os.environ), env,
                                         on_start=started.append)
        if held.ended is None:
            say(relinquish_line(job.id))
        held.release(status)
    except BaseException:
        held.close()   # released now: never left to wait out ctld's grace for a client that is gone
        raise
    return status


command = Shim(_run, lambda error, conn: allocation_failure(error, ""))
main = command.main
