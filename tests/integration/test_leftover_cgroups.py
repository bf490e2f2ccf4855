"""Leftover job cgroups. A supervisor killed before it could remove its job's cgroups leaves
them behind, and cgroup v1's hierarchies are the whole host's, shared by every cluster on it
(job ids start at 1 in each, and pids are recycled). A job's cgroups are named for its
supervisor's pid and start time, a name that never recurs while the host is up (it was
job_<id>.<attempt>.<supervisor pid>, which did: a job whose supervisor found a leftover in
its cgroup's place ended FAILED 'cannot confine the job: File exists', and a noded clearing
a lost supervisor's cgroup by that name could take another cluster's live job's). And noded,
when it starts, removes the empty ones whose supervisor is gone. Real ctld and noded,
cgroup v1 as root."""
from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from hpcq.api import jobs_pb2
from hpcq.noded import enforce, spool
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


def noded_pid(cluster: Cluster) -> int:
    return int((cluster.home / "run" / "node1.pid").read_text())


def idle_supervisors(cluster: Cluster) -> list[int]:
    """The pids of the supervisors node1's launcher has forked ahead of its next jobs."""
    launchers = [p for p in psutil.Process(noded_pid(cluster)).children() if "hpcq.noded.launcher" in p.cmdline()]
    return [s.pid for launcher in launchers for s in launcher.children()]


def job_bases(cluster: Cluster) -> dict[str, str]:
    """Where node1 makes its job cgroups: under its own cgroup in each hierarchy."""
    return enforce.detect(proc=f"/proc/{noded_pid(cluster)}").bases


def test_a_job_runs_though_a_leftover_cgroup_has_its_cgroups_old_name(one_node: Cluster, tmp_path: Path):
    bases = job_bases(one_node)
    with one_node.client() as client:
        next_id = max((j.id for j in client.list(include_finished=True)), default=0) + 1
    supervisors = wait_until(lambda: idle_supervisors(one_node), timeout=30, what="a supervisor forked ahead")
    # What a supervisor of an earlier hpcq, of another cluster (or of this one, before),
    # left: the next job's name then, with the pid of whichever supervisor will run it.
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


def test_a_job_s_cgroup_is_named_for_its_supervisor_s_pid_and_start_time(one_node: Cluster, tmp_path: Path):
    job_id = int(one_node.run("sbatch", "--parsable", "-o", str(tmp_path / "out"), "--wrap",
                              "grep :cpuset: /proc/self/cgroup; echo $PPID; cut -d' ' -f22 /proc/$PPID/stat",
                              cwd=tmp_path).stdout.split(";")[0])
    with one_node.client() as client:
        [job] = client.wait([job_id], timeout=60)
    assert jobs_pb2.JobState.Name(job.state) == "COMPLETED"
    cgroup, supervisor, ticks = (tmp_path / "out").read_text().split()   # the job's, its parent's
    assert os.path.basename(cgroup) == f"job_{job_id}.1.{supervisor}.{ticks}"
    path = "/sys/fs/cgroup/cpuset" + cgroup.split(":", 2)[2]
    wait_until(lambda: not os.path.exists(path), timeout=30, what="the job's cgroup removed at its end")


def a_process_gone() -> tuple[int, int]:
    """The pid and start ticks of a process that has ended."""
    process = subprocess.Popen(["sleep", "1000"])
    ticks = spool.process_start_ticks(process.pid)
    process.kill()
    process.wait()
    assert ticks is not None
    return process.pid, ticks


def make_cgroup(controller: str, base: str, name: str, pid: int = 0) -> None:
    """A cgroup as a supervisor makes it (a cpuset has CPUs and memory nodes), `pid` put in it."""
    os.mkdir(f"{base}/{name}")
    if controller == "cpuset":
        for file in ("cpuset.cpus", "cpuset.mems"):
            Path(base, name, file).write_text(Path(base, file).read_text())
    if pid:
        Path(base, name, "cgroup.procs").write_text(str(pid))


def restart_noded(cluster: Cluster) -> None:
    pid = noded_pid(cluster)
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
               timeout=30, what="node1 to stop")
    cluster.run("hpcqctl", "up", "--nodes", "1", "--cpus", "2")   # returns once node1 is connected


def removed(path: str) -> bool:
    try:
        os.rmdir(path)
    except FileNotFoundError:
        return True
    except OSError:   # the kernel may take a moment to see a killed process leave
        return False
    return True


SWEPT = re.compile(r"removed \d+ leftover job cgroups \(empty, their supervisors gone\)")


def test_noded_at_start_removes_the_empty_cgroups_of_supervisors_gone_and_no_other(one_node: Cluster):
    bases = job_bases(one_node)
    me, my_ticks = os.getpid(), spool.process_start_ticks(os.getpid())
    assert my_ticks is not None
    gone, gone_ticks = a_process_gone()
    job = 900_000 + os.getpid() % 1000   # no cluster of the suite gets that far
    removable = [f"job_{job}.1.{gone}.{gone_ticks}",    # its maker ended
                 f"job_{job}.2.{me}.{my_ticks + 1}",    # its pid is another process's now
                 f"job_{job}.3.{gone}"]                 # an earlier hpcq's name, and its pid runs no more
    kept = [f"job_{job}.4.{me}.{my_ticks}",             # its maker (this process) runs
            f"job_{job}.5.{me}"]                        # an earlier hpcq's, its pid runs: left
    busy = f"job_{job}.6.{gone}.{gone_ticks}"           # its maker ended, but a process is in it
    sleeper = subprocess.Popen(["sleep", "1000"])
    planted = [*removable, *kept, busy]
    starts = len(SWEPT.findall(one_node.log("node1")))
    try:
        for controller, base in bases.items():
            for name in planted:
                make_cgroup(controller, base, name, sleeper.pid if name == busy else 0)
        restart_noded(one_node)
        assert [n for n in removable if any(os.path.exists(f"{b}/{n}") for b in bases.values())] == []
        assert len(SWEPT.findall(one_node.log("node1"))) == starts + 1
        assert all(os.path.isdir(f"{b}/{n}") for b in bases.values() for n in [*kept, busy])
        assert all(Path(b, busy, "cgroup.procs").read_text().split() == [str(sleeper.pid)] for b in bases.values())
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()
        for name in planted:
            for base in bases.values():
                wait_until(lambda d=f"{base}/{name}": removed(d), timeout=30, what=f"{base}/{name} removed")
