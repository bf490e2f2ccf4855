"""The affinity+rlimits fallback, where it is meant for: a personal cluster that an
ordinary user starts (`hpcqctl up`), whose noded may use no cgroup. Its daemons run as
that user, with an interpreter every user may run (tests/localusers.command_dir), and
the user's own commands talk to them. One cluster for the module."""
from __future__ import annotations

import os
import pwd
import re
import shutil
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import hpcq
from hpcq.noded import enforce
from tests import localusers
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="creates an unprivileged user to run the cluster as")]

USER = "hpcqlab"


class UserCluster:
    def __init__(self, user: pwd.struct_passwd, base: Path) -> None:
        self.user = user
        self.home = base / "home"
        self.work = base / "work"
        commands = localusers.command_dir(base / "bin")
        # hpcqctl starts the daemons with its own interpreter and `-m`: hpcq (this checkout,
        # an editable install) and its dependencies reach them by PYTHONPATH.
        checkout = Path(hpcq.__file__).resolve().parents[1]
        self.env = {"PATH": f"{commands}:/usr/bin:/bin", "HPCQ_HOME": str(self.home),
                    "PYTHONPATH": f"{sysconfig.get_paths()['purelib']}:{checkout}"}

    def run(self, *argv: str, check: bool = True, timeout: float = 60) -> localusers.subprocess.CompletedProcess:
        done = localusers.run_as(self.user, argv, self.env, cwd=self.work, timeout=timeout)
        if check:
            assert done.returncode == 0, f"{argv}: {done.stderr}"
        return done

    def sbatch(self, *args: str) -> int:
        return int(self.run("sbatch", "--parsable", "-o", f"{self.work}/%j.out", *args).stdout.strip())

    def state(self, job: int) -> str:
        return self.run("sacct", "-j", str(job), "-X", "-n", "-P", "-o", "State").stdout.strip()


@pytest.fixture(scope="module")
def lab() -> Iterator[UserCluster]:
    user = localusers.ensure(USER)[USER]
    base = Path(tempfile.mkdtemp(prefix="hpcq-lab."))
    os.chmod(base, 0o755)
    cluster = UserCluster(user, base)
    for d in (cluster.home, cluster.work):
        d.mkdir()
        os.chown(d, user.pw_uid, user.pw_gid)
    try:
        cluster.run("hpcqctl", "up", "--nodes", "1", "--cpus", "2", "--set=ctld.sched_min_interval=0.01",
                    "--set=ctld.heartbeat_interval=0.5", "--set=ctld.require_memory_enforcement=true", timeout=120)
        yield cluster
    finally:
        cluster.run("hpcqctl", "down", check=False)
        shutil.rmtree(base, ignore_errors=True)


def test_the_daemons_run_as_the_user_and_the_node_says_it_falls_back(lab: UserCluster):
    shown = lab.run("hpcqctl", "node", "show", "node1").stdout
    assert re.search(r"^Enforcement\s+affinity\+rlimits \(CPU affinity, which a job may change; RLIMIT_DATA per "
                     r"process; no OOM detection\): cgroup v1: Permission denied", shown, re.M), shown
    daemons = [p for p in psutil.process_iter(["cmdline", "cwd", "uids"])
               if p.info["cwd"] == str(lab.home) and any("hpcq." in word for word in p.info["cmdline"] or ())]
    assert len(daemons) >= 3 and {p.info["uids"].effective for p in daemons} == {lab.user.pw_uid}


def test_a_single_cpu_job_is_pinned_to_one_cpu(lab: UserCluster):
    job = lab.sbatch("-c1", "--wrap", "grep Cpus_allowed_list /proc/self/status; ulimit -d")
    wait_until(lambda: lab.state(job) == "COMPLETED", timeout=30, what=f"job {job} to complete")
    words = (lab.work / f"{job}.out").read_text().split()
    assert words[0] == "Cpus_allowed_list:" and len(enforce.parse_cpu_list(words[1])) == 1


def test_memory_is_refused_where_no_node_can_enforce_it(lab: UserCluster):
    done = lab.run("sbatch", "--mem=100M", "--wrap", "true", check=False)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "sbatch: error: Memory specification can not be satisfied: no node of queue batch enforces memory limits "
        "(theirs: affinity+rlimits) and [ctld] require_memory_enforcement is set",
        "sbatch: error: Batch job submission failed: Requested node configuration is not available"]


def test_sstat_measures_a_running_job_from_proc(lab: UserCluster):
    grow = ("python3 -c 'import time; b = bytearray(80 << 20); b[::4096] = b\"x\" * len(b[::4096]); "
            "open(\"grown\", \"w\").close(); time.sleep(600)'")
    job = lab.sbatch("--wrap", grow)
    wait_until(lambda: (lab.work / "grown").exists(), timeout=30, what="the job to hold 80 MB")

    def max_rss() -> list[str] | None:
        fields = lab.run("sstat", "-j", str(job), "-n", "-P", "-o", "JobID,MaxRSS").stdout.strip().split("|")
        return fields if len(fields) == 2 and _kb(fields[1]) >= 75 << 10 else None
    assert wait_until(max_rss, timeout=20, what="sstat to show the memory held")[0] == f"{job}.batch"
    lab.run("scancel", str(job))
    wait_until(lambda: lab.state(job).startswith("CANCELLED"), timeout=30, what=f"job {job} cancelled")


def _kb(text: str) -> int:
    """sstat's 1164K / 200M / 1.50G in KiB."""
    scale = {"K": 1, "M": 1 << 10, "G": 1 << 20}.get(text[-1:])
    return int(float(text[:-1]) * scale) if scale else 0
