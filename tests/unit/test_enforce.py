"""hpcq.noded.enforce: cgroup v2 against a fake cgroupfs (every file it writes and reads),
cgroup v1 against this host's /sys/fs/cgroup (as root), the affinity+rlimits fallback."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hpcq.noded import enforce

# The files a cgroup v2 directory has (those hpcq touches), as the kernel makes them on mkdir.
V2_FILES = {"cgroup.controllers": "cpuset cpu io memory pids\n", "cgroup.subtree_control": "", "cgroup.procs": "",
            "cgroup.kill": "", "cpuset.cpus": "", "cpuset.cpus.effective": "0-3\n", "memory.max": "max\n",
            "memory.swap.max": "max\n", "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
            "memory.peak": "0\n", "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"}


def _fake_v2_cgroup(path: str) -> None:
    os.mkdir(path)
    for name, text in V2_FILES.items():
        Path(path, name).write_text(text)


@pytest.fixture
def v2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A v2 host where noded runs in /system.slice/hpcq-noded.service (delegated)."""
    root = tmp_path / "cgroup"
    for name, text in V2_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    own = root / "system.slice" / "hpcq-noded.service"
    own.parent.mkdir()
    _fake_v2_cgroup(str(own))
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text("0::/system.slice/hpcq-noded.service\n")
    monkeypatch.setattr(enforce, "make_cgroup", _fake_v2_cgroup)
    return root, proc


def test_v2_moves_noded_to_a_leaf_delegates_controllers_and_confines_a_job(v2: tuple[Path, Path]):
    root, proc = v2
    e = enforce.detect(str(root), str(proc))
    own = root / "system.slice" / "hpcq-noded.service"
    assert e.kind == enforce.V2 and e.describe() == "cgroup/v2 (cpuset, cpu, memory, pids)"
    assert (own / "noded" / "cgroup.procs").read_text() == str(os.getpid())
    assert (own / "cgroup.subtree_control").read_text() == "+cpuset +cpu +memory +pids"
    assert (own / "hpcq" / "cgroup.subtree_control").read_text() == "+cpuset +cpu +memory +pids"
    assert e.host_cpus == [0, 1, 2, 3]

    job = enforce.JobConfinement(e.job_limits(7, 2, [1, 2], 100), supervisor_pid=42)
    job.prepare()
    d = own / "hpcq" / "job_7.2.42"
    assert (d / "cpuset.cpus").read_text() == "1,2"
    assert (d / "memory.max").read_text() == str(100 << 20)
    assert (d / "memory.swap.max").read_text() == "0"
    job.enter()
    assert (d / "cgroup.procs").read_text() == str(os.getpid())
    job.leave()
    assert (own / "noded" / "cgroup.procs").read_text() == str(os.getpid())

    (d / "cgroup.procs").write_text("12345\n12346\n")
    assert job.processes() == [12345, 12346]
    job.kill_all()
    assert (d / "cgroup.kill").read_text() == "1"
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n")
    (d / "memory.peak").write_text(str(200 << 20))
    (d / "cpu.stat").write_text("usage_usec 3500000\nuser_usec 3000000\nsystem_usec 500000\n")
    assert job.oom_kills() == 2
    (d / "memory.stat").write_text(f"anon {150 << 20}\nfile {10 << 20}\n")
    assert job.usage() == {"user": 3.0, "system": 0.5, "max_rss_kb": 200 << 10, "rss_kb": 150 << 10}
    # noded finds the same cgroup from the job and its supervisor's pid, to measure it live
    assert enforce.job_cgroups(e.bases, 7, 2, 42) == job.dirs


def test_v2_without_the_controllers_delegated_falls_back_and_says_why(v2: tuple[Path, Path]):
    root, proc = v2
    (root / "system.slice" / "hpcq-noded.service" / "cgroup.controllers").write_text("cpu pids\n")
    e = enforce.detect(str(root), str(proc))
    assert e.kind == enforce.AFFINITY
    assert "controllers cpuset, memory not delegated" in e.describe()


def test_the_cpu_ids_name_the_cpus_noded_may_use_wrapping_round_when_a_node_offers_more():
    e = enforce.Enforcement(enforce.AFFINITY, host_cpus=[4, 5])
    assert e.job_limits(1, 1, [0], 0)["cpus"] == [4]
    assert e.job_limits(1, 1, [1, 2], 0)["cpus"] == [4, 5]


def test_the_fallback_sets_affinity_and_a_data_limit_for_the_job():
    cpu = sorted(os.sched_getaffinity(0))[-1]
    e = enforce.Enforcement(enforce.AFFINITY, host_cpus=sorted(os.sched_getaffinity(0)))
    limits = e.job_limits(1, 1, [e.host_cpus.index(cpu)], 64)
    job = enforce.JobConfinement(limits, os.getpid())
    script = job.shell_limits() + "grep Cpus_allowed_list /proc/self/status; ulimit -d"
    # prepare() narrows the calling process's affinity: do it in a child, as a supervisor would.
    done = subprocess.run(["python3", "-c", "import os, subprocess, sys\n"
                           f"os.sched_setaffinity(0, [{cpu}])\n"
                           f"subprocess.run(['/bin/sh', '-c', {script!r}])"], capture_output=True, text=True)
    assert done.stdout.split() == ["Cpus_allowed_list:", str(cpu), str(64 << 10)]
    assert job.processes() == [] and job.usage() is None and job.oom_kills() == 0


v1_root = Path("/sys/fs/cgroup")
needs_v1 = pytest.mark.skipif(os.geteuid() != 0 or not all((v1_root / c).is_dir() for c in enforce.V1_CONTROLLERS)
                              or (v1_root / "cgroup.controllers").exists(), reason="needs root and cgroup v1")


@needs_v1
def test_v1_on_this_host_limits_memory_counts_the_oom_kill_pins_cpus_and_measures():
    e = enforce.detect()
    assert e.kind == enforce.V1 and e.describe().startswith("cgroup/v1 (cpuset, memory, cpuacct")
    cpu = e.host_cpus[-1]
    job = enforce.JobConfinement(e.job_limits(1, 1, [len(e.host_cpus) - 1], 100), os.getpid())
    job.prepare()
    try:
        # The child joins the cgroup itself: enter() would move this test process.
        code = ("import sys; sys.stdout.write(open('/proc/self/status').read().split('Cpus_allowed_list:')[1]"
                ".split()[0]); sys.stdout.flush(); b = bytearray(400 << 20)")
        procs = " ".join(f"{d}/cgroup.procs" for d in job.dirs.values())
        done = subprocess.run(["/bin/sh", "-c", f'for f in {procs}; do echo $$ > $f; done; exec python3 -c "{code}"'],
                              capture_output=True, text=True)
        assert done.returncode == -9 and done.stdout == str(cpu)
        assert job.oom_kills() == 1
        usage = job.usage()
        assert usage is not None and usage["max_rss_kb"] >= 90 << 10 and usage["user"] + usage["system"] > 0
        assert job.processes() == []
    finally:
        job.remove()
    assert not any(os.path.exists(d) for d in job.dirs.values())
