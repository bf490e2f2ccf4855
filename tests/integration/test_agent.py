"""hpcq-agent with real processes: local users submit without certificates, the kernel
says who they are, and ctld's one authorization table judges them."""
from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
from pathlib import Path

import psutil
import pytest

from hpcq import config, wire
from hpcq.api import jobs_pb2
from hpcq.ctld.auth import ASSERTED_USER_KEY
from hpcq.errors import HpcqError
from hpcq.transport import AgentTransport, GrpcTransport
from tests import localusers
from tests.conftest import wait_until
from tests.integration.conftest import start_cluster

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="creates local users and changes uid")]

USERS = ("hpcqalice", "hpcqbob")
R = jobs_pb2.JobActionResult


@pytest.fixture(scope="module")
def users():
    return localusers.ensure(*USERS)


@pytest.fixture(scope="module")
def shared_agent(tmp_path_factory, users):
    """A cluster, plus an agent with default settings (root refused) on a socket every user can reach."""
    # Jobs of other users must reach their files in the spool: no private parent directory.
    base = Path(tempfile.mkdtemp(prefix="hpcq-home."))
    os.chmod(base, 0o711)
    cluster = start_cluster(base / "home")
    home = cluster.home
    public = Path(tempfile.mkdtemp(prefix="hpcq-agent."))  # pytest's own tmp is private to root
    os.chmod(public, 0o755)
    cfg = config.load(home / "hpcq.toml")
    agent_conf = public / "agent.toml"
    agent_conf.write_text(
        f"[cluster]\nname = {cfg.cluster.name!r}\n[agent]\nsocket = '{public / 'agent.sock'}'\n"
        f"server = {cfg.agent.server!r}\nca = {cfg.agent.ca!r}\ncert = {cfg.agent.cert!r}\nkey = {cfg.agent.key!r}\n")
    process = subprocess.Popen(["hpcq-agent", "-c", str(agent_conf)], env=cluster.env, stderr=subprocess.PIPE)
    wait_until(lambda: (public / "agent.sock").exists(), what="the agent's socket")
    yield cluster, public / "agent.sock"
    process.terminate()
    process.wait(timeout=10)
    cluster.run("hpcqctl", "down", check=False)
    shutil.rmtree(public, ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)


def submit(sock_path) -> tuple[int, str]:
    transport = AgentTransport(sock_path)
    request = jobs_pb2.SubmitRequest(specs=[jobs_pb2.JobSpec(script="#!/bin/sh\ntrue\n", hold=True, submit_dir="/tmp")])
    job_id = jobs_pb2.SubmitResponse.FromString(
        transport.unary("/hpcq.v1.Jobs/Submit", request.SerializeToString(), 10)).job_ids[0]
    job = jobs_pb2.GetJobsResponse.FromString(transport.unary(
        "/hpcq.v1.Jobs/Get", jobs_pb2.GetJobsRequest(job_ids=[job_id]).SerializeToString(), 10)).jobs[0]
    return job_id, job.user


def cancel(sock_path, job_id: int) -> int:
    reply = AgentTransport(sock_path).unary(
        "/hpcq.v1.Jobs/Cancel", jobs_pb2.JobActionRequest(job_ids=[job_id]).SerializeToString(), 10)
    return jobs_pb2.JobActionResponse.FromString(reply).results[0].code


def test_two_users_submit_without_certificates_and_own_their_jobs(shared_agent, users):
    _, sock = shared_agent
    alice, bob = users["hpcqalice"], users["hpcqbob"]
    alice_job, alice_owner = localusers.call_as(alice.pw_uid, alice.pw_gid, lambda: submit(sock))
    _, bob_owner = localusers.call_as(bob.pw_uid, bob.pw_gid, lambda: submit(sock))
    assert (alice_owner, bob_owner) == ("hpcqalice", "hpcqbob")
    assert localusers.call_as(bob.pw_uid, bob.pw_gid, lambda: cancel(sock, alice_job)) == R.NOT_PERMITTED
    assert localusers.call_as(alice.pw_uid, alice.pw_gid, lambda: cancel(sock, alice_job)) == R.OK


def test_queued_reads_reach_ctld_over_a_connection_of_their_own(shared_agent, users):
    """A storm's listings must not share the connection a submit's answer comes back on."""
    cluster, sock = shared_agent
    alice = users["hpcqalice"]
    localusers.call_as(alice.pw_uid, alice.pw_gid, lambda: submit(sock))   # a Submit, then a Get
    ctld_port = int(config.load(cluster.home / "hpcq.toml").agent.server.rpartition(":")[2])
    [agent] = [p for p in psutil.process_iter(["cmdline"])
               if str(sock.parent / "agent.toml") in (p.info["cmdline"] or [])]
    to_ctld = [c for c in agent.net_connections(kind="tcp") if c.raddr and c.raddr.port == ctld_port
               and c.status == psutil.CONN_ESTABLISHED]
    assert len(to_ctld) == 2


def test_root_is_refused_by_default(shared_agent):
    _, sock = shared_agent
    with pytest.raises(HpcqError) as e:
        submit(sock)
    assert e.value.code == "PERMISSION_DENIED"
    assert "root" in e.value.message


def test_only_a_host_certificate_may_assert_a_user(shared_agent):
    cluster, _ = shared_agent
    cfg = config.load(cluster.home / "hpcq.toml")
    for cert in ("client", "node1"):
        transport = GrpcTransport(cfg.client.server, ca=cfg.client.ca, cert=cluster.home / "pki" / f"{cert}.crt",
                                  key=cluster.home / "pki" / f"{cert}.key", metadata=((ASSERTED_USER_KEY, "hpcqbob"),))
        with pytest.raises(HpcqError) as e:
            transport.unary("/hpcq.v1.Jobs/List", b"", timeout=5)
        assert e.value.code == "PERMISSION_DENIED"
        transport.close()


