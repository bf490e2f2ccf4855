"""The launcher: a small process noded starts once, which forks the supervisors of its jobs.

noded runs grpc threads, and forking a threaded process to run Python in the child is
unsafe; starting a fresh interpreter per job would cost ~50 ms. This process is single-
threaded and has already imported everything a supervisor needs, and nothing more (no
grpc, no protobuf: see hpcq.noded.plan), so a new supervisor is one fork of a small process.

A supervisor (hpcq.noded.jobd) runs one job attempt at a time, and many over its life:
once its job has ended and it has tidied up, it says it is free and waits for the next
request on its own pipe. A fork, a detach and an exit (with the copy-on-write of this
process's pages each brings) cost a supervisor several times what supervising a trivial
job costs, so they are paid once for many jobs. A request goes to the supervisor freed
last (its pages are warm); when none is free, to a spare forked ahead, and the next
spare is forked while the job starts. Idle supervisors beyond the number of CPUs here
exit once idle for IDLE_SECONDS, so a quiet node keeps a few, not as many as its
busiest moment had.

Protocol, lines. noded -> stdin, the seq then the plan (hpcq.noded.plan) in JSON, which
only the supervisor reads::

    7 {"dir": "<spool>/jobs/12.1", "argv": [...], "env": {...}, ...}

stdout -> noded, once the supervisor knows whether the job started::

    {"seq": 7, "supervisor": {"pid": .., "start_time_ticks": ..}, "outcome": {...}}
    {"seq": 7, "error": "..."}   (no job started: the supervisor died first, or the spool
                                  says a restarted noded gave the launch up)

and, for a job that started, once its status.json is written (before the supervisor has
tidied up, which noded need not wait for)::

    {"seq": 7, "ended": true}

A supervisor's own word that it is free (jobd.FREE) is the launcher's, not relayed.

End of stdin (noded closed it, or died) ends the launcher; supervisors then finish the
job they run (if any) and exit, as their request pipes are closed.
"""
from __future__ import annotations

import contextlib
import errno
import gc
import os
import selectors
import signal
import sys
import time

from hpcq.noded import jobd, spool

TYPE_CHECKING = False  # see hpcq.noded.spool
if TYPE_CHECKING:
    from typing import Any

IDLE_SECONDS = 5.0
_FREE_LINE = jobd.FREE.rstrip(b"\n")


class _Supervisor:
    """The launcher's end of one supervisor's pipes, and what it is doing."""

    __slots__ = ("request_w", "report_r", "seq", "got", "relayed", "idle_since", "unsent")

    def __init__(self, request_w: int, report_r: int) -> None:
        self.request_w, self.report_r = request_w, report_r
        self.seq: int | None = None  # of the request it runs; None while idle
        self.got = b""               # the start of a line not yet complete
        self.relayed = False         # a line of its current request's has gone to noded
        self.idle_since = time.monotonic()
        self.unsent = memoryview(b"")  # the rest of its request, written as its pipe takes it


