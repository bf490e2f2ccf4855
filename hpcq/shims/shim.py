"""How every PBS and Slurm command is declared and run: one Shim per command module.

    command = Shim.slurm(PROG, _show, lead="slurm_load_jobs error: ")
    main = command.main

pyproject.toml's scripts call `command()`; tests call `main(argv)`, which returns the exit
code instead of exiting.
"""
from __future__ import annotations

import os
import sys

from hpcq.errors import HpcqError
from hpcq.shims import errors
from hpcq.shims.connection import Connection, pbs_retry_notice, slurm_retry_notice
from hpcq.shims.errors import ShimError
from hpcq.shims.output import print_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn

    from hpcq.shims.connection import RetryNotice

    Body = Callable[[list[str], Connection], int]
    Failure = Callable[[HpcqError, Connection], ShimError]


class Shim:
    """A command: `body(argv, conn)` does the work and returns the exit code, raising
    ShimError for a failure it words itself; a failed call it lets through becomes
    `failure(error, conn)`, in the dialect's words and with its exit code."""

    __slots__ = ("body", "failure", "retry_notice")

    def __init__(self, body: Body, failure: Failure, retry_notice: RetryNotice | None = None) -> None:
        self.body = body
        self.failure = failure
        self.retry_notice = retry_notice

    @classmethod
    def pbs(cls, prog: str, body: Body) -> Shim:
        """A PBS command: a failed call as PBS prints it, naming the cluster as the server."""
        return cls(body, lambda error, conn: errors.pbs_failure(prog, error, server=conn.cluster),
                   pbs_retry_notice(prog))

    @classmethod
    def slurm(cls, prog: str, body: Body, *, lead: str | None = None) -> Shim:
        """A Slurm command: a failed call as Slurm prints it, after `lead` (by default
        ``<prog>: error: ``)."""
        words = f"{prog}: error: " if lead is None else lead
        return cls(body, lambda error, conn: errors.slurm_failure(prog, error, words), slurm_retry_notice(prog))

    def main(self, argv: list[str] | None = None) -> int:
        """Run the command on `argv` (sys.argv[1:] when None); print a failure in the
        dialect's words and return the exit code."""
        args = sys.argv[1:] if argv is None else argv
        conn = Connection(self.retry_notice)
        try:
            return self.body(args, conn)
        except HpcqError as e:
            failure = self.failure(e, conn)
            print_error(failure.text)
            return failure.exit_code
        except ShimError as e:
            print_error(e.text)
            return e.exit_code
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:
            # The reader went away (squeue | head): not an error worth a traceback.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 141

    def __call__(self) -> NoReturn:
        """The installed command: `main`, its output flushed, then an exit that skips the
        interpreter's teardown of every loaded module — ~3.5 ms of a ~27 ms sbatch
        (measured against os._exit), and nothing a command leaves needs it."""
        code = self.main()
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BrokenPipeError:  # the reader went away (squeue | head)
            code = 141
        os._exit(code or 0)
