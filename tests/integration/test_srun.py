"""srun inside a batch job, with real processes: steps on the job's allocation, their
environment, output files and exit codes, and sacct's step rows."""
from __future__ import annotations

import os

import psutil
import pytest

from hpcq import hostlist
from hpcq.api import jobs_pb2
from hpcq.noded.enforce import parse_cpu_list
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration,
              # Steps live in the job's record blob: one store backend says all there is to say.
              pytest.mark.parametrize("make_cluster", ["sqlite"], indirect=True)]
S = jobs_pb2.JobState


def submit(cluster, workdir, script: str, *options: str) -> int:
    path = workdir / "job.sh"
    path.write_text("#!/bin/sh\n" + script)
    out = cluster.run("sbatch", "--parsable", *options, str(path), cwd=workdir).stdout
    return int(out.strip())


def finished(cluster, job_id: int) -> jobs_pb2.Job:
    with cluster.client() as client:
        def done():
            [job], _ = client.get([job_id])
            return job if job.state not in (S.PENDING, S.RUNNING, S.COMPLETING) else None
        return wait_until(done, timeout=60, what=f"job {job_id} to finish")


def sacct(cluster, job_id: int,
          fields: str = "JobID,JobName,State,ExitCode,NTasks,AllocCPUS,NodeList") -> list[list[str]]:
    out = cluster.run("sacct", "-j", str(job_id), "--parsable2", "-o", fields).stdout
    return [line.split("|") for line in out.splitlines()]


def test_a_step_runs_every_rank_with_the_step_environment_and_sacct_lists_it(make_cluster, workdir):
    cluster = make_cluster(nodes=1, cpus=2)
    script = ('srun -n 2 -l sh -c \'echo "rank=$SLURM_PROCID local=$SLURM_LOCALID node=$SLURM_NODEID '
              'step=$SLURM_STEP_ID ntasks=$SLURM_NTASKS nodes=$SLURM_STEP_NODELIST pid=$((SLURM_TASK_PID == $$))"\'\n'
              'srun true\n')
    job_id = submit(cluster, workdir, script, "-n", "2", "-o", "out.txt")
    job = finished(cluster, job_id)
    assert job.state == S.COMPLETED, (workdir / "out.txt").read_text()
    lines = sorted((workdir / "out.txt").read_text().splitlines())
    node = job.allocation.slices[0].node
    assert lines == [f"0: rank=0 local=0 node=0 step=0 ntasks=2 nodes={node} pid=1",
                     f"1: rank=1 local=1 node=0 step=0 ntasks=2 nodes={node} pid=1"]
    rows = sacct(cluster, job_id)
    assert rows[0] == ["JobID", "JobName", "State", "ExitCode", "NTasks", "AllocCPUS", "NodeList"]
    assert [r[0] for r in rows[1:]] == [str(job_id), f"{job_id}.batch", f"{job_id}.0", f"{job_id}.1"]
    assert rows[3] == [f"{job_id}.0", "sh", "COMPLETED", "0:0", "2", "2", node]
    assert rows[4] == [f"{job_id}.1", "true", "COMPLETED", "0:0", "2", "2", node]


def test_output_patterns_per_task_and_the_highest_exit_code(make_cluster, workdir):
    cluster = make_cluster(nodes=1, cpus=2)
    script = ('srun -n 2 --cpu-bind=cores -o "t_%j_%s_%t_%N.out" -e "e_%t.err" '
              'sh -c \'echo out $SLURM_PROCID; echo err >&2; exit $((SLURM_PROCID + 3))\'\n'
              'echo "srun=$?"\n')
    job_id = submit(cluster, workdir, script, "-n", "2", "-o", "batch.out")
    job = finished(cluster, job_id)
    node = job.allocation.slices[0].node
    assert (workdir / f"t_{job_id}_0_0_{node}.out").read_text() == "out 0\n"
    assert (workdir / f"t_{job_id}_0_1_{node}.out").read_text() == "out 1\n"
    assert (workdir / "e_1.err").read_text() == "err\n"
    batch = (workdir / "batch.out").read_text()
    assert "srun=4" in batch
    assert f"srun: error: {node}: task 1: Exited with exit code 4" in batch
    assert sacct(cluster, job_id, "JobID,State,ExitCode")[3] == [f"{job_id}.0", "FAILED", "4:0"]


def test_a_step_bigger_than_the_allocation_is_refused(make_cluster, workdir):
    cluster = make_cluster(nodes=1, cpus=2)
    job_id = submit(cluster, workdir, "srun -n 3 true; echo \"srun=$?\"\n", "-n", "1", "-o", "out.txt")
    finished(cluster, job_id)
    text = (workdir / "out.txt").read_text()
    assert f"srun: error: Unable to create step for job {job_id}: More processors requested than permitted" in text
    assert "3 task(s) of 1 CPU(s) need 3 CPUs" in text
    assert "srun=1" in text


