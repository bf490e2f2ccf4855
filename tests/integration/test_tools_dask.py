"""dask-jobqueue, unmodified, against a real cluster: SLURMCluster drives sbatch/scancel
and PBSCluster qsub/qdel as they would on Slurm and OpenPBS. Two worker jobs join the
dask scheduler over loopback, compute a sum, and are cancelled when the cluster closes."""
from __future__ import annotations

import os

import pytest

from hpcq.api import jobs_pb2
from tests.cluster import BIN
from tests.conftest import wait_until

dask_jobqueue = pytest.importorskip("dask_jobqueue")
distributed = pytest.importorskip("distributed")

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("make_cluster", ["sqlite"], indirect=True)]
S = jobs_pb2.JobState
# queue and account as a user would give them (-p/-q, -A); "batch" is hpcq's default queue.
WORKER = dict(cores=1, processes=1, memory="512MB", walltime="00:10:00", interface="lo", queue="batch",
              account="dasklab", death_timeout=60, worker_extra_args=["--no-dashboard"])


@pytest.fixture
def tool_env(cluster, monkeypatch, tmp_path):
    """The test process as a user's shell: our shims first on PATH, this cluster's home."""
    for name in ("HPCQ_CONF", "HPCQ_AGENT_SOCKET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HPCQ_HOME", str(cluster.home))
    monkeypatch.setenv("PATH", f"{BIN}:{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    return cluster


def _sum_on_two_workers(job_cluster) -> list[str]:
    """Scale to two jobs, compute on both workers; the jobs' ids as the tool holds them."""
    with distributed.Client(job_cluster) as client:
        job_cluster.scale(jobs=2)
        client.wait_for_workers(2, timeout=90)
        assert len(client.scheduler_info()["workers"]) == 2
        futures = client.map(lambda x: x * x, range(10))
        assert client.submit(sum, futures).result(timeout=60) == 285
        job_ids = [job.job_id for job in job_cluster.workers.values()]
    assert len(job_ids) == 2
    return job_ids


def _ended(cluster, job_ids: list[int]) -> list[jobs_pb2.Job]:
    with cluster.client() as sdk:
        jobs, _ = sdk.get(job_ids)
    return jobs if all(j.state == S.CANCELLED for j in jobs) else []


def test_slurm_cluster_runs_workers_and_cancels_them(tool_env, tmp_path):
    with dask_jobqueue.SLURMCluster(**WORKER, log_directory=str(tmp_path / "logs")) as job_cluster:
        assert "#SBATCH" in job_cluster.job_script()
        job_ids = _sum_on_two_workers(job_cluster)
    ids = [int(j) for j in job_ids]
    jobs = wait_until(lambda: _ended(tool_env, ids), timeout=30, what="the worker jobs to be cancelled")
    assert {j.state for j in jobs} == {S.CANCELLED}
    assert {(j.queue, j.spec.account, j.spec.name) for j in jobs} == {("batch", "dasklab", "dask-worker")}
    out = tool_env.run("squeue", "-h", "-j", ",".join(job_ids), check=False)
    assert out.stdout == ""
    # -o/-e logs/dask-worker-%J.out: the workers' logs where the tool asked for them.
    assert {f"dask-worker-{j}.{ext}" for j in job_ids for ext in ("out", "err")} <= set(os.listdir(tmp_path / "logs"))


def test_pbs_cluster_runs_workers_and_cancels_them(tool_env, tmp_path):
    with dask_jobqueue.PBSCluster(**WORKER, log_directory=str(tmp_path / "logs")) as job_cluster:
        assert "#PBS -l select=1:ncpus=1" in job_cluster.job_script()
        job_ids = _sum_on_two_workers(job_cluster)
    ids = [int(j) for j in job_ids]           # the tool keeps the number of qsub's 42.server
    jobs = wait_until(lambda: _ended(tool_env, ids), timeout=30, what="the worker jobs to be cancelled")
    assert {j.state for j in jobs} == {S.CANCELLED}
    assert {(j.queue, j.spec.account, j.spec.name) for j in jobs} == {("batch", "dasklab", "dask-worker")}
    out = tool_env.run("qstat", *job_ids, check=False)
    assert out.stdout == ""
    assert "Job has finished" in out.stderr
    # -o/-e logs/ (a directory): PBS names the files <job name>.o<sequence number>.
    assert {f"dask-worker.{x}{j}" for j in job_ids for x in "oe"} <= set(os.listdir(tmp_path / "logs"))
