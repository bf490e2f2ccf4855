"""Chaos: interactive allocations (salloc, srun, qsub -I) across a kill -9 and a clean
restart of hpcq-ctld, and a kill -9 of the host agent or a cut of its connections to ctld
while ctld stays up. A client that
comes back goes on with its allocation (its call made again with its idempotency key
queues nothing new); one whose client is gone is ended after [ctld]
allocation_grace_seconds, and not before."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time

import psutil
import pytest

from hpcq.api import jobs_pb2
from tests.chaos.test_crashes import kill_hard, pid_of
from tests.conftest import wait_until

pytestmark = pytest.mark.integration
S = jobs_pb2.JobState
# The allocation grace: long enough for a client that stays to come back on a loaded 2-core
# machine: after ctld's or the agent's restart (itself slow there), its call waits out the
# client's backoff (up to 2 s between tries) and the channel's reconnect before it is made
# again; at 3 s one that stayed was now and then cancelled as left behind.
GRACE = 10.0


def granted(events) -> jobs_pb2.Job:
    for job in events:
        if job.state == S.RUNNING:
            return job
    raise AssertionError("the allocation ended before it was granted")


@pytest.mark.parametrize("make_cluster", ["sqlite"], indirect=True)   # the store's part: test_submit_retries
def test_allocations_ride_out_ctld_outages_and_one_left_behind_ends_after_the_grace(make_cluster, workdir):
    cluster = make_cluster(settings=(f"ctld.allocation_grace_seconds={GRACE:g}",), nodes=1, cpus=3)
    spec = jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, name="interactive", submit_dir=str(workdir))
    with (cluster._lowlevel_client() as user, cluster._lowlevel_client() as leaver,
          cluster._lowlevel_client(admin=True) as admin):
        kept = user.allocate(spec)      # its client stays through both outages (through the agent)
        direct = admin.allocate(spec)   # likewise, with a certificate
        left = leaver.allocate(spec)    # its client goes away while ctld is down
        kept_events, direct_events, left_events = iter(kept.events()), iter(direct.events()), iter(left.events())
        first, second, abandoned = granted(kept_events), granted(direct_events), granted(left_events)

        kill_hard(pid_of(cluster, "ctld"))
        left.close()
        cluster.run("hpcqctl", "up", "--nodes", "1", "--cpus", "3")
        again = next(kept_events)   # the call made again: the job as ctld has it now
        assert (again.id, again.state) == (first.id, S.RUNNING)
        again = next(direct_events)
        assert (again.id, again.state) == (second.id, S.RUNNING)

        def state(job_id: int) -> int:
            return admin.get([job_id])[0][0].state
        wait_until(lambda: state(abandoned.id) == S.CANCELLED, timeout=60, what="the abandoned allocation's end")
        assert state(first.id) == S.RUNNING   # past the grace: its client came back

        # A clean restart (SIGTERM) ends no allocation either.
        pid = pid_of(cluster, "ctld")
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not _alive(pid), timeout=30, what="ctld to stop")
        cluster.run("hpcqctl", "up", "--nodes", "1", "--cpus", "3")
        assert next(kept_events).state == S.RUNNING

        kept.release(0)
        assert [job.state for job in kept_events][-1] == S.COMPLETED
        direct.release(3)   # released while its call is cut off: sent again with the call made again
        assert [job.state for job in direct_events][-1] == S.FAILED
        listed = admin.list(names=["interactive"], include_finished=True)
        assert sorted((j.id, j.state) for j in listed) == sorted([
            (first.id, S.COMPLETED), (second.id, S.FAILED), (abandoned.id, S.CANCELLED)])   # nothing queued twice


def _alive(pid: int) -> bool:
    return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


def _waiting_for_client(cluster, job_id: int) -> bool:
    """ctld saw the allocation's stream end without a release, and waits for its client."""
    return bool(re.search(rf"job {job_id} of \S+: its allocation's stream was cut off; it waits", cluster.log("ctld")))


def _cut_tcp(pid: int) -> int:
    """Abort every TCP connection of process `pid` (the kernel resets them, as a broken
    network would end them); how many it aborted."""
    listed = subprocess.run(["ss", "-Htnp"], capture_output=True, text=True, check=True).stdout
    ports = [line.split()[3].rpartition(":")[2] for line in listed.splitlines() if f"pid={pid}," in line]
    aborted = 0
    for port in ports:   # ss -K lists what it closed: nothing where the kernel cannot
        closed = subprocess.run(["ss", "-HK", "-tn", f"( sport = :{port} )"], capture_output=True, text=True,
                                check=True).stdout
        aborted += len(closed.splitlines())
    return aborted


