"""A job gets what it asked for, no more, and sacct says what it used: real ctld and noded
on this host (cgroup v1 as root here), real shims. One cluster for the module."""
from __future__ import annotations

import glob
import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from hpcq.noded import enforce
from tests.cluster import Cluster, start_cluster
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.skipif(
    os.geteuid() != 0 or not all(Path("/sys/fs/cgroup", c).is_dir() for c in enforce.V1_CONTROLLERS),
    reason="needs root and cgroup v1 (cpuset, memory, cpuacct)")]


@pytest.fixture(scope="module")
def one_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = start_cluster(tmp_path_factory.mktemp("hpcq-home"), nodes=1, cpus=2,
                            settings=("ctld.sched_min_interval=0.01", "ctld.heartbeat_interval=0.5",
                                      "ctld.default_mem_per_cpu=300"))
    yield cluster
    cluster.run("hpcqctl", "down", check=False)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path


def sbatch(cluster: Cluster, work: Path, *args: str) -> int:
    out = cluster.run("sbatch", "--parsable", "-o", str(work / "%j.out"), "-e", str(work / "%j.err"), *args, cwd=work)
    return int(out.stdout.strip())


def sacct(cluster: Cluster, job: int, fields: str) -> list[str]:
    """The job's own line (not its steps'), field by field."""
    out = cluster.run("sacct", "-j", str(job), "-n", "-P", "-o", fields).stdout
    return out.splitlines()[0].split("|")


def ended(cluster: Cluster, job: int) -> str:
    return wait_until(lambda: (s := sacct(cluster, job, "State")[0]) not in ("PENDING", "RUNNING", "COMPLETING")
                      and s, timeout=30, what=f"job {job} to end")


def test_the_node_says_how_it_confines_jobs(one_node: Cluster):
    shown = one_node.run("hpcqctl", "node", "show", "node1").stdout
    assert re.search(r"^Enforcement\s+cgroup/v1 \(cpuset, memory, cpuacct", shown, re.M)
    assert "jobs are confined by cgroup/v1" in one_node.log("node1")
    assert "   Comment=Enforcement=cgroup/v1" in one_node.run("scontrol", "show", "node", "node1").stdout.splitlines()
    assert "     resources_available.hpcq_enforcement = cgroup/v1" in one_node.run("pbsnodes", "-a").stdout.splitlines()


def test_pbs_ncpus_ncpus_and_slurm_agree_with_the_cpus_a_job_may_use(one_node: Cluster, work: Path):
    report = "echo $PBS_NCPUS $NCPUS $OMP_NUM_THREADS $SLURM_CPUS_ON_NODE; grep Cpus_allowed_list /proc/self/status"
    job = sbatch(one_node, work, "-c2", "--wrap", report)
    assert ended(one_node, job) == "COMPLETED"
    words = (work / f"{job}.out").read_text().split()
    assert words[:4] == ["2"] * 4 and len(enforce.parse_cpu_list(words[5])) == 2


def test_more_memory_than_asked_ends_out_of_memory_as_slurm_says(one_node: Cluster, work: Path):
    job = sbatch(one_node, work, "--mem=100M", "--wrap", "python3 -c 'bytearray(400<<20)'")
    assert ended(one_node, job) == "OUT_OF_MEMORY"
    assert (f"slurmstepd: error: Detected 1 oom_kill event in StepId={job}.batch. "
            "Some of the step tasks have been OOM Killed.") in (work / f"{job}.err").read_text()


def test_pbs_mem_is_a_limit_too(one_node: Cluster, work: Path):
    script = work / "big.pbs"
    script.write_text("#!/bin/sh\n#PBS -l mem=100mb\npython3 -c 'bytearray(400<<20)'\n")
    job_id = one_node.run("qsub", str(script), cwd=work).stdout.strip()
    job = int(job_id.split(".")[0])
    assert ended(one_node, job) == "OUT_OF_MEMORY"


