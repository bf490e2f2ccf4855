"""Retries end to end: a job that asked for attempts (JobSpec.retry) runs again after a
failed run, each time after its backoff, pending with reason BeginTime meanwhile, and
its run count shows in scontrol (Restarts=) and qstat -f (run_count)."""
from __future__ import annotations

import pytest

from hpcq.api import jobs_pb2
from tests.conftest import wait_until

pytestmark = pytest.mark.integration
S = jobs_pb2.JobState
FAST = ("ctld.sched_interval=0.2",)


def counting(workdir, succeed_at: int) -> str:
    """A script that records each run's start and fails until its `succeed_at`-th run."""
    count, times = workdir / "count", workdir / "times"
    return (f"#!/bin/sh\nn=$(cat '{count}' 2>/dev/null || echo 0); n=$((n + 1)); echo $n > '{count}'\n"
            f"date +%s.%N >> '{times}'\n[ $n -ge {succeed_at} ]\n")


def retrying(workdir, script: str, attempts: int, backoff: float) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, name="retry", script=script, submit_dir=str(workdir),
                            retry=jobs_pb2.RetryPolicy(max_attempts=attempts, backoff_seconds=backoff))


def run_starts(workdir) -> list[float]:
    return [float(line) for line in (workdir / "times").read_text().split()]


def test_a_job_that_fails_twice_then_succeeds_completes_on_its_third_run(make_cluster, workdir):
    # Passes only every 30 s unless something happens: the end of a backoff must wake one.
    cluster = make_cluster(settings=("ctld.sched_interval=30",), nodes=1)
    with cluster.client() as client:
        [job_id] = client.submit([retrying(workdir, counting(workdir, 3), attempts=5, backoff=1.5)])
        # Between runs it waits its backoff pending, as Slurm shows a job with a begin time.
        line = wait_until(lambda: cluster.run("squeue", "-h", "-j", str(job_id), "-o", "%i %t %r").stdout.strip()
                          == f"{job_id} PD BeginTime", timeout=30, interval=0.05, what="the retry's BeginTime")
        assert line

        def qstat_waiting() -> dict[str, str] | None:
            text = cluster.run("qstat", "-f", str(job_id), check=False).stdout
            attrs = dict(x.strip().partition(" = ")[::2] for x in text.splitlines() if " = " in x)
            return attrs if attrs.get("job_state") == "W" else None
        # PBS shows the wait as state W, with the time it ends and the runs so far.
        attrs = wait_until(qstat_waiting, timeout=30, interval=0.05, what="qstat's W")
        assert "Execution_Time" in attrs and int(attrs["run_count"]) in (1, 2)
        [done] = client.wait([job_id], timeout=60)
    assert (done.state, done.attempt, done.exit_code) == (S.COMPLETED, 3, 0)
    first, second, third = run_starts(workdir)
    # The backoff doubles: at least 1.5 s before the second run, 3 s before the third,
    # and the run starts when its backoff ends, not at the next periodic pass.
    assert 1.5 <= second - first < 1.5 + 10 and 3.0 <= third - second < 3.0 + 10
    shown = cluster.run("scontrol", "show", "job", str(job_id)).stdout
    assert "JobState=COMPLETED" in shown and "Restarts=2" in shown


def test_a_job_that_always_fails_stops_after_its_attempts_failed(make_cluster, workdir):
    cluster = make_cluster(settings=FAST, nodes=1)
    script = counting(workdir, 99)
    with cluster.client() as client:
        [job_id] = client.submit([retrying(workdir, script, attempts=2, backoff=0.5)])
        [done] = client.wait([job_id], timeout=60)
    assert (done.state, done.attempt, done.exit_code) == (S.FAILED, 2, 1)
    assert len(run_starts(workdir)) == 2
    full = cluster.run("qstat", "-x", "-f", str(job_id)).stdout
    assert "    run_count = 2\n" in full and "    Exit_status = 1\n" in full
    assert "Restarts=1" in cluster.run("scontrol", "show", "job", str(job_id)).stdout


def test_a_job_that_asked_for_no_retries_fails_at_once(make_cluster, workdir):
    cluster = make_cluster(settings=FAST, nodes=1)
    with cluster.client() as client:
        [job_id] = client.submit([jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, name="once", submit_dir=str(workdir),
                                                   script=counting(workdir, 2))])
        [done] = client.wait([job_id], timeout=60)
    assert (done.state, done.attempt) == (S.FAILED, 1)
    assert len(run_starts(workdir)) == 1
