"""The scheduler's behaviour as a user sees it through the shims: real sbatch / qsub to
submit, real squeue / qstat / scontrol to watch the states and pending reasons Slurm
and PBS would show.

One cluster for the module (one node with 2 CPUs, a pass at least every 0.2 s, a queue
`limited` that runs one job per user); each test cancels its jobs when it ends, so the
next one starts from an idle node. The store backend plays no part here: the backends
are covered by the SDK-level tests.
"""
from __future__ import annotations

import getpass
import time
from pathlib import Path

import pytest

from tests.cluster import Cluster, start_cluster
from tests.conftest import wait_until

pytestmark = pytest.mark.integration
LONG = "sleep 300"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Cluster:
    cluster = start_cluster(tmp_path_factory.mktemp("hpcq-shims"), nodes=1, cpus=2,
                            settings=("ctld.sched_interval=0.2",))
    cluster.run("hpcqctl", "queue", "create", "limited", "--max-running-per-user", "1")
    yield cluster
    cluster.run("hpcqctl", "down", check=False)


class Shims:
    """The commands a user types, with what they print parsed."""

    def __init__(self, cluster: Cluster, workdir: Path) -> None:
        self.cluster, self.workdir = cluster, workdir

    def run(self, *argv: str, check: bool = True) -> str:
        return self.cluster.run(*argv, cwd=self.workdir, check=check).stdout

    def sbatch(self, *args: str, wrap: str = LONG) -> int:
        return int(self.run("sbatch", "--parsable", *args, f"--wrap={wrap}").strip().split(";")[0])

    def qsub(self, *args: str, command: str = "/bin/sleep 300") -> int:
        return int(self.run("qsub", *args, "--", *command.split()).strip().split(".")[0])

    def squeue(self, *args: str) -> dict[str, tuple[str, str]]:
        """{job id as squeue prints it: (state, reason)} of the jobs squeue lists."""
        rows = (line.split("|") for line in self.run("squeue", "-h", "-o", "%i|%t|%r", *args).splitlines())
        return {job: (state, reason) for job, state, reason in rows}

    def shows(self, job: int | str, state: str, reason: str | None = None, timeout: float = 20.0) -> None:
        """Wait until squeue lists `job` in `state` (with `reason`)."""
        def seen() -> bool:
            got = self.squeue().get(str(job))
            return got is not None and got[0] == state and (reason is None or got[1] == reason)
        wait_until(seen, timeout=timeout, interval=0.1, what=f"squeue: {job} {state} ({reason})")

    def qstat_f(self, job: int) -> dict[str, str]:
        """qstat -x -f's attributes of one job (continuation lines joined)."""
        attrs: dict[str, str] = {}
        name = ""
        for line in self.run("qstat", "-x", "-f", str(job)).splitlines()[1:]:
            if line.startswith("\t") and name:
                attrs[name] += line.strip()
            elif " = " in line:
                name, _, value = line.strip().partition(" = ")
                attrs[name] = value
        return attrs

    def scontrol(self, job: int) -> dict[str, str]:
        text = self.run("scontrol", "show", "job", str(job))
        return dict(word.split("=", 1) for word in text.split() if "=" in word)


@pytest.fixture
def shims(site, workdir) -> Shims:
    yield Shims(site, workdir)
    site.run("scancel", "-u", getpass.getuser(), check=False)
    wait_until(lambda: not site.run("squeue", "-h").stdout.strip(), timeout=30, interval=0.1,
               what="every job of the test to be gone")


def test_the_higher_priority_job_takes_the_slot_that_frees(shims):
    blocker = shims.sbatch("-c", "2")
    shims.shows(blocker, "R")
    low = shims.sbatch("-c", "2", "--nice=10000")
    high = shims.sbatch("-c", "2")
    # The top job waits for resources and holds the reservation; the other waits behind it.
    shims.shows(high, "PD", "Resources")
    shims.shows(low, "PD", "Priority")
    assert shims.qstat_f(high)["comment"] == "Not Running: Not enough free nodes available"
    shims.run("scancel", str(blocker))
    shims.shows(high, "R")
    assert shims.squeue()[str(low)][0] == "PD"


def test_a_dependent_job_waits_with_reason_dependency_and_starts_after_its_parent(shims, workdir):
    flag = workdir / "go"
    parent = shims.sbatch(wrap=f"while [ ! -e '{flag}' ]; do sleep 0.1; done")
    child = shims.sbatch(f"--dependency=afterok:{parent}", wrap="true")
    shims.shows(parent, "R")
    shims.shows(child, "PD", "Dependency")
    flag.touch()
    wait_until(lambda: shims.scontrol(child)["JobState"] == "COMPLETED", timeout=30, interval=0.1,
               what="the child to complete")
    assert shims.scontrol(child)["StartTime"] >= shims.scontrol(parent)["EndTime"]


