"""A job's cgroup is named job_<id>.<attempt>.<supervisor pid>, and that name recurs on a
host: job ids start at 1 in every cluster, pids are recycled, and a cgroup a supervisor
killed before it could remove it stays (cgroup v1's cpuset and cpuacct hierarchies are
the whole host's). A job whose supervisor finds such a leftover in its cgroup's place
still runs, in a cgroup of its own. (It ended FAILED 'cannot confine the job: File
exists' without running: the acknowledged sbatch job of the chaos test that finished
without its line in the ledger.) Real ctld and noded, cgroup v1 as root."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from hpcq.api import jobs_pb2
from hpcq.noded import enforce
from tests.cluster import Cluster, start_cluster
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.skipif(
    os.geteuid() != 0 or not all(Path("/sys/fs/cgroup", c).is_dir() for c in enforce.V1_CONTROLLERS),
    reason="needs root and cgroup v1 (cpuset, memory, cpuacct)")]


@pytest.fixture(scope="module")
def one_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = start_cluster(tmp_path_factory.mktemp("hpcq-home"), nodes=1, cpus=2)
    yield cluster
    cluster.run("hpcqctl", "down", check=False)


def idle_supervisors(cluster: Cluster) -> list[int]:
    """The pids of the supervisors node1's launcher has forked ahead of its next jobs."""
    noded = psutil.Process(int((cluster.home / "run" / "node1.pid").read_text()))
    launchers = [p for p in noded.children() if "hpcq.noded.launcher" in p.cmdline()]
    return [s.pid for launcher in launchers for s in launcher.children()]


def test_a_job_runs_though_a_leftover_cgroup_has_its_cgroups_name(one_node: Cluster, tmp_path: Path):
    noded = int((one_node.home / "run" / "node1.pid").read_text())
    bases = enforce.detect(proc=f"/proc/{noded}").bases
    with one_node.client() as client:
        next_id = max((j.id for j in client.list(include_finished=True)), default=0) + 1
    supervisors = wait_until(lambda: idle_supervisors(one_node), timeout=30, what="a supervisor forked ahead")
    # What a supervisor of another cluster (or of this one, before) left: the next job's
    # name with the pid of whichever supervisor will run it.
    leftovers = [f"{base}/job_{next_id}.1.{pid}" for base in bases.values() for pid in supervisors]
    for d in leftovers:
        os.mkdir(d)
    try:
        job_id = int(one_node.run("sbatch", "--parsable", "-o", "/dev/null", "--wrap",
                                  f"echo ran >> '{tmp_path / 'ledger'}'", cwd=tmp_path).stdout.split(";")[0])
        assert job_id == next_id
        with one_node.client() as client:
            [job] = client.wait([job_id], timeout=60)
        assert (jobs_pb2.JobState.Name(job.state), job.reason) == ("COMPLETED", "None")
        assert (tmp_path / "ledger").read_text() == "ran\n"
    finally:
        for d in leftovers:
            if os.path.isdir(d):
                os.rmdir(d)
