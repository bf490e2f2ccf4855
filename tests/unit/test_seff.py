"""seff: what Slurm's contrib seff prints of a job, from its record."""
from __future__ import annotations

import pytest

from hpcq.api.lite import jobs_pb2 as pb
from hpcq.shims.slurm import seff


def job(state: int = pb.COMPLETED, cpus: int = 2, nodes: int = 1, mem_mb: int = 1024,
        per_cpu: bool = False) -> pb.Job:
    j = pb.Job(id=42, user="nosuchuser-seff", state=state, start_time=1000.0, end_time=1100.0, exit_code=0,
               cpu_seconds=150.0, max_rss_kb=256 << 10)
    for n in range(nodes):
        j.allocation.slices.add(node=f"n{n}", cpus=cpus // nodes, mem_mb=mem_mb // nodes)
    if per_cpu:
        j.spec.resources.mem_per_cpu_mb = mem_mb // cpus
    else:
        j.spec.resources.mem_per_node_mb = mem_mb // nodes
    return j


def test_a_finished_job_on_one_node():
    assert seff.report(job(), "hpcq", 2000.0).splitlines() == [
        "Job ID: 42",
        "Cluster: hpcq",
        "User/Group: nosuchuser-seff/nosuchuser-seff",
        "State: COMPLETED (exit code 0)",
        "Nodes: 1",
        "Cores per node: 2",
        "CPU Utilized: 00:02:30",
        "CPU Efficiency: 75.00% of 00:03:20 core-walltime",
        "Job Wall-clock time: 00:01:40",
        "Memory Utilized: 256.00 MB",
        "Memory Efficiency: 25.00% of 1.00 GB (1.00 GB/node)"]


def test_one_core_memory_per_core_and_a_running_job():
    lines = seff.report(job(pb.RUNNING, cpus=1, mem_mb=512, per_cpu=True), "hpcq", 1100.0).splitlines()
    assert lines[3:5] == ["State: RUNNING", "Cores: 1"]
    assert lines[-2:] == ["Memory Efficiency: 50.00% of 512.00 MB (512.00 MB/core)",
                          "WARNING: Efficiency statistics may be misleading for RUNNING jobs."]


@pytest.mark.parametrize(("kb", "text"), [(0, "0.00 MB"), (512, "512.00 KB"), (1536, "1.50 MB"),
                                          (3 << 20, "3.00 GB")])
def test_sizes_as_seff_spells_them(kb: int, text: str):
    assert seff.kbytes2str(kb) == text


def test_days_in_times():
    assert seff.time2str(90061) == "1-01:01:01"


def test_usage_without_a_job_id(capsys: pytest.CaptureFixture[str]):
    assert seff.main([]) == 1
    assert capsys.readouterr().out.startswith("Usage: seff [Options] <Jobid>\n")