def test_slurm_keeps_a_never_satisfiable_job_pending_and_pbs_deletes_it(shims):
    failing = shims.sbatch(wrap="exit 1")
    slurm_child = shims.sbatch(f"--dependency=afterok:{failing}", wrap="true")
    shims.shows(slurm_child, "PD", "DependencyNeverSatisfied")
    pbs_failing = shims.qsub(command="/bin/false")
    pbs_child = shims.qsub("-W", f"depend=afterok:{pbs_failing}", command="/bin/true")
    wait_until(lambda: shims.qstat_f(pbs_child)["job_state"] == "F", timeout=30, interval=0.1,
               what="PBS to delete the child")
    attrs = shims.qstat_f(pbs_child)
    assert "Exit_status" not in attrs and "stime" not in attrs     # deleted, never run
    assert shims.squeue()[str(slurm_child)] == ("PD", "DependencyNeverSatisfied")


def test_a_per_user_limit_keeps_the_second_job_pending(shims):
    first = shims.sbatch("-p", "limited", "-c", "1")
    second = shims.sbatch("-p", "limited", "-c", "1")
    shims.shows(first, "R")
    shims.shows(second, "PD", "QOSMaxJobsPerUserLimit")
    pbs = shims.qsub("-q", "limited")
    shims.shows(pbs, "PD", "QOSMaxJobsPerUserLimit")
    assert shims.qstat_f(pbs)["job_state"] == "Q"


def test_a_begin_time_ahead_shows_begintime_and_pbs_w(shims):
    later = shims.sbatch("--begin=now+1hour", wrap="true")
    shims.shows(later, "PD", "BeginTime")
    pbs = shims.qsub("-a", time.strftime("%m%d%H%M", time.localtime(time.time() + 3600)), command="/bin/true")
    wait_until(lambda: shims.qstat_f(pbs)["job_state"] == "W", timeout=20, interval=0.1, what="qstat W")
    assert shims.squeue()[str(pbs)] == ("PD", "BeginTime")


def test_held_jobs_wait_until_released(shims):
    held = shims.sbatch("--hold", wrap="true")
    pbs_held = shims.qsub("-h", command="/bin/true")
    shims.shows(held, "PD", "JobHeldUser")
    assert shims.qstat_f(pbs_held)["job_state"] == "H" and shims.qstat_f(pbs_held)["Hold_Types"] == "u"
    shims.run("scontrol", "release", str(held))
    shims.run("qrls", str(pbs_held))
    wait_until(lambda: shims.scontrol(held)["JobState"] == "COMPLETED", timeout=30, interval=0.1,
               what="the released Slurm job to complete")
    wait_until(lambda: shims.qstat_f(pbs_held)["job_state"] == "F", timeout=30, interval=0.1,
               what="the released PBS job to finish")
    assert shims.qstat_f(pbs_held)["Exit_status"] == "0"


def test_an_array_throttle_keeps_the_rest_pending_with_jobarraytasklimit(shims):
    array = shims.sbatch("--array=1-3%1", "-c", "1")
    shims.shows(f"{array}_1", "R")
    shims.shows(f"{array}_[2-3%1]", "PD", "JobArrayTaskLimit")
    assert sum(state == "R" for state, _ in shims.squeue().values()) == 1


def test_a_short_job_backfills_the_hole_before_the_big_job_planned_start(shims):
    running = shims.sbatch("-c", "1", "-t", "10")
    shims.shows(running, "R")
    big = shims.sbatch("-c", "2", "-t", "5", wrap="true")
    shims.shows(big, "PD", "Resources")
    small = shims.sbatch("-c", "1", "-t", "2")
    shims.shows(small, "R")                         # it ends before the big job could start
    assert shims.squeue()[str(big)][0] == "PD"
    started = time.mktime(time.strptime(shims.scontrol(running)["StartTime"], "%Y-%m-%dT%H:%M:%S"))
    # squeue --start: the big job starts when the 10-minute job's walltime is up.
    row = shims.run("squeue", "--start", "-h", "-j", str(big), "-o", "%i %S").split()
    planned = time.mktime(time.strptime(row[1], "%Y-%m-%dT%H:%M:%S"))
    assert row[0] == str(big) and abs(planned - (started + 600)) <= 2
    # qstat -T: the same plan, as PBS shows an estimated start.
    when = time.localtime(planned)
    expected = time.strftime("%H:%M", when) if when.tm_yday == time.localtime().tm_yday \
        else time.strftime("%a", when)[:2] + time.strftime(" %H", when)
    line = next(x for x in shims.run("qstat", "-T").splitlines() if x.startswith(f"{big}."))
    assert line.endswith(f" Q {expected}")
