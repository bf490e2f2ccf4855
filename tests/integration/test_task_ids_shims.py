"""Array tasks as job ids and changing jobs after submit, through the real commands on a
real cluster (issue #16's "done when"): scancel N_i / N, qdel N[i], scontrol hold N_i of a
pending task, squeue's compact pending rest, scontrol requeue, qalter -W depend, qsig -s
suspend/resume. One cluster (2 nodes x 2 CPUs) for the module; the tests run as its owner,
root, who is an admin there (as Slurm's root)."""
from __future__ import annotations

import pytest

from tests.cluster import Cluster, start_cluster
from tests.conftest import wait_until

pytestmark = pytest.mark.integration
SLEEP = "#!/bin/sh\nsleep 300\n"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = start_cluster(tmp_path_factory.mktemp("hpcq-home"), nodes=2, cpus=2,
                            settings=("ctld.sched_interval=0.2", "ctld.kill_grace=1"))
    yield cluster
    cluster.stop()


@pytest.fixture
def script(workdir):
    path = workdir / "sleep.sh"
    path.write_text(SLEEP)
    return path


def slurm_states(cluster: Cluster, job: str) -> dict[str, str]:
    """sacct's JobID -> State of a job or array (allocations only)."""
    lines = cluster.run("sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", job).stdout.splitlines()
    return {line.split("|")[0]: line.split("|")[1].split()[0] for line in lines}


def pbs_states(cluster: Cluster, *argv: str) -> dict[str, str]:
    """qstat's job id (without the server) -> state letter."""
    lines = cluster.run("qstat", *argv).stdout.splitlines()[2:]
    return {line.split()[0].rpartition(".")[0]: line.split()[4] for line in lines}


def wait_all_ended(cluster: Cluster, job: str) -> None:
    wait_until(lambda: cluster.run("squeue", "-h", "-j", job).stdout == "", timeout=60, what=f"{job} to end")


def test_slurm_tasks_of_a_running_array(cluster, script, workdir):
    array = cluster.run("sbatch", "--parsable", "--array=1-4", str(script), cwd=workdir).stdout.strip()
    tasks = {f"{array}_{i}" for i in range(1, 5)}
    wait_until(lambda: slurm_states(cluster, array) == dict.fromkeys(tasks, "RUNNING"), timeout=60,
               what="the 4 tasks running")
    assert cluster.run("scancel", f"{array}_2").returncode == 0
    wait_until(lambda: slurm_states(cluster, array)[f"{array}_2"] == "CANCELLED", timeout=30, what="task 2 ends")
    assert slurm_states(cluster, array) == {**dict.fromkeys(tasks, "RUNNING"), f"{array}_2": "CANCELLED"}
    assert cluster.run("squeue", "-h", "-o", "%i %T", "-j", f"{array}_3").stdout == f"{array}_3 RUNNING\n"

    cluster.run("scancel", array)
    wait_until(lambda: set(slurm_states(cluster, array).values()) == {"CANCELLED"}, timeout=30,
               what="the other three end")
    missing = cluster.run("scancel", "-v", f"{array}_9", check=False)
    assert missing.returncode == 0 and missing.stderr.splitlines()[-1] == \
        f"scancel: error: Kill job error on job id {array}_9: Invalid job id specified"


def test_pbs_subjob_deleted_alone(cluster, script, workdir):
    array = cluster.run("qsub", "-J", "1-4", str(script), cwd=workdir).stdout.strip().partition("[")[0]
    subjobs = {f"{array}[{i}]" for i in range(1, 5)}
    wait_until(lambda: pbs_states(cluster, "-Jt", f"{array}[]") == dict.fromkeys(subjobs, "R"), timeout=60,
               what="the 4 subjobs running")
    cluster.run("qdel", f"{array}[3]")
    wait_until(lambda: pbs_states(cluster, "-x", "-Jt", f"{array}[]")[f"{array}[3]"] == "F", timeout=30,
               what="subjob 3 ends")
    assert pbs_states(cluster, "-x", "-Jt", f"{array}[]") == {**dict.fromkeys(subjobs, "R"), f"{array}[3]": "F"}
    unknown = cluster.run("qdel", f"{array}[9]", check=False)
    assert (unknown.returncode, unknown.stderr.split(".")[0]) == (153, f"qdel: Unknown Job Id {array}[9]")
    cluster.run("qdel", f"{array}[]")
    wait_all_ended(cluster, array)