class Launcher:
    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.inbox = b""
        self.supervisors: dict[int, _Supervisor] = {}   # by report pipe: every one alive
        self.idle: list[_Supervisor] = []               # the one freed last at the end
        self.keep = len(os.sched_getaffinity(0))        # idle ones kept however long idle

    def run(self) -> None:
        os.set_blocking(0, False)
        self.selector.register(0, selectors.EVENT_READ)
        with contextlib.suppress(OSError):  # else the first launch forks one
            self.idle.append(self._fork())
        while True:
            for key, _ in self.selector.select(self._until_next_retirement()):
                if key.fd == 0:
                    if not self._on_requests():
                        self._finish_requests()
                        return
                    continue
                supervisor: _Supervisor = key.data
                if self.supervisors.get(supervisor.report_r) is not supervisor:
                    # It ended while this wake-up's events were handled (a launch found it
                    # dead), and its descriptor may be a new supervisor's already: whose news
                    # this is not, and whose pipe may hold nothing to read.
                    continue
                if key.fd == supervisor.report_r:
                    self._on_report(supervisor)
                else:
                    self._send_rest(supervisor)
            self._retire_idle()

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
                self._launch(seq, line + b"\n")
            except OSError as e:  # fork or pipe failed (EAGAIN, EMFILE): this launch fails, not the launcher
                self._reply({"seq": seq, "error": f"cannot start a supervisor: {e}"})
        return True

    def _launch(self, seq: int, request: bytes) -> None:
        """Hand the request to the supervisor freed last (a fresh one if none is idle),
        then fork a spare if none is left."""
        while self.idle:
            supervisor = self.idle.pop()
            if self._hand(supervisor, request):
                break
        else:
            supervisor = self._fork()
            if not self._hand(supervisor, request):
                raise OSError(errno.EPIPE, "the supervisor died at once")
        supervisor.seq, supervisor.relayed = seq, False
        if not self.idle:
            with contextlib.suppress(OSError):  # else the next launch forks one
                self.idle.append(self._fork())

    def _hand(self, supervisor: _Supervisor, request: bytes) -> bool:
        """Write the request to an idle supervisor; False if it has died (killed?). A
        request larger than the pipe's buffer (a script of megabytes) is written on as the
        supervisor reads it: one that is stopped or slow must not hold up the others."""
        try:
            written = os.write(supervisor.request_w, request)
        except OSError:
            self._end(supervisor)
            return False
        if written < len(request):
            supervisor.unsent = memoryview(request)[written:]
            self.selector.register(supervisor.request_w, selectors.EVENT_WRITE, supervisor)
        return True

    def _send_rest(self, supervisor: _Supervisor) -> None:
        """Write on the request its pipe did not take at once."""
        try:
            written = os.write(supervisor.request_w, supervisor.unsent)
        except BlockingIOError:
            return
        except OSError:  # it died: the end of file of its report pipe tells noded
            written = len(supervisor.unsent)
        supervisor.unsent = supervisor.unsent[written:]
        if not supervisor.unsent:
            self.selector.unregister(supervisor.request_w)

    def _fork(self) -> _Supervisor:
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
        os.set_blocking(request_w, False)  # see _hand
        supervisor = self.supervisors[report_r] = _Supervisor(request_w, report_r)
        self.selector.register(report_r, selectors.EVENT_READ, supervisor)
        return supervisor

    def _finish_requests(self) -> None:
        """noded is gone: write out the requests half written, as the supervisors read them
        (a restarted noded finds their jobs in the spool); half a request is none."""
        for supervisor in self.supervisors.values():
            if supervisor.unsent:
                os.set_blocking(supervisor.request_w, True)
                with contextlib.suppress(OSError):  # it died: nothing to finish
                    _write_whole(supervisor.request_w, supervisor.unsent)

    def _on_report(self, supervisor: _Supervisor) -> None:
        """Relay each whole line of the supervisor's (they carry the seq) as it comes;
        keep its word that it is free."""
        data = os.read(supervisor.report_r, 1 << 16)
        if not data:
            if supervisor.seq is not None and not supervisor.relayed:
                self._reply({"seq": supervisor.seq, "error": "the supervisor died before it started the job"})
            self._end(supervisor)
            return
        *lines, supervisor.got = (supervisor.got + data).split(b"\n")
        relayed = [line for line in lines if line != _FREE_LINE]
        if relayed:
            _write_whole(1, b"\n".join(relayed) + b"\n")
            supervisor.relayed = True
        if len(relayed) < len(lines):
            supervisor.seq, supervisor.idle_since = None, time.monotonic()
            self.idle.append(supervisor)

    def _until_next_retirement(self) -> float | None:
        """Seconds until the longest idle supervisor beyond those kept is to exit."""
        if len(self.idle) <= self.keep:
            return None
        return max(0.0, self.idle[0].idle_since + IDLE_SECONDS - time.monotonic())

    def _retire_idle(self) -> None:
        now = time.monotonic()
        while len(self.idle) > self.keep and now - self.idle[0].idle_since >= IDLE_SECONDS:
            self._end(self.idle.pop(0))

    def _end(self, supervisor: _Supervisor) -> None:
        """Close our ends of its pipes: an idle supervisor reads end of file and exits."""
        self.selector.unregister(supervisor.report_r)
        if supervisor.unsent:
            self.selector.unregister(supervisor.request_w)
        del self.supervisors[supervisor.report_r]
        os.close(supervisor.report_r)
        os.close(supervisor.request_w)
        if supervisor in self.idle:
            self.idle.remove(supervisor)

    @staticmethod
    def _reply(message: dict[str, Any]) -> None:
        _write_whole(1, spool.json_line(message))


def _write_whole(fd: int, data: bytes | memoryview) -> None:
    """Write all of `data` to a blocking pipe: a write of more than the pipe takes at once
    returns early when a signal (a SIGSTOP) comes while it waits on a full pipe, and the
    rest of a line must not be lost."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


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
