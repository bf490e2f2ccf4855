"""Chaos: crashes of ctld and noded, a node that goes silent, on SQLite and PostgreSQL.

Each test prints its figures (acknowledged, lost, duplicated, recovery seconds);
lost and duplicated must be 0.
"""
from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections import Counter

import psutil
import pytest

from hpcq import states
from hpcq.api import jobs_pb2
from hpcq.errors import HpcqError
from tests.conftest import wait_until

pytestmark = pytest.mark.integration
S = jobs_pb2.JobState


def pid_of(cluster, daemon: str) -> int:
    return int((cluster.home / "run" / f"{daemon}.pid").read_text())


def kill_hard(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
               what=f"pid {pid} to die")


def appending_job(ledger, workdir, **kwargs) -> jobs_pb2.JobSpec:
    """A job that records each run of itself: one line per run in the ledger."""
    return jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, name="chaos", submit_dir=str(workdir),
                            script=f"#!/bin/sh\necho $SLURM_JOB_ID >> '{ledger}'\n", **kwargs)


def wait_all_finished(cluster, ids, timeout: float):
    with cluster.client() as client:
        def finished():
            jobs, unknown = client.get(ids)
            return not unknown and all(states.is_finished(j.state) for j in jobs) and jobs
        return wait_until(finished, timeout=timeout, interval=0.5, what="every job to finish")


