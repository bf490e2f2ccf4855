"""Limits nobody can dodge and settings only staff may choose, tried by two real
unprivileged users through the agent of a cluster root started, with the real commands."""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests import localusers
from tests.cluster import Cluster
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="creates local users and changes uid")]

ALICE, BOB = "hpcqalice", "hpcqbob"
SUBMIT_LIMIT = ("sbatch: error: Batch job submission failed: Job violates accounting/QOS policy "
                "(job submit limit, user's size and/or time limits)\n")


@pytest.fixture(scope="module")
def limited() -> Iterator[tuple[Cluster, dict[str, str]]]:
    """A one-node cluster with every cap low, and the environment its users' commands get."""
    with localusers.shared_cluster("hpcq-limits.", "ctld.max_pending_jobs=50", "ctld.max_submit_jobs=30",
                                   "ctld.max_running_jobs=2", cpus=4) as site:
        yield site


@pytest.fixture(scope="module")
def users() -> dict:
    return localusers.ensure(ALICE, BOB)


def sbatch(users: dict, env: dict[str, str], who: str, *options: str) -> tuple[int, str]:
    """(job id or 0, stderr) of a user's `sbatch --parsable OPTIONS --wrap 'sleep 300'`."""
    result = localusers.run_as(users[who], ["sbatch", "--parsable", *options, "--wrap", "sleep 300"], env)
    job_id = int(result.stdout.split(";")[0]) if result.returncode == 0 else 0
    return job_id, result.stderr


def squeue(users: dict, env: dict[str, str], who: str, *options: str) -> str:
    result = localusers.run_as(users[who], ["squeue", "-h", *options], env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_user_cannot_raise_a_jobs_priority_but_root_can(limited, users) -> None:
    cluster, env = limited
    for options in (["--nice=-100000"], ["--priority=99999"]):
        job_id, err = sbatch(users, env, BOB, "--hold", *options)
        assert job_id == 0
        assert err == "sbatch: error: Batch job submission failed: Access/permission denied\n"
    job_id, err = sbatch(users, env, BOB, "--hold", "--nice=10")
    assert job_id, err
    update = localusers.run_as(users[BOB], ["scontrol", "update", f"JobId={job_id}", "Nice=-5000"], env)
    assert (update.returncode, update.stderr) == (1, f"Access/permission denied for job {job_id}\n")   # Slurm 22.05
    assert squeue(users, env, BOB, "-j", str(job_id), "-o", "%y") == "10\n"
    # qsub -p from a user is accepted as PBS accepts it, and ranks the job no higher
    qsub = localusers.run_as(users[BOB], ["qsub", "-h", "-p", "1000"], env, input="sleep 300\n")
    assert qsub.returncode == 0, qsub.stderr
    pbs_id = qsub.stdout.split(".")[0]
    assert squeue(users, env, BOB, "-j", pbs_id, "-o", "%y") == "0\n"
    shown = localusers.run_as(users[BOB], ["qstat", "-f", pbs_id], env).stdout
    assert "    Priority = 1000\n" in shown
    # root, an admin on the cluster it started, may
    assert cluster.run("scontrol", "update", f"JobId={job_id}", "Nice=-5000").returncode == 0
    assert squeue(users, env, BOB, "-j", str(job_id), "-o", "%y") == "-5000\n"
    cluster.run("scancel", str(job_id), pbs_id)


def test_held_begin_and_array_jobs_all_count_toward_the_caps(limited, users) -> None:
    cluster, env = limited
    cluster.run("scancel", "-u", ALICE, check=False)
    cluster.run("scancel", "-u", BOB, check=False)
    wait_until(lambda: not cluster.run("squeue", "-h").stdout, timeout=30, what="an empty queue")

    # max_running_jobs = 2: bob's third job waits, with Slurm's reason for it
    running = [sbatch(users, env, BOB)[0] for _ in range(3)]
    assert all(running)
    wait_until(lambda: sorted(squeue(users, env, BOB, "-o", "%r").split()) ==
               ["AssocMaxJobsLimit", "None", "None"], timeout=30, what="bob's third job held back")

    # max_submit_jobs = 30 per user: held, --begin and each array task count
    for options in (["--hold"], ["--begin=now+1hour"], ["--array=0-6", "--hold"]):
        for _ in range(3):
            assert sbatch(users, env, BOB, *options)[0]
    # bob: 3 + 3 held + 3 waiting + 3 arrays of 7 tasks = 30
    job_id, err = sbatch(users, env, BOB, "--hold")
    assert (job_id, err) == (0, SUBMIT_LIMIT)
    # alice still submits: the cap is per user
    alice_ids = [sbatch(users, env, ALICE, "--array=0-9", "--hold")[0] for _ in range(2)]
    assert all(alice_ids)
    # max_pending_jobs = 50, everyone's unfinished jobs: 30 + 20 = 50, nothing more
    job_id, err = sbatch(users, env, ALICE, "--begin=now+1hour")
    assert job_id == 0
    assert err.endswith("sbatch: error: Batch job submission failed: Resource temporarily unavailable\n"), err
    # a finished job frees its place
    cluster.run("scancel", str(running[0]))
    wait_until(lambda: sbatch(users, env, ALICE, "--hold")[0] != 0, timeout=30, what="a place after a cancel")
