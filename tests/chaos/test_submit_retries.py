"""Chaos: sbatch loops while hpcq-ctld is killed with SIGKILL and restarted, on SQLite and
PostgreSQL. No invocation fails (each retries until ctld is back, saying so once), and
every job is stored and runs exactly once. bench/retries.py runs the same with 2,000."""
from __future__ import annotations

import re
import socket
import threading

import pytest

from bench.retries import submit_through_kills
from hpcq import config, pki
from hpcq.api import jobs_pb2
from hpcq.client import Client
from hpcq.errors import HpcqError
from hpcq.transport import GrpcTransport
from tests.conftest import wait_until

pytestmark = pytest.mark.integration


def lost_jobs(cluster, outcome) -> str:
    """What became of the jobs of acknowledged submits that never ran: for the failure's message."""
    lost = set(outcome.lost)
    ids = {i.job_id: i.marker for i in outcome.invocations if i.marker in lost and i.job_id}
    with cluster.client() as client:
        jobs, unknown = client.get(list(ids))
    return "; ".join([f"{ids[j.id]}: job {j.id} {jobs_pb2.JobState.Name(j.state)} {j.reason!r} attempt {j.attempt} "
                      f"exit {j.exit_code} signal {j.signal} on {[s.node for s in j.allocation.slices]}" for j in jobs]
                     + [f"{ids[j]}: job {j} unknown" for j in unknown]) + logged(cluster, list(ids))


def logged(cluster, job_ids: list[int]) -> str:
    """What the daemons logged of these jobs, and of ctld's starts and the nodes'
    registrations (when each restart came): a failure read later has no logs to look at."""
    if not job_ids:
        return ""
    ids = "|".join(map(str, job_ids))
    wanted = re.compile(rf"\bjob ({ids})\b|hpcq-ctld serving|registered|took over")
    lines = [f"{path.name}: {line}" for path in sorted((cluster.home / "log").glob("*.log*"))
             for line in path.read_text(errors="replace").splitlines() if wanted.search(line)]
    return "\n" + "\n".join(lines[-60:])


def test_sbatch_loops_ride_out_three_ctld_kills_and_a_key_answers_its_first_submit(make_cluster, workdir):
    cluster = make_cluster(cpus=4)
    # Meanwhile Client.wait waits for a job through the kills (it watches again each
    # time), and its output is followed (tail -f: read on from where it broke off).
    release, printed = workdir / "release", workdir / "waited.out"
    waiting = jobs_pb2.JobSpec(script=f"#!/bin/sh\ni=0\nwhile [ ! -e '{release}' ]; do i=$((i+1)); echo line $i; "
                                      "sleep 0.05; done\n",
                               submit_dir=str(workdir), stdout_path=str(printed))
    with cluster.client() as owner, cluster.client() as follower:
        [waited] = owner.submit([waiting])
        ended: list = []
        followed: list[bytes] = []
        waiter = threading.Thread(target=lambda: ended.extend(owner.wait([waited], timeout=300)))
        waiter.start()
        wait_until(lambda: follower.get([waited])[0][0].state == jobs_pb2.RUNNING, timeout=60, what="the job's start")
        reader = threading.Thread(target=lambda: followed.extend(follower.output(waited, follow=True)))
        reader.start()
        try:
            outcome = submit_through_kills(cluster, workdir, submits=200, loops=4, kills=3, nodes=2, cpus=4)
        finally:
            release.touch()
            waiter.join(timeout=120)
            reader.join(timeout=120)
    print(f"\n[chaos] sbatch through ctld kill -9 x3: {outcome.figures()}")
    assert [(j.id, j.state) for j in ended] == [(waited, jobs_pb2.COMPLETED)]
    assert not reader.is_alive() and b"".join(followed) == printed.read_bytes()   # every line, once
    assert printed.read_bytes().count(b"\n") > 50
    assert [i.stderr for i in outcome.failed] == []
    assert len(outcome.invocations) == 200
    assert outcome.unexpected_stderr == []
    assert outcome.retried > 0, "no sbatch met a dead ctld: the kills missed the loops"
    assert outcome.lost == [] and outcome.duplicated == [], lost_jobs(cluster, outcome)
    assert outcome.stored == 200 + 1   # and the waited job
    assert len({i.job_id for i in outcome.invocations}) == 200

    # A repeat of a key answers the first submit's ids, through the agent as through a
    # certificate; the same key from another user is that user's own new submit.
    spec = jobs_pb2.JobSpec(script="#!/bin/sh\ntrue\n", submit_dir=str(workdir), hold=True)
    with cluster.client() as owner, user_client(cluster, "bob") as bob:
        first = owner.submit([spec, spec], idempotency_key="workflow-step-7")
        assert owner.submit([spec, spec], idempotency_key="workflow-step-7") == first
        [bobs] = bob.submit([spec], idempotency_key="workflow-step-7")
        assert bobs not in first and bob.get([bobs])[0][0].user == "bob"
        assert bob.submit([spec], idempotency_key="workflow-step-7") == [bobs]
        with pytest.raises(HpcqError, match="idempotency_key"):
            owner.submit([spec], idempotency_key="has a space")

    # [client] server may list several controllers: one that does not answer is passed over.
    with user_client(cluster, "carol", servers=f"127.0.0.1:{free_port()},{{server}}") as carol:
        assert carol.submit([spec]) and carol._transport.server == carol._transport.servers[1]


def user_client(cluster, name: str, servers: str = "{server}") -> Client:
    """A client of user `name` with a certificate from the cluster's CA, straight to ctld
    (`servers`: the [client] server setting, "{server}" standing for ctld's address)."""
    pki_dir = cluster.home / "pki"
    pki.issue(pki_dir, "user", name, pki_dir / "people")
    server = servers.format(server=config.load(cluster.home / "hpcq.toml").client.server)
    return Client(GrpcTransport(server, ca=pki_dir / "ca.crt", cert=pki_dir / "people" / f"{name}.crt",
                                key=pki_dir / "people" / f"{name}.key"), timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
