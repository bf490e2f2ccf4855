"""hpcq.noded.enforce: cgroup v2 against a fake cgroupfs (every file it writes and reads),
cgroup v1 against this host's /sys/fs/cgroup (as root), the affinity+rlimits fallback."""
from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from hpcq.noded import enforce, spool

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
    assert e.kind == enforce.V2 and e.describe() == "cgroup/v2 (cpuset, cpu, memory, pids; devices not enforced)"
    assert (own / "noded" / "cgroup.procs").read_text() == str(os.getpid())
    assert (own / "cgroup.subtree_control").read_text() == "+cpuset +cpu +memory +pids"
    assert (own / "hpcq" / "cgroup.subtree_control").read_text() == "+cpuset +cpu +memory +pids"
    assert e.host_cpus == [0, 1, 2, 3]

    job = enforce.JobConfinement(e.job_limits(7, 2, [1, 2], 100), "job_7.2.42.9000")
    job.prepare()
    d = own / "hpcq" / "job_7.2.42.9000"
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
    # noded finds the same cgroup from its name, to measure it live
    assert enforce.job_cgroups(e.bases, "job_7.2.42.9000") == job.dirs


def test_v2_fences_no_device_and_says_so(v2: tuple[Path, Path]):
    root, proc = v2
    e = enforce.detect(str(root), str(proc), gpus=[0, 1])
    assert "devices not enforced" in e.describe()
    assert e.job_limits(7, 1, [0], 100, gpu_ids=[0])["devices_denied"] == []


# The files a cgroup v1 directory has in each hierarchy hpcq uses (those it touches).
V1_FILES = {"cpuset": {"cpuset.cpus": "0-3\n", "cpuset.mems": "0\n", "cpuset.effective_cpus": "0-3\n"},
            "memory": {"memory.limit_in_bytes": "", "memory.memsw.limit_in_bytes": "", "memory.oom_control": ""},
            "cpuacct": {"cpuacct.usage_user": "0\n", "cpuacct.usage_sys": "0\n"},
            "devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm\n"}}


def _fake_v1(root: Path) -> Callable[[str], None]:
    """mkdir in a fake v1 tree: the new cgroup's files, a new cpuset's CPUs and memory nodes empty."""
    def make(path: str) -> None:
        os.mkdir(path)
        Path(path, "cgroup.procs").write_text("")
        for name, text in V1_FILES[Path(path).relative_to(root).parts[0]].items():
            Path(path, name).write_text("" if name in ("cpuset.cpus", "cpuset.mems") else text)
    return make


def test_v1_with_the_devices_hierarchy_denies_the_gpus_a_job_was_not_given(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "cgroup"
    for hierarchy, files in V1_FILES.items():
        (root / hierarchy).mkdir(parents=True)
        for name, text in {"cgroup.procs": "", **files}.items():
            (root / hierarchy / name).write_text(text)
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text("5:devices:/\n4:memory:/\n3:cpuset:/\n2:cpuacct:/\n0::/\n")
    monkeypatch.setattr(enforce, "make_cgroup", _fake_v1(root))
    writes: list[tuple[str, str]] = []
    real_write = enforce._write

    def recorded(path: str, text: str) -> None:
        writes.append((os.path.relpath(path, root), text))
        real_write(path, text)
    monkeypatch.setattr(enforce, "_write", recorded)

    e = enforce.detect(str(root), str(proc), gpus=[0, 1, 2])
    assert e.describe() == "cgroup/v1 (cpuset, memory, cpuacct, devices, memsw)"
    limits = e.job_limits(7, 1, [0], 100, gpu_ids=[1])
    assert limits["devices_denied"] == ["c 195:0 rwm", "c 195:2 rwm"]
    job = enforce.JobConfinement(limits, "job_7.1.42.9000")
    job.prepare()
    deny = "devices/hpcq/job_7.1.42.9000/devices.deny"
    assert [w for w in writes if w[0].startswith("devices/")] == [(deny, "c 195:0 rwm"), (deny, "c 195:2 rwm")]
    writes.clear()
    job.enter()
    assert sorted(w[0] for w in writes) == [f"{h}/hpcq/job_7.1.42.9000/cgroup.procs" for h in sorted(V1_FILES)]
    writes.clear()
    job.leave()
    assert sorted(w[0] for w in writes) == [f"{h}/cgroup.procs" for h in sorted(V1_FILES)]

    # A job with every GPU (or a node with none) gets no devices cgroup at all.
    every = enforce.JobConfinement(e.job_limits(8, 1, [0], 100, gpu_ids=[0, 1, 2]), "job_8.1.42.9000")
    every.prepare()
    assert "devices" not in every.dirs and not (root / "devices" / "hpcq" / "job_8.1.42.9000").exists()


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
    job = enforce.JobConfinement(limits, f"job_1.1.{os.getpid()}.1")
    script = job.shell_limits() + "grep Cpus_allowed_list /proc/self/status; ulimit -d"
    # prepare() narrows the calling process's affinity: do it in a child, as a supervisor would.
    done = subprocess.run(["python3", "-c", "import os, subprocess, sys\n"
                           f"os.sched_setaffinity(0, [{cpu}])\n"
                           f"subprocess.run(['/bin/sh', '-c', {script!r}])"], capture_output=True, text=True)
    assert done.stdout.split() == ["Cpus_allowed_list:", str(cpu), str(64 << 10)]
    assert job.processes() == [] and job.usage() is None and job.oom_kills() == 0


v1_root = Path("/sys/fs/cgroup")


def this_process_s(job: str) -> str:
    """The name of the cgroups of job attempt `job` this process would make."""
    return enforce.job_cgroup_name(job, os.getpid(), spool.process_start_ticks(os.getpid()))

needs_v1 = pytest.mark.skipif(os.geteuid() != 0 or not all((v1_root / c).is_dir() for c in enforce.V1_CONTROLLERS)
                              or (v1_root / "cgroup.controllers").exists(), reason="needs root and cgroup v1")


@needs_v1
def test_v1_on_this_host_limits_memory_counts_the_oom_kill_pins_cpus_and_measures():
    e = enforce.detect()
    assert e.kind == enforce.V1 and e.describe().startswith("cgroup/v1 (cpuset, memory, cpuacct")
    cpu = e.host_cpus[-1]
    job = enforce.JobConfinement(e.job_limits(1, 1, [len(e.host_cpus) - 1], 100), this_process_s("job_1.1"))
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


@needs_v1
@pytest.mark.skipif(not (v1_root / "devices").is_dir(), reason="needs the cgroup v1 devices hierarchy")
def test_v1_devices_denied_to_a_job_cannot_be_opened_from_its_cgroup():
    # This host has no GPU: /dev/null (c 1:3) stands for one, through the same rule a GPU gets.
    e = enforce.detect()
    assert "devices" in e.describe()
    limits = e.job_limits(1, 1, [0], 100)
    limits["devices_denied"] = ["c 1:3 rwm"]
    job = enforce.JobConfinement(limits, this_process_s("job_1.1"))
    job.prepare()
    try:
        procs = " ".join(f"{d}/cgroup.procs" for d in job.dirs.values())
        done = subprocess.run(["/bin/sh", "-c", f"for f in {procs}; do echo $$ > $f; done; exec cat /dev/null"],
                              capture_output=True, text=True)
        assert done.returncode == 1 and "/dev/null: Operation not permitted" in done.stderr
        assert subprocess.run(["cat", "/dev/null"]).returncode == 0   # outside the job's cgroup it opens
    finally:
        job.remove()
