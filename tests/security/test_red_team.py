"""A hostile second user against a cluster root started: what one ordinary user, through
the host agent every local user may open, can cost everyone else. Each test is a weakness
found by trying, kept so that it stays fixed."""
from __future__ import annotations

import os
import select
import socket
import time
from collections.abc import Iterator

import pytest

from hpcq import wire
from hpcq.api import jobs_pb2
from hpcq.ctld import watch
from hpcq.noded import hostagent
from hpcq.transport import AgentTransport
from tests import localusers
from tests.cluster import Cluster

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="creates local users and changes uid")]

ALICE, BOB = "hpcqalice", "hpcqbob"


@pytest.fixture(scope="module")
def users() -> dict:
    return localusers.ensure(ALICE, BOB)


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[Cluster, dict[str, str]]]:
    """A one-node cluster root started, and the environment its users' commands get."""
    with localusers.shared_cluster("hpcq-redteam.") as site:
        yield site


def _agent_pid(cluster: Cluster) -> int:
    return int((cluster.home / "run" / "agent.pid").read_text())


def _read_frame(sock: socket.socket) -> bytes:
    def exact(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data
    return exact(wire.frame_length(exact(wire.HEADER_SIZE)))


def test_a_watch_nobody_reads_cannot_fill_ctlds_memory(site, users) -> None:
    """B watches its own job with a 4 MiB script and never reads, then holds and releases
    it: every change queued a full copy in ctld for B's watcher, 100,000 of them allowed
    (300 changes grew ctld from 150 MB to 2.6 GB). Now the watcher is cut off once it is
    QUEUE_BYTES behind."""
    _, env = site
    changes = watch.QUEUE_BYTES // (4 * 1024 * 1024) + 16
    socket_path = env["HPCQ_AGENT_SOCKET"]

    def attack() -> tuple[int, str]:
        agent = AgentTransport(socket_path)
        # held, and waiting for its begin time once released: it never starts
        spec = jobs_pb2.JobSpec(script="#!/bin/sh\n#" + "x" * (4 * 1024 * 1024 - 64) + "\ntrue\n", hold=True,
                                name="big", begin_time=time.time() + 3600)
        reply = agent.unary("/hpcq.v1.Jobs/Submit", jobs_pb2.SubmitRequest(specs=[spec]).SerializeToString(), 60)
        job_id = jobs_pb2.SubmitResponse.FromString(reply).job_ids[0]
        watcher = socket.socket(socket.AF_UNIX)
        watcher.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        watcher.connect(socket_path)
        watcher.sendall(wire.request_frame("/hpcq.v1.Jobs/Watch",
                                           jobs_pb2.WatchRequest(job_ids=[job_id]).SerializeToString()))
        ids = jobs_pb2.JobActionRequest(job_ids=[job_id]).SerializeToString()
        for n in range(changes):
            reply = agent.unary("/hpcq.v1.Jobs/Release" if n % 2 == 0 else "/hpcq.v1.Jobs/Hold", ids, 60)
            assert jobs_pb2.JobActionResponse.FromString(reply).results[0].code == jobs_pb2.JobActionResult.OK
        agent.unary("/hpcq.v1.Jobs/Cancel", ids, 60)
        watcher.settimeout(30)
        events = 0
        try:
            while True:
                payload = _read_frame(watcher)
                if payload[:1] != wire.MESSAGE:
                    return events, "{} {}".format(*wire.parse_error(payload))
                events += 1
        except TimeoutError:
            return events, "no end: every event was kept for the watcher"

    bob = users[BOB]
    events, end = localusers.call_as(bob.pw_uid, bob.pw_gid, attack)
    assert end.startswith("RESOURCE_EXHAUSTED WATCH_OVERFLOW"), (events, end)
    assert events < changes, events


def test_one_user_cannot_take_every_connection_of_the_agent(site, users) -> None:
    """B opens connections and sends nothing: each held one of the agent's descriptors
    (20,000 idle connections made every other user's command wait, and filled the agent's
    log and all its rotations with EMFILE tracebacks). Now B's connections beyond
    MAX_CONNECTIONS_PER_USER are answered at once and closed, and A is served."""
    cluster, env = site
    extra = 20
    wanted = hostagent.MAX_CONNECTIONS_PER_USER + extra
    before = len(os.listdir(f"/proc/{_agent_pid(cluster)}/fd"))
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    bob = users[BOB]
    pid = os.fork()
    if pid == 0:  # B, holding its connections until told to stop
        try:
            os.close(ready_r)
            os.close(done_w)
            os.setgroups([])
            os.setgid(bob.pw_gid)
            os.setuid(bob.pw_uid)
            held = []
            for _ in range(wanted):
                s = socket.socket(socket.AF_UNIX)
                s.connect(env["HPCQ_AGENT_SOCKET"])
                held.append(s)
            answered: set[socket.socket] = set()
            deadline = time.monotonic() + 15
            while len(answered) < extra and time.monotonic() < deadline:
                readable, _, _ = select.select([s for s in held if s not in answered], [], [], 0.5)
                answered.update(readable)
            codes = {wire.parse_error(_read_frame(s))[0] for s in answered}
            os.write(ready_w, f"{len(answered)} {','.join(sorted(codes))}\n".encode())
            os.read(done_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(done_r)
    try:
        with os.fdopen(ready_r) as ready:
            answered, codes = ready.readline().split()
        assert (int(answered), codes) == (extra, "RESOURCE_EXHAUSTED")
        # the agent holds B's first MAX_CONNECTIONS_PER_USER, not the `extra` it refused
        held = len(os.listdir(f"/proc/{_agent_pid(cluster)}/fd")) - before
        assert held < hostagent.MAX_CONNECTIONS_PER_USER + extra // 2, held
        squeue = localusers.run_as(users[ALICE], ["squeue", "-h"], env, timeout=30)
        assert squeue.returncode == 0, squeue.stderr
    finally:
        os.close(done_w)
        os.waitpid(pid, 0)


def test_one_users_half_sent_requests_cannot_fill_the_agents_memory(site, users) -> None:
    """B announces frames of the largest size on a few connections and never sends them:
    the agent read each into memory as it came (16 MiB a connection, thousands of
    connections). Now a user's requests in flight are bounded by MAX_FRAME_BYTES_PER_USER
    and the one beyond is refused at once."""
    _, env = site
    header = wire.MAX_FRAME.to_bytes(wire.HEADER_SIZE, "big")   # the frame's length, as wire.frame writes it
    fits = hostagent.MAX_FRAME_BYTES_PER_USER // wire.MAX_FRAME

    def attack() -> str:
        held = []
        for _ in range(fits):
            s = socket.socket(socket.AF_UNIX)
            s.connect(env["HPCQ_AGENT_SOCKET"])
            s.sendall(header + b"\0" * 1024)
            held.append(s)
        last = socket.socket(socket.AF_UNIX)
        last.connect(env["HPCQ_AGENT_SOCKET"])
        last.sendall(header)
        last.settimeout(15)
        try:
            return "{} {}".format(*wire.parse_error(_read_frame(last)))
        except TimeoutError:
            return "no answer: the agent is reading it"

    bob = users[BOB]
    answer = localusers.call_as(bob.pw_uid, bob.pw_gid, attack)
    assert answer.startswith("RESOURCE_EXHAUSTED "), answer


# -- bad input a user's own command turns into a traceback ----------------------------------

@pytest.mark.parametrize("command", ["qstat -f", "qdel", "qhold", "qrls"])
def test_an_id_beyond_uint64_gets_a_one_line_error(site, users, command) -> None:
    _, env = site
    result = localusers.run_as(users[BOB], [*command.split(), "99999999999999999999999"], env)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr


@pytest.mark.parametrize("argv", [["squeue", "-o", "%999999999999999999999i"], ["sacct", "-o", "JobID%99999999999"]])
def test_a_huge_field_width_gets_a_one_line_error(site, users, argv) -> None:
    _, env = site
    result = localusers.run_as(users[BOB], argv, env)
    assert "Traceback" not in result.stderr, result.stderr[-300:]