def test_two_single_cpu_jobs_get_one_cpu_each_and_different_ones(one_node: Cluster, work: Path):
    report = ("grep Cpus_allowed_list /proc/self/status; echo $SLURM_CPUS_ON_NODE $OMP_NUM_THREADS; "
              "touch $SLURM_JOB_ID.up; while [ ! -e go ]; do sleep 0.05; done")
    jobs = [sbatch(one_node, work, "-c1", "--wrap", report) for _ in range(2)]
    # Both run at once: each waits for the other to be up before either may end.
    wait_until(lambda: all((work / f"{j}.up").exists() for j in jobs), what="both jobs running at once")
    (work / "go").touch()
    for j in jobs:
        assert ended(one_node, j) == "COMPLETED"
    outputs = [(work / f"{j}.out").read_text().split() for j in jobs]
    cpus = [o[1] for o in outputs]
    assert all(re.fullmatch(r"\d+", c) for c in cpus) and cpus[0] != cpus[1]
    assert [o[2:] for o in outputs] == [["1", "1"], ["1", "1"]]


def test_a_double_forked_daemon_does_not_survive_scancel(one_node: Cluster, work: Path):
    marker = f"{600 + os.getpid() % 1000}.{os.getpid()}"  # a sleep duration no other process uses
    job = sbatch(one_node, work, "--wrap", f"(setsid sh -c 'sleep {marker} &' &); sleep 600")
    wait_until(lambda: _processes(marker), what="the daemon running")
    one_node.run("scancel", str(job))
    assert ended(one_node, job).startswith("CANCELLED")
    wait_until(lambda: not _processes(marker), timeout=10, what="the daemon to be gone")


def test_a_job_whose_supervisor_is_killed_ends_failed_with_nothing_left_running(one_node: Cluster, work: Path):
    """Its CPUs go to other jobs once it is reported FAILED: what it left in its cgroup
    must not run on there, unaccounted."""
    marker = f"{700 + os.getpid() % 1000}.{os.getpid()}"
    job = sbatch(one_node, work, "--wrap", f"sleep {marker}")
    record = one_node.home / "spool" / "node1" / "jobs" / f"{job}.1" / "supervisor.json"
    wait_until(lambda: _processes(marker) and record.exists(), what="the job running")
    supervisor, cgroup = (json.loads(record.read_text())[k] for k in ("pid", "cgroup"))
    assert cgroup.startswith(f"job_{job}.1.{supervisor}.")   # and its start time
    cgroups = glob.glob(f"/sys/fs/cgroup/*/**/hpcq/{cgroup}", recursive=True)
    assert len(cgroups) >= 3      # cpuset, memory, cpuacct
    os.kill(supervisor, signal.SIGKILL)
    assert ended(one_node, job) == "FAILED"
    wait_until(lambda: not _processes(marker), timeout=10, what="the job's sleep to be killed")
    wait_until(lambda: not any(Path(d).exists() for d in cgroups), timeout=10, what="its cgroups to go")
    assert "its supervisor was lost" in one_node.log("node1")


def test_sacct_shows_what_a_job_used(one_node: Cluster, work: Path):
    touch = "python3 -c 'b = bytearray(200 << 20); b[::4096] = b\"x\" * len(b[::4096]); sum(range(3 * 10**6))'"
    job = sbatch(one_node, work, "--mem=500M", "--wrap", touch)
    assert ended(one_node, job) == "COMPLETED"
    max_rss, total_cpu = sacct(one_node, job, "MaxRSS,TotalCPU")
    if not max_rss:   # Slurm shows MaxRSS on the batch step's line
        max_rss = one_node.run("sacct", "-j", f"{job}.batch", "-n", "-P", "-o", "MaxRSS").stdout.split()[0]
    assert max_rss.endswith("K") and int(max_rss[:-1]) >= 190 << 10
    assert 0 < _cpu(total_cpu) < 60


def test_user_and_system_cpu_add_up_to_total_cpu_and_qstat_cput(one_node: Cluster, work: Path):
    # user time in Python's loop, system time in the kernel zeroing 100 MB of pages
    busy = "python3 -c 'sum(range(5 * 10**6)); [len(bytearray(100 << 20)) for _ in range(5)]'"
    job = sbatch(one_node, work, "--wrap", busy)
    assert ended(one_node, job) == "COMPLETED"
    user, system, total = map(_cpu, sacct(one_node, job, "UserCPU,SystemCPU,TotalCPU"))
    assert user > 0 and system > 0 and abs(user + system - total) <= 0.002
    full = one_node.run("qstat", "-x", "-f", str(job)).stdout
    cput = re.search(r"resources_used\.cput = (\d+):(\d+):(\d+)", full)
    assert cput is not None and 0 <= total - (int(cput[1]) * 3600 + int(cput[2]) * 60 + int(cput[3])) < 1.001


