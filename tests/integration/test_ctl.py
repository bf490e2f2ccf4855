"""hpcqctl against a real cluster: nodes and queues for people (tables) and for scripts
(--json), the queue limits the scheduler enforces, and config check on a real file."""
from __future__ import annotations

import json

import pytest

from tests.conftest import wait_until
from tests.integration.conftest import start_cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = start_cluster(tmp_path_factory.mktemp("hpcq-ctl"), nodes=2, cpus=2)
    yield cluster
    cluster.run("hpcqctl", "down", check=False)


def ctl_json(cluster, *argv: str):
    return json.loads(cluster.run("hpcqctl", *argv, "--json").stdout)


def test_node_list_show_drain_resume(cluster):
    table = cluster.run("hpcqctl", "node", "list").stdout.splitlines()
    assert table[0].split() == ["NODE", "STATE", "CPUS", "MEMORY_MB", "GPUS", "JOBS", "REASON"]
    assert [line.split()[:3] for line in table[1:]] == [["node1", "idle", "0/2"], ["node2", "idle", "0/2"]]
    nodes = ctl_json(cluster, "node", "list")
    assert [(n["name"], n["state"], n["hardware"]["cpus"]) for n in nodes] == [("node1", "NODE_IDLE", 2),
                                                                              ("node2", "NODE_IDLE", 2)]
    show = dict(line.split(None, 1) for line in cluster.run("hpcqctl", "node", "show", "node2").stdout.splitlines())
    assert (show["NodeName"], show["State"], show["CPUTot"], show["Connected"]) == ("node2", "IDLE", "2", "yes")

    drained = ctl_json(cluster, "node", "drain", "node2", "--reason", "disk swap")
    assert (drained["state"], drained["reason"]) == ("NODE_DRAINED", "disk swap")
    assert "node2        drained" in cluster.run("hpcqctl", "node", "list").stdout
    # A drained node takes no job: two 2-CPU jobs run one after the other on node1.
    with cluster.client() as client:
        from hpcq.api import jobs_pb2
        spec = jobs_pb2.JobSpec(script="#!/bin/sh\nsleep 0.3\n", resources=jobs_pb2.Resources(cpus_per_task=2))
        ids = client.submit([spec, spec])
        jobs = client.wait(ids, timeout=30)
    assert {j.allocation.slices[0].node for j in jobs} == {"node1"}
    assert cluster.run("hpcqctl", "node", "resume", "node2").stdout == "node2: idle\n"
    missing = cluster.run("hpcqctl", "node", "show", "node9", check=False)
    assert missing.returncode == 1 and "node 'node9' does not exist" in missing.stderr


def test_queue_create_show_update_limits_and_delete(cluster, tmp_path):
    cluster.run("hpcqctl", "queue", "create", "short", "--max-walltime", "600", "--priority", "10",
                "--max-running-per-user", "1", "--max-cpus-per-user", "2", "--max-submit-per-user", "2",
                "--allowed-users", "root,alice")
    queue = {q["name"]: q for q in ctl_json(cluster, "queue", "list")}["short"]
    assert (queue["max_walltime_seconds"], queue["priority"], queue["max_running_per_user"],
            queue["max_cpus_per_user"], queue["allowed_users"]) == (600, 10, 1, 2, ["root", "alice"])
    show = dict(line.split(None, 1) for line in cluster.run("hpcqctl", "queue", "show", "short").stdout.splitlines())
    assert (show["MaxTime"], show["MaxRunningPerUser"], show["MaxSubmitPerUser"], show["AllowedUsers"]) == \
        ("00:10:00", "1", "2", "root,alice")

    # max_running_per_user = 1: the second job waits for the first, with Slurm's reason.
    ids = [int(cluster.run("sbatch", "--parsable", "-p", "short", "-t", "1", "--wrap", "sleep 30",
                           cwd=tmp_path).stdout.strip().split(";")[0]) for _ in range(2)]
    with cluster.client(admin=True) as client:
        def one_waits():
            jobs, _ = client.get(ids)
            return sorted(j.reason for j in jobs if j.state == 1) == ["QOSMaxJobsPerUserLimit"]
        wait_until(one_waits, timeout=20, what="the per-user limit to hold the second job")
        # max_submit_per_user = 2: a third unfinished job is refused at submit, in Slurm's words.
        third = cluster.run("sbatch", "-p", "short", "-t", "1", "--wrap", "true", cwd=tmp_path, check=False)
        assert third.returncode == 1
        assert third.stderr.endswith("sbatch: error: Batch job submission failed: Job violates accounting/QOS "
                                     "policy (job submit limit, user's size and/or time limits)\n")
        client.cancel(ids)  # the first runs long, so the second is surely held while we look
        client.wait(ids, timeout=30)
    assert ctl_json(cluster, "queue", "show", "short")["jobs_by_state"] == {}  # finished jobs are not listed

    updated = ctl_json(cluster, "queue", "update", "short", "--max-running-per-user", "0", "--allowed-users", "")
    assert updated.get("max_running_per_user", 0) == 0 and updated.get("allowed_users", []) == []
    assert updated["priority"] == 10, "update keeps what it was not given"
    assert cluster.run("hpcqctl", "queue", "delete", "short").stdout == "queue short deleted\n"
    assert "short" not in cluster.run("hpcqctl", "queue", "list").stdout
    bad = cluster.run("hpcqctl", "queue", "update", "short", "--priority", "1", check=False)
    assert bad.returncode == 1 and "queue 'short' does not exist" in bad.stderr


def test_config_check_on_the_clusters_own_file_and_a_typo(cluster, tmp_path):
    own = cluster.home / "hpcq.toml"
    assert cluster.run("hpcqctl", "config", "check", str(own)).stdout == f"{own}: OK\n"
    typo = tmp_path / "hpcq.toml"
    typo.write_text(own.read_text().replace("sched_interval =", "sched_intervl ="))
    result = cluster.run("hpcqctl", "config", "check", str(typo), check=False)
    assert result.returncode == 1
    assert "unknown key [ctld] sched_intervl (did you mean 'sched_interval'?)" in result.stderr
    shown = cluster.run("hpcqctl", "config", "show", str(own)).stdout
    assert shown.startswith(f"# {own}\n") and "[ctld]" in shown


def test_completion_scripts_print(cluster):
    assert "complete -F _hpcqctl hpcqctl" in cluster.run("hpcqctl", "completion", "bash").stdout
    assert cluster.run("hpcqctl", "completion", "zsh").stdout.startswith("#compdef hpcqctl\n")
