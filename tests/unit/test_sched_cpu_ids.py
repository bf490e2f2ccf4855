"""Which CPUs and GPUs a job gets on a node (Slurm's cons_tres): jobs sharing a node get
disjoint ones, a restart of ctld rebuilds who holds which, and the launch carries them."""
from __future__ import annotations

import asyncio
from pathlib import Path

from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.ctld.clock import ManualClock
from hpcq.ctld.nodes_state import NodeLink
from hpcq.ctld.scheduler import schedule
from tests.unit.builders import job, node, replace, starts, world
from tests.unit.controllers import RecordingComm, make

SCRIPT = "#!/bin/sh\ntrue\n"


def test_jobs_on_one_node_get_disjoint_cpus_lowest_first():
    a, b, c = job(1, priority=3), job(2, priority=2), job(1, priority=1)
    placed = starts(schedule(world([a, b, c], [node("n1", 4)]), 0))
    assert [placed[j.id][0].cpu_ids for j in (a, b, c)] == [(0,), (1, 2), (3,)]


def test_only_free_cpus_and_gpus_are_given():
    j = job(2, gpus=1)
    free = replace(node("n1", 4, gpus=2, used_cpus=2, used_gpus=1), free_cpu_ids=(0, 3), free_gpu_ids=(1,))
    [s] = starts(schedule(world([j], [free]), 0))[j.id]
    assert (s.cpu_ids, s.gpu_ids) == ((0, 3), (1,))


def test_an_exclusive_job_gets_every_cpu_and_gpu_of_the_node():
    ex = job(1, exclusive=True)
    [s] = starts(schedule(world([ex], [node("n1", 3, gpus=2)]), 0))[ex.id]
    assert (s.cpu_ids, s.gpu_ids) == ((0, 1, 2), (0, 1))


def _register(c, name: str, cpus: int = 4) -> None:
    gpus = [nodes_pb2.Gpu(index=i) for i in range(2)]
    c.on_register(nodes_pb2.Register(name=name, hardware=nodes_pb2.Hardware(cpus=cpus, memory_mb=1000, gpus=gpus)),
                  NodeLink())


def _launched_ids(comm: RecordingComm) -> dict[int, tuple[list[int], list[int]]]:
    ids = {}
    for _, m in comm.sent:
        if m.HasField("launch"):
            s = m.launch.job.allocation.slices[0]
            ids[m.launch.job.id] = (list(s.cpu_ids), list(s.gpu_ids))
    return ids


def test_launches_carry_the_ids_and_a_restart_keeps_who_holds_which(tmp_path: Path):
    comm = RecordingComm()
    c, store = make(tmp_path, clock=ManualClock(), comm=comm)
    two = jobs_pb2.JobSpec(script=SCRIPT, resources=jobs_pb2.Resources(cpus_per_task=2, gpus_per_node=1))

    async def first_run() -> list[int]:
        _register(c, "n1")
        ids = await c.submit("alice", [two])
        await c.schedule_once()
        return ids
    [first] = asyncio.run(first_run())
    assert _launched_ids(comm) == {first: ([0, 1], [0])}
    store.close()

    comm = RecordingComm()
    c, store = make(tmp_path, clock=ManualClock(), comm=comm)     # ctld restarted
    assert c.nodes["n1"].held_ids == {first: ((0, 1), (0,))}

    async def second_run() -> list[int]:
        _register(c, "n1")
        ids = await c.submit("alice", [two])
        await c.schedule_once()
        return ids
    [second] = asyncio.run(second_run())
    assert _launched_ids(comm)[second] == ([2, 3], [1])
    c.lifecycle.finish(c.jobs[first], jobs_pb2.JobState.COMPLETED, "", 1.0)
    assert c.nodes["n1"].free_ids() == ((0, 1), (0,))
    store.close()
