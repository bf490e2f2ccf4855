"""qsub: submit a PBS job script (or ``-- command``) and print ``<id>.<server>``; with -I,
an interactive job: a shell on this host in the job's allocation, for as long as it runs."""
from __future__ import annotations

from hpcq.api.lite import jobs_pb2
from hpcq.errors import HpcqError
from hpcq.shims import errors, mailcheck, output
from hpcq.shims.connection import Connection, pbs_retry_notice
from hpcq.shims.errors import ShimError
from hpcq.shims.pbs import options
from hpcq.shims.shim import Shim
from hpcq.shims.submit_context import SubmitContext

PROG = "qsub"


def submission_failure(error: HpcqError, server: str) -> ShimError:
    if errors.script_too_large(error):  # the PBS server's jobscript_max_size refusal
        return ShimError("qsub: jobscript size exceeded the jobscript_max_size",
                         errors.pbs_exit(errors.PBSE_JOBSCRIPTMAXSIZE))
    return errors.pbs_failure(PROG, error, server=server)


def _submit(argv: list[str], conn: Connection) -> int:
    request = options.parse(argv, SubmitContext.current())
    if request.interactive:
        return _interactive(request.spec, conn)
    job_ids = conn.client.submit([request.spec])
    if request.print_id:
        brackets = "[]" if request.spec.array.tasks else ""  # an array: 12[].server, as PBS prints it
        output.write(f"{job_ids[0]}{brackets}.{conn.cluster}")
    if request.spec.mail_events not in ("", "n"):   # asked with -m (PBS's default "a" is not asked)
        mailcheck.warn_if_unsent(conn, "qsub", f"-m {request.spec.mail_events}")
    return 0


def _interactive(spec: jobs_pb2.JobSpec, conn: Connection) -> int:
    """qsub -I: wait for the job to start, then run the user's shell here with the job's PBS
    environment (PBS runs it on the job's first node; hpcq runs it where qsub runs, in the
    home directory as PBS does); the job ends with the shell. A job deleted meanwhile
    hangs the shell up, as the end of its PBS session would."""
    import os
    import signal
    import subprocess
    import tempfile

    from hpcq.shims import interactive

    held = interactive.Held.request(conn.client, spec)
    job_id = ""
    # From the request on: a ^C that comes while (or just after) "waiting" is printed must
    # give the allocation up too, not leave it to ctld's grace.
    try:
        first = held.next()
        if first is None:
            raise HpcqError("UNAVAILABLE", "the allocation's stream ended before its job was queued")
        job_id = f"{first.id}.{conn.cluster}"
        _say(f"qsub: waiting for job {job_id} to start")
        job = first if first.state == jobs_pb2.RUNNING else held.granted(lambda job: None)
    except KeyboardInterrupt:
        held.close()
        if job_id:
            _say(f"qsub: job {job_id} deleted")   # hpcq cancels an allocation whose client goes
        return 1
    if job.state != jobs_pb2.RUNNING:
        held.close()
        _say(f"qsub: job {job_id} completed")
        return 1
    shell: list[subprocess.Popen[bytes]] = []
    try:
        _say(f"qsub: job {job_id} ready")
        held.watch_end(lambda ended: None if held.releasing or not shell else shell[0].send_signal(signal.SIGHUP))
        with tempfile.NamedTemporaryFile("w", prefix=f"hpcq.{first.id}.", suffix=".nodes") as nodefile:
            from hpcq.jobenv import nodefile_lines
            nodefile.write("".join(f"{n}\n" for n in nodefile_lines(job, job.allocation.slices[0].node)))
            nodefile.flush()
            env = {**os.environ, **interactive.allocation_environment(job, conn.cluster,
                                                                      interactive.PBS_ALLOCATION_VARIABLES,
                                                                      nodefile=nodefile.name),
                   "PBS_NODEFILE": nodefile.name, "PBS_ENVIRONMENT": "PBS_INTERACTIVE"}
            status = interactive.run_command(interactive.default_shell(os.environ), env,
                                             cwd=os.path.expanduser("~"), on_start=shell.append)
        held.release(status)
    except BaseException:
        held.close()   # released now: never left to wait out ctld's grace for a client that is gone
        raise
    _say(f"qsub: job {job_id} completed")
    return status


def _say(line: str) -> None:
    print(line, flush=True)


command = Shim(_submit, lambda error, conn: submission_failure(error, conn.cluster), pbs_retry_notice("qsub"))
main = command.main
