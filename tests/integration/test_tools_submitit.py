"""submitit's SlurmExecutor, unmodified (the version pinned in the test requirements),
against a local cluster: its sbatch scripts call `srun --unbuffered --output ... python -u
-m submitit.core._submit`, it reads states with `sacct -o JobID,State,NodeList
--parsable2` and cancels with `scancel`. The venv's bin comes first on PATH, so the
commands it finds are hpcq's."""
from __future__ import annotations

import pytest

from tests.conftest import wait_until

submitit = pytest.importorskip("submitit")

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("make_cluster", ["sqlite"], indirect=True)]


def add(a: int, b: int) -> int:
    return a + b


def square(x: int) -> int:
    return x * x


def rank_and_step() -> tuple[str, str, str]:
    env = submitit.JobEnvironment()
    import os
    return env.job_id, str(env.global_rank), os.environ["SLURM_STEP_ID"]


@pytest.fixture
def executor(make_cluster, workdir, monkeypatch):
    cluster = make_cluster(nodes=2, cpus=2)
    for name in ("HPCQ_CONF", "HPCQ_AGENT_SOCKET", "SLURM_JOB_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HPCQ_HOME", cluster.env["HPCQ_HOME"])
    monkeypatch.setenv("PATH", cluster.env["PATH"])
    monkeypatch.chdir(workdir)
    ex = submitit.SlurmExecutor(folder=workdir / "logs")
    ex.update_parameters(time=5)
    return ex


def test_a_function_returns_its_value_from_a_step(executor):
    job = executor.submit(add, 2, 3)
    assert job.result() == 5
    _, rank, step = executor.submit(rank_and_step).result()
    assert (rank, step) == ("0", "0")
    info = wait_until(lambda: (lambda i: i if i.get("State") == "COMPLETED" else None)(job.get_info()),
                      timeout=30, what="sacct to show the job COMPLETED")
    assert info["NodeList"]


def test_map_array_runs_every_input(executor):
    executor.update_parameters(array_parallelism=2)
    jobs = executor.map_array(square, [1, 2, 3])
    assert len({job.job_id.split("_")[0] for job in jobs}) == 1
    assert [job.result() for job in jobs] == [1, 4, 9]
    assert [job.job_id.split("_")[1] for job in jobs] == ["0", "1", "2"]


def test_a_cancelled_job_ends_cancelled(executor):
    import time
    job = executor.submit(time.sleep, 300)
    wait_until(lambda: job.get_info().get("State") == "RUNNING", timeout=30, what="the job to run")
    job.cancel()
    wait_until(lambda: job.get_info().get("State", "").startswith("CANCELLED"), timeout=60,
               what="sacct to show the job CANCELLED")
    assert job.done(force_check=True)


def test_a_job_on_two_nodes_runs_a_task_on_each(executor):
    executor.update_parameters(nodes=2, ntasks_per_node=1)
    job = executor.submit(rank_and_step)
    results = job.results()
    assert [(rank, step) for _, rank, step in results] == [("0", "0"), ("1", "0")]