def test_a_job_asking_for_no_memory_gets_the_default_per_cpu_as_its_limit(one_node: Cluster, work: Path):
    limit = "cat /sys/fs/cgroup/memory$(grep :memory: /proc/self/cgroup | cut -d: -f3)/memory.limit_in_bytes"
    job = sbatch(one_node, work, "-c1", "--wrap", limit)
    assert ended(one_node, job) == "COMPLETED"
    assert (work / f"{job}.out").read_text().split() == [str(300 << 20)]
    assert sacct(one_node, job, "ReqMem") == ["300Mc"]


def test_sstat_shows_a_running_jobs_figures_live(one_node: Cluster, work: Path):
    grow = ("python3 -c 'import time; b = bytearray(150 << 20); b[::4096] = b\"x\" * len(b[::4096]); "
            "sum(range(3 * 10**6)); open(\"grown\", \"w\").close(); time.sleep(600)'")
    job = sbatch(one_node, work, "--mem=400M", "--wrap", grow)
    wait_until(lambda: (work / "grown").exists(), timeout=30, what="the job to hold 150 MB")

    def figures() -> list[str] | None:
        out = one_node.run("sstat", "-j", str(job), "-n", "-P", "-o", "JobID,MaxRSS,AveCPU,NTasks,Nodelist").stdout
        fields = out.strip().split("|")
        return fields if len(fields) == 5 and _size_kb(fields[1]) >= 140 << 10 else None
    job_id, _, ave_cpu, ntasks, nodelist = wait_until(figures, timeout=20, what="sstat to show the memory held")
    assert (job_id, ntasks, nodelist) == (f"{job}.batch", "1", "node1")
    assert re.fullmatch(r"00:00:\d\d", ave_cpu)
    header = one_node.run("sstat", "-j", str(job)).stdout.splitlines()[0].split()
    assert header[:6] == ["JobID", "MaxVMSize", "MaxVMSizeNode", "MaxVMSizeTask", "AveVMSize", "MaxRSS"]
    one_node.run("scancel", str(job))
    assert ended(one_node, job).startswith("CANCELLED")
    done = one_node.run("sstat", "-j", str(job), "-n", check=False)
    assert (done.stdout, done.stderr) == ("", f"sstat: error: no steps running for job {job}\n")


def test_seff_prints_cpu_and_memory_efficiency(one_node: Cluster, work: Path):
    touch = "python3 -c 'b = bytearray(200 << 20); b[::4096] = b\"x\" * len(b[::4096]); sum(range(3 * 10**6))'"
    job = sbatch(one_node, work, "--mem=500M", "--wrap", touch)
    assert ended(one_node, job) == "COMPLETED"
    lines = one_node.run("seff", str(job)).stdout.splitlines()
    assert lines[0] == f"Job ID: {job}" and lines[3] == "State: COMPLETED (exit code 0)" and lines[4] == "Cores: 1"
    efficiency = re.fullmatch(r"CPU Efficiency: (\d+\.\d\d)% of (\d\d:\d\d:\d\d) core-walltime", lines[6])
    assert efficiency is not None and 0 < float(efficiency[1]) <= 100
    used = re.fullmatch(r"Memory Utilized: (\d+\.\d\d) MB", lines[8])
    assert used is not None and float(used[1]) >= 190
    assert re.fullmatch(r"Memory Efficiency: \d+\.\d\d% of 500\.00 MB \(500\.00 MB/node\)", lines[9])


def _size_kb(text: str) -> int:
    """sstat's 1164K / 200M / 1.50G (or a number of bytes) in KiB."""
    if not text:
        return 0
    scale = {"K": 1, "M": 1 << 10, "G": 1 << 20}.get(text[-1])
    return int(float(text[:-1]) * scale) if scale else int(text) >> 10


def _cpu(text: str) -> float:
    """sacct's MM:SS.mmm (or HH:MM:SS) as seconds."""
    seconds = 0.0
    for part in text.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def _processes(marker: str) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", marker]]
