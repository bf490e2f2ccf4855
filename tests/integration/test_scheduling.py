"""Scheduling behaviour end to end: arrays with a throttle, dependencies, priorities."""
from __future__ import annotations

import pytest

from hpcq.api import jobs_pb2
from tests.conftest import wait_until

pytestmark = pytest.mark.integration
S = jobs_pb2.JobState


def spec(script: str, workdir, **kwargs) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, name="sched", script=f"#!/bin/sh\n{script}\n",
                            submit_dir=str(workdir), **kwargs)


def test_an_array_runs_every_task_once_within_its_throttle(cluster, workdir):
    ledger = workdir / "ledger"
    array = spec(f"echo $SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_ID >> '{ledger}'; sleep 0.3", workdir,
                 array=jobs_pb2.ArraySpec(tasks="1-6", max_running=2))
    with cluster.client() as client:
        [array_id] = client.submit([array])

        def all_tasks_done():
            tasks = [j for j in client.list(include_finished=True) if j.array_job_id == array_id]
            return tasks if len(tasks) == 6 and all(j.state == S.COMPLETED for j in tasks) else None
        tasks = wait_until(all_tasks_done, timeout=60, interval=0.2, what="all six tasks to complete")
    lines = sorted(ledger.read_text().split("\n")[:-1])
    assert lines == sorted(f"{array_id} {i}" for i in range(1, 7))
    assert sorted(j.array_task_id for j in tasks) == list(range(1, 7))
    # the throttle: never more than 2 tasks between their start and end at once
    edges = sorted([(j.start_time, 1) for j in tasks] + [(j.end_time, -1) for j in tasks])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    assert peak <= 2
    assert array_id in {j.id for j in tasks}  # the last task took the array's own record


def test_afterok_waits_for_the_whole_array_and_never_satisfied_stays_pending(cluster, workdir):
    with cluster.client() as client:
        [array_id] = client.submit([spec("exit 0", workdir, array=jobs_pb2.ArraySpec(tasks="0-2"))])
        [failing] = client.submit([spec("exit 3", workdir)])
        after_array = spec("true", workdir, attributes={"dependency": f"afterok:{array_id}"})
        after_failure = spec("true", workdir, attributes={"dependency": f"afterok:{failing}"})
        [ok_id, never_id] = client.submit([after_array, after_failure])
        [done] = client.wait([ok_id], timeout=60)
        assert done.state == S.COMPLETED
        tasks = [j for j in client.list(include_finished=True) if j.array_job_id == array_id]
        assert len(tasks) == 3 and max(j.end_time for j in tasks) <= done.start_time
        never = wait_until(lambda: (j := client.get([never_id])[0][0]).reason == "DependencyNeverSatisfied" and j,
                           what="the reason DependencyNeverSatisfied")
        assert never.state == S.PENDING  # Slurm's behaviour; PBS would delete it


def test_a_pbs_job_whose_dependency_failed_is_deleted(cluster, workdir):
    with cluster.client() as client:
        [failing] = client.submit([spec("exit 3", workdir)])
        child = jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_PBS, name="child", script="#!/bin/sh\ntrue\n",
                                 submit_dir=str(workdir), attributes={"depend": f"afterok:{failing}"})
        [child_id] = client.submit([child])
        [job] = client.wait([child_id], timeout=60)
    assert (job.state, job.reason, job.start_time) == (S.CANCELLED, "DependencyNeverSatisfied", 0.0)


def test_bad_dependency_syntax_is_refused(cluster, workdir):
    from hpcq.errors import HpcqError
    with cluster.client() as client, pytest.raises(HpcqError) as e:
        client.submit([spec("true", workdir, attributes={"dependency": "foo:1"})])
    assert e.value.code == "INVALID_ARGUMENT" and e.value.message.startswith("BAD_DEPENDENCY")


def test_explain_and_shares_through_hpcqctl(cluster, workdir):
    with cluster.client() as client:
        # fill both nodes (2 CPUs each), then one more job must wait for resources
        blockers = client.submit([spec("sleep 30", workdir, resources=jobs_pb2.Resources(cpus_per_task=2))] * 2)
        wait_until(lambda: all(j.state == S.RUNNING for j in client.get(blockers)[0]), what="the blockers to run")
        [waiting] = client.submit([spec("true", workdir, walltime_seconds=60)])
        wait_until(lambda: client.get([waiting])[0][0].reason == "Resources", what="reason Resources")
        out = cluster.run("hpcqctl", "job", "explain", str(waiting)).stdout
        assert f"job {waiting}: pending, reason Resources" in out
        assert "priority" in out and "fairshare" in out
        cluster.run("hpcqctl", "share", "set", "physics", "30")
        cluster.run("hpcqctl", "share", "set", "physics", "10", "--user", "alice")
        listed = cluster.run("hpcqctl", "share", "list").stdout.split("\n")
        assert any(line.split()[:3] == ["physics", "alice", "10"] for line in listed)
        client.cancel(blockers + [waiting])