@pytest.mark.parametrize("garbage", [
    struct.pack(">I", wire.MAX_FRAME + 1),              # a frame over the size limit
    struct.pack(">I", 100) + b"only part of it",        # closes mid-frame
    struct.pack(">I", 3) + b"\xff\xff\xff",             # a method name longer than the frame
])
def test_a_malformed_client_does_not_disturb_another_user(shared_agent, users, garbage):
    _, sock = shared_agent
    alice, bob = users["hpcqalice"], users["hpcqbob"]

    def misbehave() -> bytes:
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(sock))
        try:
            s.sendall(garbage)
            s.shutdown(socket.SHUT_WR)
            return s.recv(65536)  # an error frame or a closed socket, never a hang
        except OSError:
            return b""
        finally:
            s.close()
    answers = []
    bad = threading.Thread(target=lambda: answers.append(localusers.call_as(alice.pw_uid, alice.pw_gid, misbehave)))
    bad.start()
    job_id, owner = localusers.call_as(bob.pw_uid, bob.pw_gid, lambda: submit(sock))
    bad.join(timeout=10)
    assert not bad.is_alive()
    assert owner == "hpcqbob" and job_id > 0
    assert answers[0] == b"" or answers[0][4:5] == wire.ERROR
    # and the agent still serves the misbehaving user afterwards
    assert localusers.call_as(alice.pw_uid, alice.pw_gid, lambda: submit(sock))[1] == "hpcqalice"


def test_watch_streams_through_the_agent(cluster):
    with cluster.client() as client:
        assert type(client._transport).__name__ == "AgentTransport"
        [job_id] = client.submit([jobs_pb2.JobSpec(script="#!/bin/sh\ntrue\n", submit_dir="/tmp")])
        states = [job.state for job in _until_finished(client.watch([job_id]))]
    assert states[-1] == jobs_pb2.COMPLETED
    assert jobs_pb2.RUNNING in states or len(states) >= 2


@pytest.mark.parametrize("make_cluster", ["sqlite"], indirect=True)   # the agent's own: any store
def test_a_stream_that_ctld_ends_leaves_the_agent_reading_cleanly(make_cluster):
    """A followed output ends when its job does (ctld ends the stream): the agent's watch for
    the client's hang-up is gone before it reads the connection again (it raised
    RuntimeError in the agent, logged as an unhandled exception, for every such stream)."""
    cluster = make_cluster()
    log = cluster.home / "log" / "agent.log"
    before = log.read_text().count("Traceback")
    with cluster.client() as client:
        [job_id] = client.submit([jobs_pb2.JobSpec(script="#!/bin/sh\necho one\nsleep 0.5\necho two\n",
                                                   submit_dir="/tmp")])
        wait_until(lambda: client.get([job_id])[0][0].state != jobs_pb2.PENDING, timeout=60, what="the start")
        assert b"".join(client.output(job_id, follow=True)) == b"one\ntwo\n"
        assert client.submit([jobs_pb2.JobSpec(script="#!/bin/sh\ntrue\n", submit_dir="/tmp", hold=True)])
    assert log.read_text().count("Traceback") == before


def _until_finished(events):
    for job in events:
        yield job
        if job.state == jobs_pb2.COMPLETED:
            return


def test_a_job_runs_as_its_owner_and_cannot_write_where_they_cannot(shared_agent, users):
    """noded runs as root here: alice's job gets alice's uid and groups, its output
    belongs to alice, and bob's private directory stays closed to it."""
    _, sock = shared_agent
    alice, bob = users["hpcqalice"], users["hpcqbob"]
    base = Path(tempfile.mkdtemp(prefix="hpcq-owners."))
    os.chmod(base, 0o755)
    alice_dir, bob_dir = base / "alice", base / "bob"
    for d, u in ((alice_dir, alice), (bob_dir, bob)):
        d.mkdir(mode=0o700)
        os.chown(d, u.pw_uid, u.pw_gid)
    script = f"#!/bin/sh\nid -u\nid -G\ntouch '{bob_dir}/intruder' && echo WROTE || echo DENIED\n"

    def run_job() -> int:
        transport = AgentTransport(sock)
        spec = jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, script=script, submit_dir=str(alice_dir))
        reply = transport.unary("/hpcq.v1.Jobs/Submit", jobs_pb2.SubmitRequest(specs=[spec]).SerializeToString(), 10)
        return jobs_pb2.SubmitResponse.FromString(reply).job_ids[0]
    try:
        job_id = localusers.call_as(alice.pw_uid, alice.pw_gid, run_job)
        out = alice_dir / f"slurm-{job_id}.out"
        wait_until(lambda: out.exists() and out.read_text().endswith(("WROTE\n", "DENIED\n")), what="the job's output")
        lines = out.read_text().splitlines()  # stderr (touch's complaint) goes to the same file
        uid, groups, verdict = lines[0], lines[1], lines[-1]
        assert int(uid) == alice.pw_uid
        assert {int(g) for g in groups.split()} == set(os.getgrouplist("hpcqalice", alice.pw_gid))
        assert verdict == "DENIED" and not (bob_dir / "intruder").exists()
        assert out.stat().st_uid == alice.pw_uid
    finally:
        shutil.rmtree(base, ignore_errors=True)
