"""The core path with real processes: ctld, two noded, the agent, real TLS and SQLite."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil
import pytest

from hpcq import pki
from hpcq.api import jobs_pb2
from hpcq.errors import HpcqError
from hpcq.transport import GrpcTransport
from tests.conftest import wait_until

pytestmark = pytest.mark.integration
S = jobs_pb2.JobState


def slurm_spec(script: str, workdir, **kwargs) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, name="t", script=f"#!/bin/sh\n{script}\n",
                            submit_dir=str(workdir), **kwargs)


def test_walltime_ends_a_job_as_timeout(cluster, workdir):
    with cluster.client() as client:
        [job_id] = client.submit([slurm_spec("sleep 60", workdir, walltime_seconds=1)])
        [job] = client.wait([job_id], timeout=30)
    assert job.state == S.TIMEOUT
    assert job.signal == signal.SIGTERM
    assert 1.0 <= job.end_time - job.start_time < 10


def test_cancel_of_a_running_job_kills_its_whole_process_tree(cluster, workdir):
    marker = f"{300 + os.getpid() % 1000}.{os.getpid()}"  # a sleep duration no other process uses
    script = f"sleep {marker} & sh -c 'sleep {marker}' & wait"
    with cluster.client() as client:
        [job_id] = client.submit([slurm_spec(script, workdir)])
        wait_until(lambda: _processes(marker) and len(_processes(marker)) == 2, what="both children running")
        [result] = client.cancel([job_id])
        assert result.code == jobs_pb2.JobActionResult.OK
        [job] = client.wait([job_id], timeout=30)
    assert job.state == S.CANCELLED
    wait_until(lambda: not _processes(marker), timeout=10, what="the job's processes to be gone")


def _processes(marker: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        if p.info["cmdline"] == ["sleep", marker]:
            found.append(p)
    return found


def test_acknowledged_jobs_survive_kill_9_of_ctld(cluster, workdir):
    with cluster.client() as client:
        held = client.submit([slurm_spec("true", workdir, hold=True) for _ in range(50)])
    ctld_pid = int((cluster.home / "run" / "ctld.pid").read_text())
    os.kill(ctld_pid, signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(ctld_pid) or psutil.Process(ctld_pid).status() == "zombie",
               what="ctld to die")
    cluster.run("hpcqctl", "up", "--nodes", "2", "--cpus", "2")
    with cluster.client() as client:
        jobs, unknown = client.get(held)
        assert unknown == []
        assert {j.state for j in jobs} == {S.HELD}
        [new_id] = client.submit([slurm_spec("true", workdir)])
        assert new_id > max(held)
        client.release(held[:3])
        finished = client.wait(held[:3] + [new_id], timeout=30)
    assert {j.state for j in finished} == {S.COMPLETED}


def test_submit_to_start_is_pushed_not_polled(cluster, workdir):
    with cluster.client() as client:
        [job_id] = client.submit([slurm_spec("true", workdir)])
        [job] = client.wait([job_id], timeout=30)
    assert job.state == S.COMPLETED
    # Far below the 5 s periodic pass: the submit itself woke the scheduler.
    assert job.start_time - job.submit_time < 1.0


def _transport(cluster, cert, key) -> GrpcTransport:
    from hpcq import config
    c = config.load(cluster.home / "hpcq.toml").client
    return GrpcTransport(c.server, ca=c.ca, cert=cert, key=key)


def test_a_certificate_from_another_ca_is_refused_at_the_handshake(cluster, tmp_path):
    pki.init_ca(tmp_path / "other", "evil")
    crt, key = pki.issue(tmp_path / "other", "admin", "root", tmp_path / "other")
    transport = _transport(cluster, crt, key)
    with pytest.raises(HpcqError) as e:
        transport.unary("/hpcq.v1.Admin/ServerInfo", b"", timeout=5)
    assert e.value.code == "UNAVAILABLE"
    transport.close()


def test_a_client_without_a_certificate_is_refused(cluster):
    from hpcq import config
    c = config.load(cluster.home / "hpcq.toml").client
    probe = (f"import grpc,sys\n"
             f"ch=grpc.secure_channel({c.server!r}, grpc.ssl_channel_credentials(open({c.ca!r},'rb').read()))\n"
             f"try:\n ch.unary_unary('/hpcq.v1.Admin/ServerInfo')(b'', timeout=5)\n"
             f"except grpc.RpcError as e:\n print(e.code().name); sys.exit(0)\n"
             f"print('ANSWERED')\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30).stdout.strip()
    assert out == "UNAVAILABLE"


def test_a_node_certificate_cannot_submit(cluster, workdir):
    transport = _transport(cluster, cluster.home / "pki" / "node1.crt", cluster.home / "pki" / "node1.key")
    request = jobs_pb2.SubmitRequest(specs=[slurm_spec("true", workdir)])
    with pytest.raises(HpcqError) as e:
        transport.unary("/hpcq.v1.Jobs/Submit", request.SerializeToString(), timeout=5)
    assert e.value.code == "PERMISSION_DENIED"
    transport.close()
