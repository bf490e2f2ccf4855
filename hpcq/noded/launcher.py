"""The launcher: a small process noded starts once, which forks a supervisor per job.

noded runs grpc threads, and forking a threaded process to run Python in the child is
unsafe; starting a fresh interpreter per job would cost ~50 ms. This process is single-
threaded and has already imported everything a supervisor needs, and nothing more (no
grpc, no protobuf: see hpcq.noded.plan), so a launch is one fork of a small process.
That fork is made ahead: one spare supervisor, detached and set up, waits for the next
request, which it gets whole on a pipe of its own; the launcher then forks the next
spare while the job starts (a fork here takes milliseconds on a busy node).

Protocol, lines. noded -> stdin, the seq then the plan (hpcq.noded.plan) in JSON, which
only the supervisor reads::

    7 {"dir": "<spool>/jobs/12.1", "argv": [...], "env": {...}, ...}

stdout -> noded, once the supervisor knows whether the job started::

    {"seq": 7, "supervisor": {"pid": .., "start_time_ticks": ..}, "outcome": {...}}
    {"seq": 7, "error": "..."}   (the supervisor died before it could say)

and, for a job that started, once its status.json is written (before the supervisor has
tidied up and exited, which noded would otherwise wait for)::

    {"seq": 7, "ended": true}

End of stdin (noded closed it, or died) ends the launcher; supervisors live on.
"""
from __future__ import annotations

import contextlib
import gc
import os
import selectors
import signal
import sys

from hpcq.noded import jobd, spool

TYPE_CHECKING = False  # see hpcq.noded.spool
if TYPE_CHECKING:
    from typing import Any


class Launcher:
    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.inbox = b""
        # report pipe -> (seq, bytes of a line not yet complete, lines relayed) for each
        # supervisor whose pipe is open: until the job ended, or the supervisor did
        self.pending: dict[int, tuple[int, bytes, int]] = {}
        self.spare: tuple[int, int] | None = None   # (its request pipe, its report pipe)

    def run(self) -> None:
        os.set_blocking(0, False)
        self.selector.register(0, selectors.EVENT_READ)
        with contextlib.suppress(OSError):  # else the first launch forks one
            self._fork_spare()
        while True:
            for key, _ in self.selector.select():
                if key.fd == 0:
                    if not self._on_requests():
                        return
                else:
                    self._on_report(key.fd)

    def _on_requests(self) -> bool:
        """Launch every complete request line; False at end of input."""
        data = os.read(0, 1 << 16)
        if not data:
            return False
        self.inbox += data
        *lines, self.inbox = self.inbox.split(b"\n")
        for line in lines:
            seq = int(line.partition(b" ")[0])
            try:
                self._launch(seq, line)
            except OSError as e:  # fork or pipe failed (EAGAIN, EMFILE): this launch fails, not the launcher
                self._reply({"seq": seq, "error": f"cannot start a supervisor: {e}"})
        return True

    def _launch(self, seq: int, request: bytes) -> None:
        """Hand the request to the spare supervisor (a fresh one if that one is gone),
        then fork the next spare."""
        for tries_left in (1, 0):
            if self.spare is None:
                self._fork_spare()
            assert self.spare is not None
            (request_w, report_r), self.spare = self.spare, None
            try:
                view = memoryview(request)
                while view:  # a plan is a few KiB, within a pipe's buffer: no wait on the spare
                    view = view[os.write(request_w, view):]
            except OSError:
                os.close(report_r)   # the spare died (killed?) before it was asked
                if not tries_left:
                    raise
                continue
            finally:
                os.close(request_w)  # end of file: the request is whole
            break
        self.pending[report_r] = (seq, b"", 0)
        self.selector.register(report_r, selectors.EVENT_READ)
        with contextlib.suppress(OSError):  # else the next launch forks one
            self._fork_spare()

    def _fork_spare(self) -> None:
        report_r, report_w = os.pipe2(os.O_CLOEXEC)
        try:
            request_r, request_w = os.pipe2(os.O_CLOEXEC)
        except OSError:
            os.close(report_r)
            os.close(report_w)
            raise
        # One fork, no double fork: the supervisor leaves our session at once, the kernel
        # reaps it (SIGCHLD is ignored), and when the launcher ends it is re-parented to
        # init like any orphan, so it outlives the launcher and noded all the same. A
        # middle process would cost another copy and teardown of this address space.
        try:
            pid = os.fork()
        except OSError:
            for fd in (report_r, report_w, request_r, request_w):
                os.close(fd)
            raise
        if pid == 0:
            jobd.supervise_when_asked(request_r, report_w)
        os.close(report_w)
        os.close(request_r)
        self.spare = (request_w, report_r)

    def _on_report(self, fd: int) -> None:
        """Relay each whole line of the supervisor's (they carry the seq) as it comes."""
        seq, got, relayed = self.pending[fd]
        data = os.read(fd, 1 << 16)
        if data:
            whole, _, rest = (got + data).rpartition(b"\n")
            if whole:
                os.write(1, whole + b"\n")
                relayed += whole.count(b"\n") + 1
            self.pending[fd] = (seq, rest, relayed)
            return
        self.selector.unregister(fd)
        os.close(fd)
        del self.pending[fd]
        if not relayed:
            self._reply({"seq": seq, "error": "the supervisor died before it started the job"})

    @staticmethod
    def _reply(message: dict[str, Any]) -> None:
        os.write(1, spool.json_line(message))


def main() -> None:
    # Ctrl-C at noded's terminal reaches this process too; noded decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    # Everything imported so far is shared with every supervisor: keep the collector
    # from touching (and so copying) those pages in each child.
    gc.freeze()
    Launcher().run()
    sys.exit(0)


if __name__ == "__main__":
    main()
