"""Another project's tests, as docs/user-guide.md shows them: run by tests/wheel/ in a
fresh venv where hpcq is installed from its wheel, with the `hpcq_cluster` fixture its
pytest plugin registers. (Not collected by hpcq's own suite: the name does not start
with test_; the wheel test copies it in as test_consumer.py.)"""
import os
import shutil
import subprocess
import sys

import pytest


@pytest.fixture(scope="session")
def hpcq_cluster_options():
    return {"nodes": 1, "cpus": 2}


def test_my_tool_submits_with_sbatch(hpcq_cluster, tmp_path):
    done = subprocess.run(["sbatch", "--parsable", "--wrap", "echo hi"], cwd=tmp_path,
                          capture_output=True, text=True, check=True)
    job_id = int(done.stdout.split(";")[0])
    with hpcq_cluster.client() as client:
        [job] = client.wait([job_id], timeout=60)
    assert job.exit_code == 0
    assert (tmp_path / f"slurm-{job_id}.out").read_text() == "hi\n"


def test_qsub_and_qstat_reach_the_same_cluster(hpcq_cluster, tmp_path):
    # the commands on PATH are this venv's, and the environment names the cluster
    assert os.path.dirname(shutil.which("qsub")) == os.path.dirname(shutil.which("hpcqctl"))
    assert shutil.which("qsub").startswith(sys.prefix)
    assert os.environ["HPCQ_HOME"] == str(hpcq_cluster.home)
    job = hpcq_cluster.run("qsub", "-N", "pbsjob", "--", "/bin/echo", "from pbs", cwd=tmp_path).stdout.strip()
    job_id = int(job.split(".")[0])
    with hpcq_cluster.client() as client:
        [done] = client.wait([job_id], timeout=60)
    assert (done.name, done.exit_code, len(done.nodes)) == ("pbsjob", 0, 1)
    assert f"{job_id}." in hpcq_cluster.run("qstat", "-x", job).stdout