def test_pending_task_held_alone_and_the_throttled_rest(cluster, script, workdir):
    array = cluster.run("sbatch", "--parsable", "--array=1-1000%10", str(script), cwd=workdir).stdout.strip()

    def rows() -> list[str]:
        return cluster.run("squeue", "-h", "-o", "%i %t", "-j", array).stdout.splitlines()
    wait_until(lambda: sum(row.endswith(" R") for row in rows()) == 4, timeout=60, what="4 tasks running")
    assert f"{array}_[5-1000%10] PD" in rows()
    cluster.run("scontrol", "hold", f"{array}_7")
    held = cluster.run("squeue", "-h", "-o", "%i %t %r", "-j", f"{array}_7").stdout
    assert held == f"{array}_7 PD JobHeldAdmin\n"            # root's hold is an operator's, as in Slurm
    assert f"{array}_[5-6,8-1000%10] PD" in rows() and f"{array}_7 PD" in rows()
    cluster.run("scontrol", "release", f"{array}_7")
    wait_until(lambda: "JobHeldAdmin" not in cluster.run("squeue", "-h", "-o", "%r", "-j", f"{array}_7").stdout,
               timeout=30, what="task 7 released")
    cluster.run("scancel", array)
    wait_all_ended(cluster, array)


def test_requeue_runs_the_job_again(cluster, workdir):
    runs = workdir / "runs"
    (workdir / "twice.sh").write_text(f"#!/bin/sh\necho run >> '{runs}'\nsleep 300\n")
    job = cluster.run("sbatch", "--parsable", "twice.sh", cwd=workdir).stdout.strip()
    wait_until(lambda: runs.exists() and slurm_states(cluster, job) == {job: "RUNNING"}, timeout=60,
               what="the first run")
    cluster.run("scontrol", "requeue", job)
    wait_until(lambda: runs.read_text() == "run\nrun\n", timeout=60, what="the second run")
    shown = cluster.run("scontrol", "show", "job", job).stdout
    assert "Restarts=1 " in shown
    assert "    run_count = 2\n" in cluster.run("qstat", "-f", job).stdout
    cluster.run("scancel", job)
    wait_all_ended(cluster, job)
    # sacct shows the job as it ended; -D first shows the run that was requeued, as Slurm.
    assert cluster.run("sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", job).stdout.splitlines() == \
        [f"{job}|CANCELLED by 0"]
    assert cluster.run("sacct", "-D", "-X", "-n", "-P", "-o", "JobID,State", "-j", job).stdout.splitlines() == \
        [f"{job}|REQUEUED", f"{job}|CANCELLED by 0"]


def test_qalter_dependency_makes_a_job_wait(cluster, workdir):
    go = workdir / "go"              # a PBS job starts in $HOME: the gate names its file in full
    (workdir / "gate.sh").write_text(f"#!/bin/sh\nwhile [ ! -e '{go}' ]; do sleep 0.1; done\n")
    (workdir / "after.sh").write_text("#!/bin/sh\ntrue\n")
    first = cluster.run("qsub", str(workdir / "gate.sh"), cwd=workdir).stdout.strip().partition(".")[0]
    second = cluster.run("qsub", "-h", str(workdir / "after.sh"), cwd=workdir).stdout.strip().partition(".")[0]
    wait_until(lambda: pbs_states(cluster, first) == {first: "R"}, timeout=60, what="the first job's start")
    cluster.run("qalter", "-W", f"depend=afterok:{first}", second)
    cluster.run("qrls", second)
    wait_until(lambda: cluster.run("squeue", "-h", "-o", "%r", "-j", second).stdout == "Dependency\n",
               timeout=30, what="the second job waits on the first")
    assert pbs_states(cluster, second) == {second: "H"}      # PBS: a system hold while it waits
    go.touch()
    wait_until(lambda: pbs_states(cluster, "-x", second) == {second: "F"}, timeout=60, what="the second job runs")


def test_qsig_suspend_and_resume_as_an_operator(cluster, script, workdir):
    job = cluster.run("qsub", str(script), cwd=workdir).stdout.strip().partition(".")[0]
    wait_until(lambda: pbs_states(cluster, job) == {job: "R"}, timeout=60, what="the job's start")
    cluster.run("qsig", "-s", "suspend", job)
    assert pbs_states(cluster, job) == {job: "S"}
    assert cluster.run("squeue", "-h", "-o", "%T", "-j", job).stdout == "SUSPENDED\n"
    cluster.run("qsig", "-s", "resume", job)
    assert pbs_states(cluster, job) == {job: "R"}
    again = cluster.run("scontrol", "resume", job, check=False)
    assert (again.returncode, again.stderr) == (1, f"Job is not suspended for job {job}\n")
    cluster.run("qdel", job)
    wait_all_ended(cluster, job)
