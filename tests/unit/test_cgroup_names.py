"""Job cgroups' names (hpcq.noded.enforce): named for the process that makes them by its pid
and start time, so that a name never recurs on a host while it is up, though cgroup v1's
hierarchies are shared by every cluster on it; found again from the supervisor's record (an
earlier hpcq's record, by that version's name); and the sweep at noded's start, which removes
the empty ones whose maker is gone. A fake cgroup v1 tree in tmp_path."""
from __future__ import annotations

import asyncio
import errno
import os
import shutil
from pathlib import Path

import pytest

from hpcq.noded import enforce
from tests.unit.test_enforce import V1_FILES, _fake_v1

HIERARCHIES = ("cpuset", "memory", "cpuacct")
ALIVE = {10: 500, 11: 600}   # pid -> start ticks (since boot) of the processes that run


def _fake_rmdir(path: str) -> None:
    """rmdir in a cgroupfs: the cgroup's files go with it, unless a process is in it."""
    if not os.path.isdir(path):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    if Path(path, "cgroup.procs").read_text().strip():
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)
    shutil.rmtree(path)


@pytest.fixture
def v1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> enforce.Enforcement:
    """A cgroup v1 host (cpuset, memory, cpuacct) where noded runs in the root cgroups."""
    root = tmp_path / "cgroup"
    for hierarchy in HIERARCHIES:
        (root / hierarchy).mkdir(parents=True)
        for name, text in {"cgroup.procs": "", **V1_FILES[hierarchy]}.items():
            (root / hierarchy / name).write_text(text)
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text("4:memory:/\n3:cpuset:/\n2:cpuacct:/\n0::/\n")
    monkeypatch.setattr(enforce, "make_cgroup", _fake_v1(root))
    monkeypatch.setattr(enforce, "remove_cgroup", _fake_rmdir)
    e = enforce.detect(str(root), str(proc))
    assert e.kind == enforce.V1 and sorted(e.bases) == sorted(HIERARCHIES)
    return e


def made(e: enforce.Enforcement, name: str, procs: str = "") -> enforce.JobConfinement:
    """The cgroups `name` of job 7 attempt 1, made; `procs`: the processes in them."""
    job = enforce.JobConfinement(e.job_limits(7, 1, [0], 100), name)
    job.prepare()
    for d in job.dirs.values():
        Path(d, "cgroup.procs").write_text(procs)
    return job


def test_a_job_s_cgroups_are_named_for_the_pid_and_start_time_of_the_process_making_them(v1):
    name = enforce.job_cgroup_name(enforce.job_name(7, 1), 10, 500)
    assert name == "job_7.1.10.500"
    job = made(v1, name)
    assert sorted(job.dirs) == sorted(HIERARCHIES)
    assert all(os.path.isdir(d) and os.path.basename(d) == name for d in job.dirs.values())
    # A later process of the same pid (another cluster's: job ids start at 1 in each) running
    # the same job id and attempt makes cgroups of another name, and takes nothing of these.
    later = made(v1, enforce.job_cgroup_name("job_7.1", 10, 501), procs="4242\n")
    assert set(later.dirs.values()).isdisjoint(job.dirs.values())
    assert all(os.path.isdir(d) for d in job.dirs.values())
    assert enforce.cgroup_owner(name) == (10, 500)
    assert enforce.cgroup_owner("job_7.1.10") == (10, None)     # an earlier hpcq's name: pid alone
    for other in ("cgroup.procs", "noded", "job_7.1", "job_7.1.10.500.1", "job_7.x.10.500", "job_7.1.1\u0660.500"):
        assert enforce.cgroup_owner(other) is None, other


