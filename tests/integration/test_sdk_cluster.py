"""hpcq.Client's typed views against a real cluster, and hpcq.testing.local_cluster():
the commands on PATH while it runs, everything stopped, cancelled and removed after."""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcq import ActionResult, Client, JobState
from hpcq.api.jobs_pb2 import DIALECT_SLURM, JobSpec, Resources
from hpcq.testing import Cluster, CommandFailed, local_cluster
from tests.conftest import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with local_cluster(nodes=2, cpus=2) as running:
        yield running


def spec(workdir: Path, script: str, **fields) -> JobSpec:
    return JobSpec(dialect=DIALECT_SLURM, name="fold", script=f"#!/bin/sh\n{script}\n", submit_dir=str(workdir),
                   walltime_seconds=600, **fields)


def test_the_api_guide_example_reads_typed_jobs(cluster: Cluster, tmp_path: Path) -> None:
    with cluster.client() as client:
        assert isinstance(client, Client)
        ids = client.submit([spec(tmp_path, "hostname", resources=Resources(cpus_per_task=2))])
        seen = []
        for job in client.watch(ids, timeout=30):
            seen.append(job.state)
            if job.is_finished:
                break
        [done] = client.wait(ids, timeout=30)
    assert seen[-1] is JobState.COMPLETED and done.state is JobState.COMPLETED
    assert (done.id, done.name, done.exit_code, done.signal) == (ids[0], "fold", 0, None)
    assert len(done.nodes) == 1 and done.nodes[0] in ("node1", "node2")
    assert done.submit_time <= done.start_time <= done.end_time
    assert done.proto.spec.resources.cpus_per_task == 2


def test_actions_answer_per_job_and_nodes_are_typed(cluster: Cluster, tmp_path: Path) -> None:
    with cluster.client() as client:
        job_id = client.submit_one(spec(tmp_path, "true", hold=True))
        assert client.job(job_id).state is JobState.HELD
        assert client.release([job_id]) == [ActionResult(job_id, "OK", "", proto=None)]  # proto: not compared
        [unknown] = client.cancel([999_999])
        assert (unknown.ok, unknown.code) == (False, "UNKNOWN_JOB")
        client.wait([job_id], timeout=30)
        assert [r.code for r in client.cancel([job_id])] == ["FINISHED"]
        nodes = client.nodes()
        assert [(n.name, n.connected, n.cpus) for n in nodes] == [("node1", True, 2), ("node2", True, 2)]
    with cluster.client(admin=True) as admin:
        assert admin.drain_node("node1", "test").state in ("DRAINED", "DRAINING")
        assert admin.resume_node("node1").state == "IDLE"


def test_local_cluster_puts_its_commands_on_path_then_stops_and_cleans_up(tmp_path: Path) -> None:
    before = {name: os.environ.get(name) for name in ("PATH", "HPCQ_HOME")}
    with local_cluster(nodes=1, cpus=1) as small:
        assert os.environ["HPCQ_HOME"] == str(small.home)
        assert Path(shutil.which("sbatch")).parent == Path(shutil.which("hpcqctl")).parent
        # what the code under test does: run sbatch as on a cluster, with the process's environment
        out = subprocess.run(["sbatch", "--parsable", "--wrap", "sleep 300"], cwd=tmp_path, capture_output=True,
                             text=True, check=True).stdout
        job_id = int(out.split(";")[0])
        with small.client() as client:
            wait_until(lambda: client.job(job_id).proto.session_id, what="the job running")
            group = client.job(job_id).proto.session_id   # its process group
        pids = [int(p.read_text()) for p in (small.home / "run").glob("*.pid")]
        with pytest.raises(CommandFailed) as failed:
            small.run("scancel", "nosuchjob")
        assert failed.value.result.returncode != 0 and "scancel nosuchjob" in str(failed.value)
    assert {name: os.environ.get(name) for name in before} == before
    assert not small.home.exists()
    assert len(pids) == 3 and not any(_running(pid) for pid in pids)
    # the sleeping job did not outlive its cluster
    assert not [p for p in Path("/proc").glob("[0-9]*") if _process_group(p) == group]


def _stat(proc: Path) -> list[str]:
    """/proc/PID/stat's fields after the command's name: state, ppid, pgrp, session, ..."""
    try:
        return (proc / "stat").read_text().rsplit(") ", 1)[1].split()
    except OSError:
        return ["X"]


def _running(pid: int) -> bool:
    """Alive and not a zombie (the daemons are not our children: nobody here reaps them)."""
    return _stat(Path(f"/proc/{pid}"))[0] not in ("Z", "X")


def _process_group(proc: Path) -> int:
    fields = _stat(proc)
    return int(fields[2]) if fields[0] not in ("Z", "X") else 0
