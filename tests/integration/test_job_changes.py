"""Changing jobs after submit on a real cluster: array tasks as targets of their own,
cancelling a whole array at every stage, requeue, suspend and resume, and a dependency
added to a pending job. One cluster (2 nodes x 2 CPUs) for the module, through the SDK's
low-level client."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from hpcq.api import jobs_pb2
from tests.cluster import Cluster, start_cluster
from tests.conftest import wait_until

pytestmark = pytest.mark.integration
S = jobs_pb2.JobState
R = jobs_pb2.JobActionResult
SLEEP = "#!/bin/sh\nsleep 300\n"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = start_cluster(tmp_path_factory.mktemp("hpcq-home"), nodes=2, cpus=2,
                            settings=("ctld.sched_interval=0.2", "ctld.kill_grace=1"))
    yield cluster
    cluster.stop()


@pytest.fixture
def client(cluster: Cluster):
    with cluster.client() as c:
        yield c


def spec(workdir: Path, script: str = SLEEP, **fields) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, name="change", script=script, submit_dir=str(workdir),
                            **fields)


def array_records(client, array_id: int) -> dict[int, jobs_pb2.Job]:
    """Task index -> record, for the tasks that have one."""
    return {j.array_task_id: j for j in client.list(include_finished=True)
            if j.array_job_id == array_id and j.HasField("array_task_id")}


def state_of(client, job_id: int) -> jobs_pb2.Job:
    [job], _ = client.get([job_id])
    return job


def test_tasks_of_a_running_array_are_cancelled_one_by_one_and_all_at_once(client, workdir):
    [array_id] = client.submit([spec(workdir, array=jobs_pb2.ArraySpec(tasks="1-4"))])
    wait_until(lambda: [j.state for j in array_records(client, array_id).values()] == [S.RUNNING] * 4,
               timeout=60, what="the 4 tasks running")
    [result] = client.cancel([], tasks=[(array_id, 2)])
    assert result.code == R.OK and (result.task.array_job_id, result.task.task) == (array_id, 2)
    wait_until(lambda: array_records(client, array_id)[2].state == S.CANCELLED, timeout=30, what="task 2 ends")
    assert {i: j.state for i, j in array_records(client, array_id).items() if i != 2} == dict.fromkeys(
        (1, 3, 4), S.RUNNING)
    [result] = client.cancel([array_id])
    assert result.code == R.OK
    wait_until(lambda: {j.state for j in array_records(client, array_id).values()} == {S.CANCELLED},
               timeout=30, what="the other three end")
    [unknown] = client.cancel([], tasks=[(array_id, 9)])
    assert unknown.code == R.UNKNOWN_JOB


def test_a_pending_task_is_held_alone(client, workdir):
    later = time.time() + 3600
    [array_id] = client.submit([spec(workdir, array=jobs_pb2.ArraySpec(tasks="1-3"), begin_time=later)])
    [result] = client.hold([], tasks=[(array_id, 2)])
    assert result.code == R.OK and result.job_id not in (0, array_id)
    held = state_of(client, result.job_id)
    assert (held.state, held.reason, held.array_job_id, held.array_task_id) == (
        S.HELD, "JobHeldUser", array_id, 2)
    rest = state_of(client, array_id)
    assert (rest.state, rest.array_tasks_pending) == (S.WAITING, "1,3")
    client.cancel([array_id])
    assert {state_of(client, i).state for i in (array_id, held.id)} == {S.CANCELLED}


def test_a_requeued_running_job_runs_again_as_attempt_2(client, workdir):
    runs = workdir / "runs"
    [job_id] = client.submit([spec(workdir, f"#!/bin/sh\necho run >> '{runs}'\nsleep 300\n")])
    wait_until(lambda: runs.exists() and state_of(client, job_id).state == S.RUNNING, timeout=60, what="first run")
    [result] = client.requeue([job_id])
    assert result.code == R.OK
    again = wait_until(lambda: (j := state_of(client, job_id)).attempt == 2 and j.state == S.RUNNING and j,
                       timeout=60, what="the second run")
    assert again.attempt == 2
    wait_until(lambda: runs.read_text() == "run\nrun\n", timeout=30, what="the script ran twice")
    client.cancel([job_id])


def test_a_suspended_job_is_stopped_and_its_walltime_stands_still_until_resumed(cluster, client, workdir):
    walltime, stopped_for = 4, 6
    [job_id] = client.submit([spec(workdir, "#!/bin/sh\nexec sleep 300\n", walltime_seconds=walltime)])
    job = wait_until(lambda: (j := state_of(client, job_id)).session_id and j, timeout=60, what="the job's start")
    status = Path(f"/proc/{job.session_id}/status")

    def process_state() -> str:
        return next(line.split()[1] for line in status.read_text().splitlines() if line.startswith("State:"))
    with cluster.client(admin=True) as admin:
        [result] = admin.suspend([job_id])
        assert result.code == R.OK and state_of(client, job_id).state == S.SUSPENDED
        wait_until(lambda: process_state() == "T", timeout=30, what="the job's process stopped")
        # Its walltime passes while it is stopped: it must not end for that.
        wait_until(lambda: time.time() > job.start_time + walltime + stopped_for - 2, timeout=60,
                   what="the walltime to pass")
        assert state_of(client, job_id).state == S.SUSPENDED and process_state() == "T"
        [result] = admin.resume([job_id])
        assert result.code == R.OK and state_of(client, job_id).state == S.RUNNING
    [ended] = client.wait([job_id], timeout=60)
    # It ran its walltime in all: before the suspend and after the resume.
    assert ended.state == S.TIMEOUT and ended.end_time - ended.start_time >= walltime + stopped_for - 2


def test_a_dependency_added_to_a_pending_job_makes_it_wait(client, workdir):
    [first] = client.submit([spec(workdir)])
    [second] = client.submit([spec(workdir, hold=True)])
    wait_until(lambda: state_of(client, first).state == S.RUNNING, timeout=60, what="the first job's start")
    wanted = spec(workdir, dependencies=[jobs_pb2.Dependency(kind=jobs_pb2.Dependency.AFTER_OK, job_ids=[first])])
    client.update(second, wanted, ["dependencies"])
    client.release([second])
    waiting = wait_until(lambda: (j := state_of(client, second)).reason == "Dependency" and j, timeout=30,
                         what="the second job's reason")
    assert waiting.state == S.PENDING
    client.cancel([first, second])