def test_noded_finds_a_lost_supervisor_s_cgroups_by_the_name_it_recorded_and_clears_only_those(v1):
    record = {"pid": 10, "start_time_ticks": 500, "cgroup": "job_7.1.10.500"}
    assert enforce.recorded_cgroup(7, 1, record) == "job_7.1.10.500"
    # A supervisor of an earlier hpcq recorded its start time too, but named its cgroups for its
    # pid alone: a noded upgraded in place finds its running jobs' cgroups by that name.
    assert enforce.recorded_cgroup(7, 1, {"pid": 10, "start_time_ticks": 500}) == "job_7.1.10"
    assert enforce.recorded_cgroup(7, 1, {"pid": 0, "start_time_ticks": 0}) == ""   # claimed: no supervisor ran
    assert enforce.recorded_cgroup(7, 1, {**record, "cgroup": ""}) == ""           # the job was not confined
    for wrong in ("../../cpuset", "job_8.1.10.500", "job_7.1.10.500/../..", "job_7.10.10.500"):
        assert enforce.recorded_cgroup(7, 1, {**record, "cgroup": wrong}) == "", wrong

    lost = made(v1, "job_7.1.10.500", procs="")
    # The same job id, attempt and pid, of another process since (another cluster's job): its
    # processes, in its cgroups, are none of the lost supervisor's.
    theirs = made(v1, "job_7.1.10.501", procs="4242\n")
    left = enforce.JobConfinement.left_by(v1, 7, 1, enforce.recorded_cgroup(7, 1, record))
    assert left is not None and left.made == list(lost.dirs.values())
    asyncio.run(enforce.clear_out(left))
    assert not any(os.path.exists(d) for d in lost.dirs.values())
    assert all(Path(d, "cgroup.procs").read_text() == "4242\n" for d in theirs.dirs.values())


def test_a_cgroup_is_a_leftover_only_when_its_maker_is_gone_for_good():
    decided = {name: enforce.owner_gone(name, ALIVE.get) for name in (
        "job_1.1.10.500", "job_1.1.10.499", "job_1.1.12.700", "job_1.1.12", "job_1.1.11",
        "cgroup.procs", "noded", "job_1.1", "tasks")}
    assert decided == {
        "job_1.1.10.500": False,   # its maker runs
        "job_1.1.10.499": True,    # its pid runs another process, started since
        "job_1.1.12.700": True,    # its pid runs no more
        "job_1.1.12": True,        # an earlier hpcq's, its pid runs no more
        "job_1.1.11": False,       # an earlier hpcq's whose pid runs: a supervisor's, being made maybe
        "cgroup.procs": False, "noded": False, "job_1.1": False, "tasks": False,
    }


def test_the_sweep_removes_the_empty_cgroups_whose_maker_is_gone_and_nothing_else(v1, monkeypatch):
    kept = {"job_1.1.10.500": "", "job_1.1.11": "",            # their makers run
            "job_2.1.12.700": "4242\n", "job_2.2.12": "4243\n"}  # gone, but a process is in each
    removable = ["job_3.1.10.499", "job_3.2.12.700", "job_3.3.12"]
    raced = {"job_4.1.12.700": FileNotFoundError(errno.ENOENT, "swept by another noded"),
             "job_4.2.12.700": OSError(errno.EBUSY, "a process came in after cgroup.procs was read")}
    for name, procs in {**kept, **dict.fromkeys([*removable, *raced], "")}.items():
        made(v1, name, procs)

    def rmdir(path: str) -> None:
        error = raced.get(os.path.basename(path))
        if error is not None:
            raise error
        _fake_rmdir(path)
    monkeypatch.setattr(enforce, "remove_cgroup", rmdir)

    assert enforce.sweep(v1.bases, ALIVE.get) == len(removable) * len(HIERARCHIES)
    for base in v1.bases.values():
        left = {entry.name for entry in os.scandir(base) if entry.is_dir()}
        assert left == {*kept, *raced}
        assert "cgroup.procs" in os.listdir(base)
    assert enforce.sweep(v1.bases, ALIVE.get) == 0   # the rest stays, at every start