def test_cancelling_the_job_ends_its_running_step_as_cancelled(make_cluster, workdir):
    cluster = make_cluster(nodes=1, cpus=1)
    job_id = submit(cluster, workdir, "srun sleep 300\n", "-o", "out.txt")
    wait_until(lambda: any(r[0] == f"{job_id}.0" and r[1] == "RUNNING"
                           for r in sacct(cluster, job_id, "JobID,State")), timeout=30, what="the step to run")
    cluster.run("scancel", str(job_id))
    finished(cluster, job_id)
    rows = sacct(cluster, job_id, "JobID,State")
    assert rows[1][1].startswith("CANCELLED")
    assert rows[3] == [f"{job_id}.0", "CANCELLED"]


def test_a_step_across_two_nodes_starts_the_other_node_s_tasks_there(make_cluster, workdir):
    cluster = make_cluster(nodes=2, cpus=1)
    script = ('srun -o "r_%t.out" sh -c \'echo "$SLURM_PROCID $SLURM_NODEID $SLURMD_NODENAME $SLURM_STEP_NODELIST"; '
              'exit $SLURM_PROCID\'\n'
              'echo "srun=$?"\n'
              'srun sh -c \'echo "plain $SLURM_PROCID"\'\n')
    job_id = submit(cluster, workdir, script, "-N", "2", "-n", "2", "-o", "out.txt")
    job = finished(cluster, job_id)
    nodes = [s.node for s in job.allocation.slices]
    nodelist = hostlist.compress(nodes)
    assert (workdir / "r_0.out").read_text() == f"0 0 {nodes[0]} {nodelist}\n"
    assert (workdir / "r_1.out").read_text() == f"1 1 {nodes[1]} {nodelist}\n"
    out = (workdir / "out.txt").read_text()
    assert "srun=1" in out and f"srun: error: {nodes[1]}: task 1: Exited with exit code 1" in out
    assert "plain 0" in out and "plain 1" in out      # the other node's task writes to the job's file
    rows = sacct(cluster, job_id, "JobID,State,ExitCode,NTasks,NodeList")
    assert rows[3:] == [[f"{job_id}.0", "FAILED", "1:0", "2", nodelist],
                        [f"{job_id}.1", "COMPLETED", "0:0", "2", nodelist]]


def test_cancelling_a_job_ends_its_step_s_tasks_on_every_node(make_cluster, workdir):
    cluster = make_cluster(nodes=2, cpus=1)
    marker = f"{300 + os.getpid() % 1000}.{os.getpid() % 97}"    # a sleep no other process runs
    job_id = submit(cluster, workdir, f"srun sleep {marker}\n", "-N", "2", "-n", "2", "-o", "out.txt")

    def sleeps():
        return [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", marker]]
    wait_until(lambda: len(sleeps()) == 2, timeout=30, what="both tasks to run")
    cluster.run("scancel", str(job_id))
    finished(cluster, job_id)
    wait_until(lambda: not sleeps(), timeout=30, what="every task to end")
    assert sacct(cluster, job_id, "JobID,State")[3] == [f"{job_id}.0", "CANCELLED"]


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.isdir("/sys/fs/cgroup/memory")
                    or os.path.exists("/sys/fs/cgroup/cgroup.controllers"), reason="needs root and cgroup v1")
def test_the_other_node_s_tasks_run_in_the_job_s_cgroup_there_and_leave_nothing_behind(make_cluster, workdir):
    cluster = make_cluster(nodes=2, cpus=1)
    marker = f"{400 + os.getpid() % 1000}.{os.getpid() % 89}"    # a sleep no other process runs
    task = (f"grep :memory: /proc/self/cgroup; grep Cpus_allowed_list /proc/self/status; "
            f"(setsid sh -c 'sleep {marker} &' &)")
    job_id = submit(cluster, workdir, f'srun -o "r_%t.out" sh -c "{task}"\n', "-N", "2", "-n", "2", "-o", "out.txt")
    job = finished(cluster, job_id)
    cgroup, cpus = (workdir / "r_1.out").read_text().split("\n")[:2]
    assert f"/hpcq/job_{job_id}.{job.attempt}." in cgroup
    assert len(parse_cpu_list(cpus.split()[1])) == len(job.allocation.slices[1].cpu_ids)   # the job's cpuset there
    # Nothing of either rank is left: the other node's daemon was killed with the step's cgroup, now gone.
    wait_until(lambda: not [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", marker]],
               timeout=15, what="the daemons to be killed")
    assert not os.path.exists("/sys/fs/cgroup/memory" + cgroup.split(":", 2)[2])