def report(name: str, **figures) -> None:
    print(f"\n[chaos] {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def test_submits_survive_three_ctld_kills(make_cluster, workdir):
    cluster = make_cluster(cpus=8)
    ledger = workdir / "ledger"
    total, clients = 3000, 4
    acknowledged: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def submitter(count: int) -> None:
        client = cluster.client()
        done = 0
        while done < count and not stop.is_set():
            try:
                [job_id] = client.submit([appending_job(ledger, workdir)])
            except HpcqError:
                time.sleep(0.05)  # ctld is down: try again once it is back
                continue
            with lock:
                acknowledged.append(job_id)
            done += 1
        client.close()

    threads = [threading.Thread(target=submitter, args=(total // clients,)) for _ in range(clients)]
    for t in threads:
        t.start()
    recoveries, acknowledged_at_kills = [], []
    rng = random.Random(7)
    for _ in range(3):
        wait_until(lambda: len(acknowledged) > 0, timeout=60)
        time.sleep(rng.uniform(0.5, 2.0))  # a random moment of the flood
        acknowledged_at_kills.append(len(acknowledged))
        kill_hard(pid_of(cluster, "ctld"))
        started = time.monotonic()
        cluster.run("hpcqctl", "up", "--nodes", "2", "--cpus", "8")
        recoveries.append(time.monotonic() - started)
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads)
    jobs = wait_all_finished(cluster, acknowledged, timeout=400)
    runs = Counter(int(line) for line in ledger.read_text().split())
    lost = [j for j in acknowledged if j not in {job.id for job in jobs}]
    duplicated = sorted(j for j, n in runs.items() if n > 1)
    never_ran = [j.id for j in jobs if runs[j.id] == 0]
    report("ctld kill -9 x3", acknowledged=len(acknowledged), at_kills=acknowledged_at_kills, lost=len(lost),
           duplicated=len(duplicated),
           never_ran=len(never_ran), recovery_seconds=" ".join(f"{r:.2f}" for r in recoveries))
    assert len(acknowledged) == total and len(set(acknowledged)) == total
    assert acknowledged_at_kills[-1] < total, "the last kill came after the flood: it tested nothing"
    assert lost == [] and duplicated == [] and never_ran == []
    assert {j.state for j in jobs} == {S.COMPLETED}


def test_jobs_outlive_a_noded_kill(make_cluster, workdir):
    cluster = make_cluster(nodes=1, cpus=20)
    release = workdir / "release"
    specs = [jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, name="outlive", submit_dir=str(workdir),
                              script=f"#!/bin/sh\nwhile [ ! -e '{release}' ]; do sleep 0.1; done\nexit {i % 4}\n")
             for i in range(20)]
    with cluster.client() as client:
        ids = client.submit(specs)
        wait_until(lambda: all(j.state == S.RUNNING and j.session_id for j in client.get(ids)[0]),
                   what="all 20 jobs running")
    kill_hard(pid_of(cluster, "node1"))
    release.touch()  # the jobs end while their noded is dead
    started = time.monotonic()
    cluster.run("hpcqctl", "up", "--nodes", "1", "--cpus", "20")
    jobs = wait_all_finished(cluster, ids, timeout=60)
    report("noded kill -9", jobs=len(jobs), recovery_seconds=f"{time.monotonic() - started:.2f}")
    assert [j.exit_code for j in jobs] == [i % 4 for i in range(20)]
    assert [j.state for j in jobs] == [S.COMPLETED if i % 4 == 0 else S.FAILED for i in range(20)]


def test_a_silent_node_fails_its_jobs_and_they_rerun_elsewhere_once(make_cluster, workdir):
    cluster = make_cluster(settings=("ctld.heartbeat_interval=0.5", "ctld.node_timeout=3"), cpus=4)
    ledger = workdir / "ledger"
    with cluster.client() as client:
        specs = [jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, name="silent", submit_dir=str(workdir),
                                  script=f"#!/bin/sh\necho $SLURM_JOB_ID >> '{ledger}'\nsleep 4\n")
                 for _ in range(8)]
        ids = client.submit(specs)
        jobs = wait_until(lambda: [j for j in client.get(ids)[0] if j.state == S.RUNNING and j.session_id]
                          if all(j.state == S.RUNNING and j.session_id for j in client.get(ids)[0]) else None,
                          what="all jobs running")
        victims = [j.id for j in jobs if j.allocation.slices[0].node == "node1"]
        assert victims, "node1 got no job"
        stopped = pid_of(cluster, "node1")
        os.kill(stopped, signal.SIGSTOP)
        started = time.monotonic()
        try:
            wait_until(lambda: all(j.attempt == 2 for j in client.get(victims)[0]), timeout=30,
                       what="node1's jobs to be requeued")
            recovery = time.monotonic() - started
            node1 = next(n for n in client.nodes() if n.name == "node1")
            assert node1.reason == "Not responding"
        finally:
            os.kill(stopped, signal.SIGCONT)
        final = wait_all_finished(cluster, ids, timeout=60)
    # node1's first attempts were killed when it came back: only the second runs completed.
    runs = Counter(int(line) for line in ledger.read_text().split())
    survivors = {j.id: j for j in final}
    report("noded SIGSTOP", requeued=len(victims), recovery_seconds=f"{recovery:.2f}",
           runs_per_requeued=[runs[v] for v in victims])
    assert all(survivors[v].state == S.COMPLETED and survivors[v].attempt == 2 for v in victims)
    assert all(survivors[v].allocation.slices[0].node == "node2" for v in victims)
    assert all(j.state == S.COMPLETED for j in final)


def test_a_burst_outlives_kills_of_noded_and_of_supervisors(make_cluster, workdir):
    """Quick jobs flowing through one node while its noded is killed twice and two job
    supervisors once: every job ends, none runs twice, and a job whose supervisor was
    killed ends FAILED (its status unknown), never lost."""
    cluster = make_cluster(nodes=1, cpus=4)
    ledger = workdir / "ledger"
    total = 300
    spool_jobs = cluster.home / "spool" / "node1" / "jobs"

    def ran() -> int:
        return len(ledger.read_text().split()) if ledger.exists() else 0

    def restart_noded() -> None:
        kill_hard(pid_of(cluster, "node1"))
        cluster.run("hpcqctl", "up", "--nodes", "1", "--cpus", "4")

    killed: list[int] = []

    def kill_supervisors(count: int) -> bool:
        """Kill supervisors until `count` in all are killed (quick jobs: few live at a time)."""
        for record in sorted(spool_jobs.glob("*/supervisor.json")):
            if len(killed) == count:
                break
            try:
                pid = int(json.loads(record.read_text())["pid"])
                alive = pid > 0 and pid not in killed and psutil.Process(pid).name() == "hpcq-jobd"
            except (OSError, ValueError, KeyError, psutil.Error):
                continue  # being written, or gone
            if alive:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        return len(killed) == count

    with cluster.client() as client:
        ids = client.submit([appending_job(ledger, workdir) for _ in range(total)])
    wait_until(lambda: ran() >= 40, timeout=120, interval=0.05, what="40 jobs to run")
    restart_noded()
    wait_until(lambda: ran() >= 120 and kill_supervisors(2), timeout=120, interval=0.01,
               what="two supervisors to kill")
    wait_until(lambda: ran() >= 200, timeout=120, interval=0.05, what="200 jobs to run")
    restart_noded()
    jobs = wait_all_finished(cluster, ids, timeout=300)
    runs = Counter(int(line) for line in ledger.read_text().split())
    duplicated = sorted(j for j, n in runs.items() if n > 1)
    lost = sorted(set(ids) - {j.id for j in jobs})
    not_completed = [(j.id, S.Name(j.state), j.reason) for j in jobs if j.state != S.COMPLETED]
    never_ran = [j.id for j in jobs if j.state == S.COMPLETED and runs[j.id] == 0]
    report("noded kill -9 x2 and 2 supervisors kill -9 mid-burst", jobs=len(jobs), lost=len(lost),
           duplicated=len(duplicated), never_ran=len(never_ran), not_completed=not_completed)
    assert lost == [] and duplicated == [] and never_ran == []
    # a killed supervisor's job, or a launch noded's death cut short: FAILED, never silent
    assert {(state, reason) for _, state, reason in not_completed} <= {
        ("FAILED", "supervisor lost"), ("FAILED", "launch interrupted before the job started")}
    assert len(killed) == 2