@pytest.mark.parametrize("make_cluster", ["sqlite"], indirect=True)
def test_an_allocation_rides_out_an_agent_restart_and_one_whose_client_vanished_waits_out_the_grace(
        make_cluster, workdir):
    cluster = make_cluster(settings=(f"ctld.allocation_grace_seconds={GRACE:g}",), nodes=1, cpus=2)
    spec = jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, name="through-agent", submit_dir=str(workdir))
    with cluster._lowlevel_client() as user, cluster._lowlevel_client(admin=True) as admin:
        kept = user.allocate(spec)
        events = iter(kept.events())
        first = granted(events)

        kill_hard(pid_of(cluster, "agent"))
        # ctld has seen the relayed stream end without a release (it used to cancel it here).
        wait_until(lambda: _waiting_for_client(cluster, first.id), timeout=60, what="ctld to see the stream end")
        cluster.run("hpcqctl", "up", "--nodes", "1", "--cpus", "2")
        again = next(events)   # the call made again through the new agent: the job as ctld has it now
        assert (again.id, again.state) == (first.id, S.RUNNING)
        assert [(j.id, j.state) for j in admin.list(names=["through-agent"])] == [(first.id, S.RUNNING)]

        # A client that vanished for good (salloc and its command killed at once, as with
        # a lost host) holds its allocation for the grace, then it is cancelled.
        salloc = subprocess.Popen(["salloc", "-n1", "-J", "vanished", "sleep", "300"], env=cluster.env,
                                  cwd=workdir, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            assert salloc.stderr is not None
            line = salloc.stderr.readline()
            vanished = int(re.fullmatch(r"salloc: Granted job allocation (\d+)\n", line)[1])
            os.killpg(salloc.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            salloc.wait()
        finally:
            if salloc.poll() is None:
                os.killpg(salloc.pid, signal.SIGKILL)
                salloc.wait()

        def state(job_id: int) -> int:
            return admin.get([job_id])[0][0].state
        wait_until(lambda: _waiting_for_client(cluster, vanished), timeout=60, what="ctld to see salloc gone")
        assert state(vanished) == S.RUNNING   # not ended when its stream did
        wait_until(lambda: state(vanished) == S.CANCELLED, timeout=60, what="the vanished client's allocation's end")
        assert time.monotonic() - killed_at >= GRACE   # and not before the grace

        assert state(first.id) == S.RUNNING    # past the grace too: its client came back
        kept.release(0)
        assert [job.state for job in events][-1] == S.COMPLETED
        assert sorted((j.id, j.state) for j in admin.list(names=["through-agent", "vanished"], include_finished=True)) \
            == [(first.id, S.COMPLETED), (vanished, S.CANCELLED)]   # nothing queued twice


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ss") is None, reason="ss -K (root) cuts the connections")
@pytest.mark.parametrize("make_cluster", ["sqlite"], indirect=True)
def test_an_allocation_rides_out_a_cut_of_the_agents_connections_to_ctld(make_cluster, workdir):
    cluster = make_cluster(settings=(f"ctld.allocation_grace_seconds={GRACE:g}",), nodes=1, cpus=2)
    spec = jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, name="through-agent", submit_dir=str(workdir))
    with cluster._lowlevel_client() as user, cluster._lowlevel_client(admin=True) as admin:
        kept = user.allocate(spec)
        events = iter(kept.events())
        first = granted(events)
        if not _cut_tcp(pid_of(cluster, "agent")):
            pytest.skip("this kernel cannot abort sockets (ss -K)")
        wait_until(lambda: _waiting_for_client(cluster, first.id), timeout=60, what="ctld to see the stream end")
        again = next(events)   # the call made again through the same agent, on a new connection
        assert (again.id, again.state) == (first.id, S.RUNNING)
        kept.release(0)
        assert [job.state for job in events][-1] == S.COMPLETED
        assert [(j.id, j.state) for j in admin.list(names=["through-agent"], include_finished=True)] == [
            (first.id, S.COMPLETED)]
