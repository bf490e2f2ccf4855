"""What an admin decides about confinement: [noded] switches per constraint, the
default memory of a job that asks for none ([ctld] default_mem_per_cpu, a queue's
default_mem_per_cpu_mb) and [ctld] require_memory_enforcement."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hpcq import confinement
from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.ctld.controller import Controller
from hpcq.ctld.errors import InvalidArgument
from hpcq.ctld.nodes_state import NodeLink
from hpcq.noded import enforce
from tests.unit.controllers import make

SCRIPT = "#!/bin/sh\ntrue\n"
V1 = "cgroup/v1 (cpuset, memory, cpuacct, memsw)"
FALLBACK = "affinity+rlimits (CPU affinity, which a job may change; RLIMIT_DATA per process; no OOM detection)"


def spec(mem_mb: int = 0, cpus: int = 1) -> jobs_pb2.JobSpec:
    s = jobs_pb2.JobSpec(script=SCRIPT)
    s.resources.cpus_per_task, s.resources.mem_per_node_mb = cpus, mem_mb
    return s


def controller(tmp_path: Path, *enforcements: str, **ctld: object) -> Controller:
    c, _ = make(tmp_path, **ctld)
    for n, text in enumerate(enforcements, 1):
        hardware = nodes_pb2.Hardware(cpus=4, memory_mb=4000, enforcement=text)
        c.on_register(nodes_pb2.Register(name=f"n{n}", hardware=hardware), NodeLink())
    return c


def submit(c: Controller, s: jobs_pb2.JobSpec) -> jobs_pb2.Job:
    [job_id] = asyncio.run(c.submit("alice", [s]))
    return c.jobs[job_id]


def test_a_job_without_memory_gets_the_default_per_cpu_and_one_with_memory_keeps_its_own(tmp_path):
    c = controller(tmp_path, V1, default_mem_per_cpu=100)
    assert submit(c, spec(cpus=2)).spec.resources.mem_per_cpu_mb == 100
    asked = submit(c, spec(mem_mb=300)).spec.resources
    assert (asked.mem_per_node_mb, asked.mem_per_cpu_mb) == (300, 0)


def test_the_queues_default_comes_before_the_clusters(tmp_path):
    c = controller(tmp_path, V1, default_mem_per_cpu=100)
    c.queues["batch"].default_mem_per_cpu_mb = 50
    assert submit(c, spec()).spec.resources.mem_per_cpu_mb == 50


def test_without_a_default_a_job_asks_for_no_memory(tmp_path):
    assert submit(controller(tmp_path, V1), spec()).spec.resources.mem_per_cpu_mb == 0


def test_memory_is_refused_where_no_node_enforces_it_when_the_admin_requires_it(tmp_path):
    c = controller(tmp_path, FALLBACK, f"{V1}{confinement.OFF}memory", require_memory_enforcement=True)
    with pytest.raises(InvalidArgument) as refused:
        submit(c, spec(mem_mb=100))
    assert refused.value.token == "TOO_BIG"
    assert "Memory specification can not be satisfied: no node of queue batch enforces memory limits " \
           "(theirs: affinity+rlimits, cgroup/v1) and [ctld] require_memory_enforcement is set" in str(refused.value)
    assert submit(c, spec()).state == jobs_pb2.PENDING           # asking for no memory is fine


def test_one_enforcing_node_is_enough_and_the_check_is_off_by_default(tmp_path):
    assert submit(controller(tmp_path, FALLBACK, V1, require_memory_enforcement=True), spec(mem_mb=100))
    (tmp_path / "2").mkdir()
    assert submit(controller(tmp_path / "2", FALLBACK), spec(mem_mb=100))


@pytest.mark.parametrize(("text", "enforces"), [
    (V1, True), ("cgroup/v2 (cpuset, cpu, memory, pids)", True), (FALLBACK, False),
    (f"{V1}{confinement.OFF}memory", False), (f"{V1}{confinement.OFF}cores", True),
    ("none ([noded] confine_jobs = false)", False), ("", False)])
def test_which_descriptions_enforce_memory(text: str, enforces: bool):
    assert confinement.enforces_memory(text) is enforces


def test_each_constraint_can_be_turned_off_on_the_node():
    e = enforce.Enforcement(enforce.V1, [0, 1], {"memory": "/m"}, memsw=True)
    assert e.job_limits(1, 1, [1], 64)["cpus"] == [1] and e.job_limits(1, 1, [1], 64)["mem_bytes"] == 64 << 20
    e.switch(cores=False, memory=False, track=False)
    limits = e.job_limits(1, 1, [1], 64)
    assert (limits["cpus"], limits["mem_bytes"], limits["track"]) == ([], 0, False)
    assert e.describe() == "cgroup/v1 (memory, memsw; devices not enforced); off: cores, memory, process tracking"
    assert confinement.turned_off(e.describe()) == ["cores", "memory", "process tracking"]
