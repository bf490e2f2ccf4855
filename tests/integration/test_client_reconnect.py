"""A client straight to ctld (a certificate, no agent) dials a controller that refused it
again within about a second, however long the outage has lasted: grpc's own backoff
grows to 2 minutes, past the client's retry window. A listener that drops every
connection stands in for a controller that is down; each connection it accepts is one
of the client's attempts."""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from hpcq import pki
from hpcq.errors import HpcqError
from hpcq.transport import GrpcTransport

pytestmark = pytest.mark.integration

WATCHED_SECONDS = 4.0


def test_a_client_dials_a_controller_that_refused_it_again_within_a_second(tmp_path: Path) -> None:
    pki.init_ca(tmp_path, "lab")
    cert, key = pki.issue(tmp_path, "user", "alice", tmp_path / "people")
    with socket.socket() as down:
        down.bind(("127.0.0.1", 0))
        down.listen(64)
        down.settimeout(0.05)
        transport = GrpcTransport(f"127.0.0.1:{down.getsockname()[1]}", ca=tmp_path / "ca.crt", cert=cert, key=key)
        calling = threading.Event()
        calling.set()

        def call_on() -> None:   # as a client's retries do, only without their pauses
            while calling.is_set():
                try:
                    transport.unary("/hpcq.v1.Jobs/Get", b"", timeout=0.5)
                except HpcqError:
                    pass
                time.sleep(0.02)
        caller = threading.Thread(target=call_on)
        caller.start()
        attempts = 0
        try:
            deadline = time.monotonic() + WATCHED_SECONDS
            while time.monotonic() < deadline:
                try:
                    connection, _ = down.accept()
                except TimeoutError:
                    continue
                connection.close()
                attempts += 1
        finally:
            calling.clear()
            caller.join()
            transport.close()
    # grpc's own backoff (1 s, then 1.6 times longer each time, +-20%) makes at most 4
    # attempts in 4 s, 3 here; at most 1.2 s apart after the first ones, 7 here.
    assert attempts >= 6, f"{attempts} connection attempts in {WATCHED_SECONDS} s"
