"""The launcher: a small process noded starts once, which forks a supervisor per job.

noded runs grpc threads, and forking a threaded process to run Python in the child is
unsafe; starting a fresh interpreter per job would cost ~50 ms. This process is single-
threaded and has already imported everything a supervisor needs (no grpc), so a launch
is two forks.

Protocol, JSON lines. noded -> stdin::

    {"seq": 7, "dir": "<spool>/jobs/12.1", "job": "<base64 Job>", "cluster": "c", "grace": 5}

stdout -> noded, once the supervisor knows whether the job started::

    {"seq": 7, "supervisor": {"pid": .., "start_time_ticks": ..}, "outcome": {...}}
    {"seq": 7, "error": "..."}   (the supervisor died before it could say)

End of stdin (noded closed it, or died) ends the launcher; supervisors live on.
"""
from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import selectors
import signal
import sys
from pathlib import Path
from typing import Any

from hpcq.noded import jobd, spool


class Launcher:
    def __init__(self, node_name: str, tmp_dir: Path, allow_root: bool = False) -> None:
        self.node_name = node_name
        self.tmp_dir = tmp_dir
        self.allow_root = allow_root
        self.selector = selectors.DefaultSelector()
        self.inbox = b""
        # report pipe -> (seq, bytes so far) for supervisors that have not reported yet
        self.pending: dict[int, tuple[int, bytes]] = {}

    def run(self) -> None:
        os.set_blocking(0, False)
        self.selector.register(0, selectors.EVENT_READ)
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
            request = json.loads(line)
            try:
                self._launch(request)
            except OSError as e:  # fork or pipe failed (EAGAIN, EMFILE): this launch fails, not the launcher
                self._reply({"seq": request["seq"], "error": f"cannot start a supervisor: {e}"})
        return True

    def _launch(self, request: dict[str, Any]) -> None:
        attempt = Path(request["dir"])
        job_id, _, number = attempt.name.partition(".")
        launch = jobd.LaunchRequest(
            seq=request["seq"], attempt=spool.AttemptDir(attempt, int(job_id), int(number)),
            job=base64.b64decode(request["job"]), cluster=request["cluster"],
            kill_grace_seconds=request["grace"], node_name=self.node_name, tmp_dir=self.tmp_dir,
            allow_root=self.allow_root)
        r, w = os.pipe2(os.O_CLOEXEC)
        if os.fork() == 0:
            # The middle process exists only so that the supervisor is nobody's child
            # here: it is re-parented to init and outlives the launcher and noded.
            # The launcher does not wait for it (SIGCHLD is ignored: the kernel reaps),
            # so the second fork is not on the launcher's path.
            try:
                if os.fork() == 0:
                    jobd.supervise(launch, w)
            finally:
                os._exit(0)
        os.close(w)
        self.pending[r] = (launch.seq, b"")
        self.selector.register(r, selectors.EVENT_READ)

    def _on_report(self, fd: int) -> None:
        seq, got = self.pending[fd]
        data = os.read(fd, 1 << 16)
        if data:
            self.pending[fd] = (seq, got + data)
            return
        self.selector.unregister(fd)
        os.close(fd)
        del self.pending[fd]
        if got.endswith(b"\n"):
            os.write(1, got)  # the supervisor's own line (it carries the seq)
        else:
            self._reply({"seq": seq, "error": "the supervisor died before it started the job"})

    @staticmethod
    def _reply(message: dict[str, Any]) -> None:
        os.write(1, spool.json_line(message))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node", required=True, help="this node's name")
    parser.add_argument("--tmp-dir", required=True, type=Path, help="where per-job TMPDIRs are made")
    parser.add_argument("--allow-root", action="store_true", help="run jobs of root too")
    args = parser.parse_args(argv)
    # Ctrl-C at noded's terminal reaches this process too; noded decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    # Everything imported so far is shared with every supervisor: keep the collector
    # from touching (and so copying) those pages in each child.
    gc.freeze()
    Launcher(args.node, args.tmp_dir, args.allow_root).run()
    sys.exit(0)


if __name__ == "__main__":
    main()
