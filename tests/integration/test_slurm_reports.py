"""What a real cluster reports of itself and its jobs to Slurm's tools: `scontrol show config`
tells the limits ctld applies ([ctld] max_array_size as MaxArraySize, and ctld refuses an
array beyond it in both dialects), and squeue/sinfo/sacct --json have the jobs and the
node of the cluster in Slurm 22.05's keys, key order and value types (learnt from the
captures of tests/compat/captured/slurm_anchor/)."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.cluster import Cluster, start_cluster
from tests.compat import dumpcheck
from tests.conftest import wait_until

pytestmark = pytest.mark.integration

MAX_ARRAY_SIZE = 50


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    started = start_cluster(tmp_path_factory.mktemp("hpcq-home"), nodes=1, cpus=2,
                            settings=(f"ctld.max_array_size={MAX_ARRAY_SIZE}",))
    yield started
    started.stop()


def config_value(cluster: Cluster, key: str) -> str:
    lines = [line for line in cluster.run("scontrol", "show", "config").stdout.splitlines()
             if line.split(" = ")[0].rstrip() == key]
    assert len(lines) == 1, lines
    return lines[0].split(" = ", 1)[1]


def test_show_config_tells_the_array_limit_ctld_applies(cluster: Cluster) -> None:
    assert config_value(cluster, "MaxArraySize") == str(MAX_ARRAY_SIZE)
    assert config_value(cluster, "MinJobAge") == "300 sec"
    assert config_value(cluster, "MaxJobCount") == "200000"
    assert config_value(cluster, "SelectType") == "select/cons_tres"


def test_a_slurm_array_beyond_max_array_size_is_refused(cluster: Cluster, tmp_path) -> None:
    refused = cluster.run("sbatch", f"--array=0-{MAX_ARRAY_SIZE}", "--wrap", "true", cwd=tmp_path, check=False)
    assert (refused.returncode, refused.stderr) == (
        1, "sbatch: error: Batch job submission failed: Invalid job array specification\n")
    accepted = cluster.run("sbatch", "--parsable", "--hold", f"--array=0-{MAX_ARRAY_SIZE - 1}", "--wrap", "true",
                           cwd=tmp_path)
    cluster.run("scancel", accepted.stdout.strip())


def test_a_pbs_array_of_more_subjobs_than_max_array_size_is_refused(cluster: Cluster, tmp_path) -> None:
    (tmp_path / "job.sh").write_text("#!/bin/sh\ntrue\n")
    refused = cluster.run("qsub", "-J", f"1-{MAX_ARRAY_SIZE + 1}", "job.sh", cwd=tmp_path, check=False)
    assert (refused.returncode, refused.stdout, refused.stderr) == (
        15107 % 256, "", "qsub: Array job exceeds server or queue size limit\n")
    accepted = cluster.run("qsub", "-h", "-J", f"1-{MAX_ARRAY_SIZE}", "job.sh", cwd=tmp_path)
    cluster.run("qdel", accepted.stdout.strip())


def test_json_documents_of_the_cluster(cluster: Cluster, tmp_path) -> None:
    held = cluster.run("sbatch", "--parsable", "--hold", "-J", "held", "--wrap", "true", cwd=tmp_path).stdout.strip()
    done = cluster.run("sbatch", "--parsable", "-J", "done", "--wrap", "exit 3", cwd=tmp_path).stdout.strip()
    wait_until(lambda: done in cluster.run("sacct", "-n", "-X", "-s", "F", "-o", "JobID").stdout,
               timeout=60, what="the failing job to end")
    jobs = {j["job_id"]: j for j in json.loads(cluster.run("squeue", "--json").stdout)["jobs"]}
    assert jobs[int(held)]["job_state"] == "PENDING" and jobs[int(held)]["state_reason"] == "JobHeldUser"
    assert jobs[int(done)]["job_state"] == "FAILED" and jobs[int(done)]["exit_code"] == 3 << 8
    nodes = json.loads(cluster.run("sinfo", "--json").stdout)["nodes"]
    assert [n["cpus"] for n in nodes] == [2]
    accounted = json.loads(cluster.run("sacct", "--json", "-j", done).stdout)["jobs"]
    assert [(j["job_id"], j["state"]["current"], j["exit_code"]) for j in accounted] == [
        (int(done), "FAILED", {"status": "FAILED", "return_code": 3})]
    assert cluster.run("squeue", "--yaml").stdout.startswith("%YAML 1.1\n--- !!map\n!!str meta: !!map\n")
    # The same keys, in the same order, with values of the same types as Slurm 22.05's documents.
    for command, captured in (("squeue", ["squeue_json.txt", "squeue_json_more.txt"]), ("sinfo", ["sinfo_json.txt"]),
                              ("sacct", ["sacct_json.txt", "sacct_json_more.txt"])):
        shapes = dumpcheck.learn(dumpcheck.captured_document(name) for name in captured)
        argv = [command, "--json"] + (["-j", f"{held},{done}"] if command == "sacct" else [])
        assert list(dumpcheck.mismatches(json.loads(cluster.run(*argv).stdout), shapes)) == [], command
    cluster.run("scancel", held)
